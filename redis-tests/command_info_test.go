package redistests

import (
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// COMMAND INFO and COMMAND DOCS are compared with a real redis-server 7.0
// started beside the target: redis-cli's hints and go-redis's cluster
// routing read arity, flags, key positions and key specs, so every command
// reddwarf shares with Redis must describe itself exactly as Redis does.

// reddwarfOnly are reddwarf's own commands; Redis does not know them, so
// there is nothing to compare them with.
var reddwarfOnly = map[string]bool{
	"checkpoint": true, "checkpoints": true, "detokenize": true, "fork": true,
	"gen": true, "load": true, "logits": true, "model": true, "prefill": true,
	"rollback": true, "text": true, "tokenize": true, "tokens": true,
}

// infoExtended names the shared commands whose COMMAND INFO differs from
// Redis's on purpose, and why.
var infoExtended = map[string]string{
	// SAVE key file writes one session: arity -1 and a key where Redis's
	// SAVE has arity 1 and none.
	"save": "SAVE key file writes one session",
}

// referenceRedis returns a client of a redis-server 7.0 to compare with:
// the shared server when the target is Redis itself, else one started for
// the test. It skips the test when redis-server is not installed, and
// fails it when the one installed is not 7.0 (another version's replies
// differ, and reddwarf follows 7.0's).
func referenceRedis(t *testing.T) doer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed; it is the reference")
	}
	var c *redis.Client
	if target == "redis" {
		c = redisClientAt(t, shared.Addr())
	} else {
		saved := target
		target = "redis"
		s := startServer(t)
		target = saved
		c = redisClientAt(t, s.Addr())
	}
	var v string
	for _, line := range strings.Split(do(t, c, "INFO", "server").(string), "\r\n") {
		if after, ok := strings.CutPrefix(line, "redis_version:"); ok {
			v = after
		}
	}
	if !strings.HasPrefix(v, "7.0.") {
		t.Fatalf("the reference redis-server is %s; these tests compare with Redis 7.0 (install 7.0.x, e.g. Debian 12's redis-server)", v)
	}
	return c
}

// infoEntries runs COMMAND INFO for names and flattens the replies into
// name -> canonical text, a subcommand under its own "parent|sub" name.
// Sets (flags, ACL categories, tips, key-spec flags) are sorted: Redis
// prints them in an order of its own that clients don't depend on.
func infoEntries(t *testing.T, c doer, names []string) map[string]string {
	t.Helper()
	args := []any{"COMMAND", "INFO"}
	for _, n := range names {
		args = append(args, n)
	}
	out := map[string]string{}
	var add func(e []any)
	add = func(e []any) {
		if len(e) != 10 {
			t.Errorf("COMMAND INFO entry has %d fields, want 10: %v", len(e), e)
			return
		}
		var specs []string
		for _, ks := range e[8].([]any) {
			specs = append(specs, canonMap(ks.([]any)))
		}
		out[e[0].(string)] = fmt.Sprintf("arity=%v flags=%v keys=%v,%v,%v acl=%v tips=%v\n   key specs: %s",
			e[1], sortedStrings(e[2]), e[3], e[4], e[5], sortedStrings(e[6]), sortedStrings(e[7]),
			strings.Join(specs, "\n              "))
		for _, sub := range e[9].([]any) {
			add(sub.([]any))
		}
	}
	for _, e := range do(t, c, args...).([]any) {
		if v, ok := e.([]any); ok {
			add(v)
		}
	}
	return out
}

// canonMap writes a RESP2 map (a flat key, value array) with its keys
// sorted; a "flags" value is a set (sorted), any other array value a map.
func canonMap(kv []any) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		k := fmt.Sprint(kv[i])
		v := kv[i+1]
		switch vv := v.(type) {
		case []any:
			if k == "flags" {
				parts = append(parts, k+"="+fmt.Sprint(sortedStrings(vv)))
			} else {
				parts = append(parts, k+"="+canonMap(vv))
			}
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, " ") + "}"
}

// topLevel returns the target's commands (not subcommands) that Redis
// shares, sorted.
func topLevel(t *testing.T, c doer) []string {
	t.Helper()
	var names []string
	for _, n := range do(t, c, "COMMAND", "LIST").([]any) {
		s := n.(string)
		if !strings.Contains(s, "|") && !reddwarfOnly[s] {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	return names
}

func TestCommandInfoIsRedis70sForEverySharedCommand(t *testing.T) {
	c := client(t)
	ref := referenceRedis(t)
	names := topLevel(t, c)
	mine := infoEntries(t, c, names)
	theirs := infoEntries(t, ref, names)
	var compared []string
	for n := range mine {
		if _, ok := theirs[n]; ok {
			compared = append(compared, n)
		} else if !strings.Contains(n, "|") {
			t.Errorf("COMMAND INFO %s: Redis 7.0 has no such command; add it to reddwarfOnly", n)
		}
	}
	sort.Strings(compared)
	// Every command COMMAND LIST names, ours alone included, has an entry.
	var all []any
	for _, n := range do(t, c, "COMMAND", "LIST").([]any) {
		if !strings.Contains(n.(string), "|") {
			all = append(all, n)
		}
	}
	for i, e := range do(t, c, append([]any{"COMMAND", "INFO"}, all...)...).([]any) {
		if _, ok := e.([]any); !ok {
			t.Errorf("COMMAND INFO %s: no entry, though COMMAND LIST names it", all[i])
		}
	}
	if len(compared) < 100 {
		t.Errorf("compared only %d commands and subcommands", len(compared))
	}
	for _, n := range compared {
		if why, ok := infoExtended[n]; ok {
			// Arity and keys may differ; flags, ACL categories and tips may not.
			same := regexp.MustCompile(`(flags|acl|tips)=\[[^]]*\]`)
			head := func(s string) string { h, _, _ := strings.Cut(s, "\n"); return h }
			if m, r := same.FindAllString(head(mine[n]), -1), same.FindAllString(head(theirs[n]), -1); fmt.Sprint(m) != fmt.Sprint(r) {
				t.Errorf("COMMAND INFO %s (%s)\n ours:  %s\n redis: %s", n, why, m, r)
			}
			continue
		}
		if mine[n] != theirs[n] {
			t.Errorf("COMMAND INFO %s\n ours:  %s\n redis: %s", n, mine[n], theirs[n])
		}
	}
}

// docsLeft names the shared commands whose COMMAND DOCS arguments still
// differ from Redis 7.0's, and why: the syntax-line grammar (commands/docs.go)
// can't say it yet. Everything else of their docs is compared.
var docsLeft = map[string]string{
	"bitfield":     "a token heading a block (GET encoding offset), nested oneofs",
	"client|kill":  "deprecated_since on an argument, a token heading a oneof",
	"client|list":  "a token heading a oneof and a block",
	"command|list": "a token heading a oneof",
	"config|get":   "Redis wraps the repeated value in a block",
	"hello":        "a token heading a block (AUTH username password)",
	"psubscribe":   "Redis wraps the repeated value in a block",
	"save":         "SAVE key file writes one session",
	// A token heading a oneof or a block (AGGREGATE SUM|MIN|MAX, LIMIT offset count).
	"zunionstore": "a token heading a oneof", "zinterstore": "a token heading a oneof",
	"zunion": "a token heading a oneof", "zinter": "a token heading a oneof",
	"zrange": "a token heading a block", "zrangestore": "a token heading a block",
	"zrangebyscore": "a token heading a block", "zrevrangebyscore": "a token heading a block",
	"zrangebylex": "a token heading a block", "zrevrangebylex": "a token heading a block",
	"sort": "a token heading a block, multiple_token", "sort_ro": "a token heading a block, multiple_token",
	// Streams: = ~ * $ are pure tokens with names (equal, approximately,
	// auto_id, new_id) the grammar can't give a symbol; STREAMS, GROUP and
	// FULL head blocks.
	"xadd": "named symbol tokens (= ~ *)", "xtrim": "named symbol tokens (= ~)",
	"xgroup|create": "a named symbol token ($)", "xgroup|setid": "a named symbol token ($)",
	"xread": "a token heading a block (STREAMS key ... id ...)", "xreadgroup": "a token heading a block (GROUP, STREAMS)",
	"xinfo|stream": "a token heading a block (FULL [COUNT count])",
}

// docEntries runs COMMAND DOCS for names and flattens the reply into name
// -> field -> canonical text, a subcommand under its own name.
func docEntries(t *testing.T, c doer, names []string) map[string]map[string]string {
	t.Helper()
	args := []any{"COMMAND", "DOCS"}
	for _, n := range names {
		args = append(args, n)
	}
	out := map[string]map[string]string{}
	var add func(kv []any)
	add = func(kv []any) {
		for i := 0; i+1 < len(kv); i += 2 {
			name := kv[i].(string)
			fields := map[string]string{}
			doc := kv[i+1].([]any)
			for j := 0; j+1 < len(doc); j += 2 {
				f := doc[j].(string)
				switch f {
				case "subcommands":
					add(doc[j+1].([]any))
				case "arguments":
					fields[f] = canonArgs(doc[j+1].([]any))
				default:
					fields[f] = fmt.Sprint(doc[j+1])
				}
			}
			out[name] = fields
		}
	}
	add(do(t, c, args...).([]any))
	return out
}

// canonArgs writes COMMAND DOCS arguments, each a map, in order.
func canonArgs(args []any) string {
	var parts []string
	for _, a := range args {
		kv := a.([]any)
		var fs []string
		for i := 0; i+1 < len(kv); i += 2 {
			k := kv[i].(string)
			switch v := kv[i+1].(type) {
			case []any:
				if k == "arguments" {
					fs = append(fs, k+"=("+canonArgs(v)+")")
				} else {
					fs = append(fs, k+"="+fmt.Sprint(sortedStrings(v)))
				}
			default:
				fs = append(fs, fmt.Sprintf("%s=%v", k, v))
			}
		}
		sort.Strings(fs)
		parts = append(parts, "{"+strings.Join(fs, " ")+"}")
	}
	return strings.Join(parts, " ")
}

func TestCommandDocsAreRedis70sForEverySharedCommand(t *testing.T) {
	c := client(t)
	ref := referenceRedis(t)
	names := topLevel(t, c)
	mine := docEntries(t, c, names)
	theirs := docEntries(t, ref, names)
	compared := 0
	for _, n := range sortedKeys(mine) {
		ref, ok := theirs[n]
		if !ok {
			continue
		}
		compared++
		fields := map[string]bool{}
		for f := range mine[n] {
			fields[f] = true
		}
		for f := range ref {
			fields[f] = true
		}
		for f := range fields {
			if why, ok := docsLeft[n]; ok && (f == "arguments" || n == "save") {
				t.Logf("COMMAND DOCS %s %s not compared: %s", n, f, why)
				continue
			}
			if mine[n][f] != ref[f] {
				t.Errorf("COMMAND DOCS %s %s\n ours:  %s\n redis: %s", n, f, mine[n][f], ref[f])
			}
		}
	}
	if compared < 100 {
		t.Errorf("compared the docs of only %d commands and subcommands", compared)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// keyLines are command lines whose keys and key flags COMMAND GETKEYS and
// GETKEYSANDFLAGS must give as Redis 7.0 does: every key-taking shared
// command once, and the ones whose flags depend on their arguments (SET,
// BITFIELD) in each form.
var keyLines = [][]any{
	{"GET", "k"}, {"SET", "k", "v"}, {"SET", "k", "v", "GET"}, {"SET", "k", "v", "NX", "get"},
	{"SET", "k", "v", "EX", "GET"}, {"SET", "k", "get"}, {"SETNX", "k", "v"}, {"SETEX", "k", 1, "v"},
	{"PSETEX", "k", 1, "v"}, {"GETSET", "k", "v"}, {"GETDEL", "k"}, {"GETEX", "k", "PERSIST"},
	{"MGET", "a", "b"}, {"MSET", "a", 1, "b", 2}, {"MSETNX", "a", 1, "b", 2}, {"APPEND", "k", "v"},
	{"STRLEN", "k"}, {"GETRANGE", "k", 0, 1}, {"SUBSTR", "k", 0, 1}, {"SETRANGE", "k", 0, "v"},
	{"INCR", "k"}, {"DECR", "k"}, {"INCRBY", "k", 1}, {"DECRBY", "k", 1}, {"INCRBYFLOAT", "k", 1.5},
	{"LCS", "a", "b", "LEN"}, {"SETBIT", "k", 0, 1}, {"GETBIT", "k", 0}, {"BITCOUNT", "k"},
	{"BITPOS", "k", 1}, {"BITOP", "AND", "d", "a", "b"}, {"BITOP", "NOT", "d", "a"},
	{"BITFIELD", "k"}, {"BITFIELD", "k", "GET", "u8", 0}, {"BITFIELD", "k", "get", "u8", 0, "OVERFLOW", "SAT"},
	{"BITFIELD", "k", "GET", "u8"}, {"BITFIELD", "k", "OVERFLOW"}, {"BITFIELD", "k", "GET", "u8", 0, "SET", "u8", 0, 1},
	{"BITFIELD", "k", "INCRBY", "u8", 0, 1}, {"BITFIELD", "k", "bogus"}, {"BITFIELD_RO", "k", "GET", "u8", 0},
	{"DEL", "a", "b"}, {"UNLINK", "a", "b"}, {"EXISTS", "a", "b"}, {"TOUCH", "a", "b"}, {"TYPE", "k"},
	{"RENAME", "a", "b"}, {"RENAMENX", "a", "b"}, {"COPY", "a", "b", "DB", 1, "REPLACE"}, {"MOVE", "k", 1},
	{"OBJECT", "ENCODING", "k"}, {"OBJECT", "FREQ", "k"}, {"OBJECT", "IDLETIME", "k"}, {"OBJECT", "REFCOUNT", "k"},
	{"MEMORY", "USAGE", "k"}, {"DUMP", "k"}, {"RESTORE", "k", 0, "x"}, {"EXPIRE", "k", 1}, {"PEXPIRE", "k", 1},
	{"EXPIREAT", "k", 1}, {"PEXPIREAT", "k", 1}, {"TTL", "k"}, {"PTTL", "k"}, {"EXPIRETIME", "k"},
	{"PEXPIRETIME", "k"}, {"PERSIST", "k"}, {"WATCH", "a", "b"},
	// Hashes.
	{"HSET", "k", "f", "v"}, {"HSETNX", "k", "f", "v"}, {"HGET", "k", "f"}, {"HMSET", "k", "f", "v"},
	{"HMGET", "k", "f", "g"}, {"HDEL", "k", "f"}, {"HLEN", "k"}, {"HSTRLEN", "k", "f"},
	{"HINCRBY", "k", "f", 1}, {"HINCRBYFLOAT", "k", "f", 1.5}, {"HKEYS", "k"}, {"HVALS", "k"},
	{"HGETALL", "k"}, {"HEXISTS", "k", "f"}, {"HRANDFIELD", "k", 2, "WITHVALUES"}, {"HSCAN", "k", 0},
	// Lists.
	{"LPUSH", "k", "v"}, {"RPUSH", "k", "v"}, {"LPUSHX", "k", "v"}, {"RPUSHX", "k", "v"},
	{"LINSERT", "k", "BEFORE", "p", "v"}, {"LLEN", "k"}, {"LINDEX", "k", 0}, {"LSET", "k", 0, "v"},
	{"LRANGE", "k", 0, -1}, {"LTRIM", "k", 0, -1}, {"LREM", "k", 0, "v"}, {"LPOP", "k"}, {"RPOP", "k", 2},
	{"RPOPLPUSH", "a", "b"}, {"LMOVE", "a", "b", "LEFT", "RIGHT"}, {"LPOS", "k", "v", "RANK", 1},
	{"LMPOP", 2, "a", "b", "LEFT"}, {"LMPOP", 1, "a", "RIGHT", "COUNT", 2}, {"LMPOP", 0, "a", "LEFT"},
	{"LMPOP", 5, "a", "LEFT"}, {"BLPOP", "a", "b", 0}, {"BRPOP", "a", 1}, {"BRPOPLPUSH", "a", "b", 0},
	{"BLMOVE", "a", "b", "LEFT", "LEFT", 0}, {"BLMPOP", 0, 2, "a", "b", "LEFT"}, {"BLMPOP", 0, 1, "a", "LEFT", "COUNT", 3},
	// Sets.
	{"SADD", "k", "m"}, {"SREM", "k", "m"}, {"SMOVE", "a", "b", "m"}, {"SISMEMBER", "k", "m"},
	{"SMISMEMBER", "k", "m", "n"}, {"SCARD", "k"}, {"SMEMBERS", "k"}, {"SRANDMEMBER", "k", 2}, {"SPOP", "k"},
	{"SINTER", "a", "b"}, {"SINTERCARD", 2, "a", "b", "LIMIT", 1}, {"SINTERCARD", 3, "a"}, {"SINTERSTORE", "d", "a", "b"},
	{"SUNION", "a", "b"}, {"SUNIONSTORE", "d", "a"}, {"SDIFF", "a", "b"}, {"SDIFFSTORE", "d", "a", "b"}, {"SSCAN", "k", 0},
	// Sorted sets.
	{"ZADD", "k", 1, "m"}, {"ZINCRBY", "k", 1, "m"}, {"ZREM", "k", "m"}, {"ZREMRANGEBYSCORE", "k", 0, 1},
	{"ZREMRANGEBYRANK", "k", 0, 1}, {"ZREMRANGEBYLEX", "k", "-", "+"}, {"ZUNIONSTORE", "d", 2, "a", "b", "WEIGHTS", 1, 2},
	{"ZINTERSTORE", "d", 1, "a"}, {"ZDIFFSTORE", "d", 2, "a", "b"}, {"ZUNIONSTORE", "d", 0, "a"}, {"ZUNION", 2, "a", "b"},
	{"ZINTER", 1, "a", "WITHSCORES"}, {"ZINTERCARD", 2, "a", "b"}, {"ZDIFF", 2, "a", "b"}, {"ZRANGE", "k", 0, -1},
	{"ZRANGESTORE", "d", "s", 0, -1}, {"ZRANGEBYSCORE", "k", 0, 1}, {"ZREVRANGEBYSCORE", "k", 1, 0},
	{"ZRANGEBYLEX", "k", "-", "+"}, {"ZREVRANGEBYLEX", "k", "+", "-"}, {"ZCOUNT", "k", 0, 1}, {"ZLEXCOUNT", "k", "-", "+"},
	{"ZREVRANGE", "k", 0, 1}, {"ZCARD", "k"}, {"ZSCORE", "k", "m"}, {"ZMSCORE", "k", "m"}, {"ZRANK", "k", "m"},
	{"ZREVRANK", "k", "m"}, {"ZSCAN", "k", 0}, {"ZPOPMIN", "k"}, {"ZPOPMAX", "k", 2}, {"ZMPOP", 2, "a", "b", "MIN"},
	{"SORT", "k"}, {"SORT", "k", "BY", "w_*", "LIMIT", 0, 1, "GET", "#", "STORE", "d"}, {"SORT_RO", "k", "GET", "x"},
	{"BZPOPMIN", "a", "b", 0}, {"BZPOPMAX", "a", 0}, {"BZMPOP", 0, 2, "a", "b", "MAX", "COUNT", 2}, {"ZRANDMEMBER", "k", 2},
	// Streams.
	{"XADD", "k", "*", "f", "v"}, {"XADD", "k", "MAXLEN", "~", 5, "*", "f", "v"}, {"XTRIM", "k", "MINID", 0}, {"XDEL", "k", "1-1"},
	{"XLEN", "k"}, {"XRANGE", "k", "-", "+"}, {"XREVRANGE", "k", "+", "-", "COUNT", 1},
	{"XREAD", "STREAMS", "a", "b", 0, 0}, {"XREAD", "COUNT", 2, "BLOCK", 0, "STREAMS", "a", "$"}, {"XREAD", "STREAMS", "a"},
	{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "b", ">", ">"}, {"XREADGROUP", "GROUP", "g", "c", "NOACK", "COUNT", 1, "STREAMS", "a", 0},
	{"XACK", "k", "g", "1-1"}, {"XPENDING", "k", "g"}, {"XCLAIM", "k", "g", "c", 0, "1-1"}, {"XAUTOCLAIM", "k", "g", "c", 0, "0"},
	{"XSETID", "k", "1-1"}, {"XGROUP", "CREATE", "k", "g", "$"}, {"XGROUP", "SETID", "k", "g", 0}, {"XGROUP", "DESTROY", "k", "g"},
	{"XGROUP", "CREATECONSUMER", "k", "g", "c"}, {"XGROUP", "DELCONSUMER", "k", "g", "c"}, {"XINFO", "STREAM", "k", "FULL"},
	{"XINFO", "GROUPS", "k"}, {"XINFO", "CONSUMERS", "k", "g"},
}

func TestCommandGetkeysAndFlagsAreRedis70s(t *testing.T) {
	c := client(t)
	ref := referenceRedis(t)
	for _, line := range keyLines {
		for _, sub := range []string{"GETKEYS", "GETKEYSANDFLAGS"} {
			args := append([]any{"COMMAND", sub}, line...)
			mine, err1 := c.Do(ctx, args...).Result()
			theirs, err2 := ref.Do(ctx, args...).Result()
			m, r := fmt.Sprint(mine, err1), fmt.Sprint(theirs, err2)
			if sub == "GETKEYSANDFLAGS" {
				m, r = canonKeyFlags(mine, err1), canonKeyFlags(theirs, err2)
			}
			if m != r {
				t.Errorf("COMMAND %s %v\n ours:  %s\n redis: %s", sub, line, m, r)
			}
		}
	}
}

// canonKeyFlags writes a GETKEYSANDFLAGS reply, each key's flags sorted.
func canonKeyFlags(v any, err error) string {
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, e := range v.([]any) {
		kf := e.([]any)
		out = append(out, fmt.Sprint(kf[0], sortedStrings(kf[1])))
	}
	return strings.Join(out, " ")
}

// GEN's STOP repeats with its token (STOP a STOP b; STOP a b is a syntax
// error), and COMMAND DOCS says so with multiple_token, as Redis 7.0 does
// for SORT's GET.
func TestGenDocsRepeatStopWithItsToken(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	docs := docEntries(t, c, []string{"gen"})["gen"]["arguments"]
	if !strings.Contains(docs, "{flags=[multiple multiple_token optional] name=text token=STOP type=string}") {
		t.Errorf("GEN's STOP argument: %s", docs)
	}
	if _, err := c.Do(ctx, "GEN", "k", "x", "MAXTOKENS", "1", "STOP", "a", "b").Result(); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("STOP a b: %v, want a syntax error", err)
	}
	if _, err := c.Do(ctx, "GEN", "k", "x", "MAXTOKENS", "1", "STOP", "a", "STOP", "b").Result(); err != nil {
		t.Errorf("STOP a STOP b: %v", err)
	}
}
