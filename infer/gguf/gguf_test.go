package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"testing"
)

const (
	storiesPath  = "../../models/stories260K.gguf"
	deepseekPath = "../tokenizer/testdata/ggml-vocab-deepseek-llm.gguf"
	gpt2Path     = "../../models/ggml-vocab-gpt-2.gguf"
)

func mustOpen(t testing.TB, path string) *File {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestStories260K(t *testing.T) {
	f := mustOpen(t, storiesPath)
	if f.Version != 3 || len(f.Tensors) != 48 || f.DataOffset != 14176 || f.Alignment != 32 || f.Size != 1185376 {
		t.Fatalf("header: version %d, %d tensors, data offset %d, alignment %d, size %d",
			f.Version, len(f.Tensors), f.DataOffset, f.Alignment, f.Size)
	}
	wantKeys := []string{"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
		"tokenizer.ggml.model", "general.architecture", "general.name", "tokenizer.ggml.unknown_token_id",
		"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.seperator_token_id",
		"tokenizer.ggml.padding_token_id", "llama.context_length", "llama.embedding_length",
		"llama.feed_forward_length", "llama.attention.head_count", "llama.attention.head_count_kv",
		"llama.block_count", "llama.rope.dimension_count", "llama.attention.layer_norm_rms_epsilon"}
	if len(f.KVs) != len(wantKeys) {
		t.Fatalf("%d KVs, want %d", len(f.KVs), len(wantKeys))
	}
	for i, k := range wantKeys {
		if f.KVs[i].Key != k {
			t.Errorf("KV %d is %q, want %q", i, f.KVs[i].Key, k)
		}
	}
	if a := f.Architecture(); a != "llama" {
		t.Errorf("architecture %q", a)
	}
	toks, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(toks) != 512 || toks[1] != "<s>" || toks[3] != "<0x00>" || toks[259] != "▁t" {
		t.Errorf("tokens: ok %v len %d", ok, len(toks))
	}
	scores, ok := f.Float32s("tokenizer.ggml.scores")
	if !ok || len(scores) != 512 || scores[511] != -252 {
		t.Errorf("scores: ok %v len %d", ok, len(scores))
	}
	types, ok := f.Int32s("tokenizer.ggml.token_type")
	if !ok || types[0] != 2 || types[1] != 3 || types[3] != 6 || types[300] != 1 {
		t.Errorf("token types: ok %v", ok)
	}
	if u, ok := f.Uint("tokenizer.ggml.seperator_token_id"); !ok || u != math.MaxUint32 {
		t.Errorf("seperator: %d %v", u, ok)
	}
	if u, ok := f.Uint("llama.block_count"); !ok || u != 5 {
		t.Errorf("block_count: %d %v", u, ok)
	}
	if e, ok := f.Float("llama.attention.layer_norm_rms_epsilon"); !ok || math.Abs(e-1e-5) > 1e-9 {
		t.Errorf("eps: %g %v", e, ok)
	}
	if _, ok := f.Float("general.name"); ok {
		t.Error("Float of a string succeeded")
	}
	if _, ok := f.Uint("nope"); ok {
		t.Error("missing key found")
	}
	var total uint64
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if ti.Type != TypeF32 {
			t.Errorf("%s: type %s", ti.Name, ti.Type)
		}
		if got := uint64(len(f.TensorData(ti))); got != ti.Size || ti.Size != ti.Elements()*4 {
			t.Errorf("%s: data %d bytes, size %d, elements %d", ti.Name, got, ti.Size, ti.Elements())
		}
		total += ti.Size
	}
	if total != 1171200 {
		t.Errorf("total tensor bytes %d", total)
	}
	q, ok := f.Tensor("blk.0.ffn_down.weight")
	if !ok || q.Offset != 355840 || q.Size != 44032 || len(q.Dims) != 2 || q.Dims[0] != 172 || q.Dims[1] != 64 {
		t.Errorf("blk.0.ffn_down.weight: %+v", q)
	}
	last := f.Tensors[47]
	if f.DataOffset+last.Offset+last.Size != f.Size {
		t.Error("last tensor does not end at end of file")
	}
	// Parse over the same bytes gives the same result.
	data, err := os.ReadFile(storiesPath)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.TensorData(&g.Tensors[0]), f.TensorData(&f.Tensors[0])) {
		t.Error("Parse and Open disagree")
	}
}

func TestVocabOnly(t *testing.T) {
	for _, c := range []struct {
		path   string
		n      int
		kvs    int
		arch   string
		merges int
	}{
		{deepseekPath, 102400, 23, "llama", 99757},
		{gpt2Path, 50257, 16, "gpt2", 50000},
	} {
		f := mustOpen(t, c.path)
		toks, _ := f.Strings("tokenizer.ggml.tokens")
		merges, _ := f.Strings("tokenizer.ggml.merges")
		if len(f.Tensors) != 0 || len(toks) != c.n || len(f.KVs) != c.kvs || f.Architecture() != c.arch || len(merges) != c.merges {
			t.Errorf("%s: %d tensors, %d tokens, %d KVs, arch %q, %d merges", c.path, len(f.Tensors), len(toks), len(f.KVs), f.Architecture(), len(merges))
		}
		if m, _ := f.String("tokenizer.ggml.model"); m != "gpt2" {
			t.Errorf("%s: model %q", c.path, m)
		}
	}
}

// builder writes GGUF files for tests.
type builder struct{ bytes.Buffer }

func (b *builder) u32(v uint32) { binary.Write(b, binary.LittleEndian, v) }
func (b *builder) u64(v uint64) { binary.Write(b, binary.LittleEndian, v) }
func (b *builder) str(s string) { b.u64(uint64(len(s))); b.WriteString(s) }

// small builds a valid file: 3 KVs and 2 tensors (a Q8_0 [64,2] and an F32 [3]).
func small() []byte {
	var b builder
	b.u32(Magic)
	b.u32(3)
	b.u64(2) // tensors
	b.u64(3) // kvs
	b.str("general.architecture")
	b.u32(uint32(ValueString))
	b.str("llama")
	b.str("a.list")
	b.u32(uint32(ValueArray))
	b.u32(uint32(ValueInt32))
	b.u64(2)
	b.u32(7)
	b.u32(0xffffffff)
	b.str("a.flag")
	b.u32(uint32(ValueBool))
	b.WriteByte(1)
	b.str("q")
	b.u32(2)
	b.u64(64)
	b.u64(2)
	b.u32(uint32(TypeQ8_0))
	b.u64(0)
	b.str("n")
	b.u32(1)
	b.u64(3)
	b.u32(uint32(TypeF32))
	b.u64(160) // 136 rounded up to 32
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	b.Write(make([]byte, 160+12))
	return b.Bytes()
}

func TestSmall(t *testing.T) {
	f, err := Parse(small())
	if err != nil {
		t.Fatal(err)
	}
	q, _ := f.Tensor("q")
	if q.Size != 2*2*34 || q.Elements() != 128 {
		t.Errorf("q: %+v", q)
	}
	if v, ok := f.Int32s("a.list"); !ok || v[0] != 7 || v[1] != -1 {
		t.Errorf("a.list %v", v)
	}
	if _, ok := f.Uints("a.list"); ok {
		t.Error("Uints accepted a negative element")
	}
	if b, ok := f.Bool("a.flag"); !ok || !b {
		t.Error("a.flag")
	}
}

// TestTruncations parses every proper prefix of a small valid file: each must
// fail with ErrTruncated (never panic, never succeed).
func TestTruncations(t *testing.T) {
	data := small()
	for n := 0; n < len(data); n++ {
		_, err := Parse(data[:n:n])
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("prefix %d: err %v, want ErrTruncated", n, err)
		}
	}
}

func TestTruncatedStories(t *testing.T) {
	data, err := os.ReadFile(storiesPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 3, 4, 8, 23, 24, 100, 5000, 14175, 14176, len(data) - 1} {
		if _, err := Parse(data[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix %d: %v", n, err)
		}
	}
	_, err = Parse(data[:len(data)-1])
	if want := `gguf: tensor "blk.4.ffn_norm.weight": data [1185120,1185376) past end of file (size 1185375)`; err == nil || err.Error()[:len(want)] != want {
		t.Errorf("error text: %v", err)
	}
}

func TestBadInputs(t *testing.T) {
	le := binary.LittleEndian
	patch := func(off int, v uint64, n int) []byte {
		d := small()
		switch n {
		case 4:
			le.PutUint32(d[off:], uint32(v))
		case 8:
			le.PutUint64(d[off:], v)
		}
		return d
	}
	// Offsets in small(): 0 magic, 4 version, 8 n_tensors, 16 n_kv, 24 key len,
	// 32 "general.architecture", 52 value type, 56 string len.
	keyLen := 24
	arrStart := 56 + 8 + 5 + 8 + 6 // after first KV and second key
	arrCount := arrStart + 4 + 4
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"magic", patch(0, 0x12345678, 4), ErrBadMagic},
		{"v1", patch(4, 1, 4), ErrVersion},
		{"v4", patch(4, 4, 4), ErrVersion},
		{"bigendian", patch(4, 3<<24, 4), ErrVersion},
		{"huge tensor count", patch(8, 1<<40, 8), ErrTruncated},
		{"huge kv count", patch(16, 1<<62, 8), ErrTruncated},
		{"huge string", patch(keyLen, 1<<60, 8), ErrTruncated},
		{"huge array", patch(arrCount, 1<<40, 8), ErrTruncated},
		{"value type", patch(52, 99, 4), ErrCorrupt},
		{"array elem type", patch(arrStart+4, 77, 4), ErrCorrupt},
		{"nested array", patch(arrStart+4, uint64(ValueArray), 4), ErrCorrupt},
	}
	for _, c := range cases {
		_, err := Parse(c.data)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	// Tensor record errors: find the first tensor record ("q") and damage it.
	d := small()
	qAt := bytes.Index(d, []byte{1, 0, 0, 0, 0, 0, 0, 0, 'q'})
	dims := qAt + 9
	tensorCases := []struct {
		name string
		off  int
		v    uint64
		n    int
		want error
	}{
		{"5 dims", dims, 5, 4, ErrTensor},
		{"dim overflow", dims + 4, 1 << 62, 8, ErrTooLarge},
		{"unknown type", dims + 4 + 16, 4, 4, ErrTensor},
		{"misaligned", dims + 4 + 16 + 4, 3, 8, ErrTensor},
		{"row not multiple of block", dims + 4, 33, 8, ErrTensor},
		{"past eof", dims + 4 + 16 + 4, 1 << 20, 8, ErrTruncated},
	}
	for _, c := range tensorCases {
		d := small()
		if c.n == 4 {
			le.PutUint32(d[c.off:], uint32(c.v))
		} else {
			le.PutUint64(d[c.off:], c.v)
		}
		_, err := Parse(d)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestTypeTable(t *testing.T) {
	if TypeQ4_K.String() != "Q4_K" || TypeBF16.String() != "BF16" || Type(4).String() != "type(4)" {
		t.Error("names")
	}
	if TypeQ8_0.BlockSize() != 32 || TypeQ8_0.BlockBytes() != 34 || TypeQ6_K.BlockBytes() != 210 || Type(99).BlockBytes() != 0 {
		t.Error("geometry")
	}
	if ValueUint32.String() != "UINT32" {
		t.Error("value type names")
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("testdata/does-not-exist.gguf"); err == nil {
		t.Error("missing file opened")
	}
	p := t.TempDir() + "/tiny"
	os.WriteFile(p, []byte("GGUF"), 0o644)
	if _, err := Open(p); !errors.Is(err, ErrTruncated) {
		t.Errorf("tiny file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(small())
	if d, err := os.ReadFile(storiesPath); err == nil {
		// The header alone, and the header with its first tensor's data: the
		// whole 1.1 MB file makes a slow seed (minimising it stalls the fuzzer).
		f.Add(d[:14176])
		f.Add(d[:14176+131072])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			return
		}
		for i := range g.Tensors {
			ti := &g.Tensors[i]
			if uint64(len(g.TensorData(ti))) != ti.Size {
				t.Fatalf("tensor %q data length", ti.Name)
			}
		}
		for _, kv := range g.KVs {
			g.Uint(kv.Key)
			g.Float(kv.Key)
			g.Int32s(kv.Key)
			g.Uints(kv.Key)
			g.Float32s(kv.Key)
		}
	})
}

// TestCorruptValues damages one value at a time in files built from scratch.
func TestCorruptValues(t *testing.T) {
	build := func(kvs func(b *builder) int) []byte {
		var b builder
		b.u32(Magic)
		b.u32(3)
		b.u64(0)
		at := b.Len()
		b.u64(0)
		n := kvs(&b)
		d := b.Bytes()
		binary.LittleEndian.PutUint64(d[at:], uint64(n))
		return d
	}
	cases := []struct {
		name string
		kvs  func(b *builder) int
		want error
	}{
		{"duplicate key", func(b *builder) int {
			for range 2 {
				b.str("k")
				b.u32(uint32(ValueUint8))
				b.WriteByte(1)
			}
			return 2
		}, ErrCorrupt},
		{"bool 2", func(b *builder) int {
			b.str("k")
			b.u32(uint32(ValueBool))
			b.WriteByte(2)
			return 1
		}, ErrCorrupt},
		{"bool array 3", func(b *builder) int {
			b.str("k")
			b.u32(uint32(ValueArray))
			b.u32(uint32(ValueBool))
			b.u64(2)
			b.WriteByte(1)
			b.WriteByte(3)
			return 1
		}, ErrCorrupt},
		{"alignment 48", func(b *builder) int {
			b.str("general.alignment")
			b.u32(uint32(ValueUint32))
			b.u32(48)
			return 1
		}, ErrCorrupt},
		{"alignment as u64", func(b *builder) int {
			b.str("general.alignment")
			b.u32(uint32(ValueUint64))
			b.u64(64)
			return 1
		}, ErrCorrupt},
		{"string array count", func(b *builder) int {
			b.str("k")
			b.u32(uint32(ValueArray))
			b.u32(uint32(ValueString))
			b.u64(3)
			b.str("a")
			return 1
		}, ErrTruncated},
	}
	for _, c := range cases {
		if _, err := Parse(build(c.kvs)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A well-formed file of every value type, read back through the accessors.
	d := build(func(b *builder) int {
		b.str("u8")
		b.u32(uint32(ValueUint8))
		b.WriteByte(200)
		b.str("i16")
		b.u32(uint32(ValueInt16))
		binary.Write(b, binary.LittleEndian, int16(-5))
		b.str("f64")
		b.u32(uint32(ValueFloat64))
		binary.Write(b, binary.LittleEndian, 2.5)
		b.str("u64s")
		b.u32(uint32(ValueArray))
		b.u32(uint32(ValueUint64))
		b.u64(2)
		b.u64(1)
		b.u64(1 << 40)
		b.str("f64s")
		b.u32(uint32(ValueArray))
		b.u32(uint32(ValueFloat64))
		b.u64(1)
		binary.Write(b, binary.LittleEndian, 0.5)
		return 5
	})
	f, err := Parse(d)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Uint("u8"); !ok || v != 200 {
		t.Errorf("u8 %d %v", v, ok)
	}
	if _, ok := f.Uint("i16"); ok {
		t.Error("Uint of a negative value succeeded")
	}
	if v, ok := f.Float("i16"); !ok || v != -5 {
		t.Errorf("Float(i16) %g %v", v, ok)
	}
	if v, ok := f.Float("f64"); !ok || v != 2.5 {
		t.Errorf("f64 %g %v", v, ok)
	}
	if _, ok := f.Uints("u64s"); ok {
		t.Error("Uints accepted 1<<40")
	}
	if v, ok := f.Int32s("u64s"); ok {
		t.Errorf("Int32s accepted 1<<40: %v", v)
	}
	if v, ok := f.Float32s("f64s"); !ok || v[0] != 0.5 {
		t.Errorf("Float32s of f64s: %v %v", v, ok)
	}
	if kv, _ := f.Get("u64s"); kv.Type != ValueArray || kv.ElemType != ValueUint64 {
		t.Errorf("u64s: %v %v", kv.Type, kv.ElemType)
	}
}
