package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"reddwarf/infer/gguf"
	"reddwarf/infer/tokenizer"
	"reddwarf/session/jsonmask"
)

const testFormatSchema = `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
	"tags":{"type":"array","items":{"enum":["a","b",3]}},"ok":{"type":"boolean"},
	"pos":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x","y"]}},
	"required":["name","pos"]}`

// formatReply is testFormatSchema's shape; decoding with
// DisallowUnknownFields and checking the required fields validates a
// reply.
type formatReply struct {
	Name *string
	Age  *int64
	Tags []any
	OK   *bool
	Pos  *struct{ X, Y *float64 }
}

func validReply(text []byte) error {
	d := json.NewDecoder(bytes.NewReader(text))
	d.DisallowUnknownFields()
	var r formatReply
	if err := d.Decode(&r); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	if r.Name == nil || r.Pos == nil || r.Pos.X == nil || r.Pos.Y == nil {
		return fmt.Errorf("a required property is missing")
	}
	for _, t := range r.Tags {
		if t != "a" && t != "b" && t != float64(3) {
			return fmt.Errorf("tag %v is not in the enum", t)
		}
	}
	return nil
}

// TestFormatAlwaysParses: GEN … JSON and … SCHEMA on stories260K (a
// model that knows nothing of JSON) for many seeds and token budgets,
// several jobs at once (presample draws them in parallel): every reply
// parses, and validates against the schema, whether it ended with EOS or
// its budget.
func TestFormatAlwaysParses(t *testing.T) {
	e, srv := newTestEngine(t, 512)
	db := srv.DBs[0]
	sch, err := jsonmask.Compile([]byte(testFormatSchema))
	if err != nil {
		t.Fatal(err)
	}
	minSchema := len(jsonmask.NewMatcher(sch).Completion())
	r := rand.New(rand.NewPCG(1, 1))
	reasons := map[string]int{}
	for round := range 12 {
		var jobs []*Job
		for i := range 6 {
			o := seeded(uint64(round*6+i), 0)
			o.Sampler.Temperature = 1.5
			if i%2 == 0 {
				o.Format, o.MaxTokens = jsonmask.AnyJSON(), 1+r.IntN(40)
			} else {
				o.Format, o.MaxTokens = sch, minSchema+r.IntN(60)
			}
			j := NewGen(db, fmt.Sprint("k", round, i), e.enc("Once upon a time"), true, o)
			e.queue(j)
			jobs = append(jobs, j)
		}
		run(e)
		for _, j := range jobs {
			if j.Err != nil {
				t.Fatal(j.Err)
			}
			reasons[j.StopReason]++
			if j.Opt.Format == sch {
				if err := validReply(j.Text); err != nil {
					t.Fatalf("seed %d, MAXTOKENS %d, %s: %q: %v", j.Opt.Sampler.Seed, j.Opt.MaxTokens, j.StopReason, j.Text, err)
				}
			} else if !json.Valid(j.Text) {
				t.Fatalf("seed %d, MAXTOKENS %d, %s: %q is not JSON", j.Opt.Sampler.Seed, j.Opt.MaxTokens, j.StopReason, j.Text)
			}
		}
	}
	t.Logf("stop reasons %v", reasons)
}

// BenchmarkDecodeFormat: decode throughput of one GEN without a format,
// with JSON and with SCHEMA, in one run (the issue allows the constraint
// at most a 10% drop). The masks are cached per engine: the first reply
// of a format computes most of them, later ones mostly look them up;
// b.N replies are timed together.
func BenchmarkDecodeFormat(b *testing.B) {
	const perGen = 64
	sch, err := jsonmask.Compile([]byte(testFormatSchema))
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct {
		name   string
		format *jsonmask.Schema
	}{{"none", nil}, {"json", jsonmask.AnyJSON()}, {"schema", sch}} {
		b.Run("format="+f.name, func(b *testing.B) {
			e, db := benchEngine(b)
			prefillIDs(b, e, db, "s", 16)
			var tokens int
			var elapsed time.Duration
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				o := seeded(uint64(it), perGen)
				o.Format = f.format
				j := NewGen(db, "s", nil, false, o)
				e.queue(j)
				t0 := time.Now()
				run(e)
				elapsed += time.Since(t0)
				if j.Err != nil {
					b.Fatal(j.Err)
				}
				tokens += j.GeneratedTokens
				b.StopTimer()
				if err := e.Rollback(sess(b, db, "s"), 17); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(tokens)/elapsed.Seconds(), "tok/s")
			b.ReportMetric(float64(tokens)/float64(b.N), "tokens/reply")
		})
	}
}

// BenchmarkMaskCold: computing one state's mask over Qwen2's real
// vocabulary (151,936 tokens), as the first reply of a format does for each
// new state (later replies find it cached): inside a string (nearly every
// token allowed, each checked whole) and after an object's ':' (nearly
// every token refused at its first byte).
func BenchmarkMaskCold(b *testing.B) {
	f, err := gguf.Open("../infer/tokenizer/testdata/ggml-vocab-qwen2.gguf")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		b.Fatal(err)
	}
	n := tok.VocabSize()
	v := jsonmask.Vocab{Pieces: make([][]byte, n), EOG: make([]bool, n)}
	for id := range n {
		v.Pieces[id], v.EOG[id] = tok.Piece(int32(id)), tok.IsEOG(int32(id))
	}
	sch, err := jsonmask.Compile([]byte(testFormatSchema))
	if err != nil {
		b.Fatal(err)
	}
	// NewMasker alone (indexing the vocabulary, once per engine), to
	// subtract from the two below.
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			jsonmask.NewMasker(v)
		}
	})
	for _, st := range []struct{ name, prefix string }{{"in-string", `{"name":"ab`}, {"after-colon", `{"name":`}} {
		b.Run(st.name, func(b *testing.B) {
			m := jsonmask.NewMatcher(sch)
			if !m.Feed([]byte(st.prefix)) {
				b.Fatal("prefix refused")
			}
			for b.Loop() {
				k := jsonmask.NewMasker(v) // an empty cache: every Mask computes
				k.Mask(m, 1000)
			}
		})
	}
}
