package redistests

import (
	"testing"
	"time"
)

// Sorted sets, after Redis's tests/unit/type/zset.tcl.

func TestZaddFlagsRangesAndScores(t *testing.T) {
	c := client(t)
	want(t, c, int64(3), "ZADD", "z", 1, "a", 2, "b", 3, "c")
	want(t, c, int64(0), "ZADD", "z", "NX", 10, "a")
	want(t, c, int64(1), "ZADD", "z", "XX", "CH", 5, "a")
	want(t, c, int64(0), "ZADD", "z", "GT", "CH", 4, "a")
	want(t, c, "7.5", "ZADD", "z", "INCR", "2.5", "a")
	want(t, c, nil, "ZADD", "z", "NX", "INCR", 1, "a")
	wantErr(t, c, "ERR XX and NX options at the same time are not compatible", "ZADD", "z", "NX", "XX", 1, "a")
	wantErr(t, c, "ERR value is not a valid float", "ZADD", "z", "x", "a")
	want(t, c, "[b 2 c 3 a 7.5]", "ZRANGE", "z", 0, -1, "WITHSCORES")
	want(t, c, "[a c]", "ZRANGE", "z", "+inf", "(2", "BYSCORE", "REV")
	want(t, c, "[c]", "ZRANGEBYSCORE", "z", "(2", "+inf", "LIMIT", 0, 1)
	want(t, c, int64(2), "ZRANK", "z", "a")
	want(t, c, int64(0), "ZREVRANK", "z", "a")
	want(t, c, "0.10000000000000001", "ZINCRBY", "f", "0.1", "m")
	want(t, c, int64(2), "ZCOUNT", "z", 2, 3)
	wantErr(t, c, "ERR min or max is not a float", "ZCOUNT", "z", "x", 3)
	want(t, c, "listpack", "OBJECT", "ENCODING", "z")
	want(t, c, "zset", "TYPE", "z")
}

// A ZADD that gives members the scores they have changes nothing, as in
// Redis: it replies 0 (with CH too), a WATCH on the key survives it, and
// INCR by 0 replies the score; a real change then fails the EXEC.
func TestZaddOfTheSameScoresChangesNothing(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, c, "ZADD", "same", 1, "a", 2, "b")
	do(t, cn, "WATCH", "same")
	want(t, c, int64(0), "ZADD", "same", 1, "a", 2, "b", 1, "a")
	want(t, c, int64(0), "ZADD", "same", "CH", 2, "b")
	want(t, c, "1", "ZADD", "same", "INCR", 0, "a")
	want(t, c, "[a 1 b 2]", "ZRANGE", "same", 0, -1, "WITHSCORES")
	do(t, cn, "MULTI")
	do(t, cn, "PING")
	want(t, cn, "[PONG]", "EXEC")
	do(t, cn, "WATCH", "same")
	want(t, c, int64(1), "ZADD", "same", "CH", 3, "a")
	do(t, cn, "MULTI")
	do(t, cn, "PING")
	want(t, cn, nil, "EXEC")
}

func TestZsetAlgebraPopsAndBlockingPops(t *testing.T) {
	c := client(t)
	do(t, c, "ZADD", "a", 1, "x", 2, "y")
	do(t, c, "SADD", "s", "y", "w") // plain sets count with score 1
	want(t, c, int64(3), "ZUNIONSTORE", "u", 2, "a", "s", "WEIGHTS", 2, 1)
	want(t, c, "[w 1 x 2 y 5]", "ZRANGE", "u", 0, -1, "WITHSCORES")
	want(t, c, "[y 2]", "ZINTER", 2, "a", "s", "AGGREGATE", "MAX", "WITHSCORES")
	want(t, c, "[x]", "ZDIFF", 2, "a", "s")
	wantErr(t, c, "ERR at least 1 input key is needed for 'zunionstore' command", "ZUNIONSTORE", "d", 0, "a")
	want(t, c, "[x 1]", "ZPOPMIN", "a")
	want(t, c, "[a [[y 2]]]", "ZMPOP", 1, "a", "MAX", "COUNT", 5)
	want(t, c, int64(0), "EXISTS", "a")
	ch := blocked(t, c, "BZPOPMAX", "q", 0)
	do(t, c, "ZADD", "q", 1, "low", 9, "high")
	if v := recv(t, ch); !same(v, "[q high 9]") {
		t.Errorf("BZPOPMAX got %v", v)
	}
	start := time.Now()
	want(t, c, nil, "BZMPOP", 0.1, 1, "none", "MIN")
	if time.Since(start) < 80*time.Millisecond {
		t.Error("BZMPOP returned before its timeout")
	}
}

func TestZsetSkiplistPastTheListpackLimits(t *testing.T) {
	c := client(t)
	for i := 0; i < 129; i++ {
		do(t, c, "ZADD", "big", i, i)
	}
	want(t, c, "skiplist", "OBJECT", "ENCODING", "big")
	want(t, c, "[128 127]", "ZREVRANGE", "big", 0, 1)
	want(t, c, int64(64), "ZRANK", "big", 64)
	want(t, c, int64(100), "ZREMRANGEBYRANK", "big", 0, 99)
	want(t, c, "[100 101]", "ZRANGE", "big", 0, 1)
}
