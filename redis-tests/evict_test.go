package redistests

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Eviction, as Redis 7.0: maxmemory 1 is below any server's memory, so a
// policy evicts every key it may, publishing `evicted` events; then, with
// nothing left to evict, DENYOOM commands are refused and reads still run.

// evictedEvents reads n `evicted` keyevent messages from r (subscribed to
// __keyevent@*__:evicted) and returns "channel key" lines, sorted.
func evictedEvents(t *testing.T, r *raw, n int) []string {
	t.Helper()
	var got []string
	for i := 0; i < n; i++ {
		m, ok := r.value().([]any)
		if !ok || len(m) != 4 || m[0] != "pmessage" {
			t.Fatalf("message %d: %#v, want a pmessage", i, m)
		}
		got = append(got, m[2].(string)+" "+m[3].(string))
	}
	sort.Strings(got)
	return got
}

// waitFor polls cond for up to five seconds (a lowered maxmemory is acted on
// by the server's next turns, not inside CONFIG SET).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

const oomError = "OOM command not allowed when used memory > 'maxmemory'."

func TestMaxmemoryEvictsEveryKeyUnderAllkeysLRUWithEvents(t *testing.T) {
	s := startServer(t)
	c := ownClient(t, s, 2)
	do(t, c, "CONFIG", "SET", "notify-keyspace-events", "Ee", "maxmemory-policy", "allkeys-lru")
	do(t, c, "MSET", "a", "1", "b", "2")
	c3 := redis.NewClient(&redis.Options{Addr: s.Addr(), DB: 3, MaxRetries: -1, DisableIdentity: true})
	t.Cleanup(func() { c3.Close() })
	do(t, c3, "SET", "c", "3")
	sub := dialRaw(t, s.Addr())
	sub.send("PSUBSCRIBE __keyevent@*__:evicted\r\n")
	sub.value()

	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "1")
	got := evictedEvents(t, sub, 3)
	if w := []string{"__keyevent@0__:evicted a", "__keyevent@0__:evicted b", "__keyevent@3__:evicted c"}; strings.Join(got, ",") != strings.Join(w, ",") {
		t.Errorf("evicted events %v, want %v", got, w)
	}
	want(t, c, int64(0), "DBSIZE")
	want(t, c3, int64(0), "DBSIZE")
	st := info(t, c, "stats")["stats"]
	if st["evicted_keys"] != "3" {
		t.Errorf("evicted_keys = %q, want 3", st["evicted_keys"])
	}
	for _, f := range []string{"total_eviction_exceeded_time", "current_eviction_exceeded_time"} {
		if _, ok := st[f]; !ok {
			t.Errorf("INFO stats has no %s", f)
		}
	}
	// Nothing is left to evict: writes that may grow memory are refused,
	// reads and DEL still run.
	wantErr(t, c, oomError, "SET", "x", "y")
	wantErr(t, c, oomError, "APPEND", "x", "y")
	want(t, c, nil, "GET", "x")
	want(t, c, int64(0), "DEL", "x")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "0")
	want(t, c, "OK", "SET", "x", "y")
	do(t, c, "CONFIG", "RESETSTAT")
	wantInfo(t, c, "stats", "evicted_keys", "0") // CONFIG RESETSTAT clears it
}

func TestVolatilePoliciesEvictOnlyKeysWithATTL(t *testing.T) {
	for _, policy := range []string{"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"} {
		t.Run(policy, func(t *testing.T) {
			s := startServer(t)
			c := ownClient(t, s, 2)
			do(t, c, "CONFIG", "SET", "maxmemory-policy", policy)
			do(t, c, "MSET", "p1", "x", "p2", "x")
			for _, k := range []string{"v1", "v2", "v3"} {
				do(t, c, "SETEX", k, 1000, "x")
			}
			want(t, c, "OK", "CONFIG", "SET", "maxmemory", "1")
			waitFor(t, "the keys with a TTL to be evicted", func() bool {
				return do(t, c, "EXISTS", "v1", "v2", "v3").(int64) == 0
			})
			want(t, c, int64(2), "EXISTS", "p1", "p2")
			wantInfo(t, c, "stats", "evicted_keys", "3")
			wantErr(t, c, oomError, "SETEX", "v4", 1000, "x")
			want(t, c, "OK", "CONFIG", "SET", "maxmemory", "0")
		})
	}
}

// wantInfo checks one INFO field.
func wantInfo(t *testing.T, c doer, section, field, w string) {
	t.Helper()
	if v := infoField(t, c, section, field); v != w {
		t.Errorf("INFO %s %s = %q, want %q", section, field, v, w)
	}
}

func TestNoevictionRefusesWritesAndKeepsKeys(t *testing.T) {
	s := startServer(t)
	c := ownClient(t, s, 2)
	do(t, c, "SET", "k", "v")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "1")
	wantErr(t, c, oomError, "SET", "k2", "v")
	want(t, c, "v", "GET", "k")
	wantInfo(t, c, "stats", "evicted_keys", "0")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "0")
}

// With the session store off, a session is a key like any other for
// eviction, its KV pages freed with it, except while a GEN job runs on
// it: a busy session is never evicted. (With the store on, sessions are
// paged out instead: TestStoreMaxmemoryPagesSessionsOut.)
func TestEvictionSkipsASessionWithARunningGen(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--prefill-chunk", "1", "--appendonly", "no") // a GEN long enough to watch
	c := ownClient(t, s, 2)
	ctx := context.Background()
	do(t, c, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
	do(t, c, "PREFILL", "idle", "Once upon a time")
	do(t, c, "PREFILL", "k", "Once upon a time")
	do(t, c, "SET", "note", "x")
	done := make(chan *redis.Cmd, 1)
	go func() { done <- c.Do(ctx, "GEN", "k", longPrompt, "MAXTOKENS", 5) }()
	waitFor(t, "the GEN to run", func() bool { return infoField(t, c, "inference", "active_gens") == "1" })

	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "1")
	waitFor(t, "the idle keys to be evicted", func() bool { return do(t, c, "EXISTS", "idle", "note").(int64) == 0 })
	// Busy: still there, unless the GEN has just finished.
	if do(t, c, "EXISTS", "k").(int64) == 0 && infoField(t, c, "inference", "active_gens") == "1" {
		t.Error("the session of a running GEN was evicted")
	}
	if r := <-done; r.Err() != nil {
		t.Fatalf("GEN: %v", r.Err())
	}
	// Finished, the session is idle: the next command evicts it, and with
	// it the last KV pages (the prefix cache's idle pages go first).
	want(t, c, int64(0), "EXISTS", "k")
	wantInfo(t, c, "stats", "evicted_keys", "3")
	wantInfo(t, c, "inference", "kv_pages", "0")
	wantInfo(t, c, "inference", "sessions", "0")
	wantErr(t, c, oomError, "GEN", "k2", "hi")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "0")
}

// The token masks GEN … JSON caches (a bit per vocabulary token each: 19
// KB apiece for Qwen2's 151k tokens, up to 512 of them) are a cache, not
// data: INFO inference format_mask_cache_bytes shows them, and memory
// pressure drops them before any key is evicted, under noeviction too, as
// the prefix cache's idle pages are.
func TestMaxmemoryDropsTheFormatMaskCache(t *testing.T) {
	_, _, c := startHTTPServer(t, "pw") // a qwen2 synth model: Qwen2's vocabulary
	str(t, c, "GEN", "j", "Once upon a time", "JSON", "MAXTOKENS", 40, "SEED", 1, "TEMPERATURE", 1.5)
	masks, err := strconv.ParseInt(infoField(t, c, "inference", "format_mask_cache_bytes"), 10, 64)
	if err != nil || masks < 151000/8 {
		t.Fatalf("format_mask_cache_bytes %d %v: a JSON reply caches at least one mask", masks, err)
	}
	do(t, c, "SET", "note", "x")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory-policy", "noeviction")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "1")
	wantErr(t, c, oomError, "SET", "k2", "v")
	wantInfo(t, c, "inference", "format_mask_cache_bytes", "0")
	wantInfo(t, c, "stats", "evicted_keys", "0")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "0")
	// The masks come back when needed, and go again with the keys.
	str(t, c, "GEN", "j2", "Once upon a time", "JSON", "MAXTOKENS", 10, "SEED", 2)
	if v := infoField(t, c, "inference", "format_mask_cache_bytes"); v == "0" {
		t.Fatal("no mask cached after a second JSON reply")
	}
	want(t, c, "OK", "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "1")
	wantErr(t, c, oomError, "SET", "k3", "v") // everything evicted, still over
	wantInfo(t, c, "inference", "format_mask_cache_bytes", "0")
	want(t, c, int64(0), "EXISTS", "note") // (the sessions are paged out to the store, not deleted)
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "0")
}
