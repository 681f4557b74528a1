package server

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/tidwall/btree"
)

// DB is one numbered keyspace. Only the loop goroutine touches it.
//
// Besides the key → object map, keys are kept in a B-tree ordered by
// (xxhash64(key), key). That order never changes while a key exists, so a
// SCAN cursor is simply the hash to resume from: every key present for the
// whole scan is returned, whatever is added or deleted meanwhile, and
// RANDOMKEY is a uniform pick by index.
type DB struct {
	ID      int
	dict    map[string]*Object
	expires map[string]int64 // unix milliseconds
	order   *btree.BTree     // of *keyItem
	srv     *Server
	// damaged holds the keys whose Lazy value failed to load, with why
	// (nil until one does): see Lazy.
	damaged map[string]error
}

type keyItem struct {
	hash uint64
	key  string
}

func keyLess(a, b interface{}) bool {
	x, y := a.(*keyItem), b.(*keyItem)
	if x.hash != y.hash {
		return x.hash < y.hash
	}
	return x.key < y.key
}

func newDB(id int, s *Server) *DB {
	return &DB{ID: id, dict: map[string]*Object{}, expires: map[string]int64{}, order: btree.NewNonConcurrent(keyLess), srv: s}
}

// Len is the number of keys (DBSIZE), expired-but-not-yet-reclaimed ones included.
func (db *DB) Len() int { return len(db.dict) }

// ExpiresLen is the number of keys with a TTL.
func (db *DB) ExpiresLen() int { return len(db.expires) }

// expireIfNeeded deletes key if its TTL has passed; it reports whether it did.
func (db *DB) expireIfNeeded(key string) bool {
	when, ok := db.expires[key]
	if !ok || when > db.srv.Now() {
		return false
	}
	if db.srv.loading.Load() {
		return false
	}
	db.remove(key)
	db.srv.Stats.ExpiredKeys++
	db.srv.PropagateDeletion(db, key)
	db.srv.signalExpired(db, key)
	db.srv.Notify(db, "expired", key)
	return true
}

// Lookup returns a live object for a read, updating its access time.
func (db *DB) Lookup(key string) *Object {
	if db.expireIfNeeded(key) {
		db.srv.Stats.KeyspaceMisses++
		return nil
	}
	o := db.materialize(key, db.dict[key])
	if o == nil {
		db.srv.Stats.KeyspaceMisses++
		return nil
	}
	db.srv.Stats.KeyspaceHits++
	db.touch(o)
	return o
}

// LookupWrite returns a live object for a write (no hit/miss accounting).
func (db *DB) LookupWrite(key string) *Object {
	if db.expireIfNeeded(key) {
		return nil
	}
	o := db.materialize(key, db.dict[key])
	if o != nil {
		db.touch(o)
	}
	return o
}

// Peek returns a live object without touching its access metadata.
func (db *DB) Peek(key string) *Object {
	if db.expireIfNeeded(key) {
		return nil
	}
	return db.materialize(key, db.dict[key])
}

// Lazy is a value not yet in memory (a session in the snapshot the server
// started from): the first lookup of its key calls Materialize and stores
// the result in its place.
//
// A value that fails to load (its record is damaged) is never dropped:
// that would make the loss silent, and the next save permanent. The key
// stays with its Lazy value, so a save copies its bytes as they are and
// the damage stays visible; lookups see no value, and the dispatcher
// refuses every command that would read or change it with an error naming
// the key (checkDamaged). DEL, EXISTS, TYPE, TTL still work, and a DEL is
// how an operator lets it go.
//
// Loading allocates, so under maxmemory it is refused as Redis refuses a
// DENYOOM command: when LoadSize more bytes would not fit after what the
// policy may evict, the command gets -OOM and the value stays Lazy, even
// for a read-only command (checkDamaged).
type Lazy interface {
	Materialize() (Value, error)
	// LoadSize is about how many bytes Materialize takes (the size of the
	// record it decodes), known without decoding it.
	LoadSize() int64
}

func (db *DB) materialize(key string, o *Object) *Object {
	if o == nil || o.Val == nil {
		return o
	}
	lz, ok := o.Val.(Lazy)
	if !ok {
		return o
	}
	if db.srv.loading.Load() {
		// A log being replayed moves and deletes values as they are; the
		// first real use loads them.
		return o
	}
	if db.damaged[key] != nil {
		return nil
	}
	v, err := lz.Materialize()
	if err != nil {
		db.srv.logf("warning", "Key %q (db %d) could not be loaded from the snapshot, kept as it is (DEL removes it): %v", key, db.ID, err)
		if db.damaged == nil {
			db.damaged = map[string]error{}
		}
		db.damaged[key] = err
		return nil
	}
	o.Val = v
	return o
}

// checkDamaged loads key's value if it is still Lazy, and returns the
// error a command touching it gets if it cannot be loaded: -OOM when its
// size does not fit under maxmemory (the value stays Lazy), or the damage.
func (db *DB) checkDamaged(key string) error {
	o := db.dict[key]
	if o == nil {
		return nil
	}
	lz, lazy := o.Val.(Lazy)
	if !lazy {
		return nil
	}
	if db.damaged[key] == nil && !db.srv.MemoryFits(lz.LoadSize()) {
		return errOOM
	}
	if db.dict[key] != o {
		return nil // making room evicted the key itself: the command sees it gone
	}
	if db.materialize(key, o) != nil {
		db.srv.Grew(lz.LoadSize())
		return nil
	}
	return Errorf("key '" + trunc(key, 128) + "' could not be loaded from the snapshot and is kept unchanged: " + db.damaged[key].Error() + " (DEL removes it)")
}

func (db *DB) touch(o *Object) {
	if db.srv.noTouch {
		return
	}
	now := db.srv.Now()
	o.lruMS = now
	// As Redis, the access counter is kept only under an LFU policy (it
	// costs a random draw per access).
	if db.srv.Config.LFUPolicy {
		db.srv.lfuIncr(o, now)
	}
}

// Set stores o under key, replacing any old value. keepTTL keeps an existing
// expiry; otherwise it is removed (SET semantics).
func (db *DB) Set(key string, o *Object, keepTTL bool) {
	if old, ok := db.dict[key]; ok {
		if old != o {
			old.release()
			db.srv.SignalKeyReady(db, key) // a group reader waiting on a stream replaced by another value gets an error
		}
	} else {
		db.order.Set(&keyItem{xxhash.Sum64String(key), key})
		db.srv.Notify(db, "new", key)
		db.srv.SignalKeyReady(db, key) // a list/zset/stream created where clients wait
	}
	if o.lruMS == 0 {
		o.lruMS = db.srv.Now()
		o.lfu = lfuInitVal
		o.lfuMins = o.lruMS / 60000
		if db.srv.Config.MaxMemory > 0 {
			p := db.srv.Config.MaxMemoryPolicy
			o.unshared = strings.HasSuffix(p, "-lru") || strings.HasSuffix(p, "-lfu")
		}
	}
	db.dict[key] = o
	if db.damaged != nil {
		delete(db.damaged, key)
	}
	if _, lazy := o.Val.(Lazy); lazy {
		db.srv.lazySeen = true
	}
	if !keepTTL {
		delete(db.expires, key)
	}
}

// Delete removes key; it reports whether it existed (and was not expired).
func (db *DB) Delete(key string) bool {
	if db.expireIfNeeded(key) {
		return false
	}
	if _, ok := db.dict[key]; !ok {
		return false
	}
	db.remove(key)
	return true
}

func (db *DB) remove(key string) {
	o := db.dict[key]
	if o == nil {
		return
	}
	delete(db.dict, key)
	delete(db.expires, key)
	if db.damaged != nil {
		delete(db.damaged, key)
	}
	db.order.Delete(&keyItem{xxhash.Sum64String(key), key})
	o.release()
	db.srv.SignalKeyReady(db, key) // a group reader waiting on a deleted stream gets an error
}

// Exists reports whether key is live.
// It does not load a Lazy value (existence needs none).
func (db *DB) Exists(key string) bool { return !db.expireIfNeeded(key) && db.dict[key] != nil }

// SetExpire sets key's absolute expiry in unix ms. The key must exist.
func (db *DB) SetExpire(key string, whenMS int64) { db.expires[key] = whenMS }

// Persist removes key's expiry; it reports whether there was one.
func (db *DB) Persist(key string) bool {
	if _, ok := db.expires[key]; !ok {
		return false
	}
	delete(db.expires, key)
	return true
}

// Expire returns key's expiry in unix ms, or -1 when it has none.
func (db *DB) Expire(key string) int64 {
	if when, ok := db.expires[key]; ok {
		return when
	}
	return -1
}

// Flush empties the database, releasing every value.
func (db *DB) Flush() int {
	n := len(db.dict)
	for _, o := range db.dict {
		o.release()
	}
	db.dict = map[string]*Object{}
	db.expires = map[string]int64{}
	db.order = btree.NewNonConcurrent(keyLess)
	db.damaged = nil
	db.srv.signalAllWaited(db)
	return n
}

// RandomKey returns a random live key, or "" with ok false.
func (db *DB) RandomKey() (string, bool) {
	for tries := 0; tries < 100 && db.order.Len() > 0; tries++ {
		it := db.order.GetAt(rand.IntN(db.order.Len())).(*keyItem)
		if db.expireIfNeeded(it.key) {
			continue
		}
		return it.key, true
	}
	// Everything sampled was expired: fall back to any key.
	for k := range db.dict {
		if !db.expireIfNeeded(k) {
			return k, true
		}
	}
	return "", false
}

// Scan visits keys in cursor order starting at cursor, calling fn for up to
// count keys (more when several share a hash), and returns the next cursor
// (0 when the iteration is complete).
func (db *DB) Scan(cursor uint64, count int, fn func(key string)) uint64 {
	var next uint64
	visited := 0
	var lastHash uint64
	db.order.Ascend(&keyItem{hash: cursor}, func(item interface{}) bool {
		it := item.(*keyItem)
		if visited >= count && it.hash != lastHash {
			next = it.hash
			return false
		}
		fn(it.key)
		visited++
		lastHash = it.hash
		return true
	})
	if next == 0 && visited >= count {
		// Stopped exactly at the end, or the next hash really is 0 (odds 2^-64).
		return 0
	}
	return next
}

// Keys returns every key (including expired-but-present ones; callers check).
func (db *DB) Keys() []string {
	out := make([]string, 0, len(db.dict))
	for k := range db.dict {
		out = append(out, k)
	}
	return out
}

// activeExpireCycle samples keys with a TTL and deletes expired ones, like
// Redis's activeExpireCycle: it repeats while more than a quarter of a sample
// was expired, within a time budget.
func (db *DB) activeExpireCycle(budget time.Duration) {
	start := time.Now()
	for len(db.expires) > 0 {
		sampled, expired := 0, 0
		now := db.srv.Now()
		for k, when := range db.expires {
			sampled++
			if when <= now {
				db.remove(k)
				db.srv.Stats.ExpiredKeys++
				db.srv.PropagateDeletion(db, k)
				db.srv.signalExpired(db, k)
				db.srv.Notify(db, "expired", k)
				expired++
			}
			if sampled >= 20 {
				break
			}
		}
		if expired*4 <= sampled || time.Since(start) > budget {
			return
		}
	}
}

// swap exchanges the contents of two databases (SWAPDB).
func (db *DB) swap(other *DB) {
	db.dict, other.dict = other.dict, db.dict
	db.expires, other.expires = other.expires, db.expires
	db.order, other.order = other.order, db.order
	db.damaged, other.damaged = other.damaged, db.damaged
}

// Dict iterates over every (key, object) without expiry checks, for
// persistence and INFO.
func (db *DB) Dict(fn func(key string, o *Object, expireMS int64) bool) {
	for k, o := range db.dict {
		exp, ok := db.expires[k]
		if !ok {
			exp = -1
		}
		if !fn(k, o, exp) {
			return
		}
	}
}

// Detach removes key without releasing its value, for moving the same
// object under another name or database (RENAME, MOVE).
func (db *DB) Detach(key string) {
	if _, ok := db.dict[key]; !ok {
		return
	}
	delete(db.dict, key)
	delete(db.expires, key)
	if db.damaged != nil {
		delete(db.damaged, key)
	}
	db.order.Delete(&keyItem{xxhash.Sum64String(key), key})
}
