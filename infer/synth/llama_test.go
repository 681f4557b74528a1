package synth_test

import (
	"bytes"
	"math"
	"os"
	"testing"

	"reddwarf/infer"
	"reddwarf/infer/gguf"
	"reddwarf/infer/synth"
	"reddwarf/models"
)

// TestLlamaLoads: synthetic llama models in each weight type load and run, are
// deterministic, and the quantised ones stay close to the f32 one.
func TestLlamaLoads(t *testing.T) {
	vocab, err := gguf.Parse(models.Stories260K)
	if err != nil {
		t.Fatal(err)
	}
	shape := synth.Shape{Name: "test", Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFN: 512, Ctx: 128}
	prompt := []int32{1, 50, 60, 70, 80, 90, 100}
	var ref []float32
	for _, q := range []gguf.Type{gguf.TypeF32, gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeF16, gguf.TypeQ4_0, gguf.TypeQ6_K, gguf.TypeBF16} {
		var a, b bytes.Buffer
		opt := synth.Options{Shape: shape, Quant: q, Vocab: vocab, Seed: 9}
		if err := synth.Llama(&a, opt); err != nil {
			t.Fatalf("%v: %v", q, err)
		}
		if err := synth.Llama(&b, opt); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("%v: synth not deterministic (%v)", q, err)
		}
		m, err := infer.OpenBytes("synth", a.Bytes(), infer.Options{Threads: 2})
		if err != nil {
			t.Fatalf("%v: %v", q, err)
		}
		s := m.NewState()
		if err := m.Step([]infer.Seq{{State: s, Tokens: prompt}}); err != nil {
			t.Fatal(err)
		}
		lp := make([]float64, m.Vocab())
		infer.LogSoftmax(lp, s.Logits())
		if q == gguf.TypeF32 {
			ref = append([]float32(nil), s.Logits()...)
			t.Logf("f32: max |logit| = %.3g", maxDiff(ref, make([]float32, len(ref))))
			continue
		}
		if d := maxDiff(s.Logits(), ref); d > 0.3 {
			t.Errorf("%v: logits differ from f32 by %g", q, d)
		} else {
			t.Logf("%v: max |Δ logit| vs f32 = %.3g", q, d)
		}
	}
}

// maxDiff is the largest |a[i] - b[i]|.
func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestDeepSeek4TinyQ2: DeepSeek4's tiny256 shape in ds4's 2-bit mix, seed
// 1, is byte for byte the committed models/deepseek4-tiny-q2.gguf (which
// infer/deepseek4's tests load), so a change to the writer or the
// quantisers shows up here.
func TestDeepSeek4TinyQ2(t *testing.T) {
	var buf bytes.Buffer
	if err := synth.DeepSeek4(&buf, synth.DeepSeek4Options{Shape: synth.DeepSeek4Shapes["tiny256"], Quant: "q2", Seed: 1}); err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile("../../models/deepseek4-tiny-q2.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), disk) {
		t.Errorf("synth.DeepSeek4 tiny256 q2 seed 1: %d bytes differing from models/deepseek4-tiny-q2.gguf (%d bytes); rewrite it with go test ./infer/deepseek4 -run SynthQ2 -write-q2 if the change is meant", buf.Len(), len(disk))
	}
}
