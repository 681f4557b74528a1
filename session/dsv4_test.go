package session

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"reddwarf/infer"
	"reddwarf/models"
	"reddwarf/rdb"
	"reddwarf/server"
)

// roundTrip writes a session through View + WriteState and decodes it
// back through DecodeState + Decode.
func roundTrip(t testing.TB, c *Codec, s *Session) *Session {
	t.Helper()
	st, release, _, err := c.View(s)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = rdb.WriteState(&buf, st)
	release()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := rdb.DecodeState(buf.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Decode(dec)
	if err != nil {
		t.Fatal(err)
	}
	return v.(*Session)
}

func greedy(n int) GenOptions {
	o := DefaultGenOptions()
	o.MaxTokens = n
	o.Sampler.Temperature = 0
	return o
}

// A restored session equals the original (tokens, logits, checkpoints,
// RNG) and continues exactly: GEN "" TEMPERATURE 0 on it gives the same
// text as on an unrestarted fork, with f16 and f32 caches.
func TestDSV4RestoreContinuesExactly(t *testing.T) {
	for _, kv := range []string{"f32", "f16"} {
		m, err := infer.OpenBytes("stories260K", models.Stories260K, infer.Options{Threads: 2, Ctx: 512, KVType: kv})
		if err != nil {
			t.Fatal(err)
		}
		srv := server.New(server.NewConfig())
		e, _ := NewEngine(srv, srv.Config, m)
		srv.Register(e.Hooks())
		c, err := e.Codec()
		if err != nil {
			t.Fatal(err)
		}
		db := srv.DBs[0]
		gen(t, e, db, "a", "Once upon a time there was a dragon", greedy(40))
		sess(t, db, "a").SetCheckpoint("mid")
		gen(t, e, db, "a", " and", greedy(5))
		orig := sess(t, db, "a")
		got := roundTrip(t, c, orig)
		if !slices.Equal(got.State.Tokens(), orig.State.Tokens()) || !slices.Equal(got.State.Logits(), orig.State.Logits()) || got.RNG != orig.RNG {
			t.Fatalf("kv %s: restored state differs", kv)
		}
		if len(got.Checkpoints) != len(orig.Checkpoints) {
			t.Fatalf("kv %s: checkpoints %v, want %v", kv, got.Checkpoints, orig.Checkpoints)
		}
		db.Set("fork", server.NewValue(server.TypeKVState, orig.Clone()), false)
		db.Set("restored", server.NewValue(server.TypeKVState, got), false)
		a := gen(t, e, db, "fork", "", greedy(30))
		b := gen(t, e, db, "restored", "", greedy(30))
		if string(a.Text) != string(b.Text) {
			t.Fatalf("kv %s: fork continues %q, restored %q", kv, a.Text, b.Text)
		}
		if d := maxDiff(sess(t, db, "fork").State.Logits(), sess(t, db, "restored").State.Logits()); d != 0 {
			t.Fatalf("kv %s: logits differ by %g after 30 tokens", kv, d)
		}
		m.Close()
	}
}

// The view is copy-on-write: GEN goes on extending the session while the
// view is written, and the written state is the session as it was when
// the view was taken.
func TestDSV4ViewIsCopyOnWrite(t *testing.T) {
	e, srv := newTestEngine(t, 512)
	c, _ := e.Codec()
	db := srv.DBs[0]
	gen(t, e, db, "a", "The cat sat", greedy(30)) // 30+ tokens: a partial last page
	before := sess(t, db, "a").Clone().(*Session)
	st, release, _, err := c.View(sess(t, db, "a"))
	if err != nil {
		t.Fatal(err)
	}
	gen(t, e, db, "a", " on the mat", greedy(40))
	sess(t, db, "a").Rollback(e.Model, 5)
	gen(t, e, db, "a", " dog", greedy(20))
	var buf bytes.Buffer
	if _, err := rdb.WriteState(&buf, st); err != nil {
		t.Fatal(err)
	}
	release()
	dec, _ := rdb.DecodeState(buf.Bytes(), 0)
	v, err := c.Decode(dec)
	if err != nil {
		t.Fatal(err)
	}
	got := v.(*Session)
	if !slices.Equal(got.State.Tokens(), before.State.Tokens()) {
		t.Fatal("view tokens changed")
	}
	row1, row2 := make([]float32, before.State.Layout().Width()), make([]float32, before.State.Layout().Width())
	for pos := 0; pos < before.State.Len(); pos++ {
		for layer := 0; layer < before.State.Layout().Layers; layer++ {
			before.State.KVRow(layer, 1, pos, row1)
			got.State.KVRow(layer, 1, pos, row2)
			if !slices.Equal(row1, row2) {
				t.Fatalf("row layer %d pos %d changed under the view", layer, pos)
			}
		}
	}
}

// A state is refused by another model, saying why; a corrupt section
// layout is ErrCorrupt. Nothing panics.
func TestDSV4Refusals(t *testing.T) {
	e, srv := newTestEngine(t, 512)
	c, _ := e.Codec()
	gen(t, e, srv.DBs[0], "a", "Hello", greedy(5))
	st, release, _, _ := c.View(sess(t, srv.DBs[0], "a"))
	defer release()
	var buf bytes.Buffer
	rdb.WriteState(&buf, st)
	for name, change := range map[string]func(*rdb.State){
		"arch":        func(s *rdb.State) { s.Arch = "deepseek4" },
		"fingerprint": func(s *rdb.State) { s.Fingerprint++ },
		"context":     func(s *rdb.State) { s.Tokens = make([]int32, 600); s.Ctx = 1000 },
	} {
		dec, _ := rdb.DecodeState(buf.Bytes(), 0)
		change(dec)
		if _, err := c.Decode(dec); !errors.Is(err, rdb.ErrIncompatible) {
			t.Errorf("%s: %v, want ErrIncompatible", name, err)
		}
	}
	for name, change := range map[string]func(*rdb.State){
		"missing section": func(s *rdb.State) { s.Sections = s.Sections[1:] },
		"short section":   func(s *rdb.State) { s.Sections[0].Size--; s.Sections[0].Data = s.Sections[0].Data[1:] },
		"bad dtype":       func(s *rdb.State) { s.Sections[0].DType = 9 },
		"bad token":       func(s *rdb.State) { s.Tokens[0] = 1 << 20 },
		"checkpoint":      func(s *rdb.State) { s.Checkpoints = append(s.Checkpoints, rdb.Checkpoint{Name: "x", Pos: 1000}) },
	} {
		dec, _ := rdb.DecodeState(buf.Bytes(), 0)
		change(dec)
		if _, err := c.Decode(dec); !errors.Is(err, rdb.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// bench2000 builds a 2,000-token session of the embedded model (f16
// cache, the default) and its DSV4 bytes.
func bench2000(b *testing.B) (*infer.Model, *Codec, []int32, *Session, []byte) {
	m, err := infer.OpenBytes("stories260K", models.Stories260K, infer.Options{Ctx: 2048})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	toks := make([]int32, 2000)
	for i := range toks {
		toks[i] = int32(1 + (i*7919)%(m.Vocab()-1))
	}
	st := m.NewState()
	prefillAll(b, m, st, toks)
	live := NewSessions()
	c, _ := NewCodec(m, live)
	s := live.New(st, 1)
	view, release, _, _ := c.View(s)
	var buf bytes.Buffer
	rdb.WriteState(&buf, view)
	release()
	return m, c, toks, s, buf.Bytes()
}

func prefillAll(b *testing.B, m *infer.Model, st *infer.State, toks []int32) {
	for i := 0; i < len(toks); i += 512 {
		if err := m.Step([]infer.Seq{{State: st, Tokens: toks[i:min(i+512, len(toks))]}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDSV4Restore2000: decode and rebuild a 2,000-token session.
func BenchmarkDSV4Restore2000(b *testing.B) {
	_, c, _, _, data := bench2000(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		st, err := rdb.DecodeState(data, 0)
		if err != nil {
			b.Fatal(err)
		}
		v, err := c.Decode(st)
		if err != nil {
			b.Fatal(err)
		}
		v.Release()
	}
}

// BenchmarkDSV4Prefill2000 is the baseline: recompute the same session.
func BenchmarkDSV4Prefill2000(b *testing.B) {
	m, _, toks, _, _ := bench2000(b)
	for b.Loop() {
		st := m.NewState()
		prefillAll(b, m, st, toks)
		st.Release()
	}
}

// BenchmarkDSV4Save2000: view and write a 2,000-token session.
func BenchmarkDSV4Save2000(b *testing.B) {
	_, c, _, s, data := bench2000(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		view, release, _, _ := c.View(s)
		rdb.WriteState(discard{}, view)
		release()
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// A state moves between KV cache types of one model (the fingerprint
// leaves the cache type out): f32 rows load into an f16 cache, rounded.
func TestDSV4AcrossKVTypes(t *testing.T) {
	open := func(kv string) *infer.Model {
		m, err := infer.OpenBytes("stories260K", models.Stories260K, infer.Options{Threads: 1, Ctx: 256, KVType: kv})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	m32, m16 := open("f32"), open("f16")
	live := NewSessions()
	c32, _ := NewCodec(m32, live)
	c16, _ := NewCodec(m16, NewSessions())
	if c32.Fingerprint() != c16.Fingerprint() {
		t.Fatal("fingerprint depends on the KV cache type")
	}
	st := m32.NewState()
	if err := m32.Step([]infer.Seq{{State: st, Tokens: []int32{1, 300, 42, 7, 99}}}); err != nil {
		t.Fatal(err)
	}
	got := roundTrip(t, c32, live.New(st, 3)) // sanity: same model
	view, release, _, _ := c32.View(got)
	var buf bytes.Buffer
	rdb.WriteState(&buf, view)
	release()
	dec, _ := rdb.DecodeState(buf.Bytes(), 0)
	v, err := c16.Decode(dec)
	if err != nil {
		t.Fatal(err)
	}
	s16 := v.(*Session).State
	a, b := make([]float32, 32), make([]float32, 32)
	for pos := 0; pos < 5; pos++ {
		st.KVRow(2, 0, pos, a)
		s16.KVRow(2, 0, pos, b)
		for i := range a {
			if d := a[i] - b[i]; d > 1e-2 || d < -1e-2 {
				t.Fatalf("pos %d value %d: f32 %g, f16 %g", pos, i, a[i], b[i])
			}
		}
	}
}
