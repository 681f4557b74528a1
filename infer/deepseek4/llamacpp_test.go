package deepseek4

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"sort"
	"testing"

	"reddwarf/infer"
	"reddwarf/infer/gguf"
	"reddwarf/metalkit"
)

var writeF32 = flag.String("write-f32", "", "write the all-F32 copy of models/deepseek4-tiny.gguf to this `file` (input of tools/llamacpp-ref/dsv4.mjs)")

// allF32 returns the GGUF at path with every F16 tensor widened to F32
// (exact), the rest unchanged.
func allF32(t testing.TB, path string) []byte {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	g := gguf.NewWriter(&buf)
	for _, kv := range f.KVs {
		if kv.Key == "general.alignment" {
			continue
		}
		if err := g.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range f.Tensors {
		typ := ti.Type
		if typ == gguf.TypeF16 {
			typ = gguf.TypeF32
		}
		if err := g.AddTensor(ti.Name, typ, ti.Dims...); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for _, ti := range f.Tensors {
		data := f.TensorData(&ti)
		if ti.Type == gguf.TypeF16 {
			n := len(data) / 2
			m, _ := metalkit.NewMatrix(metalkit.F16, 1, n, data)
			v := make([]float32, n)
			m.Row(0, v)
			data, _ = metalkit.Quantize(metalkit.F32, v)
		}
		if err := g.WriteTensor(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// llamaCppRef is tools/llamacpp-ref/dsv4.mjs's output.
type llamaCppRef struct {
	Engine  string `json:"engine"`
	Prompts []struct {
		Tokens   []int32      `json:"tokens"`
		Logprobs [][]*float64 `json:"logprobs"`
	} `json:"prompts"`
}

func logSoftmaxRow(x []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - mx - math.Log(s)
	}
	return out
}

// TestLlamaCpp compares reddwarf with llama.cpp's own deepseek4 port
// (node-llama-cpp 3.21.1, CPU) on the tiny model with all-F32 weights and an
// F32 KV cache. llama.cpp does no FP8/FP4 round trips, so reddwarf runs with
// dsv4-numerics exact; the log-probs must agree within 1e-3 at every
// position of every sequence.
func TestLlamaCpp(t *testing.T) {
	if *writeF32 != "" {
		if err := os.WriteFile(*writeF32, allF32(t, "../../models/deepseek4-tiny.gguf"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	js, err := os.ReadFile("testdata/llamacpp-deepseek4-tiny.json")
	if err != nil {
		t.Fatal("the committed llama.cpp reference is missing (tools/llamacpp-ref writes it):", err)
	}
	var ref llamaCppRef
	if err := json.Unmarshal(js, &ref); err != nil {
		t.Fatal(err)
	}
	m := openTiny(t, "exact", "f32")
	V := m.Vocab()
	for si, p := range ref.Prompts {
		got := onePassLogits(t, m, p.Tokens, len(p.Tokens))
		worst, at := 0.0, 0
		for pos, row := range p.Logprobs {
			lp := logSoftmaxRow(got[pos*V : (pos+1)*V])
			for id, w := range row {
				if w == nil || *w < -30 {
					continue
				}
				if d := math.Abs(lp[id] - *w); d > worst {
					worst, at = d, pos
				}
			}
		}
		t.Logf("seq %d (%d tokens): max |Δ log-prob| %.3g at position %d", si, len(p.Tokens), worst, at)
		if worst > 1e-3 {
			t.Errorf("seq %d: log-probs differ from llama.cpp by %.3g at position %d", si, worst, at)
		}
	}
}

// TestLlamaCppQ2 compares the 2-bit tiny file (ds4's q2 mix) with
// llama.cpp on it (F32 KV cache, exact numerics). Both quantise activations
// before quantised matmuls, but differently (llama.cpp: Q8_0 blocks of 32
// for Q8_0, Q8_K for K-quants with its own rounding; reddwarf: Q8_0 / Q8_K
// with amax/127 scales), so the two differ at the activation-quantisation
// level, and this random 2-bit model amplifies such noise: reddwarf on
// this file against reddwarf on its dequantised all-F32 copy (float
// activations everywhere) differs by as much (median 0.15, max 1.62), and
// widening the F16 tensors for llama.cpp changes nothing (median 0.144).
// A layout error in IQ2_XXS/Q2_K would leave top-1 agreement near chance. Measured: per-position max |Δ log-prob|
// median 0.146, max 1.69, top-1 agreement 793/893 (88.8%); the test bounds
// median < 0.2 and top-1 ≥ 85%.
func TestLlamaCppQ2(t *testing.T) {
	js, err := os.ReadFile("testdata/llamacpp-deepseek4-tiny-q2.json")
	if err != nil {
		t.Fatal("the committed llama.cpp reference is missing (tools/llamacpp-ref writes it):", err)
	}
	var ref llamaCppRef
	if err := json.Unmarshal(js, &ref); err != nil {
		t.Fatal(err)
	}
	m, err := infer.Open("../../models/deepseek4-tiny-q2.gguf", infer.Options{Threads: 2, KVType: "f32", Numerics: "exact"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Its Q8_0 attention and shared-expert weights run repacked, as
	// llama's do, wherever the CPU's kernels have a repacked layout: this
	// comparison covers that path too.
	if l := m.Arch().(*model).w.layers[2]; metalkit.Repack(l.qA).Repacked() != l.qA.Repacked() && !l.qA.Repacked() {
		t.Errorf("attn_q_a (%v) is not repacked although this CPU's kernels have a layout for it", l.qA.Type)
	}
	V := m.Vocab()
	var diffs []float64
	agree, n := 0, 0
	worst := 0.0
	for _, p := range ref.Prompts {
		got := onePassLogits(t, m, p.Tokens, len(p.Tokens))
		for pos, row := range p.Logprobs {
			lp := logSoftmaxRow(got[pos*V : (pos+1)*V])
			best, bestRef := 0, 0
			var d float64
			for id, w := range row {
				if lp[id] > lp[best] {
					best = id
				}
				if w == nil {
					continue
				}
				if row[bestRef] == nil || *w > *row[bestRef] {
					bestRef = id
				}
				if *w > -20 {
					d = math.Max(d, math.Abs(lp[id]-*w))
				}
			}
			diffs = append(diffs, d)
			worst = math.Max(worst, d)
			if best == bestRef {
				agree++
			}
			n++
		}
	}
	sort.Float64s(diffs)
	med := diffs[len(diffs)/2]
	t.Logf("q2: per-position max |Δ log-prob| median %.3g, max %.3g; top-1 agreement %d/%d", med, worst, agree, n)
	if med > 0.2 || agree*100 < 85*n {
		t.Errorf("q2 vs llama.cpp: median %.3g, top-1 %d/%d", med, agree, n)
	}
}
