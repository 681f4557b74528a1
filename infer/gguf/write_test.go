package gguf

import (
	"bytes"
	"testing"
)

// TestGGUFWriterRoundTrip: what the writer writes, the reader reads back.
func TestGGUFWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	g := NewWriter(&buf)
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
	if err := g.AddTensor("w", TypeQ8_0, 64, 3); err != nil {
		t.Fatal(err)
	}
	if err := g.AddTensor("n", TypeF32, 5); err != nil {
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
	f, err := Parse(buf.Bytes())
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
	if err := NewWriter(&buf).AddKV("bad", struct{}{}); err == nil {
		t.Error("AddKV accepted a struct")
	}
}
