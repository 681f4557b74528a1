package redistests

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The append-only file, compared with redis-server 7.0 (the test passes
// against both): what each write is logged as, relative expiries made
// absolute, the directives' CONFIG semantics and INFO's aof_* fields.

// aofFiles lists the files of type typ ("b" base, "i" incremental) the
// manifest of a server with default appendfilename/appenddirname names,
// in order.
func aofFiles(t *testing.T, dir, typ string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "appendonlydir", "appendonly.aof.manifest"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 6 && f[0] == "file" && f[5] == typ {
			out = append(out, filepath.Join(dir, "appendonlydir", f[1]))
		}
	}
	return out
}

// readAOFCommands reads the Redis commands of the last incremental log
// of a server in dir; the session store's own RDW.* records are left out.
func readAOFCommands(t *testing.T, dir string) [][]string {
	t.Helper()
	incr := aofFiles(t, dir, "i")
	if len(incr) == 0 {
		t.Fatal("no incremental log in the manifest")
	}
	return readCommands(t, incr[len(incr)-1])
}

func readCommands(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out [][]string
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			return out
		}
		if err != nil || !strings.HasPrefix(line, "*") {
			t.Fatalf("log: %q %v", line, err)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		cmd := make([]string, n)
		for i := range cmd {
			hdr, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(hdr, "$") {
				t.Fatalf("log: %q %v", hdr, err)
			}
			l, _ := strconv.Atoi(strings.TrimSpace(hdr[1:]))
			b := make([]byte, l+2)
			if _, err := io.ReadFull(r, b); err != nil {
				t.Fatal(err)
			}
			cmd[i] = string(b[:l])
		}
		if !strings.HasPrefix(cmd[0], "RDW.") {
			out = append(out, cmd)
		}
	}
}

func TestAOFPropagation(t *testing.T) {
	s := startServer(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx := context.Background()
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	conn := c.Conn() // one connection: SELECT holds for what follows
	defer conn.Close()
	do := func(args ...any) {
		t.Helper()
		if err := conn.Do(ctx, args...).Err(); err != nil && err != redis.Nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	// Redis 7.0 writes its first incremental log once the start-up
	// rewrite is done; wait for it so both logs start empty.
	waitFor(t, "the AOF rewrite", func() bool {
		info := c.Info(ctx, "persistence").Val()
		return strings.Contains(info, "aof_rewrite_in_progress:0") && !strings.Contains(info, "aof_rewrite_scheduled:1")
	})
	before := time.Now().UnixMilli()
	do("SET", "a", "1")
	do("SET", "b", "2", "EX", "100")
	do("SET", "b2", "2", "PX", "100000", "NX")
	do("SETEX", "c", "100", "v")
	do("PSETEX", "c2", "100000", "v")
	do("EXPIRE", "a", "100")
	do("PEXPIRE", "a", "200000", "GT")
	do("EXPIREAT", "a", "4000000000")
	do("EXPIRE", "a", "-1")
	do("INCRBYFLOAT", "f", "1.5")
	do("GETSET", "g", "x")
	do("SET", "g", "y", "GET")
	do("SET", "g", "z", "XX")
	do("SET", "g", "w", "NX") // fails: not logged
	do("GETDEL", "g")
	do("GETEX", "b", "PERSIST")
	do("GETEX", "b", "EX", "50")
	do("GET", "nothing")
	do("DEL", "nothing")
	do("INCR", "n")
	do("SELECT", "1")
	do("SET", "z", "1")
	do("MULTI")
	do("set", "m1", "1")
	do("set", "m2", "2")
	do("EXEC")
	do("SET", "e", "1", "PX", "1")
	time.Sleep(20 * time.Millisecond)
	do("GET", "e") // expired on access: logged as DEL
	after := time.Now().UnixMilli()

	got := readAOFCommands(t, s.Dir)
	// Absolute times become T(offset in seconds) when they are within the
	// test's run of now+offset.
	norm := func(cmd []string) string {
		out := append([]string(nil), cmd...)
		for i := 1; i < len(out); i++ {
			p := strings.ToUpper(out[i-1])
			if p != "PXAT" && !(strings.ToUpper(out[0]) == "PEXPIREAT" && i == 2) {
				continue
			}
			ms, err := strconv.ParseInt(out[i], 10, 64)
			if err != nil {
				continue
			}
			for _, off := range []int64{0, 1, 50, 100, 200} {
				if ms >= before+off*1000 && ms <= after+off*1000 {
					out[i] = fmt.Sprintf("T(%d)", off)
				}
			}
		}
		return strings.Join(out, " ")
	}
	var lines []string
	for _, cmd := range got {
		lines = append(lines, norm(cmd))
	}
	want := []string{
		"SELECT 0",
		"SET a 1",
		"SET b 2 PXAT T(100)",
		"SET b2 2 PXAT T(100)",
		"SET c v PXAT T(100)",
		"SET c2 v PXAT T(100)",
		"PEXPIREAT a T(100)",
		"PEXPIREAT a T(200) GT",
		"PEXPIREAT a 4000000000000",
		"DEL a",
		"SET f 1.5 KEEPTTL",
		"SET g x",
		"SET g y",
		"SET g z XX",
		"DEL g",
		"PERSIST b",
		"PEXPIREAT b T(50)",
		"INCR n",
		"SELECT 1",
		"SET z 1",
		"MULTI",
		"set m1 1",
		"set m2 2",
		"EXEC",
		"SET e 1 PXAT T(0)",
		"DEL e",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("logged:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestAOFConfig(t *testing.T) {
	ctx := context.Background()
	if target == "reddwarf" {
		// Durability is the point of this server: appendonly is on unless
		// turned off (Redis's default is no).
		d := startServer(t)
		dc := redis.NewClient(options(d.Addr(), 2))
		if got := dc.ConfigGet(ctx, "appendonly").Val()["appendonly"]; got != "yes" {
			t.Errorf("reddwarf's default appendonly = %q, want yes", got)
		}
		if info := dc.Info(ctx, "persistence").Val(); !strings.Contains(info, "aof_enabled:1") {
			t.Errorf("INFO by default:\n%s", info)
		}
		// The rewrite's pace (reddwarf's own directive).
		if got := dc.ConfigGet(ctx, "session-rewrite-rate").Val()["session-rewrite-rate"]; got != "67108864" {
			t.Errorf("session-rewrite-rate = %q, want 64mb", got)
		}
		if err := dc.ConfigSet(ctx, "session-rewrite-rate", "1mb").Err(); err != nil {
			t.Errorf("CONFIG SET session-rewrite-rate 1mb: %v", err)
		}
		if err := dc.Do(ctx, "BGREWRITEAOF").Err(); err != nil {
			t.Errorf("BGREWRITEAOF after the rate changed: %v", err)
		}
		dc.Close()
	}
	s := startServer(t, "--appendonly", "no")
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	for name, want := range map[string]string{
		"appendonly":                  "no",
		"appendfsync":                 "everysec",
		"appendfilename":              "appendonly.aof",
		"appenddirname":               "appendonlydir",
		"auto-aof-rewrite-percentage": "100",
		"auto-aof-rewrite-min-size":   "67108864",
		"no-appendfsync-on-rewrite":   "no",
		"aof-load-truncated":          "yes",
	} {
		if got := c.ConfigGet(ctx, name).Val()[name]; got != want {
			t.Errorf("CONFIG GET %s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"appendfilename", "appenddirname"} {
		err := c.ConfigSet(ctx, name, "other").Err()
		if err == nil || !strings.Contains(err.Error(), "can't set immutable config") {
			t.Errorf("CONFIG SET %s: %v, want immutable", name, err)
		}
	}
	if err := c.ConfigSet(ctx, "appendfsync", "sometimes").Err(); err == nil {
		t.Error("CONFIG SET appendfsync sometimes accepted")
	}
	if err := c.ConfigSet(ctx, "auto-aof-rewrite-min-size", "1mb").Err(); err != nil {
		t.Fatal(err)
	}
	if got := c.ConfigGet(ctx, "auto-aof-rewrite-min-size").Val()["auto-aof-rewrite-min-size"]; got != "1048576" {
		t.Errorf("auto-aof-rewrite-min-size after 1mb: %q", got)
	}
	info := c.Info(ctx, "persistence").Val()
	if !strings.Contains(info, "aof_enabled:0") {
		t.Fatalf("INFO with appendonly no:\n%s", info)
	}
	// Turned on at run time: the store opens and writes go to it.
	if err := c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the AOF rewrite", func() bool {
		info := c.Info(ctx, "persistence").Val()
		return strings.Contains(info, "aof_rewrite_in_progress:0") && !strings.Contains(info, "aof_rewrite_scheduled:1")
	})
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	info = c.Info(ctx, "persistence").Val()
	for _, field := range []string{"aof_enabled:1", "aof_last_write_status:ok", "aof_current_size:", "aof_base_size:", "aof_pending_rewrite:0", "aof_buffer_length:", "aof_pending_bio_fsync:", "aof_delayed_fsync:0"} {
		if !strings.Contains(info, field) {
			t.Errorf("INFO persistence lacks %s:\n%s", field, info)
		}
	}
	if target == "reddwarf" {
		store := c.Info(ctx, "store").Val()
		if !strings.Contains(store, "store_enabled:1") || !strings.Contains(store, "store_fsync:everysec") {
			t.Errorf("INFO store:\n%s", store)
		}
	}
	if err := c.ConfigSet(ctx, "appendonly", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if info := c.Info(ctx, "persistence").Val(); !strings.Contains(info, "aof_enabled:0") {
		t.Errorf("INFO after appendonly no:\n%s", info)
	}
}

// TestAOFRewrite: BGREWRITEAOF writes the keyspace as a base of commands;
// replayed into another server, base and log give every key back as it
// was (DUMP, TTL).
func TestAOFRewrite(t *testing.T) {
	if target != "reddwarf" {
		t.Skip("the base of commands is reddwarf's (Redis 7.0 writes an RDB preamble)")
	}
	s := startServer(t, "--appendonly", "yes")
	ctx := context.Background()
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	rewritten := func() bool {
		return strings.Contains(c.Info(ctx, "persistence").Val(), "aof_rewrite_in_progress:0")
	}
	waitFor(t, "the first base", rewritten)
	c.Set(ctx, "s", "v", 0)
	c.Set(ctx, "ttl", "v", time.Hour)
	c.HSet(ctx, "h", "f", "1", "g", "2")
	c.RPush(ctx, "l", "a", "b")
	c.Do(ctx, "PREFILL", "sess", "Once upon a time")
	c3 := c.Conn()
	defer c3.Close()
	c3.Do(ctx, "SELECT", "3")
	c3.Set(ctx, "db3", "x", 0)
	if err := c.Do(ctx, "BGREWRITEAOF").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "BGREWRITEAOF", rewritten)
	c.Set(ctx, "after", "1", 0)
	info := c.Info(ctx, "persistence").Val()
	for _, f := range []string{"aof_last_bgrewrite_status:ok", "aof_rewrites:2", "aof_last_write_status:ok"} {
		if !strings.Contains(info, f) {
			t.Errorf("INFO lacks %s:\n%s", f, info)
		}
	}
	bases := aofFiles(t, s.Dir, "b")
	if len(bases) != 1 {
		t.Fatalf("bases %v", bases)
	}
	// The store is the whole truth: a restart on it (no snapshot: save
	// is off) brings every key back as it was, the session included.
	keys := []string{"s", "ttl", "h", "l", "sess", "after"}
	dumps := map[string]string{}
	for _, k := range keys {
		d, err := c.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(k, err)
		}
		dumps[k] = d
	}
	s.stop()
	other := startIn(t, s.Dir, "--appendonly", "yes")
	defer other.stop()
	oc := redis.NewClient(options(other.Addr(), 2))
	defer oc.Close()
	conn := oc.Conn()
	defer conn.Close()
	for _, k := range keys {
		if got := oc.Dump(ctx, k).Val(); got != dumps[k] {
			t.Errorf("key %s differs after the restart", k)
		}
	}
	conn.Do(ctx, "SELECT", "3")
	if v := conn.Get(ctx, "db3").Val(); v != "x" {
		t.Errorf("db 3's key after replay: %q", v)
	}
	if ttl := oc.TTL(ctx, "ttl").Val(); ttl < 59*time.Minute {
		t.Errorf("TTL after replay %v", ttl)
	}
}

// TestAOFKill9KeepsAcknowledgedWrites: with appendfsync always, writers
// SET keys concurrently while BGREWRITEAOF runs; the server is killed
// (SIGKILL) at a random moment, several rounds on one directory. Every
// SET acknowledged before any kill is there, with its value, when the
// server restarts on the store (a torn tail is cut, not refused).
func TestAOFKill9KeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	acked := map[string]int{}
	for round := 0; round < 5; round++ {
		s := startIn(t, dir, "--appendonly", "yes", "--appendfsync", "always")
		var mu sync.Mutex
		n0 := len(acked)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := redis.NewClient(options(s.Addr(), 2))
				defer c.Close()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					k := fmt.Sprintf("r%d-w%d-%d", round, w, n)
					if c.Set(ctx, k, n, 0).Err() != nil {
						return
					}
					mu.Lock()
					acked[k] = n
					mu.Unlock()
					if n%200 == 0 {
						c.Do(ctx, "BGREWRITEAOF")
					}
				}
			}()
		}
		// A random moment after the first acknowledgements (on a loaded
		// machine the writers may take a while to get going).
		for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			n := len(acked) - n0
			mu.Unlock()
			if n >= 20 {
				break
			}
		}
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		s.cmd.Process.Signal(syscall.SIGKILL)
		close(stop)
		wg.Wait()
		s.stop()
		if len(acked)-n0 < 20 {
			t.Fatalf("round %d: only %d SETs acknowledged", round, len(acked)-n0)
		}
		// Restarted on the store: every key of every round is back.
		r := startIn(t, dir, "--appendonly", "yes")
		c := redis.NewClient(options(r.Addr(), 2))
		missing := 0
		for k, n := range acked {
			if v, err := c.Get(ctx, k).Int(); err != nil || v != n {
				if missing++; missing < 5 {
					t.Errorf("round %d: acknowledged SET %s = %d reads back %d, %v", round, k, n, v, err)
				}
			}
		}
		c.Close()
		r.stop()
		if missing > 0 {
			t.Fatalf("round %d: %d of %d acknowledged SETs missing after the restart", round, missing, len(acked))
		}
	}
	total := len(acked)
	t.Logf("%d acknowledged SETs over 5 kills, all back after each restart", total)
}

// TestAOFRewriteWithAppendonlyNo: BGREWRITEAOF with appendonly no writes
// an append-only file all the same, as Redis 7.0 does, and a later start
// with appendonly yes loads the keyspace it holds.
func TestAOFRewriteWithAppendonlyNo(t *testing.T) {
	ctx := context.Background()
	s := startServer(t, "--appendonly", "no")
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	c.Set(ctx, "k", "v", 0)
	c.RPush(ctx, "l", "a", "b")
	if err := c.Do(ctx, "BGREWRITEAOF").Err(); err != nil {
		t.Fatalf("BGREWRITEAOF with appendonly no: %v", err)
	}
	waitFor(t, "the rewrite", func() bool {
		info := c.Info(ctx, "persistence").Val()
		return strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrites:1")
	})
	info := c.Info(ctx, "persistence").Val()
	for _, f := range []string{"aof_enabled:0", "aof_last_bgrewrite_status:ok"} {
		if !strings.Contains(info, f) {
			t.Errorf("INFO after the rewrite lacks %s:\n%s", f, info)
		}
	}
	if len(aofFiles(t, s.Dir, "b")) != 1 {
		t.Fatal("no base in the manifest")
	}
	if target != "reddwarf" {
		return // restarting redis-server on the directory is not this harness's
	}
	s.stop()
	r := startIn(t, s.Dir, "--appendonly", "yes")
	rc := redis.NewClient(options(r.Addr(), 2))
	defer rc.Close()
	if v := rc.Get(ctx, "k").Val(); v != "v" {
		t.Errorf("after a restart on the rewritten file: k = %q", v)
	}
	if l := rc.LRange(ctx, "l", 0, -1).Val(); len(l) != 2 {
		t.Errorf("after a restart on the rewritten file: l = %v", l)
	}
}
