package redistests

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// Random operation sequences on the collection types, sent to reddwarf and
// to a real redis-server 7.0 alike: every reply must be the same. Keys and
// members come from small pools so commands meet existing values, other
// types (WRONGTYPE) and empty collections. Replies Redis gives in its hash
// table's order (HGETALL of a big hash, SMEMBERS) are sorted on both sides.
// The seed is printed on failure; REDDWARF_SEED is not needed, each family
// runs seeds 1..N.

// opGen makes one random command line.
type opGen func(r *rand.Rand) []any

// unorderedReplies are commands whose reply order is the server's own.
var unorderedReplies = map[string]int{
	// name -> elements per item (HGETALL's field, value pairs sort as one)
	"HKEYS": 1, "HVALS": 1, "HGETALL": 2, "HSCAN": 2,
	"SMEMBERS": 1, "SINTER": 1, "SUNION": 1, "SDIFF": 1, "SSCAN": 1, "SPOP": 1,
}

// compareWithRedis runs seeds × ops random commands from gen on both
// servers; after each one the probes (commands that read every key's
// whole value) must agree too, so a divergence shows where it starts.
func compareWithRedis(t *testing.T, seeds, ops int, gen opGen, probes ...[]any) {
	t.Helper()
	compareWithRedisAfter(t, nil, seeds, ops, gen, probes...)
}

// compareWithRedisAfter is compareWithRedis with setup commands (CONFIG
// SET) run on both servers first; they are undone on reddwarf by the
// CONFIG SET lines in undo.
func compareWithRedisAfter(t *testing.T, setup [][]any, seeds, ops int, gen opGen, probes ...[]any) {
	t.Helper()
	if target == "redis" {
		t.Skip("the reference is the target: nothing to compare")
	}
	mine := client(t)
	ref := referenceRedis(t)
	for _, line := range setup {
		do(t, mine, line...)
		do(t, ref, line...)
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		do(t, ref, "FLUSHALL")
		do(t, mine, "FLUSHALL")
		r := rand.New(rand.NewPCG(seed, 17))
		var history []string
		for i := 0; i < ops; i++ {
			line := gen(r)
			history = append(history, fmt.Sprint(line))
			a, errA := mine.Do(ctx, line...).Result()
			b, errB := ref.Do(ctx, line...).Result()
			ma, mb := canonReply(line, a, errA), canonReply(line, b, errB)
			for _, p := range probes {
				if ma != mb {
					break
				}
				a, errA := mine.Do(ctx, p...).Result()
				b, errB := ref.Do(ctx, p...).Result()
				ma, mb = canonReply(p, a, errA), canonReply(p, b, errB)
				if ma != mb {
					ma, mb = fmt.Sprint(p, " after it: ", ma), fmt.Sprint(p, " after it: ", mb)
				}
			}
			if ma != mb {
				start := max(0, len(history)-8)
				t.Fatalf("seed %d op %d: %v\n ours:  %s\n redis: %s\nlast commands:\n  %s", seed, i, line, ma, mb, strings.Join(history[start:], "\n  "))
			}
		}
	}
}

// canonReply writes a reply as text, sorting those whose order is the
// server's own.
func canonReply(line []any, v any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	name := strings.ToUpper(fmt.Sprint(line[0]))
	if name == "XPENDING" && len(line) > 3 {
		v = withoutIdle(v)
	}
	per, unordered := unorderedReplies[name]
	if !unordered {
		return fmt.Sprintf("%#v", v)
	}
	if name == "HSCAN" || name == "SSCAN" || name == "ZSCAN" {
		// The cursor may differ (reddwarf answers in one step); the
		// elements may not.
		v = v.([]any)[1]
	}
	items, ok := v.([]any)
	if !ok {
		if m, isMap := v.(map[any]any); isMap {
			for k, val := range m {
				items = append(items, k, val)
			}
		} else {
			return fmt.Sprintf("%#v", v)
		}
	}
	var groups []string
	for i := 0; i+per <= len(items); i += per {
		groups = append(groups, fmt.Sprint(items[i:i+per]...))
	}
	sort.Strings(groups)
	return fmt.Sprintf("unordered %q", groups)
}

// withoutIdle zeroes the idle times of an extended XPENDING reply: the
// milliseconds since delivery are each server's clock.
func withoutIdle(v any) any {
	items, ok := v.([]any)
	if !ok {
		return v
	}
	for _, it := range items {
		if e, ok := it.([]any); ok && len(e) == 4 {
			e[2] = int64(0)
		}
	}
	return v
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// randKey is one of a few keys; "str" holds a string when a test sets it.
func randKey(r *rand.Rand) string { return pick(r, "k1", "k2", "k3", "str") }

func randField(r *rand.Rand) string {
	if r.IntN(20) == 0 {
		return strings.Repeat("long", 20) // past hash-max-listpack-value
	}
	return fmt.Sprintf("f%d", r.IntN(12))
}

func randValue(r *rand.Rand) any {
	switch r.IntN(5) {
	case 0:
		return r.IntN(100) - 50
	case 1:
		return fmt.Sprintf("%.2f", r.Float64()*10)
	case 2:
		return ""
	case 3:
		return strings.Repeat("x", r.IntN(80))
	}
	return fmt.Sprintf("v%d", r.IntN(10))
}

func hashOp(r *rand.Rand) []any {
	k := randKey(r)
	switch r.IntN(17) {
	case 0:
		return []any{"HSET", k, randField(r), randValue(r), randField(r), randValue(r)}
	case 1:
		return []any{"HSETNX", k, randField(r), randValue(r)}
	case 2:
		return []any{"HGET", k, randField(r)}
	case 3:
		return []any{"HMGET", k, randField(r), randField(r)}
	case 4:
		return []any{"HDEL", k, randField(r), randField(r)}
	case 5:
		return []any{"HLEN", k}
	case 6:
		return []any{"HSTRLEN", k, randField(r)}
	case 7:
		return []any{"HINCRBY", k, randField(r), pick[any](r, 1, -3, "x", "9223372036854775807")}
	case 8:
		return []any{"HINCRBYFLOAT", k, randField(r), pick[any](r, "1.5", "-0.25", "x", "1e308", "3")}
	case 9:
		return []any{"HKEYS", k}
	case 10:
		return []any{"HVALS", k}
	case 11:
		return []any{"HGETALL", k}
	case 12:
		return []any{"HEXISTS", k, randField(r)}
	case 13:
		return []any{"HSCAN", k, 0, "MATCH", pick(r, "*", "f1*", "x"), "COUNT", 1000}
	case 14:
		return []any{"HMSET", k, randField(r), randValue(r)}
	case 15:
		return []any{"OBJECT", "ENCODING", k}
	}
	return []any{pick(r, "SET", "DEL"), "str", "s"}
}

func TestHashRepliesMatchRedisOnRandomOperations(t *testing.T) {
	compareWithRedis(t, 20, 400, hashOp, probeAll("HGETALL")...)
}

func listOp(r *rand.Rand) []any {
	k := randKey(r)
	elem := func() any { return pick[any](r, "a", "b", "c", "", 1, 2, strings.Repeat("z", 40)) }
	idx := func() any { return r.IntN(9) - 4 }
	switch r.IntN(22) {
	case 0, 1:
		return []any{"LPUSH", k, elem(), elem()}
	case 2, 3:
		return []any{"RPUSH", k, elem()}
	case 4:
		return []any{pick(r, "LPUSHX", "RPUSHX"), k, elem()}
	case 5:
		return []any{"LINSERT", k, pick(r, "BEFORE", "AFTER", "x"), elem(), elem()}
	case 6:
		return []any{"LLEN", k}
	case 7:
		return []any{"LINDEX", k, idx()}
	case 8:
		return []any{"LSET", k, idx(), elem()}
	case 9, 10:
		return []any{"LRANGE", k, idx(), idx()}
	case 11:
		return []any{"LTRIM", k, idx(), idx()}
	case 12:
		return []any{"LREM", k, idx(), elem()}
	case 13:
		return []any{pick(r, "LPOP", "RPOP"), k}
	case 14:
		return []any{pick(r, "LPOP", "RPOP"), k, pick[any](r, 0, 1, 3, -1)}
	case 15:
		return []any{"RPOPLPUSH", k, randKey(r)}
	case 16:
		return []any{"LMOVE", k, randKey(r), pick(r, "LEFT", "RIGHT"), pick(r, "LEFT", "RIGHT", "UP")}
	case 17:
		line := []any{"LPOS", k, elem()}
		for _, o := range []string{"RANK", "COUNT", "MAXLEN"} {
			if r.IntN(2) == 0 {
				line = append(line, o, r.IntN(5)-1)
			}
		}
		return line
	case 18:
		return []any{"LMPOP", pick[any](r, 1, 2, 0), k, randKey(r), pick(r, "LEFT", "RIGHT"), "COUNT", pick[any](r, 1, 2, 0)}
	case 19:
		return []any{pick(r, "BLPOP", "BRPOP"), k, randKey(r), "0.01"}
	case 20:
		return []any{"BLMOVE", k, randKey(r), "RIGHT", "LEFT", "0.01"}
	}
	return []any{pick(r, "SET", "DEL"), "str", "s"}
}

func TestListRepliesMatchRedisOnRandomOperations(t *testing.T) {
	compareWithRedis(t, 20, 400, listOp, probeAll("LRANGE", 0, -1)...)
}

// probeAll is the probe cmd applied to every key randKey gives, with args.
func probeAll(cmd string, args ...any) [][]any {
	var out [][]any
	for _, k := range []string{"k1", "k2", "k3"} {
		out = append(out, append([]any{cmd, k}, args...))
	}
	return out
}

func setOp(r *rand.Rand) []any {
	k := randKey(r)
	member := func() any {
		if r.IntN(3) == 0 {
			return pick[any](r, "a", "b", "c", "01", "-0", "x y", strings.Repeat("m", 30))
		}
		return r.IntN(15) - 3
	}
	switch r.IntN(17) {
	case 0, 1, 2:
		return []any{"SADD", k, member(), member(), member()}
	case 3:
		return []any{"SREM", k, member(), member()}
	case 4:
		return []any{"SMOVE", k, randKey(r), member()}
	case 5:
		return []any{"SISMEMBER", k, member()}
	case 6:
		return []any{"SMISMEMBER", k, member(), member()}
	case 7:
		return []any{"SCARD", k}
	case 8:
		return []any{"SMEMBERS", k}
	case 9:
		return []any{pick(r, "SINTER", "SUNION", "SDIFF"), k, randKey(r), randKey(r)}
	case 10:
		return []any{pick(r, "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"), k, randKey(r), randKey(r)}
	case 11:
		return []any{"SINTERCARD", pick[any](r, 1, 2, 3), k, randKey(r), "LIMIT", pick[any](r, 0, 1, 3, -1)}
	case 12:
		return []any{"SSCAN", k, 0, "COUNT", 1000}
	case 13:
		return []any{"SPOP", k, pick[any](r, 0, 100, -1)}
	case 14:
		return []any{"OBJECT", "ENCODING", k}
	case 15:
		return []any{"SRANDMEMBER", k, pick[any](r, 0, "x")}
	}
	return []any{pick(r, "SET", "DEL"), "str", "s"}
}

func TestSetRepliesMatchRedisOnRandomOperations(t *testing.T) {
	defer do(t, client(t), "CONFIG", "SET", "set-max-intset-entries", "512")
	compareWithRedisAfter(t, [][]any{{"CONFIG", "SET", "set-max-intset-entries", "8"}}, 20, 400, setOp, probeAll("SMEMBERS")...)
}

func zsetOp(r *rand.Rand) []any {
	k := randKey(r)
	member := func() any { return pick[any](r, "a", "b", "c", "d", "e", "f", "g", "", strings.Repeat("q", 70)) }
	score := func() any { return pick[any](r, 0, 1, 2, -1, "1.5", "-inf", "+inf", "0.1", "x") }
	bound := func() any { return pick[any](r, "-inf", "+inf", 0, 1, "(1", 2, "(0", "x") }
	lex := func() any { return pick[any](r, "-", "+", "[a", "(b", "[c", "(e", "x") }
	idx := func() any { return r.IntN(9) - 4 }
	withScores := func(line []any) []any {
		if r.IntN(2) == 0 {
			line = append(line, "WITHSCORES")
		}
		return line
	}
	switch r.IntN(27) {
	case 0, 1, 2:
		line := []any{"ZADD", k}
		for _, f := range []string{"NX", "XX", "GT", "LT", "CH"} {
			if r.IntN(6) == 0 {
				line = append(line, f)
			}
		}
		return append(line, score(), member(), score(), member())
	case 3:
		return []any{"ZADD", k, pick(r, "INCR", "XX", "NX"), "INCR", score(), member()}
	case 4:
		return []any{"ZINCRBY", k, score(), member()}
	case 5:
		return []any{"ZREM", k, member(), member()}
	case 6:
		return withScores([]any{"ZRANGE", k, idx(), idx()})
	case 7:
		return withScores([]any{"ZRANGE", k, bound(), bound(), "BYSCORE", "LIMIT", r.IntN(3), r.IntN(4) - 1})
	case 8:
		return []any{"ZRANGE", "zlex", lex(), lex(), "BYLEX", "REV"}
	case 9:
		return withScores([]any{pick(r, "ZRANGEBYSCORE", "ZREVRANGEBYSCORE"), k, bound(), bound()})
	case 10:
		return []any{pick(r, "ZRANGEBYLEX", "ZREVRANGEBYLEX"), "zlex", lex(), lex(), "LIMIT", 0, r.IntN(3) + 1}
	case 11:
		return []any{pick(r, "ZCOUNT"), k, bound(), bound()}
	case 12:
		return []any{"ZLEXCOUNT", "zlex", lex(), lex()}
	case 13:
		return []any{pick(r, "ZRANK", "ZREVRANK", "ZSCORE"), k, member()}
	case 14:
		return []any{"ZMSCORE", k, member(), member()}
	case 15:
		return []any{pick(r, "ZREMRANGEBYRANK"), k, idx(), idx()}
	case 16:
		return []any{"ZREMRANGEBYSCORE", k, bound(), bound()}
	case 17:
		return []any{"ZREMRANGEBYLEX", "zlex", lex(), lex()}
	case 18:
		return []any{pick(r, "ZUNIONSTORE", "ZINTERSTORE"), k, 2, randKey(r), randKey(r), "WEIGHTS", pick[any](r, 1, 2, "-1", "inf"), 1, "AGGREGATE", pick(r, "SUM", "MIN", "MAX")}
	case 19:
		return withScores([]any{pick(r, "ZUNION", "ZINTER", "ZDIFF"), 2, k, randKey(r)})
	case 20:
		return []any{"ZDIFFSTORE", k, 2, randKey(r), randKey(r)}
	case 21:
		return []any{pick(r, "ZPOPMIN", "ZPOPMAX"), k, pick[any](r, 1, 2, 0, -1)}
	case 22:
		return []any{"ZMPOP", 2, k, randKey(r), pick(r, "MIN", "MAX"), "COUNT", pick[any](r, 1, 3)}
	case 23:
		return []any{"ZRANGESTORE", k, randKey(r), pick[any](r, 0, "(1"), pick[any](r, -1, 2), pick(r, "BYSCORE", "REV")}
	case 24:
		return []any{"ZINTERCARD", 2, k, randKey(r), "LIMIT", pick[any](r, 0, 1)}
	case 25:
		// Lexicographic ranges are defined on members of one score only.
		return []any{"ZADD", "zlex", 0, member(), 0, member()}
	}
	return []any{pick(r, "SET", "DEL", "OBJECT"), "str", "s"}
}

func TestZSetRepliesMatchRedisOnRandomOperations(t *testing.T) {
	defer do(t, client(t), "CONFIG", "SET", "zset-max-listpack-entries", "128")
	compareWithRedisAfter(t, [][]any{{"CONFIG", "SET", "zset-max-listpack-entries", "4"}}, 20, 400, zsetOp,
		append(append(probeAll("ZRANGE", 0, -1, "WITHSCORES"), probeAll("OBJECT", "ENCODING")...), []any{"ZRANGE", "zlex", 0, -1}, []any{"TYPE", "str"})...)
}

func sortOp(r *rand.Rand) []any {
	k := pick(r, "k1", "k2", "k3")
	elem := func() any { return pick[any](r, 1, 2, 3, 10, "-1", "2.5", "a", "b") }
	switch r.IntN(9) {
	case 0:
		return []any{"RPUSH", "k1", elem(), elem()}
	case 1:
		return []any{"SADD", "k2", pick[any](r, 1, 2, 3, 10, "-1", "2.5")}
	case 2:
		return []any{"ZADD", "k3", r.IntN(5), elem()}
	case 3:
		return []any{"SET", fmt.Sprint("w_", elem()), r.IntN(20) - 5}
	case 4:
		return []any{"HSET", fmt.Sprint("h_", elem()), "f", pick[any](r, 1, 7, "x")}
	}
	line := []any{pick(r, "SORT", "SORT_RO"), k}
	if r.IntN(3) == 0 {
		if k == "k2" {
			// A set's own order is its hash table's: BY nosort would
			// compare two servers' table layouts.
			line = append(line, "BY", pick(r, "w_*", "h_*->f"))
		} else {
			line = append(line, "BY", pick(r, "w_*", "h_*->f", "nosort"))
		}
	}
	if r.IntN(3) == 0 {
		line = append(line, "LIMIT", r.IntN(3), r.IntN(4)-1)
	}
	if r.IntN(3) == 0 {
		line = append(line, "GET", "#", "GET", pick(r, "w_*", "h_*->f"))
	}
	if r.IntN(2) == 0 {
		line = append(line, pick(r, "ASC", "DESC"))
	}
	if r.IntN(2) == 0 && (len(line) < 3 || line[2] != "BY") {
		// (Equal ALPHA weights from BY come back in the order of Redis's
		// qsort, which no client can rely on: not compared.)
		line = append(line, "ALPHA")
	}
	if line[0] == "SORT" && r.IntN(4) == 0 {
		line = append(line, "STORE", "dst")
	}
	return line
}

func TestSortRepliesMatchRedisOnRandomOperations(t *testing.T) {
	compareWithRedis(t, 20, 200, sortOp, []any{"LRANGE", "dst", 0, -1})
}

// streamOp is a random stream command. IDs are explicit (an auto ID is
// the server's clock), from a small range so adds meet "equal or
// smaller" errors, trimming and deletions meet existing entries, and
// group reads, claims and acks meet pending ones; stream-node-max-entries
// is small so approximate trimming removes whole nodes.
func streamOp(r *rand.Rand) []any {
	k := pick(r, "k1", "k2", "str")
	id := func() string {
		switch r.IntN(6) {
		case 0:
			return pick(r, "-", "+", "0", "0-0", "x", "(3-0", "18446744073709551615-18446744073709551615")
		case 1:
			return fmt.Sprint(r.IntN(40))
		}
		return fmt.Sprintf("%d-%d", r.IntN(40), r.IntN(3))
	}
	group := func() string { return pick(r, "g1", "g2") }
	consumer := func() string { return pick(r, "alice", "bob", "carol") }
	switch r.IntN(24) {
	case 0, 1, 2, 3:
		line := []any{"XADD", k}
		if r.IntN(8) == 0 {
			line = append(line, "NOMKSTREAM")
		}
		if r.IntN(3) == 0 {
			if r.IntN(2) == 0 {
				line = append(line, "MAXLEN", pick(r, "=", "~", "="), r.IntN(12))
			} else {
				line = append(line, "MINID", pick(r, "=", "~"), id())
			}
			if line[len(line)-2] == "~" && r.IntN(2) == 0 {
				line = append(line, "LIMIT", r.IntN(8))
			}
		}
		nid := fmt.Sprintf("%d-%d", 10+r.IntN(60), r.IntN(2))
		if r.IntN(4) == 0 {
			nid = fmt.Sprintf("%d-*", 10+r.IntN(60))
		}
		return append(line, nid, pick(r, "f", "g"), randValue(r))
	case 4:
		return []any{"XDEL", k, id(), id()}
	case 5:
		line := []any{"XTRIM", k, pick(r, "MAXLEN", "MINID")}
		if r.IntN(2) == 0 {
			line = append(line, pick(r, "=", "~"))
		}
		if line[2] == "MAXLEN" {
			line = append(line, r.IntN(12)-1)
		} else {
			line = append(line, id())
		}
		if r.IntN(3) == 0 {
			line = append(line, "LIMIT", r.IntN(6))
		}
		return line
	case 6, 7:
		line := []any{pick(r, "XRANGE", "XREVRANGE"), k, id(), id()}
		if r.IntN(2) == 0 {
			line = append(line, "COUNT", r.IntN(5)-1)
		}
		return line
	case 8:
		return []any{"XLEN", k}
	case 9:
		line := []any{"XGROUP", "CREATE", k, group(), pick(r, "$", "0", id())}
		if r.IntN(2) == 0 {
			line = append(line, "MKSTREAM")
		}
		if r.IntN(3) == 0 {
			line = append(line, "ENTRIESREAD", r.IntN(5)-1)
		}
		return line
	case 10:
		return []any{"XGROUP", "SETID", k, group(), pick(r, "$", "0", id())}
	case 11:
		return []any{"XGROUP", pick(r, "CREATECONSUMER", "DELCONSUMER"), k, group(), consumer()}
	case 12:
		return []any{"XGROUP", "DESTROY", k, group()}
	case 13, 14, 15:
		line := []any{"XREADGROUP", "GROUP", group(), consumer()}
		if r.IntN(2) == 0 {
			line = append(line, "COUNT", r.IntN(4))
		}
		if r.IntN(4) == 0 {
			line = append(line, "NOACK")
		}
		return append(line, "STREAMS", k, pick(r, ">", ">", "0", id()))
	case 16:
		return []any{"XREAD", "COUNT", r.IntN(4), "STREAMS", "k1", "k2", id(), id()}
	case 17:
		return []any{"XACK", k, group(), id(), id()}
	case 18:
		line := []any{"XPENDING", k, group()}
		if r.IntN(2) == 0 {
			line = append(line, "-", "+", r.IntN(5))
			if r.IntN(2) == 0 {
				line = append(line, consumer())
			}
		}
		return line
	case 19:
		line := []any{"XCLAIM", k, group(), consumer(), 0, id(), id()}
		if r.IntN(2) == 0 {
			line = append(line, "RETRYCOUNT", r.IntN(5))
		}
		if r.IntN(3) == 0 {
			line = append(line, "FORCE")
		}
		if r.IntN(3) == 0 {
			line = append(line, "JUSTID")
		}
		if r.IntN(4) == 0 {
			line = append(line, "LASTID", id())
		}
		return line
	case 20:
		line := []any{"XAUTOCLAIM", k, group(), consumer(), 0, pick(r, "0", "-", id())}
		if r.IntN(2) == 0 {
			line = append(line, "COUNT", r.IntN(4))
		}
		if r.IntN(3) == 0 {
			line = append(line, "JUSTID")
		}
		return line
	case 21:
		return []any{"XSETID", k, id()}
	case 22:
		return []any{pick(r, "TYPE", "OBJECT"), k}
	}
	return []any{pick(r, "SET", "DEL"), "str", "s"}
}

func TestStreamRepliesMatchRedisOnRandomOperations(t *testing.T) {
	defer do(t, client(t), "CONFIG", "SET", "stream-node-max-entries", "100")
	probes := [][]any{}
	for _, k := range []string{"k1", "k2"} {
		probes = append(probes, []any{"XRANGE", k, "-", "+"}, []any{"XINFO", "GROUPS", k},
			[]any{"XPENDING", k, "g1"}, []any{"XPENDING", k, "g2", "-", "+", 100})
	}
	compareWithRedisAfter(t, [][]any{{"CONFIG", "SET", "stream-node-max-entries", "4"}}, 20, 400, streamOp, probes...)
}
