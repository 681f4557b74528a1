package infer

import (
	"bytes"
	"testing"

	"reddwarf/infer/gguf"
	"reddwarf/models"
)

// TestGGUFWriterRoundTrip: what the writer writes, the reader reads back.
func TestGGUFWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	g := NewGGUFWriter(&buf)
	kvs := []struct {
		k string
		v any
	}{
		{"a.u8", uint8(7)}, {"a.i32", int32(-3)}, {"a.f32", float32(1.5)}, {"a.bool", true},
		{"a.str", "héllo"}, {"a.u64", uint64(1) << 40}, {"a.f64", 2.25},
		{"a.strs", []string{"x", "", "yz"}}, {"a.i32s", []int32{1, -2, 3}}, {"a.f32s", []float32{0.5, -1}},
	}
	for _, kv := range kvs {
		if err := g.AddKV(kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.AddTensor("w", gguf.TypeQ8_0, 64, 3); err != nil {
		t.Fatal(err)
	}
	if err := g.AddTensor("n", gguf.TypeF32, 5); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	w := bytes.Repeat([]byte{1}, 3*2*34)
	n := []byte("0123456789abcdefghij")
	if err := g.WriteTensor(w); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteTensor(n); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.KVs) != len(kvs) {
		t.Fatalf("%d kvs read back, wrote %d", len(f.KVs), len(kvs))
	}
	if s, _ := f.String("a.str"); s != "héllo" {
		t.Errorf("a.str = %q", s)
	}
	if ss, _ := f.Strings("a.strs"); len(ss) != 3 || ss[2] != "yz" {
		t.Errorf("a.strs = %q", ss)
	}
	if v, _ := f.Uint("a.u64"); v != 1<<40 {
		t.Errorf("a.u64 = %d", v)
	}
	if v, _ := f.Float("a.f64"); v != 2.25 {
		t.Errorf("a.f64 = %v", v)
	}
	ti, ok := f.Tensor("n")
	if !ok || !bytes.Equal(f.TensorData(ti), n) || ti.Offset%32 != 0 {
		t.Errorf("tensor n: %+v", ti)
	}
	ti, ok = f.Tensor("w")
	if !ok || !bytes.Equal(f.TensorData(ti), w) || ti.Dims[0] != 64 || ti.Dims[1] != 3 {
		t.Errorf("tensor w: %+v", ti)
	}
	if err := NewGGUFWriter(&buf).AddKV("bad", struct{}{}); err == nil {
		t.Error("AddKV accepted a struct")
	}
}

// TestSynthLoads: synthetic models in each weight type load and run, are
// deterministic, and the quantised ones stay close to the f32 one.
func TestSynthLoads(t *testing.T) {
	vocab, err := gguf.Parse(models.Stories260K)
	if err != nil {
		t.Fatal(err)
	}
	shape := SynthShape{Name: "test", Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFN: 512, Ctx: 128}
	prompt := []int32{1, 50, 60, 70, 80, 90, 100}
	var ref []float32
	for _, q := range []gguf.Type{gguf.TypeF32, gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeF16, gguf.TypeQ4_0, gguf.TypeQ6_K, gguf.TypeBF16} {
		var a, b bytes.Buffer
		opt := SynthOptions{Shape: shape, Quant: q, Vocab: vocab, Seed: 9}
		if err := SynthLlama(&a, opt); err != nil {
			t.Fatalf("%v: %v", q, err)
		}
		if err := SynthLlama(&b, opt); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("%v: synth not deterministic (%v)", q, err)
		}
		m, err := OpenBytes("synth", a.Bytes(), Options{Threads: 2})
		if err != nil {
			t.Fatalf("%v: %v", q, err)
		}
		s := m.NewState()
		if err := m.Step([]Seq{{s, prompt}}); err != nil {
			t.Fatal(err)
		}
		lp := make([]float64, m.Vocab())
		LogSoftmax(lp, s.Logits())
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
