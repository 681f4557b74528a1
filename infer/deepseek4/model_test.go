package deepseek4

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"sort"
	"strings"
	"testing"

	"reddwarf/infer"
	"reddwarf/infer/gguf"
	"reddwarf/metalkit"
)

// The reference: tools/dsv4-ref/make_tiny.py ran transformers 5.17.0's
// DeepseekV4ForCausalLM (float32, CPU) on the random tiny model in
// models/deepseek4-tiny.gguf and wrote logits for three token sequences, in
// one pass and as prefill + single-token decode, with ds4's numerics patched
// in ("ds4") and without ("exact").
type reference struct {
	Sequences []struct {
		Tokens  []int32 `json:"tokens"`
		Prefill int     `json:"prefill"`
	} `json:"sequences"`
	Arrays []struct {
		Name   string `json:"name"`
		Shape  []int  `json:"shape"`
		Offset int    `json:"offset"`
	} `json:"arrays"`
	bin []byte
}

func loadRef(t testing.TB) *reference {
	t.Helper()
	js, err := os.ReadFile("testdata/deepseek4-ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatal(err)
	}
	if r.bin, err = os.ReadFile("testdata/deepseek4-ref.bin"); err != nil {
		t.Fatal(err)
	}
	return &r
}

// array returns a reference array's values and shape.
func (r *reference) array(t testing.TB, name string) ([]float32, []int) {
	t.Helper()
	for _, a := range r.Arrays {
		if a.Name != name {
			continue
		}
		n := 1
		for _, d := range a.Shape {
			n *= d
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.bin[a.Offset+4*i:]))
		}
		return out, a.Shape
	}
	t.Fatalf("reference array %s missing", name)
	return nil, nil
}

func openTiny(t testing.TB, numerics, kv string) *infer.Model {
	t.Helper()
	return openTinyOpt(t, infer.Options{Threads: 2, KVType: kv, Numerics: numerics})
}

func openTinyOpt(t testing.TB, opt infer.Options) *infer.Model {
	t.Helper()
	m, err := infer.Open("../../models/deepseek4-tiny.gguf", opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// onePassLogits feeds toks in chunks of chunk tokens and returns the logits
// at every position. Model.Step keeps only each chunk's last logits, so the
// test runs the architecture's forward itself, with every row's logits, on
// a State rebuilt for each chunk around the deepseek4 state so far.
func onePassLogits(t testing.TB, m *infer.Model, toks []int32, chunk int) []float32 {
	t.Helper()
	a := m.Arch().(*model)
	dev := m.Device().(metalkit.HostDevice)
	var cur *state
	var out []float32
	for i := 0; i < len(toks); i += chunk {
		j := min(len(toks), i+chunk)
		s, err := m.RestoreState(toks[:i], nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if cur != nil {
			*s.Ext().(*state) = *cur
		}
		all := make([][]float32, 1)
		a.forward(dev, []infer.Seq{{State: s, Tokens: toks[i:j]}}, all)
		cur = s.Ext().(*state)
		out = append(out, all[0]...)
	}
	return out
}

// diffStats returns the max and median over positions of max |a−b| per
// position row of width v, and the first position whose max exceeds tol.
func diffStats(a, b []float32, v int, tol float64) (mx, med float64, first int) {
	first = -1
	var rows []float64
	for p := 0; p*v < len(a); p++ {
		var d float64
		for i := p * v; i < (p+1)*v; i++ {
			d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		}
		rows = append(rows, d)
		if d > tol && first < 0 {
			first = p
		}
		mx = math.Max(mx, d)
	}
	sort.Float64s(rows)
	return mx, rows[len(rows)/2], first
}

// TestExactMatchesReference: with the FP8/FP4 round trips off and an
// f32 cache, reddwarf's logits at every position of every sequence match
// transformers' within 1e-3, in one pass, in odd prefill chunks and as
// prefill + decode.
func TestExactMatchesReference(t *testing.T) {
	ref := loadRef(t)
	m := openTiny(t, "exact", "f32")
	V := m.Vocab()
	for si, sq := range ref.Sequences {
		want, _ := ref.array(t, "exact/seq"+itoa(si)+"/onepass")
		for _, chunk := range []int{len(sq.Tokens), 37} {
			got := onePassLogits(t, m, sq.Tokens, chunk)
			mx, med, first := diffStats(got, want, V, 1e-3)
			t.Logf("seq %d chunk %d: max |Δ| %.3g, median %.3g", si, chunk, mx, med)
			if mx > 1e-3 {
				t.Errorf("seq %d chunk %d: max |Δlogit| %.3g (first over 1e-3 at position %d)", si, chunk, mx, first)
			}
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// stepLogits feeds toks through Model.Step: a prefill of n tokens, then one
// token at a time, and returns the logits at every position from the
// prefill's last on (earlier positions are zero).
func stepLogits(t testing.TB, m *infer.Model, toks []int32, n int) []float32 {
	t.Helper()
	V := m.Vocab()
	out := make([]float32, len(toks)*V)
	s := m.NewState()
	if err := m.Step([]infer.Seq{{State: s, Tokens: toks[:n]}}); err != nil {
		t.Fatal(err)
	}
	copy(out[(n-1)*V:], s.Logits())
	for p := n; p < len(toks); p++ {
		if err := m.Step([]infer.Seq{{State: s, Tokens: toks[p : p+1]}}); err != nil {
			t.Fatal(err)
		}
		copy(out[p*V:], s.Logits())
	}
	return out
}

// TestStepMatchesReference: the server's path (Model.Step, a prefill
// then single-token decode) matches the reference's prefill + decode run
// within 1e-3 at every decoded position (exact numerics, f32 cache).
func TestStepMatchesReference(t *testing.T) {
	ref := loadRef(t)
	m := openTiny(t, "exact", "f32")
	V := m.Vocab()
	for si, sq := range ref.Sequences {
		want, _ := ref.array(t, "exact/seq"+itoa(si)+"/stepwise")
		got := stepLogits(t, m, sq.Tokens, sq.Prefill)
		from := (sq.Prefill - 1) * V
		mx, med, first := diffStats(got[from:], want[from:], V, 1e-3)
		t.Logf("seq %d prefill %d + decode: max |Δ| %.3g, median %.3g", si, sq.Prefill, mx, med)
		if mx > 1e-3 {
			t.Errorf("seq %d: max |Δlogit| %.3g (first over 1e-3 at position %d)", si, mx, sq.Prefill-1+first)
		}
	}
}

// TestNumericsReference compares ds4 numerics (FP8 KV rows, Hadamard +
// FP4 indexer, f16 cache rows) with the patched reference. The round trips
// are discontinuous: a value within float32 noise of a rounding boundary
// (FP8 has 3 mantissa bits, FP4 one) rounds differently in two correct
// implementations, and the difference then spreads through the attention
// memory. The reference disagrees with itself that way: its one-pass and
// prefill + decode runs differ by up to 0.85 (tools/dsv4-ref/run.log), while
// without the round trips they agree to 5e-6. So the test asks (1) that
// before the first such boundary case (positions 0–8 of sequence 0) reddwarf
// matches within 1e-4, and (2) that reddwarf's greedy (top-1) token agrees
// with the reference's one-pass run at 85% of positions or more in each
// sequence, and over all sequences at most 5 points less often than the
// reference's own decode run does.
func TestNumericsReference(t *testing.T) {
	ref := loadRef(t)
	m := openTiny(t, "ds4", "f16")
	V := m.Vocab()
	var agreeAll, selfAll, n int
	for si, sq := range ref.Sequences {
		want, _ := ref.array(t, "ds4/seq"+itoa(si)+"/onepass")
		self, _ := ref.array(t, "ds4/seq"+itoa(si)+"/stepwise")
		got := onePassLogits(t, m, sq.Tokens, len(sq.Tokens))
		if si == 0 {
			if mx, _, first := diffStats(got[:9*V], want[:9*V], V, 1e-4); mx > 1e-4 {
				t.Errorf("seq 0 positions 0-8: max |Δlogit| %.3g (first over 1e-4 at %d)", mx, first)
			}
		}
		a, b, c := argmaxRows(got, V), argmaxRows(want, V), argmaxRows(self, V)
		agree, selfAgree := 0, 0
		for i := range a {
			if a[i] == b[i] {
				agree++
			}
			if c[i] == b[i] {
				selfAgree++
			}
		}
		mx, med, _ := diffStats(got, want, V, 1e-3)
		t.Logf("seq %d: top-1 agreement %d/%d (reference decode vs one-pass %d/%d); max |Δ| %.3g median %.3g", si, agree, len(a), selfAgree, len(a), mx, med)
		if agree*100 < 85*len(a) {
			t.Errorf("seq %d: top-1 agreement %d/%d", si, agree, len(a))
		}
		agreeAll, selfAll, n = agreeAll+agree, selfAll+selfAgree, n+len(a)
	}
	if (selfAll-agreeAll)*100 > 5*n {
		t.Errorf("top-1 agreement %d/%d, reference's own %d/%d", agreeAll, n, selfAll, n)
	}
}

// argmaxRows returns the index of the largest value of each row of width v.
func argmaxRows(x []float32, v int) []int {
	var out []int
	for p := 0; p*v < len(x); p++ {
		b := 0
		for i := 1; i < v; i++ {
			if x[p*v+i] > x[p*v+b] {
				b = i
			}
		}
		out = append(out, b)
	}
	return out
}

// TestRollbackReplay: a 333-token session (longer than two HCA blocks,
// many CSA blocks and the sliding window) is rolled back to positions inside
// and across compression blocks; each rollback restores the nearest
// checkpoint, replays the tokens after it, and the session then continues
// with exactly the logits of an unrolled run. A fork continues independently.
func TestRollbackReplay(t *testing.T) {
	ref := loadRef(t)
	toks := ref.Sequences[1].Tokens
	for _, numerics := range []string{"ds4", "exact"} {
		m := openTinyOpt(t, infer.Options{Threads: 2, KVType: "f16", Numerics: numerics, CheckpointInterval: 64})
		V := m.Vocab()
		want := onePassLogits(t, m, toks, len(toks)) // the unrolled run
		s := m.NewState()
		for i := 0; i < len(toks); i += 50 {
			if err := m.Step([]infer.Seq{{State: s, Tokens: toks[i:min(len(toks), i+50)]}}); err != nil {
				t.Fatal(err)
			}
		}
		st := s.Ext().(*state)
		if len(st.checkpoints) == 0 {
			t.Fatalf("%s: no automatic checkpoints after %d tokens", numerics, len(toks))
		}
		fork := s.Clone()
		for _, n := range []int{300, 257, 256, 200, 130, 128, 127, 64, 5, 1} {
			if err := m.Rewind(s, n); err != nil {
				t.Fatal(err)
			}
			if s.Len() != n {
				t.Fatalf("%s: rewind to %d: length %d", numerics, n, s.Len())
			}
			if d := maxAbs(s.Logits(), want[(n-1)*V:n*V]); d != 0 {
				t.Errorf("%s: rewind to %d: logits differ from the unrolled run by %.3g", numerics, n, d)
			}
			// Continue a few tokens one by one.
			for p := n; p < min(len(toks), n+6); p++ {
				if err := m.Step([]infer.Seq{{State: s, Tokens: toks[p : p+1]}}); err != nil {
					t.Fatal(err)
				}
				if d := maxAbs(s.Logits(), want[p*V:(p+1)*V]); d != 0 {
					t.Errorf("%s: rewind to %d, then position %d: logits differ by %.3g", numerics, n, p, d)
				}
			}
			if err := m.Rewind(s, n); err != nil {
				t.Fatal(err)
			}
		}
		// The fork shares compressed-row pages with s, which meanwhile was
		// rolled back and refilled many times: rolled back itself, it
		// replays and continues exactly as the unrolled run.
		if err := m.Rewind(fork, 290); err != nil || fork.Len() != 290 {
			t.Fatalf("fork: %v, %d tokens", err, fork.Len())
		}
		for p := 290; p < len(toks); p++ {
			if err := m.Step([]infer.Seq{{State: fork, Tokens: toks[p : p+1]}}); err != nil {
				t.Fatal(err)
			}
			if d := maxAbs(fork.Logits(), want[p*V:(p+1)*V]); d != 0 {
				t.Errorf("%s: fork at position %d: logits differ by %.3g", numerics, p, d)
			}
		}
		// Different tokens in s after a rollback leave the fork's rows alone.
		if err := m.Step([]infer.Seq{{State: s, Tokens: toks[s.Len():200]}}); err != nil {
			t.Fatal(err)
		}
		other := append([]int32(nil), toks[:200]...)
		for i := 0; i < 100; i++ {
			other = append(other, int32((i*7)%V))
		}
		if err := m.Step([]infer.Seq{{State: s, Tokens: other[200:]}}); err != nil {
			t.Fatal(err)
		}
		if err := m.Rewind(fork, 260); err != nil {
			t.Fatal(err)
		}
		if d := maxAbs(fork.Logits(), want[259*V:260*V]); d != 0 {
			t.Errorf("%s: fork after the original diverged: logits differ by %.3g", numerics, d)
		}
		t.Logf("%s: state %d bytes after %d tokens, growth %.0f B/token (float32 rows)", numerics, fork.Bytes(), fork.Len(), m.Arch().(*model).GrowthBytesPerToken())
	}
}

func maxAbs(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestPersistRoundTrip: a session's deepseek4 state, encoded and
// restored into a state rebuilt from its tokens and logits, continues with
// the unrolled run's logits without replaying.
func TestPersistRoundTrip(t *testing.T) {
	ref := loadRef(t)
	toks := ref.Sequences[1].Tokens
	m := openTiny(t, "ds4", "f16")
	V := m.Vocab()
	want := onePassLogits(t, m, toks, len(toks))
	s := m.NewState()
	if err := m.Step([]infer.Seq{{State: s, Tokens: toks[:261]}}); err != nil {
		t.Fatal(err)
	}
	secs, err := s.Ext().(*state).Sections()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	for _, b := range secs {
		size += len(b.Data)
	}
	r, err := m.RestoreState(s.Tokens(), s.Logits(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Ext().(*state).RestoreSections(r.Len(), secs); err != nil {
		t.Fatal(err)
	}
	if st := r.Ext().(*state); st.n != 261 {
		t.Fatalf("restored state describes %d tokens", st.n)
	}
	for p := 261; p < len(toks); p++ {
		if err := m.Step([]infer.Seq{{State: r, Tokens: toks[p : p+1]}}); err != nil {
			t.Fatal(err)
		}
		if d := maxAbs(r.Logits(), want[p*V:(p+1)*V]); d != 0 {
			t.Fatalf("position %d after restore: logits differ by %.3g", p, d)
		}
	}
	// A truncated section is an error naming it.
	secs[3].Data = secs[3].Data[:4]
	r2, _ := m.RestoreState(s.Tokens(), s.Logits(), nil)
	if err := r2.Ext().(*state).RestoreSections(r2.Len(), secs); err == nil || !strings.Contains(err.Error(), "section kind") {
		t.Errorf("truncated section: error %v", err)
	}
	t.Logf("%d sections, %d bytes for 261 tokens", len(secs), size)
}

// TestLoaderErrors: a missing tensor, a wrong shape and bad metadata are
// errors that name the tensor or key and what was expected.
func TestLoaderErrors(t *testing.T) {
	src, err := os.ReadFile("../../models/deepseek4-tiny.gguf")
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	// rewrite copies the tiny model, renaming, reshaping or dropping tensors
	// and replacing metadata values.
	rewrite := func(rename map[string]string, reshape map[string][]uint64, meta map[string]any) []byte {
		var buf bytes.Buffer
		g := gguf.NewWriter(&buf)
		for _, kv := range f.KVs {
			if kv.Key == "general.alignment" {
				continue
			}
			v := kv.Value
			if nv, ok := meta[kv.Key]; ok {
				if nv == nil {
					continue
				}
				v = nv
			}
			if err := g.AddKV(kv.Key, v); err != nil {
				t.Fatal(err)
			}
		}
		var keep []gguf.TensorInfo
		for _, ti := range f.Tensors {
			name, dims := ti.Name, ti.Dims
			if n, ok := rename[name]; ok {
				name = n
			}
			if d, ok := reshape[ti.Name]; ok {
				dims = d
			}
			if name == "" {
				continue
			}
			if err := g.AddTensor(name, ti.Type, dims...); err != nil {
				t.Fatal(err)
			}
			keep = append(keep, ti)
		}
		if err := g.WriteHeader(); err != nil {
			t.Fatal(err)
		}
		for i := range keep {
			data := f.TensorData(&keep[i])
			if want := g.Tensors()[i].Size; uint64(len(data)) != want {
				data = make([]byte, want)
			}
			if err := g.WriteTensor(data); err != nil {
				t.Fatal(err)
			}
		}
		g.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"missing tensor", rewrite(map[string]string{"blk.2.indexer.proj.weight": ""}, nil, nil),
			"tensor blk.2.indexer.proj.weight missing (want shape [64 16])"},
		{"wrong shape", rewrite(nil, map[string][]uint64{"blk.1.attn_kv.weight": {64, 128}}, nil),
			"tensor blk.1.attn_kv.weight has shape [64 128], want [64 256]"},
		{"bad ratio", rewrite(nil, nil, map[string]any{"deepseek4.attention.compress_ratios": []uint32{0, 0, 8, 128, 4, 128}}),
			"layer 2 compress ratio 8, want 0, 4 or 128"},
		{"missing key", rewrite(nil, nil, map[string]any{"deepseek4.hyper_connection.count": nil}),
			"metadata deepseek4.hyper_connection.count missing"},
	} {
		_, err := infer.OpenBytes(tc.name, tc.file, infer.Options{Threads: 1})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

// TestBatchedDecode: three sessions advanced together in one Step each
// time (a prefill chunk of one beside decode tokens of the others, then
// batched decode) get exactly the logits they get alone.
func TestBatchedDecode(t *testing.T) {
	ref := loadRef(t)
	m := openTiny(t, "ds4", "f16")
	V := m.Vocab()
	var want [3][]float32
	for i := range want {
		want[i] = onePassLogits(t, m, ref.Sequences[i].Tokens[:200], 200)
	}
	st := []*infer.State{m.NewState(), m.NewState(), m.NewState()}
	// Seq 0 prefills 150 tokens while 1 and 2 prefill 20 and 1.
	pos := []int{150, 20, 1}
	batch := make([]infer.Seq, 3)
	for i := range batch {
		batch[i] = infer.Seq{State: st[i], Tokens: ref.Sequences[i].Tokens[:pos[i]]}
	}
	if err := m.Step(batch); err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 50; step++ {
		for i := range batch {
			if d := maxAbs(st[i].Logits(), want[i][(pos[i]-1)*V:pos[i]*V]); d != 0 {
				t.Fatalf("step %d seq %d at %d: logits differ from the solo run by %.3g", step, i, pos[i], d)
			}
			n := 1
			if i == 1 && step%10 == 0 {
				n = 5 // another short chunk mixed in
			}
			batch[i] = infer.Seq{State: st[i], Tokens: ref.Sequences[i].Tokens[pos[i] : pos[i]+n]}
			pos[i] += n
		}
		if err := m.Step(batch); err != nil {
			t.Fatal(err)
		}
	}
}
