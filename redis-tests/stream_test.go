package redistests

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// fillStream writes a stream with what its payload must carry: entries of
// several fields, a deleted entry and a last ID past the last entry, two
// groups (one with a PEL shared by two consumers, a consumer owning
// nothing, an entry deleted after delivery), and an empty stream.
func fillStream(t *testing.T, c doer) {
	t.Helper()
	for i := 1; i <= 30; i++ {
		do(t, c, "XADD", "st", fmt.Sprintf("%d-1", i), "f", i, "g", strings.Repeat("v", i%5))
	}
	do(t, c, "XGROUP", "CREATE", "st", "g1", "0")
	do(t, c, "XGROUP", "CREATE", "st", "g2", "$")
	do(t, c, "XREADGROUP", "GROUP", "g1", "alice", "COUNT", 3, "STREAMS", "st", ">")
	do(t, c, "XREADGROUP", "GROUP", "g1", "bob", "COUNT", 2, "STREAMS", "st", ">")
	do(t, c, "XGROUP", "CREATECONSUMER", "st", "g1", "carol")
	do(t, c, "XCLAIM", "st", "g1", "bob", 0, "2-1", "RETRYCOUNT", 7)
	do(t, c, "XDEL", "st", "4-1", "10-1")
	do(t, c, "XSETID", "st", "99-0")
	do(t, c, "XADD", "empty", "MAXLEN", 0, "1-1", "f", "v")
	do(t, c, "PEXPIRE", "empty", 1000000)
}

// seenTime hides consumers' seen times (a replayed log sets them to its
// own clock, as Redis's does) and the node counts (a load lays entries
// out afresh, without the tombstones that kept nodes apart).
var seenTime = regexp.MustCompile(`(seen-time|radix-tree-keys|radix-tree-nodes) \d+`)

// streamDigest reads back everything fillStream wrote.
func streamDigest(t *testing.T, c doer) string {
	t.Helper()
	var b strings.Builder
	for _, line := range [][]any{
		{"XINFO", "STREAM", "st", "FULL", "COUNT", 0}, {"XINFO", "STREAM", "empty", "FULL"},
		{"XRANGE", "st", "-", "+"}, {"XPENDING", "st", "g1"}, {"TYPE", "st"}, {"OBJECT", "ENCODING", "st"},
	} {
		b.WriteString(seenTime.ReplaceAllString(pstr(t, c, line...), "$1 _") + "\n")
	}
	return b.String()
}

func TestStreamSurvivesSaveRestartDumpRestoreAndCheck(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir)
	c := cli(t, s)
	fillStream(t, c)
	before := streamDigest(t, c)
	for _, k := range []string{"st", "empty"} {
		p := do(t, c, "DUMP", k).(string)
		want(t, c, "OK", "RESTORE", k+":copy", 0, p)
		a := pstr(t, c, "XINFO", "STREAM", k, "FULL", "COUNT", 0)
		b := pstr(t, c, "XINFO", "STREAM", k+":copy", "FULL", "COUNT", 0)
		if a != b {
			t.Errorf("RESTORE of %s:\n%s\nwant\n%s", k, b, a)
		}
		do(t, c, "DEL", k+":copy")
		bad := []byte(p)
		bad[3] ^= 0xff
		wantErr(t, c, "ERR DUMP payload version or checksum are wrong", "RESTORE", k+":bad", 0, string(bad))
	}
	want(t, c, "OK", "SAVE")
	s.stop()
	out, err := exec.Command(serverBinary, "check", filepath.Join(dir, "dump.dsv4")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "collections 2") || !strings.Contains(string(out), "OK") {
		t.Errorf("reddwarf check: %v\n%s", err, out)
	}
	s = startIn(t, dir)
	c = cli(t, s)
	if got := streamDigest(t, c); got != before {
		t.Errorf("after restart:\n%s\nbefore:\n%s", got, before)
	}
	if ttl := do(t, c, "PTTL", "empty").(int64); ttl < 900000 {
		t.Errorf("PTTL after restart %d", ttl)
	}
}

// The log replays a stream to the same entries, groups, PELs (delivery
// times and counts included) and counters: XADD with the ID it got, group
// reads as XCLAIM and XGROUP SETID, approximate trims as exact ones; and
// the rewrite's base (RESTORE payloads) gives it back too.
func TestStreamReplaysFromTheAppendOnlyLog(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir, "--appendonly", "yes", "--appendfsync", "always", "--stream-node-max-entries", "4")
	c := cli(t, s)
	fillStream(t, c)
	do(t, c, "XADD", "auto", "5-*", "a", 1)
	do(t, c, "XADD", "auto", "5-*", "a", 2)
	do(t, c, "XADD", "auto", "*", "a", 3)
	for i := 0; i < 20; i++ {
		do(t, c, "XADD", "trim", "MAXLEN", "~", 7, "*", "i", i)
	}
	do(t, c, "XTRIM", "trim", "MINID", "~", "0", "LIMIT", 4)
	do(t, c, "XREADGROUP", "GROUP", "g2", "dave", "NOACK", "STREAMS", "st", ">")
	do(t, c, "XAUTOCLAIM", "st", "g1", "erin", 0, "0")
	do(t, c, "XACK", "st", "g1", "1-1")
	before := streamDigest(t, c) + pstr(t, c, "XRANGE", "auto", "-", "+") + pstr(t, c, "XRANGE", "trim", "-", "+") +
		seenTime.ReplaceAllString(pstr(t, c, "XINFO", "STREAM", "trim", "FULL"), "$1 _")
	s.stop()
	s = startIn(t, dir, "--appendonly", "yes", "--stream-node-max-entries", "4")
	c = cli(t, s)
	after := streamDigest(t, c) + pstr(t, c, "XRANGE", "auto", "-", "+") + pstr(t, c, "XRANGE", "trim", "-", "+") +
		seenTime.ReplaceAllString(pstr(t, c, "XINFO", "STREAM", "trim", "FULL"), "$1 _")
	if after != before {
		t.Errorf("after replaying the log:\n%s\nbefore:\n%s", after, before)
	}
	do(t, c, "BGREWRITEAOF")
	waitFor(t, "the AOF rewrite", func() bool {
		info := c.Info(ctx, "persistence").Val()
		return strings.Contains(info, "aof_rewrite_in_progress:0") && !strings.Contains(info, "aof_rewrite_scheduled:1")
	})
	s.stop()
	s = startIn(t, dir, "--appendonly", "yes", "--stream-node-max-entries", "4")
	c = cli(t, s)
	rewritten := streamDigest(t, c) + pstr(t, c, "XRANGE", "auto", "-", "+") + pstr(t, c, "XRANGE", "trim", "-", "+") +
		seenTime.ReplaceAllString(pstr(t, c, "XINFO", "STREAM", "trim", "FULL"), "$1 _")
	if rewritten != before {
		t.Errorf("after the rewrite:\n%s\nbefore:\n%s", rewritten, before)
	}
}

// XADDs with generated IDs inside one EXEC, each with its own fields and
// trimming, are logged each with the ID it got (their logged forms are
// built in memory the server reuses once the EXEC is logged) and replay to
// the same streams.
func TestStreamXaddsInOneExecReplayWithTheirIDs(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir, "--appendonly", "yes", "--appendfsync", "always")
	c := cli(t, s)
	for round := 0; round < 3; round++ {
		var cmds [][]any
		for i := 0; i < 40; i++ {
			key := fmt.Sprint("s", i%3)
			switch i % 4 {
			case 0:
				cmds = append(cmds, []any{"XADD", key, "*", "i", i, "round", round})
			case 1:
				cmds = append(cmds, []any{"XADD", key, "MAXLEN", "~", 10, "*", "i", i})
			case 2:
				cmds = append(cmds, []any{"XADD", key, "MAXLEN", 25, "*", "i", strings.Repeat("v", i)})
			default:
				cmds = append(cmds, []any{"XADD", key, "NOMKSTREAM", "*", "a", i, "b", i, "c", i})
			}
		}
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, cmd := range cmds {
				p.Do(ctx, cmd...)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	before := pstr(t, c, "XRANGE", "s0", "-", "+") + pstr(t, c, "XRANGE", "s1", "-", "+") + pstr(t, c, "XRANGE", "s2", "-", "+")
	s.stop()
	s = startIn(t, dir, "--appendonly", "yes")
	c = cli(t, s)
	after := pstr(t, c, "XRANGE", "s0", "-", "+") + pstr(t, c, "XRANGE", "s1", "-", "+") + pstr(t, c, "XRANGE", "s2", "-", "+")
	if after != before {
		t.Errorf("after replaying the log:\n%s\nbefore:\n%s", after, before)
	}
}

// XREAD BLOCK is served by the XADD that feeds it, XREADGROUP BLOCK gets
// the entry and owns it, and a group reader whose group is destroyed gets
// NOGROUP; all through go-redis's own stream API.
func TestStreamBlockingReadsThroughGoRedis(t *testing.T) {
	c := client(t)
	bg := context.Background()
	c.XGroupCreateMkStream(bg, "bs", "g", "$")
	got := make(chan []redis.XStream, 2)
	go func() {
		r, _ := c.XRead(bg, &redis.XReadArgs{Streams: []string{"bs", "$"}, Block: 0}).Result()
		got <- r
	}()
	go func() {
		r, _ := c.XReadGroup(bg, &redis.XReadGroupArgs{Group: "g", Consumer: "w", Streams: []string{"bs", ">"}, Block: 0}).Result()
		got <- r
	}()
	waitFor(t, "two blocked readers", func() bool { return blockedClients(t, c) == 2 })
	id := c.XAdd(bg, &redis.XAddArgs{Stream: "bs", Values: []string{"job", "1"}}).Val()
	for i := 0; i < 2; i++ {
		r := <-got
		if len(r) != 1 || r[0].Stream != "bs" || len(r[0].Messages) != 1 || r[0].Messages[0].ID != id || r[0].Messages[0].Values["job"] != "1" {
			t.Fatalf("reader got %+v", r)
		}
	}
	if p := c.XPending(bg, "bs", "g").Val(); p.Count != 1 || p.Consumers["w"] != 1 {
		t.Errorf("XPENDING %+v", p)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.XReadGroup(bg, &redis.XReadGroupArgs{Group: "g", Consumer: "w", Streams: []string{"bs", ">"}, Block: 0}).Result()
		errc <- err
	}()
	waitFor(t, "a blocked group reader", func() bool { return blockedClients(t, c) == 1 })
	c.XGroupDestroy(bg, "bs", "g")
	if err := <-errc; err == nil || !strings.HasPrefix(err.Error(), "NOGROUP") {
		t.Errorf("destroyed group: %v", err)
	}
}

// redis-cli prints a stream range as Redis's own does (nested entries).
func TestRedisCliPrintsAStreamRange(t *testing.T) {
	c := client(t)
	do(t, c, "XADD", "rs", "1-1", "a", "1", "b", "2")
	do(t, c, "XADD", "rs", "2-0", "c", "3")
	if out := redisCli(t, "", "XRANGE", "rs", "-", "+"); out != "1-1\na\n1\nb\n2\n2-0\nc\n3\n" {
		t.Errorf("redis-cli XRANGE printed %q", out)
	}
}
