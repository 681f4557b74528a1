package redistests

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkStoreRestart is issue 12's restart benchmark: a server with
// the session store on holds REDDWARF_BENCH_STORE_MB of sessions' KV
// (default 256; bench/store.sh runs it with 4096), is killed (SIGKILL),
// and restarts on the store. It reports the time to the first PONG (and,
// beside it, with the segments' index files removed, so that start-up
// reads every page header; the page cache dropped before each as root), the
// RSS after start, the time to the first token of a cold session (its
// pages read back) beside prefilling the same tokens again, the time to
// the first token of a 4,000-token prompt whose first 3,968 tokens were
// computed before the restart beside a cold one, and the disk's direct
// read and write bandwidth in the same directory (dd).
//
// The model is a synthetic llama (`reddwarf synth --shape tiny`, 2 KiB of
// f16 KV per token) with stories260K's vocabulary, so the figures are the
// store's, not the model's arithmetic.
//
//	REDDWARF_BENCH_STORE_MB=4096 go test ./redis-tests -run '^$' -bench StoreRestart -benchtime 1x -timeout 60m
func BenchmarkStoreRestart(b *testing.B) {
	if target != "reddwarf" {
		b.Skip("the session store is reddwarf's")
	}
	mb := 256
	if v := os.Getenv("REDDWARF_BENCH_STORE_MB"); v != "" {
		mb, _ = strconv.Atoi(v)
	}
	dir := b.TempDir()
	model := filepath.Join(dir, "tiny.gguf")
	vocab, _ := filepath.Abs("../models/stories260K.gguf")
	if out, err := exec.Command(serverBinary, "synth", "--arch", "llama", "--shape", "tiny", "--quant", "q8_0", "--vocab", vocab, "-o", model).CombinedOutput(); err != nil {
		b.Fatalf("reddwarf synth: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	dirs := []string{"--model", model, "--ctx", "4200", "--appendonly", "yes", "--appendfsync", "everysec"}
	ctx := context.Background()
	const perSession, kvPerToken = 2000, 2048
	sessions := max(1, mb<<20/(perSession*kvPerToken))
	rng := rand.New(rand.NewPCG(9, 9))
	ids := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = 3 + rng.IntN(500)
		}
		return out
	}
	s := startBench(b, data, dirs...)
	t0 := time.Now()
	var wg sync.WaitGroup
	work := make(chan []any, 16)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := options(s.Addr(), 2)
			o.ReadTimeout = 10 * time.Minute
			c := redis.NewClient(o)
			defer c.Close()
			for args := range work {
				if err := c.Do(ctx, args...).Err(); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	sess0 := ids(perSession)
	long := ids(4000)
	work <- append([]any{"PREFILL", "s0", "IDS"}, sess0...)
	work <- append([]any{"PREFILL", "long", "IDS"}, long...)
	for i := 1; i < sessions; i++ {
		work <- append([]any{"PREFILL", fmt.Sprint("s", i), "IDS"}, ids(perSession)...)
	}
	close(work)
	wg.Wait()
	fill := time.Since(t0)
	c := redis.NewClient(options(s.Addr(), 2))
	storeBytes := benchInfo(b, c, "store", "store_segment_bytes")
	c.Close()
	time.Sleep(1500 * time.Millisecond) // everysec: the last second reaches the disk
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.stop()

	// The restart, first with the segments' index files removed (start-up
	// reads every page header, as before the indexes existed), then as it
	// is; the page cache dropped before each where this process may
	// (root on Linux), so the disk is read as after a reboot.
	dropCaches := func() bool {
		exec.Command("sync").Run()
		return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200) == nil
	}
	idx, _ := filepath.Glob(filepath.Join(data, "appendonlydir", "*.idx"))
	saved := map[string][]byte{}
	for _, f := range idx {
		saved[f], _ = os.ReadFile(f)
		os.Remove(f)
	}
	coldCache := dropCaches()
	start := time.Now()
	r := startBench(b, data, dirs...)
	scanPong := time.Since(start)
	r.cmd.Process.Signal(syscall.SIGKILL)
	r.stop()
	for f, bs := range saved {
		os.WriteFile(f, bs, 0o644)
	}
	dropCaches()
	start = time.Now()
	r = startBench(b, data, dirs...)
	firstPong := time.Since(start)
	rss := processRSS(r.cmd.Process.Pid)
	o := options(r.Addr(), 2)
	o.ReadTimeout = 10 * time.Minute
	c = redis.NewClient(o)
	defer c.Close()
	timed := func(args ...any) time.Duration {
		t := time.Now()
		if err := c.Do(ctx, args...).Err(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t)
	}
	readsBefore := benchInfo(b, c, "store", "store_page_read_bytes")
	cold := timed("GEN", "s0", "", "MAXTOKENS", 1, "TEMPERATURE", 0)
	readBytes := benchInfo(b, c, "store", "store_page_read_bytes") - readsBefore
	// Prefilling the same tokens again, in a key the store does not know
	// (a different first token, so no stored page matches).
	again := append([]any{"PREFILL", "again", "IDS", 2}, sess0[1:]...)
	reprefill := timed(again...) + timed("GEN", "again", "", "MAXTOKENS", 1, "TEMPERATURE", 0)
	// 4,000 tokens, the first 3,968 computed before the restart.
	warmIDs := append(append([]any(nil), long[:3968]...), ids(32)...)
	warm := timed(append([]any{"PREFILL", "warm", "IDS"}, warmIDs...)...) + timed("GEN", "warm", "", "MAXTOKENS", 1, "TEMPERATURE", 0)
	coldIDs := append([]any{2}, ids(3999)...)
	coldLong := timed(append([]any{"PREFILL", "coldlong", "IDS"}, coldIDs...)...) + timed("GEN", "coldlong", "", "MAXTOKENS", 1, "TEMPERATURE", 0)
	wr, rd := ddBandwidth(b, data)

	b.ReportMetric(float64(storeBytes)/(1<<20), "store_MB")
	b.ReportMetric(float64(firstPong.Milliseconds()), "first_pong_ms")
	b.ReportMetric(float64(scanPong.Milliseconds()), "first_pong_scanning_ms")
	b.ReportMetric(float64(rss)/(1<<20), "rss_after_start_MB")
	b.ReportMetric(float64(cold.Microseconds())/1000, "cold_session_ttft_ms")
	b.ReportMetric(float64(reprefill.Microseconds())/1000, "prefill_again_ttft_ms")
	b.ReportMetric(float64(warm.Microseconds())/1000, "prefix3968_ttft_ms")
	b.ReportMetric(float64(coldLong.Microseconds())/1000, "cold4000_ttft_ms")
	b.ReportMetric(float64(readBytes)/cold.Seconds()/(1<<20), "page_read_MB/s")
	b.ReportMetric(wr, "dd_write_MB/s")
	b.ReportMetric(rd, "dd_read_MB/s")
	b.Logf("%d sessions of %d tokens (%.0f MiB of KV, %.0f MiB of segments, %d segment indexes) made in %v; page cache dropped before each start: %v", sessions, perSession, float64(sessions*perSession*kvPerToken)/(1<<20), float64(storeBytes)/(1<<20), len(idx), fill.Round(time.Second), coldCache)
}

// startBench starts reddwarf on dir for a benchmark.
func startBench(b *testing.B, dir string, directives ...string) *Server {
	b.Helper()
	port, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	args := append([]string{"--port", fmt.Sprint(port), "--dir", dir, "--save", ""}, directives...)
	s := &Server{Port: port, Dir: dir, log: filepath.Join(dir, fmt.Sprintf("server-%d.log", port))}
	logf, err := os.Create(s.log)
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	s.cmd = exec.Command(serverBinary, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.stop)
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if s.ping() {
			return s
		}
	}
	b.Fatalf("reddwarf on %s did not start", dir)
	return nil
}

// processRSS is VmRSS of pid in bytes (0 off Linux).
func processRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

var ddRate = regexp.MustCompile(`([0-9.]+) ([kMG]?B)/s`)

// ddBandwidth is dd's direct-I/O write and read rate in dir, MB/s.
func ddBandwidth(b *testing.B, dir string) (write, read float64) {
	f := filepath.Join(dir, "dd.bin")
	defer os.Remove(f)
	rate := func(args ...string) float64 {
		out, err := exec.Command("dd", args...).CombinedOutput()
		if err != nil {
			b.Logf("dd %v: %v %s", args, err, out)
			return 0
		}
		m := ddRate.FindStringSubmatch(string(out))
		if m == nil {
			return 0
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		switch m[2] {
		case "kB":
			v /= 1000
		case "GB":
			v *= 1000
		}
		return v
	}
	write = rate("if=/dev/zero", "of="+f, "bs=1M", "count=256", "oflag=direct", "conv=fsync")
	read = rate("if="+f, "of=/dev/null", "bs=1M", "iflag=direct")
	return write, read
}

// benchInfo reads one INFO field as an integer.
func benchInfo(b *testing.B, c *redis.Client, section, field string) int64 {
	for _, l := range strings.Split(c.Info(context.Background(), section).Val(), "\r\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatalf("INFO %s has no %s", section, field)
	return 0
}

// BenchmarkStoreMaxmemory is issue 12's memory check at full size:
// maxmemory 128mb (REDDWARF_BENCH_MAXMEMORY_MB) while 8 clients prefill
// REDDWARF_BENCH_STORE_MB of sessions (default 2048) on the synthetic tiny
// llama (2 KiB of KV per token). It reports the server's peak RSS and
// used_memory beside the limit, sessions paged out and keys evicted (must
// be 0), and checks that sampled sessions continue exactly (a greedy GEN
// equals the one taken right after their PREFILL).
//
//	go test ./redis-tests -run '^$' -bench StoreMaxmemory -benchtime 1x -timeout 60m
func BenchmarkStoreMaxmemory(b *testing.B) {
	if target != "reddwarf" {
		b.Skip("the session store is reddwarf's")
	}
	mb, limitMB := 2048, 128
	if v := os.Getenv("REDDWARF_BENCH_STORE_MB"); v != "" {
		mb, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("REDDWARF_BENCH_MAXMEMORY_MB"); v != "" {
		limitMB, _ = strconv.Atoi(v)
	}
	dir := b.TempDir()
	model := filepath.Join(dir, "tiny.gguf")
	vocab, _ := filepath.Abs("../models/stories260K.gguf")
	if out, err := exec.Command(serverBinary, "synth", "--arch", "llama", "--shape", "tiny", "--quant", "q8_0", "--vocab", vocab, "-o", model).CombinedOutput(); err != nil {
		b.Fatalf("reddwarf synth: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	s := startBench(b, data, "--model", model, "--appendonly", "yes", "--maxmemory", fmt.Sprint(limitMB<<20), "--maxmemory-policy", "allkeys-lru")
	const perSession = 2000
	sessions := max(1, mb<<20/(perSession*2048))
	ctx := context.Background()
	var peak int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			peak = max(peak, processRSS(s.cmd.Process.Pid))
		}
	}()
	type probe struct{ key, text string }
	probes := make(chan probe, sessions)
	var wg sync.WaitGroup
	work := make(chan int, 16)
	// Running jobs' pages cannot leave RAM: at most a quarter of the limit
	// in flight (4 MiB a session), else PREFILLs get -OOM, as they should.
	for w := 0; w < min(8, max(1, limitMB/16)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := options(s.Addr(), 2)
			o.ReadTimeout = 10 * time.Minute
			c := redis.NewClient(o)
			defer c.Close()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range work {
				key := fmt.Sprint("s", i)
				args := []any{"PREFILL", key, "IDS"}
				for range perSession {
					args = append(args, 3+rng.IntN(500))
				}
				if err := c.Do(ctx, args...).Err(); err != nil {
					b.Error(err)
					return
				}
				if i%25 == 0 {
					p := "p" + key
					c.Do(ctx, "FORK", key, p)
					t, err := c.Do(ctx, "GEN", p, "", "MAXTOKENS", 8, "TEMPERATURE", 0).Text()
					c.Del(ctx, p)
					if err == nil {
						probes <- probe{key, t}
					}
				}
			}
		}()
	}
	t0 := time.Now()
	for i := 0; i < sessions; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	fill := time.Since(t0)
	close(stop)
	<-sampled
	close(probes)
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	bad, n := 0, 0
	for p := range probes {
		n++
		got, err := c.Do(ctx, "GEN", p.key, "", "MAXTOKENS", 8, "TEMPERATURE", 0).Text()
		if err != nil || got != p.text {
			bad++
			b.Errorf("%s continues with %q (%v), before it was paged out %q", p.key, got, err, p.text)
		}
	}
	if ev := benchInfo(b, c, "stats", "evicted_keys"); ev != 0 {
		b.Errorf("evicted_keys %d", ev)
	}
	if k := c.DBSize(ctx).Val(); k != int64(sessions) {
		b.Errorf("DBSIZE %d, want %d", k, sessions)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak_rss_MB")
	b.ReportMetric(float64(benchInfo(b, c, "memory", "used_memory"))/(1<<20), "used_memory_MB")
	b.ReportMetric(float64(limitMB), "maxmemory_MB")
	b.ReportMetric(float64(benchInfo(b, c, "store", "store_sessions_paged_out")), "paged_out")
	b.Logf("%d sessions of %d tokens (%d MiB of KV) under maxmemory %d MiB in %v: %d sampled sessions continued exactly, %d did not", sessions, perSession, sessions*perSession*2048>>20, limitMB, fill.Round(time.Second), n-bad, bad)
}
