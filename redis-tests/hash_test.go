package redistests

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Hashes, after Redis's tests/unit/type/hash.tcl: replies, errors,
// encodings and the generic commands that meet a hash.

func TestHashSetGetDeleteAndTheKeyGoesWhenEmpty(t *testing.T) {
	c := client(t)
	want(t, c, int64(2), "HSET", "h", "a", "1", "b", "2")
	want(t, c, int64(0), "HSET", "h", "a", "3")
	want(t, c, "3", "HGET", "h", "a")
	want(t, c, nil, "HGET", "h", "zz")
	want(t, c, "[3 <nil> 2]", "HMGET", "h", "a", "zz", "b")
	want(t, c, "OK", "HMSET", "h", "c", "x")
	want(t, c, int64(0), "HSETNX", "h", "c", "y")
	want(t, c, int64(1), "HSETNX", "h", "d", "y")
	want(t, c, int64(4), "HLEN", "h")
	want(t, c, int64(1), "HSTRLEN", "h", "c")
	want(t, c, int64(1), "HEXISTS", "h", "d")
	want(t, c, "[a b c d]", "HKEYS", "h")
	want(t, c, "[3 2 x y]", "HVALS", "h")
	want(t, c, int64(2), "HDEL", "h", "a", "b", "nope")
	want(t, c, int64(2), "HDEL", "h", "c", "d")
	want(t, c, int64(0), "EXISTS", "h")
	wantErr(t, c, "ERR wrong number of arguments for 'hset' command", "HSET", "h", "a", "1", "b")
	wantErr(t, c, "ERR wrong number of arguments for 'hmset' command", "HMSET", "h", "a", "1", "b")
}

func TestHashCommandsOnAStringAreWrongType(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "s", "x")
	for _, line := range [][]any{{"HSET", "s", "a", "1"}, {"HGET", "s", "a"}, {"HGETALL", "s"}, {"HLEN", "s"},
		{"HDEL", "s", "a"}, {"HINCRBY", "s", "a", 1}, {"HRANDFIELD", "s"}, {"HSCAN", "s", 0}, {"HMGET", "s", "a"}} {
		wantErr(t, c, "WRONGTYPE Operation against a key holding the wrong kind of value", line...)
	}
}

func TestHashIncrementsCheckTheFieldAndTheResult(t *testing.T) {
	c := client(t)
	want(t, c, int64(5), "HINCRBY", "h", "n", 5)
	want(t, c, int64(-2), "HINCRBY", "h", "n", -7)
	do(t, c, "HSET", "h", "s", "abc", "big", "9223372036854775807", "f", "10.5")
	wantErr(t, c, "ERR hash value is not an integer", "HINCRBY", "h", "s", 1)
	wantErr(t, c, "ERR increment or decrement would overflow", "HINCRBY", "h", "big", 1)
	wantErr(t, c, "ERR value is not an integer or out of range", "HINCRBY", "h", "n", "x")
	want(t, c, "10.75", "HINCRBYFLOAT", "h", "f", "0.25")
	do(t, c, "HSET", "h", "e", "5.0e3")
	want(t, c, "5200", "HINCRBYFLOAT", "h", "e", "200")
	wantErr(t, c, "ERR hash value is not a float", "HINCRBYFLOAT", "h", "s", 1)
	wantErr(t, c, "ERR value is not a valid float", "HINCRBYFLOAT", "h", "f", "x")
	wantErr(t, c, "ERR value is NaN or Infinity", "HINCRBYFLOAT", "h", "f", "+inf")
	do(t, c, "HSET", "h", "max", "1e4932")
	wantErr(t, c, "ERR increment would produce NaN or Infinity", "HINCRBYFLOAT", "h", "max", "1e4932")
}

func TestSmallHashesAreListpacksAndGrowIntoHashtables(t *testing.T) {
	c := client(t)
	do(t, c, "HSET", "small", "a", "1")
	want(t, c, "listpack", "OBJECT", "ENCODING", "small")
	do(t, c, "HSET", "long", "a", strings.Repeat("x", 65))
	want(t, c, "hashtable", "OBJECT", "ENCODING", "long")
	do(t, c, "CONFIG", "SET", "hash-max-ziplist-entries", "4")
	defer do(t, c, "CONFIG", "SET", "hash-max-listpack-entries", "512")
	do(t, c, "HSET", "many", "a", 1, "b", 2, "c", 3, "d", 4)
	want(t, c, "listpack", "OBJECT", "ENCODING", "many")
	do(t, c, "HSET", "many", "e", 5)
	want(t, c, "hashtable", "OBJECT", "ENCODING", "many")
	do(t, c, "HDEL", "many", "a", "b", "c")
	want(t, c, "hashtable", "OBJECT", "ENCODING", "many") // never converted back
	small, _ := c.Do(ctx, "MEMORY", "USAGE", "small").Int64()
	big, _ := c.Do(ctx, "MEMORY", "USAGE", "long").Int64()
	if small <= 0 || big <= small {
		t.Errorf("MEMORY USAGE small=%d long=%d, want 0 < small < long", small, big)
	}
}

func TestHgetallIsAMapInResp3(t *testing.T) {
	c := client3(t)
	do(t, c, "HSET", "h", "a", "1", "b", "2")
	v, err := c.Do(ctx, "HGETALL", "h").Result()
	if m, ok := v.(map[any]any); err != nil || !ok || m["a"] != "1" || m["b"] != "2" || len(m) != 2 {
		t.Errorf("HGETALL in RESP3 = %#v, %v; want a map a=1 b=2", v, err)
	}
	v, err = c.Do(ctx, "HRANDFIELD", "h", -3, "WITHVALUES").Result()
	if pairs, ok := v.([]any); err != nil || !ok || len(pairs) != 3 || len(pairs[0].([]any)) != 2 {
		t.Errorf("HRANDFIELD -3 WITHVALUES in RESP3 = %#v, %v; want 3 pairs", v, err)
	}
}

func TestHrandfieldCountsAndRepeats(t *testing.T) {
	c := client(t)
	want(t, c, nil, "HRANDFIELD", "none")
	want(t, c, "[]", "HRANDFIELD", "none", 5)
	do(t, c, "HSET", "h", "a", 1, "b", 2, "c", 3)
	got := do(t, c, "HRANDFIELD", "h", 10).([]any)
	var names []string
	for _, g := range got {
		names = append(names, g.(string))
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("HRANDFIELD h 10 = %v, want every field once", names)
	}
	if n := len(do(t, c, "HRANDFIELD", "h", -10).([]any)); n != 10 {
		t.Errorf("HRANDFIELD h -10 gave %d fields, want 10 (repeats allowed)", n)
	}
	if n := len(do(t, c, "HRANDFIELD", "h", 2, "WITHVALUES").([]any)); n != 4 {
		t.Errorf("HRANDFIELD h 2 WITHVALUES gave %d items, want 4", n)
	}
	want(t, c, "[]", "HRANDFIELD", "h", 0)
	wantErr(t, c, "ERR syntax error", "HRANDFIELD", "h", 1, "WITHSCORES")
	wantErr(t, c, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807", "HRANDFIELD", "h", "-9223372036854775808")
}

func TestHashMeetsTheGenericCommands(t *testing.T) {
	c := client(t)
	do(t, c, "HSET", "h", "a", "1")
	do(t, c, "SET", "s", "x")
	want(t, c, "hash", "TYPE", "h")
	want(t, c, "[0 [h]]", "SCAN", 0, "TYPE", "hash")
	want(t, c, int64(1), "COPY", "h", "h2")
	do(t, c, "HSET", "h2", "b", "2")
	want(t, c, int64(1), "HLEN", "h") // the copy is independent
	want(t, c, "OK", "RENAME", "h2", "h3")
	want(t, c, "[a 1 b 2]", "HGETALL", "h3")
	want(t, c, int64(1), "MOVE", "h3", 1)
	cn := conn(t, c)
	do(t, cn, "SELECT", 1)
	want(t, cn, "2", "HGET", "h3", "b")
}

func TestHashWritesTouchWatchAndNotify(t *testing.T) {
	c := client(t)
	do(t, c, "CONFIG", "SET", "notify-keyspace-events", "KEA")
	defer do(t, c, "CONFIG", "SET", "notify-keyspace-events", "")
	sub := c.PSubscribe(ctx, "__keyspace@0__:*")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	do(t, c, "HSET", "h", "a", "1")
	do(t, c, "HINCRBY", "h", "n", "1")
	do(t, c, "HDEL", "h", "a", "n")
	var events []string
	for len(events) < 4 {
		m, err := sub.ReceiveTimeout(ctx, 2*time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", events, err)
		}
		if msg, ok := m.(*redis.Message); ok {
			events = append(events, msg.Payload)
		}
	}
	if got := strings.Join(events, " "); got != "hset hincrby hdel del" {
		t.Errorf("keyspace events %q, want %q", got, "hset hincrby hdel del")
	}
	// WATCH: a hash write between WATCH and EXEC aborts the transaction.
	cn := conn(t, c)
	do(t, cn, "WATCH", "w")
	do(t, c, "HSET", "w", "a", "1")
	do(t, cn, "MULTI")
	do(t, cn, "PING")
	want(t, cn, nil, "EXEC")
}

func TestRedisCliPrintsAHash(t *testing.T) {
	c := client(t)
	do(t, c, "HSET", "h", "a", "1", "b", "2")
	if out := redisCli(t, "", "HGETALL", "h"); out != "a\n1\nb\n2\n" {
		t.Errorf("redis-cli HGETALL h printed %q", out)
	}
}
