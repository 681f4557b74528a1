package redistests

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkServerDecode: aggregate decode tokens per second of 1 and of 8
// clients each running GEN at once on its own session, through the real
// server and go-redis (the engine's continuous batching end to end).
// REDDWARF_BENCH_MODEL picks the GGUF (default: the embedded model):
//
//	REDDWARF_BENCH_MODEL=/tmp/1b-q8.gguf go test ./redis-tests -run '^$' -bench ServerDecode -benchtime 3x
func BenchmarkServerDecode(b *testing.B) {
	if target != "reddwarf" {
		b.Skip("GEN is reddwarf's")
	}
	var dirs []string
	if m := os.Getenv("REDDWARF_BENCH_MODEL"); m != "" {
		dirs = append(dirs, "--model", m)
	}
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) { decodeBench(b, n, dirs...) })
	}
}

// BenchmarkServerDecodeAOF: BenchmarkServerDecode's 8 clients with the
// session store off (appendonly no) and on with each fsync policy, in one
// run, so the ratios compare like with like (issue 12: everysec must keep
// at least 0.95 of no's throughput).
func BenchmarkServerDecodeAOF(b *testing.B) {
	if target != "reddwarf" {
		b.Skip("GEN is reddwarf's")
	}
	var dirs []string
	if m := os.Getenv("REDDWARF_BENCH_MODEL"); m != "" {
		dirs = append(dirs, "--model", m)
	}
	for _, mode := range []string{"no", "everysec", "always"} {
		d := append([]string{"--appendonly", "yes", "--appendfsync", mode}, dirs...)
		if mode == "no" {
			d = append([]string{"--appendonly", "no"}, dirs...)
			mode = "off"
		}
		b.Run("aof="+mode, func(b *testing.B) { decodeBench(b, 8, d...) })
	}
}

// decodeBench runs n clients' GENs of perGen tokens on a server started
// with dirs and reports the aggregate decode rate.
func decodeBench(b *testing.B, n int, dirs ...string) {
	const perGen = 32
	s, err := start(b.TempDir(), dirs...)
	if err != nil {
		b.Fatal(err)
	}
	defer s.stop()
	ctx := context.Background()
	cs := make([]*redis.Client, n)
	for i := range cs {
		o := options(s.Addr(), 2)
		o.ReadTimeout = 5 * time.Minute
		cs[i] = redis.NewClient(o)
		defer cs[i].Close()
		if err := cs[i].Do(ctx, "PREFILL", fmt.Sprint("s", i), "Once upon a time there was a little girl").Err(); err != nil {
			b.Fatal(err)
		}
	}
	var tokens int64
	var elapsed time.Duration
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		t0 := time.Now()
		for i, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := c.Do(ctx, "GEN", fmt.Sprint("s", i), "", "MAXTOKENS", perGen, "SEED", it*n+i, "WITHSTATS").Slice()
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				tokens += r[9].(int64) // generated_tokens
				mu.Unlock()
			}()
		}
		wg.Wait()
		elapsed += time.Since(t0)
		b.StopTimer()
		for i, c := range cs {
			if err := c.Do(ctx, "ROLLBACK", fmt.Sprint("s", i), "TO", "gen").Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(tokens)/elapsed.Seconds(), "tok/s")
}
