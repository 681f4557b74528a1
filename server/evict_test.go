package server

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"
)

// evictServer returns a server whose used memory is exactly 1000 bytes plus
// the keys' MemoryUsage (every read counts as after a GC cycle, so no debt
// carries over), with maxmemory, policy and samples set, and no time limit
// on an eviction round (a loaded machine must not change the results).
func evictServer(t *testing.T, maxmemory int64, policy string) *Server {
	t.Helper()
	cfg := NewConfig()
	for _, kv := range [][2]string{{"maxmemory", fmt.Sprint(maxmemory)}, {"maxmemory-policy", policy}, {"maxmemory-samples", "64"}, {"maxmemory-eviction-tenacity", "100"}, {"notify-keyspace-events", "Ee"}} {
		if err := cfg.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	s := New(cfg)
	var cycles uint64
	s.evict.readMem = func() memSample {
		cycles++
		return memSample{heap: fakeUsed(s), live: fakeUsed(s), cycles: cycles}
	}
	s.evict.forceGC = func() {}
	return s
}

func fakeUsed(s *Server) int64 {
	n := int64(1000)
	for _, db := range s.DBs {
		db.Dict(func(k string, o *Object, _ int64) bool { n += o.MemoryUsage(k); return true })
	}
	return n
}

// addKeys stores n string keys k0..k<n-1> in db, each idle i seconds, with
// a TTL when ttl is true.
func addKeys(s *Server, db *DB, n int, ttl bool) {
	now := s.Now()
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("k%d", i)
		o := NewString([]byte("value"))
		db.Set(k, o, false)
		o.SetIdle(now, int64(i)*1000)
		if ttl {
			db.SetExpire(k, now+3600_000)
		}
	}
}

func present(db *DB) []string {
	keys := db.Keys()
	sort.Strings(keys)
	return keys
}

func TestEvictAllkeysLRUEvictsTheIdlestKeys(t *testing.T) {
	s := evictServer(t, 0, "allkeys-lru")
	db := s.DBs[0]
	addKeys(s, db, 20, false)
	per := db.dict["k10"].MemoryUsage("k10") // every key has the same size
	s.Config.MaxMemory = fakeUsed(s) - 5*per // five keys too many
	if r := s.performEvictions(); r != evictOK {
		t.Fatalf("performEvictions = %d, want evictOK", r)
	}
	// With 64 samples the pool sees every key: exactly the five idlest go.
	for i := 15; i < 20; i++ {
		if db.Exists(fmt.Sprintf("k%d", i)) {
			t.Errorf("k%d (idle %d s) was not evicted; left %v", i, i, present(db))
		}
	}
	if db.Len() != 15 || s.evict.keys != 5 {
		t.Errorf("dbsize %d evicted_keys %d, want 15 and 5", db.Len(), s.evict.keys)
	}
}

func TestEvictAllkeysLFUEvictsTheLeastFrequent(t *testing.T) {
	s := evictServer(t, 0, "allkeys-lfu")
	db := s.DBs[0]
	addKeys(s, db, 10, false)
	for i := 0; i < 10; i++ {
		db.dict[fmt.Sprintf("k%d", i)].SetFreq(100 + i)
	}
	db.dict["k7"].SetFreq(1)
	db.dict["k3"].SetFreq(2)
	per := db.dict["k1"].MemoryUsage("k1")
	s.Config.MaxMemory = fakeUsed(s) - 2*per
	s.performEvictions()
	if db.Exists("k7") || db.Exists("k3") || db.Len() != 8 {
		t.Errorf("left %v, want all but k3 and k7", present(db))
	}
}

func TestEvictLFUCounterDecays(t *testing.T) {
	s := evictServer(t, 0, "allkeys-lfu")
	o := NewString([]byte("x"))
	now := int64(100 * 60000)
	o.lfu, o.lfuMins = 20, 90 // last decrement ten minutes ago
	if got := s.lfuDecayed(o, now); got != 10 {
		t.Errorf("decayed counter = %d, want 10 (lfu-decay-time 1: one a minute)", got)
	}
	if o.lfu != 20 {
		t.Error("lfuDecayed changed the object")
	}
	o.lfuMins = 10
	if got := s.lfuDecayed(o, now); got != 0 {
		t.Errorf("decayed counter = %d, want 0", got)
	}
}

func TestEvictVolatileTTLEvictsTheSoonestToExpire(t *testing.T) {
	s := evictServer(t, 0, "volatile-ttl")
	db := s.DBs[0]
	addKeys(s, db, 10, true)
	now := s.Now()
	for i := 0; i < 10; i++ {
		db.SetExpire(fmt.Sprintf("k%d", i), now+int64(1000-i)*1000) // k9 ends first
	}
	per := db.dict["k1"].MemoryUsage("k1")
	s.Config.MaxMemory = fakeUsed(s) - 3*per
	s.performEvictions()
	if db.Exists("k9") || db.Exists("k8") || db.Exists("k7") || db.Len() != 7 {
		t.Errorf("left %v, want k0..k6", present(db))
	}
}

func TestEvictVolatilePoliciesOnlyTakeKeysWithATTL(t *testing.T) {
	for _, policy := range []string{"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"} {
		t.Run(policy, func(t *testing.T) {
			s := evictServer(t, 1, policy)
			addKeys(s, s.DBs[0], 10, true)
			s.DBs[3].Set("keep", NewString([]byte("v")), false)
			s.DBs[0].Set("keep0", NewString([]byte("v")), false)
			if r := s.performEvictions(); r != evictFail {
				t.Errorf("performEvictions = %d, want evictFail (only keys without a TTL left)", r)
			}
			if got := present(s.DBs[0]); fmt.Sprint(got) != "[keep0]" || !s.DBs[3].Exists("keep") {
				t.Errorf("db0 left %v, db3 has keep %v: want only the keys without a TTL", got, s.DBs[3].Exists("keep"))
			}
			if s.evict.keys != 10 {
				t.Errorf("evicted_keys = %d, want 10", s.evict.keys)
			}
		})
	}
}

func TestEvictAllPoliciesReachEveryDatabase(t *testing.T) {
	for _, policy := range []string{"allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"} {
		t.Run(policy, func(t *testing.T) {
			s := evictServer(t, 1, policy)
			for _, id := range []int{0, 5, 15} {
				addKeys(s, s.DBs[id], 7, true)
			}
			if r := s.performEvictions(); r != evictFail {
				t.Errorf("performEvictions = %d, want evictFail once all is gone", r)
			}
			for _, db := range s.DBs {
				if db.Len() != 0 {
					t.Errorf("db%d still has %v", db.ID, present(db))
				}
			}
			if s.evict.keys != 21 {
				t.Errorf("evicted_keys = %d, want 21", s.evict.keys)
			}
		})
	}
}

func TestNoevictionEvictsNothing(t *testing.T) {
	s := evictServer(t, 1, "noeviction")
	addKeys(s, s.DBs[0], 5, true)
	if r := s.performEvictions(); r != evictFail || s.DBs[0].Len() != 5 {
		t.Errorf("performEvictions = %d with %d keys left, want evictFail and 5", r, s.DBs[0].Len())
	}
	if r := s.evictBeforeCommand(false); r != evictOK {
		t.Errorf("a command that is not DENYOOM got %d under noeviction, want evictOK (not measured)", r)
	}
}

func TestEvictNeverTakesABusySession(t *testing.T) {
	for _, policy := range []string{"allkeys-lru", "allkeys-random", "volatile-ttl", "volatile-random"} {
		t.Run(policy, func(t *testing.T) {
			s := evictServer(t, 1, policy)
			db := s.DBs[0]
			addKeys(s, db, 10, true)
			s.Register(Hooks{KeyBusy: func(d *DB, key string) bool { return d == db && (key == "k9" || key == "k4") }})
			if r := s.performEvictions(); r != evictFail {
				t.Errorf("performEvictions = %d, want evictFail (only busy keys left)", r)
			}
			if got := fmt.Sprint(present(db)); got != "[k4 k9]" {
				t.Errorf("left %s, want the busy keys [k4 k9]", got)
			}
		})
	}
}

func TestEvictedKeysPublishEventsAndCount(t *testing.T) {
	s := evictServer(t, 1, "allkeys-lru")
	addKeys(s, s.DBs[2], 3, false)
	before := s.Stats.PubsubMessages
	s.performEvictions()
	if n := s.Stats.PubsubMessages - before; n != 3 {
		t.Errorf("%d keyevent messages published, want 3 (__keyevent@2__:evicted)", n)
	}
	info := s.Info([]string{"stats"})
	for _, want := range []string{"evicted_keys:3\r\n", "total_eviction_exceeded_time:", "current_eviction_exceeded_time:"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO stats lacks %q", want)
		}
	}
	if s.evict.exceededSince.IsZero() {
		t.Error("still over maxmemory with nothing to evict, but no exceeded period started")
	}
	s.Config.MaxMemory = 1 << 40
	s.performEvictions()
	if !s.evict.exceededSince.IsZero() || s.evict.exceededTotal <= 0 {
		t.Errorf("back under maxmemory: since %v total %v, want a closed period", s.evict.exceededSince, s.evict.exceededTotal)
	}
	s.ResetStats()
	if !strings.Contains(s.Info([]string{"stats"}), "evicted_keys:0\r\n") || s.evict.exceededTotal != 0 {
		t.Error("CONFIG RESETSTAT left eviction counters")
	}
}

// The heap sample does not drop when a key is evicted; the debt of
// estimated sizes stands in for the drop until a GC cycle completes.
func TestEvictionDebtStandsForUncollectedFrees(t *testing.T) {
	s := evictServer(t, 0, "allkeys-lru")
	db := s.DBs[0]
	addKeys(s, db, 20, false)
	per := db.dict["k0"].MemoryUsage("k0")
	heap, cycles, gcs := fakeUsed(s), uint64(1), 0
	s.evict.readMem = func() memSample { return memSample{heap, heap, cycles} }
	s.evict.forceGC = func() { gcs++ } // collects nothing: the excess is real
	s.Config.MaxMemory = heap - 3*per
	s.performEvictions()
	if db.Len() != 17 || gcs != 1 {
		t.Fatalf("dbsize %d after %d forced GCs, want 17 after 1", db.Len(), gcs)
	}
	// Same sample, no GC cycle since: the evicted keys are counted as gone.
	s.evict.gcAllowed = time.Time{}
	s.performEvictions()
	if db.Len() != 17 || gcs != 1 {
		t.Errorf("dbsize %d after %d forced GCs: evicted again for memory already freed", db.Len(), gcs)
	}
	// A GC cycle shows the real figure: the debt goes.
	heap, cycles = fakeUsed(s), 2
	if used := s.evict.used(); used != heap || s.evict.debt != 0 {
		t.Errorf("after a GC cycle used %d debt %d, want %d and 0", used, s.evict.debt, heap)
	}
}

// When the excess is garbage, the forced GC shows it and nothing is evicted.
func TestEvictionCollectsGarbageBeforeEvicting(t *testing.T) {
	s := evictServer(t, 0, "allkeys-lru")
	db := s.DBs[0]
	addKeys(s, db, 10, false)
	live := fakeUsed(s)
	heap, cycles := live+1<<20, uint64(1)
	s.evict.readMem = func() memSample { return memSample{heap, live, cycles} }
	s.evict.forceGC = func() { heap, cycles = live, cycles+1 }
	s.Config.MaxMemory = live + 100
	if r := s.performEvictions(); r != evictOK || db.Len() != 10 {
		t.Errorf("performEvictions = %d with %d keys, want evictOK and nothing evicted", r, db.Len())
	}
}

// While a forced GC must wait, the last GC's live figure decides: garbage
// made since never evicts, a real excess still does.
func TestEvictionBetweenForcedGCsTrustsTheLastLiveFigure(t *testing.T) {
	s := evictServer(t, 0, "allkeys-lru")
	db := s.DBs[0]
	addKeys(s, db, 10, false)
	per := db.dict["k0"].MemoryUsage("k0")
	live := fakeUsed(s)
	s.evict.readMem = func() memSample { return memSample{live + 1<<20, live, 1} }
	s.evict.gcAllowed = time.Now().Add(time.Hour)
	s.Config.MaxMemory = live + 100
	if s.performEvictions(); db.Len() != 10 {
		t.Errorf("garbage alone evicted %d keys", 10-db.Len())
	}
	s.Config.MaxMemory = live - 2*per
	if s.performEvictions(); db.Len() != 8 {
		t.Errorf("a measured excess of two keys left %d keys, want 8", db.Len())
	}
}

func TestForcedGCIsRateLimited(t *testing.T) {
	var e evictor
	n := 0
	e.forceGC = func() { n++; time.Sleep(2 * time.Millisecond) }
	if !e.collect() || e.collect() || n != 1 {
		t.Errorf("two collections in a row ran %d GCs, want 1 (the next waits 10 of its durations)", n)
	}
}

func TestEvictionTimeLimitFollowsTenacity(t *testing.T) {
	cases := map[int]time.Duration{0: 0, 1: 50 * time.Microsecond, 10: 500 * time.Microsecond, 100: time.Duration(1<<63 - 1)}
	for ten, want := range cases {
		if got := evictionTimeLimit(ten); got != want {
			t.Errorf("tenacity %d: %v, want %v", ten, got, want)
		}
	}
	if got := evictionTimeLimit(99); got < 100*time.Second || got > 150*time.Second {
		t.Errorf("tenacity 99: %v, want about two minutes", got)
	}
}

// With tenacity 0 a round stops after 16 keys and the rest is left to
// evictionTimeProc; commands run meanwhile (evictRunning is no failure).
func TestEvictionOverTheTimeLimitGoesOnLater(t *testing.T) {
	s := evictServer(t, 1, "allkeys-random")
	s.Config.Set("maxmemory-eviction-tenacity", "0")
	addKeys(s, s.DBs[0], 40, false)
	if r := s.performEvictions(); r != evictRunning || s.DBs[0].Len() != 24 {
		t.Fatalf("performEvictions = %d with %d keys, want evictRunning and 24", r, s.DBs[0].Len())
	}
	for i := 0; i < 5 && s.DBs[0].Len() > 0; i++ {
		s.evictionTimeProc()
	}
	if s.DBs[0].Len() != 0 {
		t.Errorf("%d keys left after the later rounds", s.DBs[0].Len())
	}
}

func TestEvictionCachesGoFirst(t *testing.T) {
	s := evictServer(t, 0, "noeviction")
	addKeys(s, s.DBs[0], 5, false)
	cache := int64(10000)
	s.Register(Hooks{FreeMemory: func() int64 { n := cache; cache = 0; return n }})
	base := s.evict.readMem
	s.evict.readMem = func() memSample { m := base(); m.heap += cache; m.live += cache; return m }
	s.Config.MaxMemory = fakeUsed(s) + 10
	if !s.MemoryFits(0) || cache != 0 {
		t.Errorf("MemoryFits: cache left %d, want the cache dropped and room made", cache)
	}
	if s.MemoryFits(1000) {
		t.Error("MemoryFits(1000) under noeviction with no cache left: want false")
	}
	if s.DBs[0].Len() != 5 {
		t.Error("noeviction evicted keys")
	}
}

func TestEvictionPoolKeepsTheBestCandidatesInOrder(t *testing.T) {
	var e evictor
	scores := rand.Perm(100)
	for _, sc := range scores {
		e.insert(poolEntry{key: fmt.Sprint(sc), score: uint64(sc), used: true})
	}
	for i, p := range e.pool {
		if want := uint64(100 - evpoolSize + i); !p.used || p.score != want {
			t.Fatalf("pool[%d] = %+v, want score %d", i, p, want)
		}
	}
	// A pooled key sampled again is moved, not duplicated.
	e.insert(poolEntry{key: "90", score: 200, used: true})
	n := 0
	for _, p := range e.pool {
		if p.key == "90" {
			n++
		}
	}
	if n != 1 || e.pool[evpoolSize-1].key != "90" {
		t.Errorf("key 90 appears %d times, best is %q", n, e.pool[evpoolSize-1].key)
	}
}

func TestMaxmemoryZeroEvictsNothing(t *testing.T) {
	s := evictServer(t, 0, "allkeys-lru")
	addKeys(s, s.DBs[0], 5, false)
	if r := s.performEvictions(); r != evictOK || s.DBs[0].Len() != 5 {
		t.Errorf("maxmemory 0: %d, %d keys", r, s.DBs[0].Len())
	}
}
