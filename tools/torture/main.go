//go:build linux

// Command torture runs reddwarf through what a hostile client and bad luck
// do to it, and checks after every round that the server still answers,
// that every acknowledged write survived, and that nothing appeared
// outside its dir. One command runs it all:
//
//	go run ./tools/torture              # builds the server, ~1 minute
//	go run ./tools/torture -rounds 20 -bin ./reddwarf
//
// Each round:
//
//  1. hostile protocol input: random and mutated RESP on fresh
//     connections (then PING must answer);
//  2. concurrent GEN, FORK, ROLLBACK, DEL, EXPIRE, BGSAVE, FLUSHALL,
//     SAVE key file / LOAD key file and PREFILL of prompts up to 512 KiB
//     (tokenised off the loop) with clients that disconnect midway, while
//     another client PINGs (the slowest PING is a figure);
//  3. acknowledged data: SETs whose SAVE was acknowledged, then kill -9 at
//     a random moment, restart, and every one of them must read back;
//  4. corrupted snapshot bytes: the server refuses to start with a reason,
//     or starts and every key reads back or answers an error naming it;
//
// and, when run as root on Linux, a full disk: dir on a small tmpfs, where
// SAVE must fail with an error, the server keep answering, and a save
// succeed once space is back. Traffic goes only to 127.0.0.1. The figures
// are printed at the end; the exit status is 1 if any check failed.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

var ctx = context.Background()

// figures are what the run counts.
type figures struct {
	hostileConns, ops, opErrors, kills, ackedChecked, corruptRefused, corruptStarted, damagedNamed, diskFullSaves int
	failures                                                                                                      []string
	slowestPing                                                                                                   time.Duration // while the concurrent commands ran
}

func (f *figures) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.failures = append(f.failures, msg)
	fmt.Println("FAIL:", msg)
}

func main() {
	rounds := flag.Int("rounds", 5, "rounds of the whole sequence")
	bin := flag.String("bin", "", "reddwarf binary (default: build it from the repository)")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed, to repeat a run)")
	flag.Parse()
	redis.SetLogger(quiet{}) // dials to a server just killed are expected
	fmt.Println("seed", *seed)
	rng := rand.New(rand.NewPCG(*seed, 13))
	work, err := os.MkdirTemp("", "torture-")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer os.RemoveAll(work)
	if *bin == "" {
		*bin = filepath.Join(work, "reddwarf")
		b := exec.Command("go", "build", "-o", *bin, ".")
		b.Stdout, b.Stderr = os.Stdout, os.Stderr
		if err := b.Run(); err != nil {
			fmt.Println("build:", err)
			os.Exit(1)
		}
	}
	f := &figures{}
	parent := filepath.Join(work, "parent")
	dir := filepath.Join(parent, "data")
	os.MkdirAll(dir, 0o755)
	for r := 0; r < *rounds; r++ {
		fmt.Printf("round %d\n", r+1)
		round(f, rng, *bin, dir)
		checkOutside(f, parent)
	}
	diskFull(f, *bin, work)
	fmt.Printf("\nhostile connections %d, concurrent operations %d (%d answered an error), kill -9 %d, acknowledged keys checked after restart %d\n",
		f.hostileConns, f.ops, f.opErrors, f.kills, f.ackedChecked)
	fmt.Printf("corrupted snapshots: %d refused at start, %d started (%d damaged keys named), full-disk SAVEs refused %d\n",
		f.corruptRefused, f.corruptStarted, f.damagedNamed, f.diskFullSaves)
	fmt.Printf("slowest PING while the concurrent commands ran (prompts up to 512 KiB among them): %v\n", f.slowestPing.Round(time.Millisecond))
	if len(f.failures) > 0 {
		fmt.Printf("%d checks FAILED\n", len(f.failures))
		os.Exit(1)
	}
	fmt.Println("all checks passed")
}

// quiet drops go-redis's log lines.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// server is one running reddwarf.
type server struct {
	cmd  *exec.Cmd
	addr string
	log  bytes.Buffer
}

func start(bin, dir string, extra ...string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &server{addr: fmt.Sprintf("127.0.0.1:%d", port)}
	args := append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--prefill-chunk", "8"}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); close(exited) }()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			return nil, fmt.Errorf("exited: %s", lastLines(s.log.String()))
		default:
		}
		if ping(s.addr) {
			return s, nil
		}
	}
	s.kill()
	return nil, errors.New("did not answer PING")
}

func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	for i := 0; i < 100 && s.cmd.ProcessState == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

func ping(addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
	defer c.Close()
	return c.Ping(ctx).Err() == nil
}

func lastLines(s string) string {
	if len(s) > 600 {
		s = s[len(s)-600:]
	}
	return s
}

func round(f *figures, rng *rand.Rand, bin, dir string) {
	s, err := start(bin, dir)
	if err != nil {
		f.fail("start: %v", err)
		return
	}
	defer s.kill()
	hostile(f, rng, s.addr)
	if !ping(s.addr) {
		f.fail("no PING answer after hostile input")
		return
	}
	concurrent(f, rng, s.addr)
	if !ping(s.addr) {
		f.fail("no PING answer after the concurrent operations")
		return
	}
	// Acknowledged data, then kill -9 at a random moment.
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	acked := map[string]string{}
	for i := 0; i < 200; i++ {
		k, v := fmt.Sprintf("acked:%d", i), fmt.Sprint(rng.Uint64())
		if c.Set(ctx, k, v, 0).Err() == nil {
			acked[k] = v
		}
	}
	// A BGSAVE of the concurrent phase may still run: SAVE is refused
	// until it ends, as in Redis.
	err = c.Save(ctx).Err()
	for end := time.Now().Add(20 * time.Second); err != nil && strings.Contains(err.Error(), "in progress") && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
		err = c.Save(ctx).Err()
	}
	if err != nil {
		f.fail("SAVE: %v", err)
		acked = nil
	}
	go func() {
		for i := 0; i < 1000; i++ {
			c.Set(ctx, fmt.Sprintf("late:%d", i), "x", 0)
			if i%50 == 0 {
				c.BgSave(ctx)
			}
		}
	}()
	time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
	s.kill()
	c.Close()
	f.kills++
	s, err = start(bin, dir)
	if err != nil {
		f.fail("restart after kill -9: %v", err)
		return
	}
	c = redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	for k, v := range acked {
		got, err := c.Get(ctx, k).Result()
		f.ackedChecked++
		if err != nil || got != v {
			f.fail("acknowledged %s = %q (%v) after kill -9, want %q", k, got, err, v)
		}
	}
	c.Save(ctx)
	c.Close()
	s.kill()
	corrupt(f, rng, bin, dir)
}

// hostile sends random bytes and mutated requests on fresh connections.
func hostile(f *figures, rng *rand.Rand, addr string) {
	valid := []string{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "PING\r\n",
		"*3\r\n$3\r\nGEN\r\n$1\r\ns\r\n$2\r\nhi\r\n", "*2\r\n$6\r\nTOKENS\r\n$1\r\ns\r\n"}
	for i := 0; i < 60; i++ {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			f.fail("dial: %v", err)
			return
		}
		f.hostileConns++
		var b []byte
		switch rng.IntN(3) {
		case 0:
			b = make([]byte, 1+rng.IntN(4096))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		case 1:
			b = []byte(strings.Repeat(valid[rng.IntN(len(valid))], 1+rng.IntN(20)))
			for n := rng.IntN(6); n > 0; n-- {
				b[rng.IntN(len(b))] = "*$\r\n-+0123456789"[rng.IntN(16)]
			}
		default:
			b = []byte(fmt.Sprintf("*%d\r\n$%d\r\n", rng.IntN(1<<30), rng.IntN(1<<30)))
		}
		conn.SetDeadline(time.Now().Add(time.Second))
		conn.Write(b)
		if rng.IntN(2) == 0 {
			buf := make([]byte, 4096)
			conn.Read(buf)
		}
		conn.Close()
	}
}

// bigText is where PREFILL's long prompts are cut from.
var bigText = strings.Repeat("Tom had apples. ", 1<<15)

// concurrent runs the session and keyspace commands from several clients
// at once, some of which disconnect without waiting, while another client
// PINGs (the slowest PING is a figure).
func concurrent(f *figures, rng *rand.Rand, addr string) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	stop := make(chan struct{})
	pinged := make(chan time.Duration)
	go func() {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: 20 * time.Second, PoolSize: 1})
		defer c.Close()
		var slowest time.Duration
		for {
			select {
			case <-stop:
				pinged <- slowest
				return
			case <-time.After(5 * time.Millisecond):
			}
			t0 := time.Now()
			if c.Ping(ctx).Err() == nil {
				slowest = max(slowest, time.Since(t0))
			}
		}
	}()
	defer func() {
		close(stop)
		slowest := <-pinged
		mu.Lock()
		f.slowestPing = max(f.slowestPing, slowest)
		mu.Unlock()
	}()
	for w := 0; w < 6; w++ {
		seed := rng.Uint64()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: 20 * time.Second, PoolSize: 1})
			defer c.Close()
			for i := 0; i < 40; i++ {
				k := fmt.Sprintf("s%d", r.IntN(4))
				var args []any
				switch r.IntN(11) {
				case 0, 1:
					args = []any{"GEN", k, "Once upon a time", "MAXTOKENS", 1 + r.IntN(20)}
				case 2:
					args = []any{"FORK", k, fmt.Sprintf("s%d", r.IntN(4)), "REPLACE"}
				case 3:
					args = []any{"ROLLBACK", k, r.IntN(5)}
				case 4:
					args = []any{"DEL", k}
				case 5:
					args = []any{"PEXPIRE", k, r.IntN(50)}
				case 6:
					args = []any{"BGSAVE"}
				case 7:
					args = []any{"FLUSHALL"}
				case 8:
					args = []any{"SAVE", k, fmt.Sprintf("t/%s.dsv4", k)}
				case 9:
					args = []any{"LOAD", k, fmt.Sprintf("t/s%d.dsv4", r.IntN(4)), "REPLACE"}
				default:
					// Tokenised off the loop (over 4 KiB): the larger one
					// is past the context, refused once tokenised.
					args = []any{"PREFILL", k, bigText[:[]int{5 << 10, 512 << 10}[r.IntN(2)]]}
				}
				if r.IntN(8) == 0 {
					// Disconnect while the command runs.
					conn, err := net.Dial("tcp", addr)
					if err == nil {
						conn.Write([]byte(resp(args)))
						time.Sleep(time.Duration(r.IntN(5)) * time.Millisecond)
						conn.Close()
					}
					continue
				}
				err := c.Do(ctx, args...).Err()
				mu.Lock()
				f.ops++
				if err != nil && err != redis.Nil {
					f.opErrors++
					if strings.Contains(err.Error(), "internal error") || errors.Is(err, net.ErrClosed) {
						f.fail("%v: %v", args, err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func resp(args []any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		s := fmt.Sprint(a)
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(s), s)
	}
	return b.String()
}

// corrupt flips bytes of a copy of the snapshot and starts a server on it.
func corrupt(f *figures, rng *rand.Rand, bin, dir string) {
	good, err := os.ReadFile(filepath.Join(dir, "dump.dsv4"))
	if err != nil {
		return // nothing saved this round
	}
	cdir, _ := os.MkdirTemp(filepath.Dir(filepath.Dir(dir)), "corrupt-")
	defer os.RemoveAll(cdir)
	for i := 0; i < 5; i++ {
		b := append([]byte(nil), good...)
		for n := 1 + rng.IntN(3); n > 0; n-- {
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		}
		os.WriteFile(filepath.Join(cdir, "dump.dsv4"), b, 0o644)
		s, err := start(bin, cdir)
		if err != nil {
			if !strings.Contains(err.Error(), "offset") && !strings.Contains(err.Error(), "rdb") {
				f.fail("corrupt snapshot refused without a reason: %v", err)
			}
			f.corruptRefused++
			continue
		}
		f.corruptStarted++
		c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
		keys, _ := c.Keys(ctx, "*").Result()
		for _, k := range keys {
			typ, _ := c.Type(ctx, k).Result()
			var err error
			if typ == "kvstate" {
				err = c.Do(ctx, "TOKENS", k).Err()
			} else {
				err = c.Do(ctx, "DUMP", k).Err()
			}
			if err != nil {
				if strings.Contains(err.Error(), "'"+k+"'") {
					f.damagedNamed++
				} else {
					f.fail("key %q of a corrupt snapshot: %v (an error must name it)", k, err)
				}
			}
		}
		if !ping(s.addr) {
			f.fail("no PING answer on a corrupt snapshot")
		}
		c.Close()
		s.kill()
	}
}

// checkOutside fails if anything but data/ (and corrupt-* folders being
// removed) appeared beside dir.
func checkOutside(f *figures, parent string) {
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		if e.Name() != "data" && !strings.HasPrefix(e.Name(), "corrupt-") {
			f.fail("%s appeared outside dir", filepath.Join(parent, e.Name()))
		}
	}
}

// diskFull mounts a 4 MB tmpfs as dir (root, Linux only), fills it, and
// checks SAVE fails with an error while the server answers, then succeeds
// once space is back.
func diskFull(f *figures, bin, work string) {
	dir := filepath.Join(work, "tmpfs")
	os.MkdirAll(dir, 0o755)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		fmt.Println("full disk: skipped (mounting a tmpfs needs root):", err)
		return
	}
	defer syscall.Unmount(dir, 0)
	s, err := start(bin, dir)
	if err != nil {
		f.fail("start on tmpfs: %v", err)
		return
	}
	defer s.kill()
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer c.Close()
	c.Set(ctx, "small", "v", 0)
	if err := c.Save(ctx).Err(); err != nil {
		f.fail("SAVE on an empty tmpfs: %v", err)
	}
	filler := filepath.Join(dir, "filler")
	fill, _ := os.Create(filler)
	fill.Write(make([]byte, 4<<20)) // as much as fits
	fill.Close()
	for i := 0; i < 64; i++ {
		c.Set(ctx, fmt.Sprintf("big:%d", i), strings.Repeat("x", 64<<10), 0)
	}
	if err := c.Save(ctx).Err(); err == nil {
		f.fail("SAVE on a full disk succeeded")
	} else {
		f.diskFullSaves++
	}
	if !ping(s.addr) {
		f.fail("no PING answer after a failed save")
	}
	if got, err := c.Get(ctx, "small").Result(); err != nil || got != "v" {
		f.fail("GET small after a failed save: %q %v", got, err)
	}
	os.Remove(filler)
	for i := 0; i < 64; i++ {
		c.Del(ctx, fmt.Sprintf("big:%d", i))
	}
	if err := c.Save(ctx).Err(); err != nil {
		f.fail("SAVE once space is back: %v", err)
	}
}
