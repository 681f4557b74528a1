package session

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"reddwarf/infer"
	"reddwarf/models"
	"reddwarf/server"
)

// The benchmarks run the engine as the server's loop does, without the
// network. REDDWARF_BENCH_MODEL names a GGUF to use (for the issue's
// numbers, a 1B-shape Q8_0 llama: `reddwarf synth --shape 1b --quant q8_0
// -o /tmp/1b-q8.gguf`); the default is the embedded stories260K.
//
//	go test ./session -run '^$' -bench . -benchtime 3x
//
// Each benchmark carries its own baseline in the same run: 1 GEN for 8
// GENs, a 20-token session for a 2,000-token one, a cold prefix for a
// cached one.
func benchEngine(b *testing.B) (*Engine, *server.DB) {
	b.Helper()
	opt := infer.Options{Ctx: 4096}
	var m *infer.Model
	var err error
	if path := os.Getenv("REDDWARF_BENCH_MODEL"); path != "" {
		m, err = infer.Open(path, opt)
	} else {
		m, err = infer.OpenBytes("stories260K", models.Stories260K, opt)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	srv := server.New(server.NewConfig())
	e, err := NewEngine(srv, srv.Config, m)
	if err != nil {
		b.Fatal(err)
	}
	srv.Register(e.Hooks())
	return e, srv.DBs[0]
}

// promptOf returns text that encodes to about n tokens.
func promptOf(e *Engine, n int) []int32 {
	words := strings.Fields("once upon a time there was a little girl named lily who loved to play in the park with her big red ball and her dog max")
	var toks []int32
	for i := 0; len(toks) < n; i++ {
		toks = append(toks, e.enc(" "+words[i%len(words)])...)
	}
	return toks[:n]
}

// prefillIDs creates key with n prompt tokens (BOS first).
func prefillIDs(b *testing.B, e *Engine, db *server.DB, key string, n int) {
	j := NewPrefill(db, key, promptOf(e, n), true)
	e.queue(j)
	run(e)
	if j.Err != nil {
		b.Fatal(j.Err)
	}
}

// BenchmarkDecode: aggregate decode throughput of 1 and 8 concurrent GENs
// (each sampling from stored logits, so the timed part is pure decode).
func BenchmarkDecode(b *testing.B) {
	const perGen = 32
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("gens=%d", n), func(b *testing.B) {
			e, db := benchEngine(b)
			for i := 0; i < n; i++ {
				prefillIDs(b, e, db, fmt.Sprint("s", i), 16)
			}
			var tokens int
			var elapsed time.Duration
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				var jobs []*Job
				for i := 0; i < n; i++ {
					o := seeded(uint64(it*n+i), perGen)
					j := NewGen(db, fmt.Sprint("s", i), nil, false, o)
					e.queue(j)
					jobs = append(jobs, j)
				}
				t0 := time.Now()
				run(e)
				elapsed += time.Since(t0)
				for _, j := range jobs {
					if j.Err != nil {
						b.Fatal(j.Err)
					}
					tokens += j.GeneratedTokens
				}
				b.StopTimer()
				for i := 0; i < n; i++ { // back to the prompt, so contexts stay equal
					if err := e.Rollback(sess(b, db, fmt.Sprint("s", i)), 17); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(tokens)/elapsed.Seconds(), "tok/s")
			st := e.Stats()
			b.ReportMetric(100*(1-st.ForwardTime.Seconds()/st.StepTime.Seconds()), "%outside-forward")
		})
	}
}

// BenchmarkFork: FORK (Session.Clone into a key, then DEL) of a 20- and a
// 2,000-token session: O(pages), no KV bytes copied.
func BenchmarkFork(b *testing.B) {
	e, db := benchEngine(b)
	for _, n := range []int{20, 2000} {
		key := fmt.Sprint("src", n)
		prefillIDs(b, e, db, key, n)
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			src := db.Peek(key)
			for i := 0; i < b.N; i++ {
				db.Set("dst", src.Clone(), false)
				db.Delete("dst")
			}
		})
	}
}

// BenchmarkRollback: ROLLBACK of the last 8 tokens of a 20- and a
// 2,000-token session, to a checkpoint (O(pages)) and to a position with
// none (one token re-fed for exact logits).
func BenchmarkRollback(b *testing.B) {
	e, db := benchEngine(b)
	for _, n := range []int{20, 2000} {
		key := fmt.Sprint("src", n)
		prefillIDs(b, e, db, key, n-8)
		pos, _ := sess(b, db, key).SetCheckpoint("cp")
		j := NewPrefill(db, key, promptOf(e, 8), false)
		e.queue(j)
		run(e)
		src := sess(b, db, key)
		for _, mode := range []string{"checkpoint", "recompute"} {
			b.Run(fmt.Sprintf("tokens=%d/%s", n, mode), func(b *testing.B) {
				// Forks made outside the timed loop (StopTimer per
				// iteration would dominate what is measured).
				forks := make([]*Session, b.N)
				for i := range forks {
					forks[i] = src.Clone().(*Session)
					if mode == "recompute" {
						forks[i].DropCheckpoint("cp")
					}
				}
				b.ResetTimer()
				for _, f := range forks {
					if err := e.Rollback(f, pos); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				for _, f := range forks {
					f.Release()
				}
			})
		}
	}
}

// BenchmarkTimeToFirstToken: GEN MAXTOKENS 1 with a 1,000-token prompt
// whose first 992 tokens (31 pages) are in the prefix cache, vs the same
// prompt cold.
func BenchmarkTimeToFirstToken(b *testing.B) {
	for _, mode := range []string{"cold", "cached"} {
		b.Run(mode, func(b *testing.B) {
			e, db := benchEngine(b)
			prompt := promptOf(e, 1000)
			var ttft time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if mode == "cold" {
					e.Cache().Clear()
				} else {
					// Another key with the same 999-token prefix, another ending.
					other := append(append([]int32(nil), prompt[:999]...), prompt[:8]...)
					j := NewPrefill(db, "other", other, true)
					e.queue(j)
					run(e)
					db.Delete("other")
				}
				db.Delete("k")
				b.StartTimer()
				j := NewGen(db, "k", prompt, true, seeded(1, 1))
				e.queue(j)
				run(e)
				if j.Err != nil {
					b.Fatal(j.Err)
				}
				if mode == "cached" && j.CachedTokens == 0 {
					b.Fatal("no tokens reused")
				}
				ttft += j.PrefillTime
			}
			b.ReportMetric(float64(ttft.Microseconds())/1000/float64(b.N), "ms/ttft")
		})
	}
}

// BenchmarkModelStep is the engine-free baseline for BenchmarkDecode: one
// Model.Step of 1 or 8 decode rows (sessions of 17 tokens), no sampling.
func BenchmarkModelStep(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			e, _ := benchEngine(b)
			m := e.Model
			batch := make([]infer.Seq, n)
			for i := range batch {
				st := m.NewState()
				if err := m.Step([]infer.Seq{{State: st, Tokens: promptOf(e, 17)}}); err != nil {
					b.Fatal(err)
				}
				batch[i] = infer.Seq{State: st, Tokens: []int32{1}}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := m.Step(batch); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				for _, sq := range batch {
					sq.State.Truncate(17)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
