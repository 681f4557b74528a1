package infer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"reddwarf/metalkit"
	"reddwarf/models"
)

// longPrompt is testPrompts[4] repeated past several pages.
func longPrompt() []int32 {
	var p []int32
	for len(p) < 3*PageTokens+7 {
		p = append(p, testPrompts[4]...)
	}
	return p[:3*PageTokens+7]
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// feedOneByOne feeds tokens one Step at a time and returns the logits after
// each.
func feedOneByOne(t *testing.T, m *Model, s *State, toks []int32) [][]float32 {
	t.Helper()
	var out [][]float32
	for _, tok := range toks {
		if err := m.Step([]Seq{{s, []int32{tok}}}); err != nil {
			t.Fatal(err)
		}
		out = append(out, slices.Clone(s.Logits()))
	}
	return out
}

// TestPrefillChunksMatchTokenByToken: one prefill, prefill in uneven
// chunks, and token-by-token give the same logits.
func TestPrefillChunksMatchTokenByToken(t *testing.T) {
	for _, kv := range []string{"f16", "f32"} {
		m := openStories(t, kv, 2)
		p := longPrompt()
		want := feedOneByOne(t, m, m.NewState(), p)

		whole := m.NewState()
		if err := m.Step([]Seq{{whole, p}}); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(whole.Logits(), want[len(p)-1]); d > 1e-4 {
			t.Errorf("kv %s: one-shot prefill differs from token-by-token by %g", kv, d)
		}

		chunked := m.NewState()
		for i, n := 0, 1; i < len(p); i, n = i+n, n+3 {
			end := min(len(p), i+n)
			if err := m.Step([]Seq{{chunked, p[i:end]}}); err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(chunked.Logits(), want[end-1]); d > 1e-4 {
				t.Errorf("kv %s: chunk ending at %d differs by %g", kv, end, d)
			}
			n = end - i
		}
		if !slices.Equal(chunked.Tokens(), p) {
			t.Errorf("kv %s: tokens after chunked prefill differ", kv)
		}
	}
}

// TestBatchedSessionsMatchAlone: sessions stepped together (one prefilling
// a chunk while others decode) get the same logits as each alone.
func TestBatchedSessionsMatchAlone(t *testing.T) {
	m := openStories(t, "f16", 2)
	prompts := [][]int32{longPrompt(), testPrompts[1], testPrompts[3], testPrompts[5]}
	alone := make([][][]float32, len(prompts))
	for i, p := range prompts {
		alone[i] = feedOneByOne(t, m, m.NewState(), p)
	}
	// Batched: session 0 prefills in chunks of 10 while the others go one
	// token a step, all in the same Step calls.
	states := make([]*State, len(prompts))
	for i := range states {
		states[i] = m.NewState()
	}
	pos := make([]int, len(prompts))
	for {
		var batch []Seq
		var idx []int
		for i, p := range prompts {
			if pos[i] == len(p) {
				continue
			}
			n := 1
			if i == 0 {
				n = min(10, len(p)-pos[i])
			}
			batch = append(batch, Seq{states[i], p[pos[i] : pos[i]+n]})
			idx = append(idx, i)
			pos[i] += n
		}
		if len(batch) == 0 {
			break
		}
		if err := m.Step(batch); err != nil {
			t.Fatal(err)
		}
		for _, i := range idx {
			if d := maxDiff(states[i].Logits(), alone[i][pos[i]-1]); d > 1e-4 {
				t.Fatalf("session %d at %d: batched logits differ by %g", i, pos[i], d)
			}
		}
	}
}

// TestTruncateRefeed: truncating and feeding the same tokens again gives
// identical logits; Rewind recomputes the logits at the cut.
func TestTruncateRefeed(t *testing.T) {
	m := openStories(t, "f16", 2)
	p := longPrompt()
	s := m.NewState()
	want := feedOneByOne(t, m, s, p)
	for _, n := range []int{len(p) - 1, 2*PageTokens + 3, 2 * PageTokens, PageTokens - 1, 1, 0} {
		if err := s.Truncate(n); err != nil {
			t.Fatal(err)
		}
		if s.Len() != n || s.Logits() != nil || s.Pages() != (n+PageTokens-1)/PageTokens {
			t.Fatalf("truncate %d: len %d, pages %d, logits %v", n, s.Len(), s.Pages(), s.Logits() != nil)
		}
		if err := m.Step([]Seq{{s, p[n:]}}); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(s.Logits(), want[len(p)-1]); d != 0 {
			t.Errorf("truncate %d + refeed: logits differ by %g", n, d)
		}
	}
	if err := m.Rewind(s, 40); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 40 || maxDiff(s.Logits(), want[39]) != 0 {
		t.Errorf("rewind to 40: len %d, logits differ by %g", s.Len(), maxDiff(s.Logits(), want[39]))
	}
	if err := s.Truncate(41); !errors.Is(err, ErrRange) {
		t.Errorf("truncate past the end: %v, want ErrRange", err)
	}
}

// TestCloneCopyOnWrite: a fork shares pages; each side then diverges
// without disturbing the other, including inside the shared partial page.
func TestCloneCopyOnWrite(t *testing.T) {
	m := openStories(t, "f16", 2)
	p := longPrompt()
	cut := 2*PageTokens + 5 // inside a page
	a := m.NewState()
	if err := m.Step([]Seq{{a, p[:cut]}}); err != nil {
		t.Fatal(err)
	}
	b := a.Clone()
	if b.Pages() != a.Pages() || a.pages[0] != b.pages[0] || a.pages[0].refs.Load() != 2 {
		t.Fatal("clone does not share pages")
	}
	// a continues with the prompt, b with something else, in one batch.
	other := []int32{1, 2, 3, 300, 301, 302, 303}
	if err := m.Step([]Seq{{a, p[cut:]}, {b, other}}); err != nil {
		t.Fatal(err)
	}
	if a.pages[2] == b.pages[2] || a.pages[0] != b.pages[0] {
		t.Error("partial page not copied on write, or full pages not shared")
	}
	wantA := feedOneByOne(t, m, m.NewState(), p)
	wantB := feedOneByOne(t, m, m.NewState(), append(slices.Clone(p[:cut]), other...))
	if d := maxDiff(a.Logits(), wantA[len(wantA)-1]); d > 1e-4 {
		t.Errorf("original after fork differs by %g", d)
	}
	if d := maxDiff(b.Logits(), wantB[len(wantB)-1]); d > 1e-4 {
		t.Errorf("fork differs by %g", d)
	}
	b.Release()
	if a.pages[0].refs.Load() != 1 {
		t.Errorf("after Release, shared page refs = %d, want 1", a.pages[0].refs.Load())
	}
}

// TestStepErrorsLeaveStatesUnchanged: a bad batch fails before any state
// changes.
func TestStepErrorsLeaveStatesUnchanged(t *testing.T) {
	m, err := OpenBytes("stories260K.gguf", models.Stories260K, Options{Threads: 1, Ctx: 40})
	if err != nil {
		t.Fatal(err)
	}
	a, b := m.NewState(), m.NewState()
	if err := m.Step([]Seq{{a, testPrompts[3]}, {b, testPrompts[1]}}); err != nil {
		t.Fatal(err)
	}
	la, lb := slices.Clone(a.Logits()), slices.Clone(b.Logits())
	ta, tb := slices.Clone(a.Tokens()), slices.Clone(b.Tokens())
	pa := a.Pages()
	long := make([]int32, 40)
	for _, c := range []struct {
		batch []Seq
		want  error
	}{
		{[]Seq{{a, []int32{5}}, {b, []int32{512}}}, ErrBadToken},
		{[]Seq{{a, []int32{5}}, {b, []int32{-1}}}, ErrBadToken},
		{[]Seq{{a, []int32{5}}, {b, long}}, ErrContextFull},
		{[]Seq{{a, []int32{5}}, {a, []int32{6}}}, ErrBadBatch},
		{[]Seq{{a, []int32{5}}, {b, nil}}, ErrBadBatch},
		{[]Seq{{a, []int32{5}}, {nil, []int32{1}}}, ErrBadBatch},
		{nil, ErrBadBatch},
		{[]Seq{{openStories(t, "f16", 1).NewState(), []int32{1}}}, ErrBadBatch}, // other model (ctx differs)
	} {
		if err := m.Step(c.batch); !errors.Is(err, c.want) {
			t.Errorf("batch %v: err %v, want %v", c.batch, err, c.want)
		}
		if !slices.Equal(a.Logits(), la) || !slices.Equal(b.Logits(), lb) ||
			!slices.Equal(a.Tokens(), ta) || !slices.Equal(b.Tokens(), tb) || a.Pages() != pa {
			t.Fatalf("batch %v changed a state", c.batch)
		}
	}
}

// TestOpenAndInfo: Open maps the file; Info lists the fields in order.
func TestOpenAndInfo(t *testing.T) {
	m, err := Open("../models/stories260K.gguf", Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var keys []string
	got := map[string]any{}
	for _, f := range m.Info() {
		keys = append(keys, f.Key)
		got[f.Key] = f.Value
	}
	wantKeys := []string{"architecture", "params", "quant", "ctx", "vocab", "bytes_mapped", "layers", "dim", "heads", "kv_heads", "name", "device"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("keys %v", keys)
	}
	want := map[string]any{"architecture": "llama", "params": int64(292800), "quant": "F32", "ctx": 2048, "vocab": 512,
		"bytes_mapped": int64(1185376), "layers": 5, "dim": 64, "heads": 8, "kv_heads": 4, "name": "llama", "device": "cpu"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], v)
		}
	}
	if _, err := Open("testdata/stories260K-greedy256.txt", Options{}); err == nil {
		t.Error("opened a text file as a model")
	}
	if _, err := OpenBytes("x", models.Stories260K, Options{KVType: "q8"}); err == nil {
		t.Error("accepted kv type q8")
	}
}

// TestOpenOnDevice: a model runs on the device Options names (Info says
// which, and the forward pass is the CPU path's to the bit); on a device
// that is not a HostDevice, an architecture without a device pass
// (gemma3) and an f32 KV cache are refused with ErrDevice.
func TestOpenOnDevice(t *testing.T) {
	pool := metalkit.NewPool(2)
	defer pool.Close()
	dev := metalkit.NewCPUDevice(pool)
	m, err := OpenBytes("stories", models.Stories260K, Options{Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Device() != dev || m.Threads() != 2 {
		t.Errorf("device %v threads %d, want the given device and its 2 threads", m.Device(), m.Threads())
	}
	ref := openStories(t, "f16", 1)
	s, rs := m.NewState(), ref.NewState()
	toks := []int32{1, 403, 407, 261, 378}
	if err := m.Step([]Seq{{s, toks}}); err != nil {
		t.Fatal(err)
	}
	if err := ref.Step([]Seq{{rs, toks}}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Logits(), rs.Logits()) {
		t.Error("logits on a given CPU device differ from the Model's own")
	}
	seam := metalkit.DeviceOnly(dev)
	_, err = OpenBytes("stories", models.Stories260K, Options{Device: seam, KVType: "f32"})
	if !errors.Is(err, ErrDevice) {
		t.Fatalf("an f32 KV cache on a device without host memory: err %v, want ErrDevice", err)
	}
	t.Log(err)
	_, err = OpenBytes("gemma3", synthArch(t, archCases[4]), Options{Device: seam})
	if !errors.Is(err, ErrDevice) {
		t.Fatalf("gemma3 on a device without host memory: err %v, want ErrDevice", err)
	}
	t.Log(err)
}

// TestRandomSessionOps runs a seeded random mix of batched steps, forks,
// truncations and releases over several sessions, and checks after every
// step that each session's logits equal a fresh token-by-token run over its
// tokens (pages shared and copied on write must never leak between forks).
func TestRandomSessionOps(t *testing.T) {
	const seed = 20261125
	rng := rand.New(rand.NewPCG(seed, 0))
	m := openStories(t, "f16", 2)
	fresh := map[string][]float32{} // token string → logits, memoised
	check := func(s *State) {
		key := fmt.Sprint(s.Tokens())
		want, ok := fresh[key]
		if !ok {
			f := m.NewState()
			if err := m.Step([]Seq{{f, slices.Clone(s.Tokens())}}); err != nil {
				t.Fatal(err)
			}
			want = slices.Clone(f.Logits())
			fresh[key] = want
		}
		if d := maxDiff(s.Logits(), want); d > 1e-4 {
			t.Fatalf("seed %d: logits after %d tokens differ by %g", seed, s.Len(), d)
		}
	}
	states := []*State{m.NewState()}
	if err := m.Step([]Seq{{states[0], []int32{1, 403}}}); err != nil {
		t.Fatal(err)
	}
	for op := 0; op < 150; op++ {
		i := rng.IntN(len(states))
		switch r := rng.IntN(10); {
		case r < 2 && len(states) < 6: // fork
			states = append(states, states[i].Clone())
		case r < 4 && states[i].Len() > 1: // roll back, keeping at least one token
			if err := m.Rewind(states[i], 1+rng.IntN(states[i].Len()-1)); err != nil {
				t.Fatal(err)
			}
		case r < 5 && len(states) > 1: // delete
			states[i].Release()
			states = slices.Delete(states, i, i+1)
		default: // one batched step over a random subset
			var batch []Seq
			for _, s := range states {
				if rng.IntN(3) == 0 || s.Len() > 200 {
					continue
				}
				n := 1
				if rng.IntN(4) == 0 {
					n = 1 + rng.IntN(2*PageTokens)
				}
				toks := make([]int32, n)
				for j := range toks {
					toks[j] = int32(3 + rng.IntN(509))
				}
				batch = append(batch, Seq{s, toks})
			}
			if len(batch) == 0 {
				continue
			}
			if err := m.Step(batch); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range states {
			check(s)
		}
	}
}

// TestRestoreState: a state rebuilt from its tokens, logits and KV rows
// continues exactly like the original.
func TestRestoreState(t *testing.T) {
	for _, kv := range []string{"f16", "f32"} {
		m := openStories(t, kv, 1)
		p := longPrompt()
		a := m.NewState()
		if err := m.Step([]Seq{{a, p[:50]}}); err != nil {
			t.Fatal(err)
		}
		b, err := m.RestoreState(a.Tokens(), a.Logits(), func(layer, kind, pos int, dst []float32) error {
			return a.KVRow(layer, kind, pos, dst)
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Logits(), b.Logits()) || !slices.Equal(a.Tokens(), b.Tokens()) {
			t.Fatalf("kv %s: restored state differs before stepping", kv)
		}
		if err := m.Step([]Seq{{a, p[50:60]}, {b, p[50:60]}}); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(a.Logits(), b.Logits()); d != 0 {
			t.Errorf("kv %s: restored state's logits differ by %g after 10 more tokens", kv, d)
		}
		if _, err := m.RestoreState([]int32{1, 600}, nil, nil); !errors.Is(err, ErrBadToken) {
			t.Errorf("restore with a bad token: %v", err)
		}
	}
}
