package redistests

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

func sortedStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	sort.Strings(out)
	return out
}

func TestDelAndUnlinkCountOnlyExistingKeys(t *testing.T) {
	c := client(t)
	do(t, c, "MSET", "a", "1", "b", "2", "c", "3")
	want(t, c, int64(2), "DEL", "a", "b", "nosuch")
	want(t, c, int64(1), "UNLINK", "c", "c")
	want(t, c, int64(0), "DEL", "a")
	wantErr(t, c, "ERR wrong number of arguments for 'del' command", "DEL")
}

func TestExistsCountsRepeatedKeys(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "a", "1")
	want(t, c, int64(3), "EXISTS", "a", "a", "nosuch", "a")
	want(t, c, int64(0), "EXISTS", "nosuch")
}

func TestTypeNamesStringsAndMissingKeys(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "a", "1")
	want(t, c, "string", "TYPE", "a")
	want(t, c, "none", "TYPE", "nosuch")
}

func TestKeysMatchesGlobPatterns(t *testing.T) {
	c := client(t)
	for _, k := range []string{"foo_a", "foo_b", "foo_c", "key_x", "key_y", "h[e]llo", "hallo"} {
		do(t, c, "SET", k, "v")
	}
	cases := map[string]string{
		"foo*":      "foo_a foo_b foo_c",
		"*":         "foo_a foo_b foo_c h[e]llo hallo key_x key_y",
		"key_?":     "key_x key_y",
		"foo_[ab]":  "foo_a foo_b",
		"foo_[^a]":  "foo_b foo_c",
		"h\\[e\\]*": "h[e]llo",
		"h[a-b]llo": "hallo",
		"nomatch*":  "",
	}
	for pat, w := range cases {
		got := strings.Join(sortedStrings(do(t, c, "KEYS", pat)), " ")
		if got != w {
			t.Errorf("KEYS %q = %q, want %q", pat, got, w)
		}
	}
}

func TestScanVisitsEveryKeyWithMatchCountAndType(t *testing.T) {
	c := client(t)
	for i := 0; i < 1000; i++ {
		do(t, c, "SET", "key:"+itoa(int64(i)), "v")
	}
	do(t, c, "SET", "other", "v")
	seen := map[string]bool{}
	cursor := "0"
	for {
		v := do(t, c, "SCAN", cursor, "MATCH", "key:*", "COUNT", 100).([]any)
		cursor = v[0].(string)
		for _, k := range v[1].([]any) {
			if !strings.HasPrefix(k.(string), "key:") {
				t.Errorf("SCAN MATCH key:* returned %q", k)
			}
			seen[k.(string)] = true
		}
		if cursor == "0" {
			break
		}
	}
	if len(seen) != 1000 {
		t.Errorf("SCAN saw %d keys, want 1000", len(seen))
	}
	v := do(t, c, "SCAN", 0, "TYPE", "list", "COUNT", 2000).([]any)
	if len(v[1].([]any)) != 0 {
		t.Errorf("SCAN TYPE list found %v", v[1])
	}
	v = do(t, c, "SCAN", 0, "TYPE", "string", "COUNT", 2000).([]any)
	if len(v[1].([]any)) != 1001 {
		t.Errorf("SCAN TYPE string found %d keys", len(v[1].([]any)))
	}
	wantErr(t, c, "ERR invalid cursor", "SCAN", "x")
	wantErr(t, c, "ERR syntax error", "SCAN", 0, "COUNT", 0)
	wantErr(t, c, "ERR value is not an integer or out of range", "SCAN", 0, "COUNT", "x")
	wantErr(t, c, "ERR syntax error", "SCAN", 0, "BOGUS", 1)
}

func TestRandomkeyReturnsAKeyOrNil(t *testing.T) {
	c := client(t)
	want(t, c, nil, "RANDOMKEY")
	do(t, c, "SET", "only", "v")
	want(t, c, "only", "RANDOMKEY")
}

func TestRenameMovesValueAndTtl(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "a", "1", "EX", 100)
	want(t, c, "OK", "RENAME", "a", "b")
	want(t, c, nil, "GET", "a")
	want(t, c, "1", "GET", "b")
	if ttl := do(t, c, "TTL", "b").(int64); ttl <= 0 || ttl > 100 {
		t.Errorf("TTL after RENAME = %d", ttl)
	}
	wantErr(t, c, "ERR no such key", "RENAME", "nosuch", "x")
	want(t, c, "OK", "RENAME", "b", "b")
	do(t, c, "SET", "c", "3")
	want(t, c, int64(0), "RENAMENX", "b", "c")
	want(t, c, int64(1), "RENAMENX", "b", "d")
	wantErr(t, c, "ERR no such key", "RENAMENX", "nosuch", "x")
	want(t, c, "OK", "RENAME", "d", "c")
	want(t, c, "1", "GET", "c")
	if ttl := do(t, c, "TTL", "c").(int64); ttl <= 0 {
		t.Errorf("TTL after RENAME over an existing key = %d, want the source's", ttl)
	}
}

func TestCopyDuplicatesAcrossDatabasesWithReplace(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "a", "1")
	want(t, c, int64(1), "COPY", "a", "b")
	do(t, c, "SET", "b", "2")
	want(t, c, int64(0), "COPY", "a", "b")
	want(t, c, int64(1), "COPY", "a", "b", "REPLACE")
	want(t, c, "1", "GET", "b")
	want(t, c, int64(0), "COPY", "nosuch", "x")
	want(t, c, int64(1), "COPY", "a", "a2", "DB", 5)
	cn := conn(t, c)
	do(t, cn, "SELECT", 5)
	want(t, cn, "1", "GET", "a2")
	wantErr(t, c, "ERR source and destination objects are the same", "COPY", "a", "a")
	wantErr(t, c, "ERR DB index is out of range", "COPY", "a", "z", "DB", 99)
	wantErr(t, c, "ERR syntax error", "COPY", "a", "z", "BOGUS")
}

func TestMoveTransfersKeyToAnotherDatabase(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "a", "1")
	want(t, c, int64(1), "MOVE", "a", 1)
	want(t, c, int64(0), "EXISTS", "a")
	want(t, c, int64(0), "MOVE", "a", 1)
	do(t, c, "SET", "a", "0")
	want(t, c, int64(0), "MOVE", "a", 1) // target exists
	wantErr(t, c, "ERR source and destination objects are the same", "MOVE", "a", 0)
	wantErr(t, c, "ERR DB index is out of range", "MOVE", "a", 16)
	cn := conn(t, c)
	do(t, cn, "SELECT", 1)
	want(t, cn, "1", "GET", "a")
}

func TestSwapdbExchangesWholeDatabases(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "a", "db0")
	want(t, c, "OK", "SWAPDB", 0, 2)
	want(t, c, int64(0), "EXISTS", "a")
	cn := conn(t, c)
	do(t, cn, "SELECT", 2)
	want(t, cn, "db0", "GET", "a")
	wantErr(t, c, "ERR invalid first DB index", "SWAPDB", "x", 1)
	wantErr(t, c, "ERR invalid second DB index", "SWAPDB", 1, "x")
	wantErr(t, c, "ERR DB index is out of range", "SWAPDB", 1, 16)
}

func TestExpireOptionsNxXxGtLt(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "k", "v")
	want(t, c, int64(0), "EXPIRE", "k", 100, "XX")
	want(t, c, int64(0), "EXPIRE", "k", 100, "GT") // no TTL counts as infinite
	want(t, c, int64(1), "EXPIRE", "k", 100, "LT")
	want(t, c, int64(0), "EXPIRE", "k", 200, "NX")
	want(t, c, int64(1), "EXPIRE", "k", 200, "GT")
	want(t, c, int64(0), "EXPIRE", "k", 150, "GT")
	want(t, c, int64(1), "EXPIRE", "k", 150, "XX")
	want(t, c, int64(0), "EXPIRE", "nosuch", 100)
	wantErr(t, c, "ERR NX and XX, GT or LT options at the same time are not compatible", "EXPIRE", "k", 100, "NX", "XX")
	wantErr(t, c, "ERR GT and LT options at the same time are not compatible", "EXPIRE", "k", 100, "GT", "LT")
	wantErr(t, c, "ERR Unsupported option bogus", "EXPIRE", "k", 100, "bogus")
	wantErr(t, c, "ERR value is not an integer or out of range", "EXPIRE", "k", "x")
	wantErr(t, c, "ERR invalid expire time in 'expire' command", "EXPIRE", "k", "9223372036854775807")
	wantErr(t, c, "ERR invalid expire time in 'pexpire' command", "PEXPIRE", "k", "9223372036854775807")
}

func TestTtlFamilyReportsRemainingTime(t *testing.T) {
	c := client(t)
	want(t, c, int64(-2), "TTL", "nosuch")
	want(t, c, int64(-2), "PTTL", "nosuch")
	want(t, c, int64(-2), "EXPIRETIME", "nosuch")
	do(t, c, "SET", "k", "v")
	want(t, c, int64(-1), "TTL", "k")
	want(t, c, int64(-1), "PEXPIRETIME", "k")
	want(t, c, int64(1), "PEXPIRE", "k", 50000)
	if p := do(t, c, "PTTL", "k").(int64); p <= 49000 || p > 50000 {
		t.Errorf("PTTL = %d", p)
	}
	at := time.Now().Unix() + 1000
	want(t, c, int64(1), "EXPIREAT", "k", at)
	want(t, c, at, "EXPIRETIME", "k")
	want(t, c, at*1000, "PEXPIRETIME", "k")
	want(t, c, int64(1), "PEXPIREAT", "k", at*1000+123)
	want(t, c, at*1000+123, "PEXPIRETIME", "k")
	want(t, c, int64(1), "PERSIST", "k")
	want(t, c, int64(0), "PERSIST", "k")
	want(t, c, int64(-1), "TTL", "k")
}

func TestExpireInThePastDeletesTheKey(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "k", "v")
	want(t, c, int64(1), "EXPIRE", "k", -1)
	want(t, c, int64(0), "EXISTS", "k")
	do(t, c, "SET", "k", "v")
	want(t, c, int64(1), "EXPIREAT", "k", 1)
	want(t, c, int64(0), "EXISTS", "k")
}

func TestKeysExpireLazilyAndActively(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "lazy", "v", "PX", 100)
	time.Sleep(200 * time.Millisecond)
	want(t, c, nil, "GET", "lazy")
	for i := 0; i < 100; i++ {
		do(t, c, "SET", "active:"+itoa(int64(i)), "v", "PX", 50)
	}
	do(t, c, "SET", "stay", "v")
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && do(t, c, "DBSIZE").(int64) != 1 {
		time.Sleep(50 * time.Millisecond)
	}
	want(t, c, int64(1), "DBSIZE")
}

func TestTouchCountsExistingKeys(t *testing.T) {
	c := client(t)
	do(t, c, "MSET", "a", "1", "b", "2")
	want(t, c, int64(2), "TOUCH", "a", "b", "nosuch")
}

func TestObjectSubcommands(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "int", "12345")
	do(t, c, "SET", "short", "hello")
	do(t, c, "SET", "long", strings.Repeat("x", 100))
	want(t, c, "int", "OBJECT", "ENCODING", "int")
	want(t, c, "embstr", "OBJECT", "ENCODING", "short")
	want(t, c, "raw", "OBJECT", "ENCODING", "long")
	do(t, c, "APPEND", "short", "!")
	want(t, c, "raw", "OBJECT", "ENCODING", "short")
	want(t, c, nil, "OBJECT", "ENCODING", "nosuch")
	want(t, c, int64(0), "OBJECT", "IDLETIME", "long")
	want(t, c, int64(1), "OBJECT", "REFCOUNT", "long")
	wantErr(t, c, "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.", "OBJECT", "FREQ", "long")
	wantErr(t, c, "ERR unknown subcommand 'bogus'. Try OBJECT HELP.", "OBJECT", "bogus", "x")
	if h := do(t, c, "OBJECT", "HELP").([]any); len(h) < 5 {
		t.Errorf("OBJECT HELP = %v", h)
	}
}

func TestObjectFreqUnderAnLfuPolicy(t *testing.T) {
	c := client(t)
	do(t, c, "CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
	defer do(t, c, "CONFIG", "SET", "maxmemory-policy", "noeviction")
	do(t, c, "SET", "k", "v")
	if f := do(t, c, "OBJECT", "FREQ", "k").(int64); f < 0 || f > 255 {
		t.Errorf("OBJECT FREQ = %d", f)
	}
	wantErr(t, c, "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.", "OBJECT", "IDLETIME", "k")
}

func TestMemoryUsageGrowsWithTheValue(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "small", "x")
	do(t, c, "SET", "big", strings.Repeat("x", 10000))
	s := do(t, c, "MEMORY", "USAGE", "small").(int64)
	b := do(t, c, "MEMORY", "USAGE", "big").(int64)
	if s <= 0 || b < 10000 || b <= s {
		t.Errorf("MEMORY USAGE small=%d big=%d", s, b)
	}
	want(t, c, nil, "MEMORY", "USAGE", "nosuch")
	want(t, c, s, "MEMORY", "USAGE", "small", "SAMPLES", 5)
	wantErr(t, c, "ERR syntax error", "MEMORY", "USAGE", "small", "BOGUS")
}

func TestFlushdbAndFlushallEmptyDatabases(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "SET", "a", "1")
	do(t, cn, "SELECT", 1)
	do(t, cn, "SET", "b", "1")
	want(t, cn, "OK", "FLUSHDB")
	want(t, cn, int64(0), "DBSIZE")
	do(t, cn, "SELECT", 0)
	want(t, cn, int64(1), "DBSIZE")
	want(t, cn, "OK", "FLUSHDB", "ASYNC")
	do(t, cn, "SET", "a", "1")
	want(t, cn, "OK", "FLUSHALL", "SYNC")
	want(t, cn, int64(0), "DBSIZE")
	want(t, cn, "OK", "FLUSHALL", "ASYNC")
	wantErr(t, cn, "ERR syntax error", "FLUSHALL", "BOGUS")
	wantErr(t, cn, "ERR syntax error", "FLUSHDB", "BOGUS")
}

func TestDbsizeCountsKeysOfTheSelectedDatabase(t *testing.T) {
	c := client(t)
	want(t, c, int64(0), "DBSIZE")
	do(t, c, "MSET", "a", "1", "b", "2")
	want(t, c, int64(2), "DBSIZE")
}

func TestPathologicalGlobPatternsFinishQuickly(t *testing.T) {
	// A server of its own: a matcher that backtracks exponentially would
	// keep the shared one busy for the tests after this.
	c := redisClientAt(t, startServer(t).Addr())
	c.Options().ReadTimeout = 3 * time.Second
	do(t, c, "SET", strings.Repeat("a", 60), "v")
	pat := strings.Repeat("a*", 30) + "b"
	for _, args := range [][]any{{"KEYS", pat}, {"SCAN", 0, "MATCH", pat, "COUNT", 100}, {"PUBSUB", "CHANNELS", pat}} {
		start := time.Now()
		v := do(t, c, args...)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s with a nested-star pattern took %v", args[0], d)
		}
		if s := fmt.Sprint(v); s != "[]" && s != "[0 []]" {
			t.Errorf("%s = %v", args[0], v)
		}
	}
}

func TestObjectIdletimeGrowsAndOnlyAccessResetsIt(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "k", "v")
	do(t, c, "SET", "t", "v")
	time.Sleep(2100 * time.Millisecond)
	// TTL, TYPE, EXISTS and OBJECT do not count as access; TOUCH and GET do.
	do(t, c, "TTL", "k")
	do(t, c, "TYPE", "k")
	do(t, c, "EXISTS", "k")
	if n := do(t, c, "OBJECT", "IDLETIME", "k").(int64); n < 2 {
		t.Errorf("OBJECT IDLETIME after 2.1s = %d, want >= 2", n)
	}
	do(t, c, "TOUCH", "t")
	want(t, c, int64(0), "OBJECT", "IDLETIME", "t")
	do(t, c, "GET", "k")
	want(t, c, int64(0), "OBJECT", "IDLETIME", "k")
}
