package server

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"time"
)

// Eviction: what happens when used memory passes maxmemory, as Redis 7.0's
// evict.c does it.
//
// Before every command (dispatch.go, step 4) and after CONFIG SET lowers
// maxmemory, performEvictions compares used memory with maxmemory. When it
// is over and maxmemory-policy allows, it deletes keys chosen by the policy
// until the estimated freed bytes cover the excess, each deletion counted
// in INFO evicted_keys, invalidating WATCH and publishing the `evicted`
// keyspace event (class e). It works for at most the time
// maxmemory-eviction-tenacity allows; if memory is still over then, the
// rest is evicted in later short rounds on the loop (evictionTimeProc), and
// commands keep running meanwhile. Only when nothing evictable is left
// (noeviction, no key with a TTL under volatile-*, every key busy) are
// DENYOOM commands refused with -OOM.
//
// Choosing keys. The LRU, LFU and TTL policies keep a pool of the 16 best
// candidates seen so far, ordered by a score (idle milliseconds; 255 minus
// the decayed LFU counter; how soon the TTL ends). Each round samples
// maxmemory-samples keys of every database (the allkeys-* policies from
// all keys, volatile-* from keys with a TTL) into the pool and evicts its
// best entry that still exists. The random policies pick a random key of
// the next non-empty database in turn. A key whose session has a GEN job
// queued or running (Hooks.KeyBusy) is never evicted.
//
// Used memory in Go. Redis knows its allocator's exact count, and a freed
// key is gone from it at once. Our figure (UsedMemory, INFO used_memory) is
// the Go heap's objects, live or dead: garbage from every command counts
// until a GC cycle sweeps it, and an evicted key's bytes stay counted until
// then too. Two consequences, and how this file handles them:
//
//   - Freed but not yet collected: every eviction adds the key's estimated
//     size (Object.MemoryUsage, the MEMORY USAGE figure) to a debt, and
//     eviction compares "heap sample minus debt" with maxmemory. The debt
//     is dropped as soon as a GC cycle completes (the sample then shows the
//     real frees; if a cycle that began before the eviction kept some of
//     them alive, the figure reads high and the next point corrects it).
//   - Garbage: heap minus debt reading over maxmemory says only "maybe":
//     the excess may be nothing but garbage. Before evicting anything (or
//     refusing a DENYOOM command) the loop runs a full GC (runtime.GC) to
//     measure the live heap. A forced GC stalls the loop for its duration,
//     so another may start only 10 of its durations later (at most ~10% of
//     the time); in between, the live heap the last GC measured, less the
//     debt, decides. So garbage never evicts a key; memory may pass
//     maxmemory by what is allocated during one such wait (milliseconds
//     for a small heap), as Redis passes it during a long command.
//
// Sessions: a session's KV pages are Go heap ([]uint16 or []float32), so the
// sample sees them. Pages a session shares with the prefix cache stay alive
// through the cache when the session is evicted; Hooks.FreeMemory (the
// engine: drop idle prefix-cache pages and cached token masks) runs before any key is evicted
// (under noeviction too: the cache is no key's data) and after each evicted
// session, and its bytes count as freed. GEN asks for the KV pages it will
// need before it starts (MemoryFits), so it evicts too rather than fail.
//
// Clients' buffers: Redis counts normal clients' query and output buffers
// in used memory, so a client that does not read its replies can make it
// evict keys (maxmemory-clients, its client eviction, is off by default).
// We keep them out of the figure eviction compares (clientsMemory, INFO
// mem_clients_normal, is subtracted): buffers are bounded per client
// instead, by client-output-buffer-limit, client-query-buffer-limit, the
// 64 MiB of unsent output after which a client's input is no longer read,
// and, for a client that has not authenticated, 1 MiB of query and 17 KiB
// of output (client.go). maxmemory-clients is accepted and shown by CONFIG
// but evicts no client.
//
// With maxmemory 0 (the default) none of this runs: dispatch checks one
// integer.

// evictResult is what performEvictions reports, as Redis's EVICT_*.
type evictResult int

const (
	evictOK      evictResult = iota // under maxmemory, or evicting is not possible now
	evictRunning                    // over, and evicting goes on in later rounds
	evictFail                       // over, and nothing more can be evicted
)

// evpoolSize is how many candidates the eviction pool keeps.
const evpoolSize = 16

// poolEntry is one eviction candidate; a higher score is a better one.
type poolEntry struct {
	key   string
	db    int
	score uint64
	used  bool
}

// evictPolicy is maxmemory-policy, parsed.
type evictPolicy struct {
	none    bool // noeviction
	allKeys bool // allkeys-*: every key is a candidate, else only keys with a TTL
	kind    byte // 'l' LRU, 'f' LFU, 't' TTL, 'r' random
}

func parseEvictPolicy(name string) evictPolicy {
	switch name {
	case "allkeys-lru":
		return evictPolicy{allKeys: true, kind: 'l'}
	case "allkeys-lfu":
		return evictPolicy{allKeys: true, kind: 'f'}
	case "allkeys-random":
		return evictPolicy{allKeys: true, kind: 'r'}
	case "volatile-lru":
		return evictPolicy{kind: 'l'}
	case "volatile-lfu":
		return evictPolicy{kind: 'f'}
	case "volatile-random":
		return evictPolicy{kind: 'r'}
	case "volatile-ttl":
		return evictPolicy{kind: 't'}
	}
	return evictPolicy{none: true}
}

// evictor is the eviction state, owned by the loop goroutine.
type evictor struct {
	pool   [evpoolSize]poolEntry // ascending by score: the best candidate is last
	nextDB int                   // the random policies' database rotation

	// Accounting (see the file comment).
	debt   int64  // estimated bytes freed by evictions the heap sample still counts
	debtGC uint64 // GC cycles completed when debt started
	// grown: bytes known to be allocated and kept since the last GC cycle
	// (lazy sessions loaded), which the live figure cannot show yet;
	// dropped with the debt.
	grown     int64
	gcAllowed time.Time
	lastMax   int64 // maxmemory when last seen by maxmemoryChanged

	// running: an evictionTimeProc round is scheduled.
	running bool

	// INFO stats (CONFIG RESETSTAT clears them).
	keys          int64         // evicted_keys
	exceededTotal time.Duration // closed periods over maxmemory
	exceededSince time.Time     // start of the current one; zero when not over

	// Tests replace how memory is read and collected.
	readMem func() memSample
	forceGC func()
}

// memSample is what eviction reads from the runtime (runtime/metrics, no
// stop-the-world), the GC ballast left out.
type memSample struct {
	heap   int64  // heap objects, live or not yet swept: UsedMemory's figure
	live   int64  // heap the last completed GC cycle found live
	cycles uint64 // GC cycles completed
}

var memMetrics = [3]string{"/memory/classes/heap/objects:bytes", "/gc/heap/live:bytes", "/gc/cycles/total:gc-cycles"}

func readMemSample() memSample {
	var s [3]metrics.Sample
	for i, n := range memMetrics {
		s[i].Name = n
	}
	metrics.Read(s[:])
	var v [3]uint64
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			v[i] = s[i].Value.Uint64()
		}
	}
	return memSample{heap: max(0, int64(v[0])-gcBallastSize), live: max(0, int64(v[1])-gcBallastSize), cycles: v[2]}
}

// sample reads memory and drops the debt once a GC cycle has completed
// since it began.
func (e *evictor) sample() memSample {
	read := e.readMem
	if read == nil {
		read = readMemSample
	}
	m := read()
	if m.cycles != e.debtGC {
		e.debt, e.grown, e.debtGC = 0, 0, m.cycles
	}
	return m
}

// used is the memory figure of INFO used_memory and of maxmemory's first
// check: the heap sample minus the debt of evictions no GC cycle has
// reclaimed yet. It counts garbage too, so it can only say "maybe over".
func (e *evictor) used() int64 {
	return max(0, e.sample().heap-e.debt)
}

// collect runs a full GC unless the last forced one was too recent.
func (e *evictor) collect() bool {
	now := time.Now()
	if now.Before(e.gcAllowed) {
		return false
	}
	if e.forceGC != nil {
		e.forceGC()
	} else {
		runtime.GC()
	}
	end := time.Now()
	e.gcAllowed = end.Add(10 * end.Sub(now))
	return true
}

// memoryState returns how many bytes must be freed for used memory plus
// extra to be within maxmemory: 0 when it is. Only a GC's measure of the
// live heap can say "over": when the cheap figure says maybe, a GC is
// forced to find out; while another is not allowed yet, the last GC's
// live figure (less what was evicted since) decides, so garbage made
// meanwhile never evicts a key.
func (s *Server) memoryState(extra int64) int64 {
	limit := s.Config.MaxMemory - extra
	e := &s.evict
	m := e.sample()
	if m.heap-e.debt <= limit {
		return 0
	}
	// Clients' buffers are no key's data: they never evict a key nor deny a
	// command (see "Clients' buffers" above).
	limit += s.clientsMemory()
	if m.heap-e.debt <= limit {
		return 0
	}
	if e.collect() {
		m = e.sample()
		return max(0, m.heap-e.debt-limit)
	}
	return max(0, m.live+e.grown-e.debt-limit)
}

// Grew tells eviction that n bytes were just allocated and are kept (a
// lazy session loaded): until the next GC cycle measures them, the live
// figure it decides on between forced collections counts them from this.
func (s *Server) Grew(n int64) {
	if s.Config.MaxMemory > 0 {
		s.evict.grown += n
	}
}

// evictionTimeLimit converts maxmemory-eviction-tenacity (0-100) into how
// long one eviction round may run: 50 µs a step up to 10 (500 µs), then
// 15% more a step (about two minutes at 99), unlimited at 100.
func evictionTimeLimit(tenacity int) time.Duration {
	switch {
	case tenacity <= 10:
		return time.Duration(50*max(tenacity, 0)) * time.Microsecond
	case tenacity < 100:
		return time.Duration(500*math.Pow(1.15, float64(tenacity-10))) * time.Microsecond
	}
	return time.Duration(math.MaxInt64)
}

// evictBeforeCommand is the hook dispatch calls before a command when
// maxmemory is set. Under noeviction only DENYOOM commands need to know
// (nothing can be evicted), so others skip the measurement.
func (s *Server) evictBeforeCommand(denyOOM bool) evictResult {
	if !denyOOM && s.Config.MaxMemoryPolicy == "noeviction" {
		return evictOK
	}
	return s.performEvictions()
}

// performEvictions frees memory by evicting keys until used memory is under
// maxmemory, the time limit passes (the rest goes on in evictionTimeProc),
// or nothing is left to evict. It updates the exceeded-time statistics.
func (s *Server) performEvictions() evictResult {
	if s.loading.Load() || s.Config.MaxMemory <= 0 {
		return evictOK // as if not triggered: no statistics either
	}
	res := s.evictRound(0)
	s.evict.updateMetrics(res, time.Now())
	return res
}

// MemoryFits makes room for need more bytes under maxmemory (a GEN's KV
// pages, allocated later, by the engine step): it drops caches and evicts
// keys as the policy allows, and reports whether used memory plus need is
// then within maxmemory (always true with maxmemory 0). Keys busy with a
// job are never evicted.
func (s *Server) MemoryFits(need int64) bool {
	if s.Config.MaxMemory <= 0 {
		return true
	}
	return s.evictRound(need) == evictOK
}

// evictRound frees memory until used memory plus extra is within maxmemory:
// caches first, even under noeviction (they hold no key's data), then keys.
func (s *Server) evictRound(extra int64) evictResult {
	e := &s.evict
	tofree := s.memoryState(extra)
	if tofree == 0 {
		return evictOK
	}
	freed := s.freeCaches(1)
	if freed >= tofree {
		return evictOK
	}
	pol := parseEvictPolicy(s.Config.MaxMemoryPolicy)
	if pol.none {
		return evictFail
	}
	limit := evictionTimeLimit(int(s.Config.Int("maxmemory-eviction-tenacity")))
	start := time.Now()
	fruitless := 0 // candidates in a row that freed nothing (a session that could not be paged out)
	for n := 1; freed < tofree; n++ {
		db, key, ok := s.evictionCandidate(pol)
		if !ok {
			return evictFail
		}
		got := s.evictKey(db, key)
		if freed += got; got > 0 {
			fruitless = 0
		} else if fruitless++; fruitless >= 16 {
			return evictFail
		}
		if n%16 == 0 && time.Since(start) > limit {
			s.startEvictionProc()
			break
		}
	}
	if e.running {
		return evictRunning
	}
	return evictOK
}

// freeCaches asks the subsystems to drop what they keep only as a cache
// and counts weight × its bytes as freed.
func (s *Server) freeCaches(weight float64) int64 {
	n := int64(float64(s.freeMemoryHooks()) * weight)
	s.evict.debt += n
	return n
}

// evictKey deletes key as an eviction and returns its estimated size.
func (s *Server) evictKey(db *DB, key string) int64 {
	o := db.dict[key]
	if o.Type == TypeKVState && s.sessionsOnDisk() {
		return s.pageOutKey(db, key, o)
	}
	size := o.MemoryUsage(key)
	db.remove(key)
	s.PropagateDeletion(db, key)
	s.evict.debt += size
	s.evict.keys++
	s.signalEvicted(db, key)
	s.Notify(db, "evicted", key)
	if o.Type != TypeString {
		// The session's pages that only the prefix cache still holds are
		// idle now. MemoryUsage counted each at half (the cache held the
		// other reference), so the other half is what dropping them adds.
		size += s.freeCaches(0.5)
	}
	return size
}

// pageOutKey is eviction of a session while sessions live on disk: its
// pages leave RAM, the key stays (Hooks.PageOut). A failure (the disk is
// full) frees nothing and is logged; the session stays in RAM.
func (s *Server) pageOutKey(db *DB, key string, o *Object) int64 {
	freed, err := s.pageOut(db, key, o)
	if err != nil {
		s.logf("warning", "Could not page session %q out of memory: %v", trunc(key, 128), err)
		return 0
	}
	s.lazySeen = true // its next use loads it (checkDamaged)
	s.evict.debt += freed
	return freed + s.freeCaches(0.5)
}

// evictionCandidate picks the next key to evict under pol, or ok false when
// no key can be evicted.
func (s *Server) evictionCandidate(pol evictPolicy) (*DB, string, bool) {
	if pol.kind == 'r' {
		return s.randomCandidate(pol)
	}
	return s.poolCandidate(pol)
}

// candidates is the dictionary a policy samples in db.
func candidates(db *DB, pol evictPolicy) int {
	if pol.allKeys {
		return len(db.dict)
	}
	return len(db.expires)
}

// poolCandidate is the LRU/LFU/TTL choice: refill the pool from every
// database, then take its best entry that still exists. Rounds that only
// met busy keys are retried a few times, then any key that is not busy
// will do.
func (s *Server) poolCandidate(pol evictPolicy) (*DB, string, bool) {
	e := &s.evict
	samples := int(min(max(s.Config.Int("maxmemory-samples"), 1), 64))
	now := s.Now()
	for tries := 0; tries < 8; tries++ {
		total := 0
		for _, db := range s.DBs {
			if n := candidates(db, pol); n > 0 {
				s.populatePool(db, pol, samples, now)
				total += n
			}
		}
		if total == 0 {
			return nil, "", false
		}
		for k := evpoolSize - 1; k >= 0; k-- {
			p := &e.pool[k]
			if !p.used {
				continue
			}
			key, id := p.key, p.db
			*p = poolEntry{}
			if id >= len(s.DBs) {
				continue
			}
			db := s.DBs[id]
			if s.evictable(db, key, pol) {
				return db, key, true
			}
			// A ghost (deleted, or its TTL removed since) or busy: next.
		}
	}
	return s.anyCandidate(pol)
}

// anyCandidate scans for a key pol may evict that is not busy: the way out
// when sampling keeps meeting busy sessions.
func (s *Server) anyCandidate(pol evictPolicy) (*DB, string, bool) {
	for _, db := range s.DBs {
		if pol.allKeys {
			for key := range db.dict {
				if s.evictable(db, key, pol) {
					return db, key, true
				}
			}
			continue
		}
		for key := range db.expires {
			if s.evictable(db, key, pol) {
				return db, key, true
			}
		}
	}
	return nil, "", false
}

// evictable reports whether key is still a candidate under pol.
func (s *Server) evictable(db *DB, key string, pol evictPolicy) bool {
	o, ok := db.dict[key]
	if !ok {
		return false
	}
	if !pol.allKeys {
		if _, ok := db.expires[key]; !ok {
			return false
		}
	}
	if _, lazy := o.Val.(Lazy); lazy && o.Type == TypeKVState && s.sessionsOnDisk() {
		return false // paged out already: memory pressure never deletes a session
	}
	return !s.KeyBusy(db, key)
}

// populatePool samples up to n keys of db into the pool.
func (s *Server) populatePool(db *DB, pol evictPolicy, n int, now int64) {
	visit := func(key string, when int64) {
		if s.KeyBusy(db, key) {
			return
		}
		var score uint64
		switch pol.kind {
		case 't':
			// The sooner the TTL ends, the better.
			score = math.MaxUint64 - uint64(when)
		case 'f':
			o := db.dict[key]
			if o == nil {
				return
			}
			score = 255 - uint64(s.lfuDecayed(o, now))
		default:
			o := db.dict[key]
			if o == nil {
				return
			}
			score = uint64(max(0, o.IdleMS(now)))
		}
		s.evict.insert(poolEntry{key: key, db: db.ID, score: score, used: true})
	}
	if pol.allKeys {
		// Uniform picks by index in the key order (as RANDOMKEY).
		size := db.order.Len()
		for i := 0; i < n && size > 0; i++ {
			it := db.order.GetAt(rand.IntN(size)).(*keyItem)
			visit(it.key, db.expires[it.key])
		}
		return
	}
	// Keys with a TTL: a run of n from the random place where ranging over
	// a Go map starts (as Redis's dictGetSomeKeys takes a run of buckets).
	i := 0
	for key, when := range db.expires {
		if i == n {
			break
		}
		visit(key, when)
		i++
	}
}

// insert puts c in the pool in score order. With the pool full, a
// candidate worse than every entry is dropped, else the worst entry makes
// room. A key already pooled is updated in place.
func (e *evictor) insert(c poolEntry) {
	pool := &e.pool
	for i := range pool {
		if pool[i].used && pool[i].key == c.key && pool[i].db == c.db {
			pool[i] = poolEntry{}
			e.compact()
			break
		}
	}
	// k: the first empty slot or the first entry scoring at least as high.
	k := 0
	for k < evpoolSize && pool[k].used && pool[k].score < c.score {
		k++
	}
	switch {
	case k == 0 && pool[evpoolSize-1].used:
		return // worse than all, and no room
	case k < evpoolSize && !pool[k].used:
		// An empty slot in place.
	case !pool[evpoolSize-1].used:
		copy(pool[k+1:], pool[k:evpoolSize-1]) // room on the right: shift right
	default:
		k-- // full: drop the worst (leftmost) and shift left
		copy(pool[:k], pool[1:k+1])
	}
	pool[k] = c
}

// compact moves the pool's entries left over empty slots, keeping order.
func (e *evictor) compact() {
	j := 0
	for i := range e.pool {
		if e.pool[i].used {
			e.pool[j] = e.pool[i]
			j++
		}
	}
	for ; j < evpoolSize; j++ {
		e.pool[j] = poolEntry{}
	}
}

// randomCandidate is the allkeys-random / volatile-random choice: a random
// key of the next database that has candidates. Busy keys are skipped: a
// few random picks, then any key that is not busy.
func (s *Server) randomCandidate(pol evictPolicy) (*DB, string, bool) {
	e := &s.evict
	ndb := len(s.DBs)
	for i := 0; i < ndb; i++ {
		e.nextDB = (e.nextDB + 1) % ndb
		db := s.DBs[e.nextDB]
		if candidates(db, pol) == 0 {
			continue
		}
		for try := 0; try < 8; try++ {
			key := randomCandidateKey(db, pol)
			if !s.KeyBusy(db, key) {
				return db, key, true
			}
		}
	}
	return s.anyCandidate(pol)
}

func randomCandidateKey(db *DB, pol evictPolicy) string {
	if pol.allKeys {
		return db.order.GetAt(rand.IntN(db.order.Len())).(*keyItem).key
	}
	// A Go map's range starts at a random place but is far from uniform
	// over small maps; skipping a random few more spreads the picks.
	skip := rand.IntN(min(len(db.expires), 32))
	for key := range db.expires {
		if skip == 0 {
			return key
		}
		skip--
	}
	return ""
}

// updateMetrics keeps the time spent over maxmemory (INFO
// total_eviction_exceeded_time, current_eviction_exceeded_time).
func (e *evictor) updateMetrics(res evictResult, now time.Time) {
	if res == evictOK {
		if !e.exceededSince.IsZero() {
			e.exceededTotal += now.Sub(e.exceededSince)
			e.exceededSince = time.Time{}
		}
		return
	}
	if e.exceededSince.IsZero() {
		e.exceededSince = now
	}
}

// exceededMS returns the INFO figures, in milliseconds: total time over
// maxmemory (the current period included) and the current period.
func (e *evictor) exceededMS(now time.Time) (total, current int64) {
	var cur time.Duration
	if !e.exceededSince.IsZero() {
		cur = now.Sub(e.exceededSince)
	}
	return (e.exceededTotal + cur).Milliseconds(), cur.Milliseconds()
}

// resetStats is CONFIG RESETSTAT's part.
func (e *evictor) resetStats() {
	e.keys, e.exceededTotal, e.exceededSince = 0, 0, time.Time{}
}

// startEvictionProc schedules evictionTimeProc, once: Redis's
// startEvictionTimeProc. The millisecond's delay lets the loop answer the
// clients waiting between two rounds.
func (s *Server) startEvictionProc() {
	if s.evict.running {
		return
	}
	s.evict.running = true
	time.AfterFunc(time.Millisecond, func() { s.Post(s.evictionTimeProc) })
}

// evictionTimeProc is one more eviction round on the loop, rescheduled
// while memory stays over the limit and evicting makes progress.
func (s *Server) evictionTimeProc() {
	s.evict.running = false
	if s.Config.MaxMemory <= 0 {
		s.evict.updateMetrics(evictOK, time.Now())
		return
	}
	s.performEvictions()
}

// maxmemoryChanged runs after CONFIG SET: a new maxmemory starts an
// eviction round soon (Redis's updateMaxmemory), and maxmemory 0 ends a
// period over the limit.
func (s *Server) maxmemoryChanged() {
	e := &s.evict
	mm := s.Config.MaxMemory
	if mm == e.lastMax {
		return
	}
	e.lastMax = mm
	if mm <= 0 {
		e.updateMetrics(evictOK, time.Now())
		return
	}
	if used := e.used(); used > mm {
		s.logf("warning", "WARNING: maxmemory is now %d bytes, below the %d bytes in use: keys will be evicted, or write commands refused, as maxmemory-policy says.", mm, used)
	}
	s.startEvictionProc()
}
