package infer

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"testing"

	"reddwarf/infer/gguf"
	"reddwarf/metalkit"
)

var writeDSV4F32 = flag.String("write-dsv4-f32", "", "write the all-F32 copy of models/deepseek4-tiny.gguf to this `file` (input of tools/llamacpp-ref/dsv4.mjs)")

// dsv4AllF32 returns the GGUF at path with every F16 tensor widened to F32
// (exact), the rest unchanged.
func dsv4AllF32(t testing.TB, path string) []byte {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	g := NewGGUFWriter(&buf)
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
		Tokens   []int32    `json:"tokens"`
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

// TestDSV4LlamaCpp compares reddwarf with llama.cpp's own deepseek4 port
// (node-llama-cpp 3.21.1, CPU) on the tiny model with all-F32 weights and an
// F32 KV cache. llama.cpp does no FP8/FP4 round trips, so reddwarf runs with
// dsv4-numerics exact; the log-probs must agree within 1e-3 at every
// position of every sequence.
func TestDSV4LlamaCpp(t *testing.T) {
	if *writeDSV4F32 != "" {
		if err := os.WriteFile(*writeDSV4F32, dsv4AllF32(t, "../models/deepseek4-tiny.gguf"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	js, err := os.ReadFile("testdata/llamacpp-deepseek4-tiny.json")
	if err != nil {
		t.Skip("no llama.cpp reference:", err)
	}
	var ref llamaCppRef
	if err := json.Unmarshal(js, &ref); err != nil {
		t.Fatal(err)
	}
	m := openDSV4Tiny(t, "exact", "f32")
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
