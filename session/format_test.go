package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

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
// with JSON and with SCHEMA (the issue allows the constraint at most a 10%
// drop). The three take turns within each iteration on one engine, so
// they see the same machine load, and each is timed apart; one untimed
// reply of each first fills the mask cache (a state's first mask is
// BenchmarkMaskCold's cost). Reports each format's tok/s and the
// constrained ones' ratio to the free one.
func BenchmarkDecodeFormat(b *testing.B) {
	const perGen = 64
	sch, err := jsonmask.Compile([]byte(testFormatSchema))
	if err != nil {
		b.Fatal(err)
	}
	formats := []struct {
		name   string
		format *jsonmask.Schema
	}{{"none", nil}, {"json", jsonmask.AnyJSON()}, {"schema", sch}}
	e, db := benchEngine(b)
	prefillIDs(b, e, db, "s", 16)
	tokens := make([]int, len(formats))
	elapsed := make([]time.Duration, len(formats))
	reply := func(it, f int) {
		o := seeded(uint64(it), perGen)
		o.Format = formats[f].format
		j := NewGen(db, "s", nil, false, o)
		e.queue(j)
		t0 := time.Now()
		run(e)
		elapsed[f] += time.Since(t0)
		if j.Err != nil {
			b.Fatal(j.Err)
		}
		tokens[f] += j.GeneratedTokens
		if err := e.Rollback(sess(b, db, "s"), 17); err != nil {
			b.Fatal(err)
		}
	}
	for f := range formats {
		reply(-1, f)
	}
	clear(tokens)
	clear(elapsed)
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for f := range formats {
			reply(it, f)
		}
	}
	rate := func(f int) float64 { return float64(tokens[f]) / elapsed[f].Seconds() }
	for f := range formats {
		b.ReportMetric(rate(f), formats[f].name+"-tok/s")
	}
	b.ReportMetric(rate(1)/rate(0), "json/none")
	b.ReportMetric(rate(2)/rate(0), "schema/none")
}

// TestFormatMarkers: a format whose literal text spells a control token
// (MaskSpelling: a forced tool call's markers) makes the model write that
// token, which only a prefix allows; with Markers the reply keeps its
// text, without it the text leaves it out, as for any control token.
func TestFormatMarkers(t *testing.T) {
	e, srv := newTestEngine(t, 512)
	db := srv.DBs[0]
	bos := e.Tok.Text(e.Tok.BOS())
	if got := e.MaskSpelling(bos + "call:"); got != "\x01"+bos+"call:" {
		t.Fatalf("MaskSpelling %q", got)
	}
	s, err := jsonmask.AnyJSON().WithPrefixes([]string{e.MaskSpelling(bos + "call:")}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, markers := range []bool{false, true} {
		o := seeded(7, 0)
		o.Format, o.MaxTokens, o.Markers = s, 40, markers
		j := gen(t, e, db, fmt.Sprint("m", markers), "Once upon a time", o)
		want := "call:"
		if markers {
			want = bos + want
		}
		rest, ok := bytes.CutPrefix(j.Text, []byte(want))
		if !ok || !json.Valid(rest) {
			t.Fatalf("Markers %v: reply %q, want %q and JSON", markers, j.Text, want)
		}
		if toks := sess(t, db, fmt.Sprint("m", markers)).State.Tokens(); toks[len(toks)-j.GeneratedTokens] != e.Tok.BOS() {
			t.Fatalf("the reply's first token is not the control token: %v", toks)
		}
	}
}

// TestFreeMemoryDropsMasks: the token masks a JSON reply cached count in
// INFO inference and go with the engine's FreeMemory hook (maxmemory),
// which reports their bytes as freed.
func TestFreeMemoryDropsMasks(t *testing.T) {
	e, srv := newTestEngine(t, 512)
	if n := e.Hooks().FreeMemory(); n != 0 || e.maskCacheBytes() != 0 {
		t.Fatalf("nothing cached yet: freed %d", n)
	}
	o := seeded(3, 0)
	o.Format, o.MaxTokens = jsonmask.AnyJSON(), 20
	gen(t, e, srv.DBs[0], "j", "Once upon a time", o)
	masks := e.maskCacheBytes()
	if masks == 0 || !slices.Contains(e.Info("inference"), fmt.Sprintf("format_mask_cache_bytes:%d", masks)) {
		t.Fatalf("format_mask_cache_bytes %d, INFO %q", masks, e.Info("inference"))
	}
	if n := e.Hooks().FreeMemory(); n < masks || e.maskCacheBytes() != 0 {
		t.Fatalf("FreeMemory freed %d of %d mask bytes, %d left", n, masks, e.maskCacheBytes())
	}
}
