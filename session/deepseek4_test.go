package session

import (
	"strings"
	"testing"
	"time"

	"reddwarf/infer"
	_ "reddwarf/infer/deepseek4"
	"reddwarf/server"
)

// newDeepseek4Engine is an engine on the tiny random DeepSeek V4 Flash
// (6 layers, 64 wide, byte vocabulary).
func newDeepseek4Engine(t testing.TB) (*Engine, *server.DB) {
	t.Helper()
	m, err := infer.Open("../models/deepseek4-tiny.gguf", infer.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	srv := server.New(server.NewConfig())
	e, err := NewEngine(srv, srv.Config, m)
	if err != nil {
		t.Fatal(err)
	}
	srv.Register(e.Hooks())
	return e, srv.DBs[0]
}

// TestDeepseek4PrefixReuseAcrossKeys: on deepseek4 (whose state is not
// paged rows) a GEN on another key with the same prompt, or with the first
// session's whole text and more, resumes from the prefix cache and
// generates exactly what a cold GEN does.
func TestDeepseek4PrefixReuseAcrossKeys(t *testing.T) {
	e, db := newDeepseek4Engine(t)
	prompt := strings.Repeat("The cat sat on the mat. ", 12) // 288 tokens
	greedy := DefaultGenOptions()
	greedy.Sampler = infer.SamplerConfig{}
	greedy.MaxTokens = 16
	cold := gen(t, e, db, "one", prompt, greedy)
	if cold.CachedTokens != 0 {
		t.Fatalf("cold GEN reused %d tokens", cold.CachedTokens)
	}
	warm := gen(t, e, db, "two", prompt, greedy)
	if want := (cold.PromptTokens - 1) / infer.PageTokens * infer.PageTokens; warm.CachedTokens != want {
		t.Errorf("same prompt reused %d tokens, want %d", warm.CachedTokens, want)
	}
	if string(warm.Text) != string(cold.Text) {
		t.Errorf("warm %q, cold %q", warm.Text, cold.Text)
	}
	// The first session's tokens and a new turn: everything it holds is
	// reused.
	genIDs := func(key string, toks []int32) *Job {
		j := NewGen(db, key, toks, false, greedy)
		e.queue(j)
		run(e)
		if j.Err != nil {
			t.Fatal(j.Err)
		}
		return j
	}
	held := sess(t, db, "one").State.Tokens()
	more := append(append([]int32(nil), held...), e.enc(" And then")...)
	warmMore := genIDs("three", more)
	if warmMore.CachedTokens != len(held) {
		t.Errorf("continuing a session's tokens reused %d tokens, want %d", warmMore.CachedTokens, len(held))
	}
	e.Cache().Clear()
	coldMore := genIDs("four", more)
	if coldMore.CachedTokens != 0 || string(warmMore.Text) != string(coldMore.Text) {
		t.Errorf("warm %q, cold %q (reused %d)", warmMore.Text, coldMore.Text, coldMore.CachedTokens)
	}
}

// BenchmarkDeepseek4PrefixReuse is the time to first token of a GEN whose
// prompt (1,000 tokens) another key ran before, against the same GEN cold.
func BenchmarkDeepseek4PrefixReuse(b *testing.B) {
	for _, mode := range []string{"cold", "cached"} {
		b.Run(mode, func(b *testing.B) {
			e, db := newDeepseek4Engine(b)
			prompt := make([]int32, 1000)
			for i := range prompt {
				prompt[i] = int32(32 + (i*7)%90)
			}
			var ttft time.Duration
			var cached int
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				e.Cache().Clear()
				db.Delete("k")
				if mode == "cached" {
					j := NewGen(db, "other", prompt, false, seeded(1, 1))
					e.queue(j)
					run(e)
					db.Delete("other")
				}
				b.StartTimer()
				j := NewGen(db, "k", prompt, false, seeded(1, 1))
				e.queue(j)
				run(e)
				if j.Err != nil {
					b.Fatal(j.Err)
				}
				ttft += j.PrefillTime
				cached += j.CachedTokens
			}
			b.ReportMetric(float64(ttft.Microseconds())/1000/float64(b.N), "ms/ttft")
			b.ReportMetric(float64(cached)/float64(b.N), "cached_tokens")
		})
	}
}

// TestDeepseek4PageBytes: the engine's page size (memory checks, the
// prefix cache's budget) is what deepseek4's state grows by over a page,
// read from the layout without allocating (it used to build a whole State,
// 11 MB at full width, on every cron tick).
func TestDeepseek4PageBytes(t *testing.T) {
	e, _ := newDeepseek4Engine(t)
	l := e.Model.Arch().KVLayout()
	if l.Layers != 0 || l.StateBytes <= 0 || e.pageBytes() != l.StateBytes {
		t.Errorf("layout %+v, page bytes %d", l, e.pageBytes())
	}
	if a := testing.AllocsPerRun(10, func() { e.pageBytes() }); a != 0 {
		t.Errorf("pageBytes allocates %v times", a)
	}
}
