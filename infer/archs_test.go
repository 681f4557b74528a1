package infer

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reddwarf/internal/testfile"
	"slices"
	"strings"
	"testing"

	"reddwarf/infer/gguf"
	"reddwarf/infer/synth"
	"reddwarf/infer/tokenizer"
	"reddwarf/metalkit"
	"reddwarf/models"
)

var writeArchs = flag.String("write-archs", "", "write the random-weight models of TestArchsLlamaCpp into `dir` (for tools/llamacpp-ref/archs.mjs) and stop")

// archCase is one architecture's reference test: a synthetic model (real
// vocabulary, random weights) and llama.cpp's log-probs for it.
type archCase struct {
	arch  string
	quant gguf.Type
	std   float64 // weight noise
	vocab string  // vocabulary GGUF (tokenizer.* copied into the model)
	ref   string  // testdata json written by tools/llamacpp-ref/archs.mjs
	tol   float64 // max |Δ log-prob| allowed
}

// archCases are the architectures checked against llama.cpp, in F32
// (tolerance 1e-2, as llama's F32 reference), with weights of std 0.25 so
// that the logits are far from uniform and every part of a block moves them
// (each one left out fails the test). Quantised weights are left to llama's
// references: at a std that makes the test sensitive, metalkit's and
// llama.cpp's different 8-bit activation rounding alone moves the log-probs
// by up to 0.25 (llama tiny, Q8_0, std 0.1); TestLoadSplit checks the
// quantised parts this file's architectures cut from one tensor.
var archCases = []archCase{
	{"qwen2", gguf.TypeF32, 0.25, "tokenizer/testdata/ggml-vocab-qwen2.gguf", "llamacpp-qwen2-tiny.json", 1e-2},
	{"qwen3", gguf.TypeF32, 0.25, "tokenizer/testdata/ggml-vocab-qwen2.gguf", "llamacpp-qwen3-tiny.json", 1e-2},
	{"qwen3moe", gguf.TypeF32, 0.25, "tokenizer/testdata/ggml-vocab-qwen2.gguf", "llamacpp-qwen3moe-tiny.json", 1e-2},
	{"phi3", gguf.TypeF32, 0.25, "tokenizer/testdata/ggml-vocab-phi-3.gguf", "llamacpp-phi3-tiny.json", 1e-2},
	{"gemma3", gguf.TypeF32, 0.25, "tokenizer/testdata/ggml-vocab-gemma-4.gguf.gz", "llamacpp-gemma3-tiny.json", 1e-2},
}

// synthArch builds case c's model: = reddwarf synth --arch ARCH --shape tiny
// --quant QUANT --std 0.25 --vocab VOCAB --seed 1.
func synthArch(t testing.TB, c archCase) []byte {
	t.Helper()
	vocab, err := gguf.Open(testfile.Path(t, c.vocab))
	if err != nil {
		t.Fatal(err)
	}
	defer vocab.Close()
	var b bytes.Buffer
	if err := synth.Model(&b, c.arch, synth.ArchShapes[c.arch]["tiny"], synth.Options{Quant: c.quant, Vocab: vocab, Seed: 1, Std: c.std}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// archRef is a json written by tools/llamacpp-ref/archs.mjs.
type archRef struct {
	Engine  string
	SHA256  string
	Vocab   int
	Prompts []struct {
		Text     string
		Tokens   []int32
		Logprobs [][][2]*float64 // [position] → [id, log-prob] pairs; log-prob null where it underflowed
	}
}

// TestArchsLlamaCpp: for every architecture, the tokenizer gives llama.cpp's
// ids for each reference text, and every next-token log-prob that the
// reference keeps (a sample of ids plus the 16 most probable), at every
// position, is within the case's tolerance of llama.cpp's: fed one token at
// a time, and again as one prefill of the whole prompt.
func TestArchsLlamaCpp(t *testing.T) {
	if *writeArchs != "" {
		for _, c := range archCases {
			path := filepath.Join(*writeArchs, strings.TrimPrefix(strings.TrimSuffix(c.ref, ".json"), "llamacpp-")+".gguf")
			if err := os.WriteFile(path, synthArch(t, c), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", path)
		}
		t.Skip("models written; regenerate the references with tools/llamacpp-ref/archs.mjs")
	}
	for _, c := range archCases {
		t.Run(c.ref, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/" + c.ref)
			if err != nil {
				t.Fatal(err)
			}
			var ref archRef
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			model := synthArch(t, c)
			if sum := fmt.Sprintf("%x", sha256.Sum256(model)); sum != ref.SHA256 {
				t.Fatalf("model sha256 %s, reference made from %s: regenerate it (tools/llamacpp-ref/README.md)", sum, ref.SHA256)
			}
			m, err := OpenBytes(c.arch, model, Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Vocab() != ref.Vocab {
				t.Fatalf("vocab %d, reference %d", m.Vocab(), ref.Vocab)
			}
			tok, err := m.Tokenizer()
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float64, m.Vocab())
			worst, compared := 0.0, 0
			check := func(pi, i int, logits []float32) {
				LogSoftmax(got, logits)
				for _, pair := range ref.Prompts[pi].Logprobs[i] {
					if pair[0] == nil || pair[1] == nil {
						continue
					}
					id, want := int(*pair[0]), *pair[1]
					d := math.Abs(got[id] - want)
					if d > c.tol {
						t.Fatalf("prompt %d position %d token %d: log-prob %.5f, llama.cpp %.5f", pi, i, id, got[id], want)
					}
					worst = math.Max(worst, d)
					compared++
				}
			}
			for pi, p := range ref.Prompts {
				enc := tok.Encode(p.Text, tokenizer.EncodeOptions{AddBOS: true, ParseSpecial: true})
				if !slices.Equal(enc, p.Tokens) {
					t.Fatalf("prompt %d %q: tokens %v, llama.cpp %v", pi, p.Text, enc, p.Tokens)
				}
				// One token at a time.
				s := m.NewState()
				for i, id := range p.Tokens {
					if err := m.Step([]Seq{{s, []int32{id}}}); err != nil {
						t.Fatal(err)
					}
					check(pi, i, s.Logits())
				}
				// One prefill: the last position's logits.
				s2 := m.NewState()
				if err := m.Step([]Seq{{s2, p.Tokens}}); err != nil {
					t.Fatal(err)
				}
				check(pi, len(p.Tokens)-1, s2.Logits())
			}
			t.Logf("%s: %d log-probs compared, max |Δ| = %.3g", ref.Engine, compared, worst)
		})
	}
}

// TestArchsWrongFile: a file whose architecture name is swapped for one of
// the same length is refused with an error naming the architecture and the
// tensor: a qwen2 file read as qwen3 lacks the head norms, and a qwen3 file
// read as qwen2 has tensors qwen2 would silently ignore.
func TestArchsWrongFile(t *testing.T) {
	vocab, err := gguf.Parse(models.Stories260K)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, want string }{
		{"qwen2", "qwen3", "qwen3: tensor blk.0.attn_q_norm.weight missing"},
		{"qwen3", "qwen2", "qwen2: tensor blk.0.attn_q_norm.weight is not part of this architecture"},
	} {
		var b bytes.Buffer
		if err := synth.Model(&b, c.from, synth.ArchShapes[c.from]["tiny"], synth.Options{Quant: gguf.TypeQ8_0, Vocab: vocab, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		file := b.Bytes()
		f, err := gguf.Parse(file)
		if err != nil {
			t.Fatal(err)
		}
		// Only the header: keys, the architecture's value and the name.
		head := file[:f.DataOffset]
		copy(head, bytes.ReplaceAll(head, []byte(c.from), []byte(c.to)))
		if _, err := OpenBytes(c.to, file, Options{Threads: 1}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s read as %s: error %v, want %q", c.from, c.to, err, c.want)
		}
	}
}

// TestLoadSplit: the parts loadSplit cuts from one quantised tensor (phi3's
// fused Q/K/V, a 3-D expert tensor) hold exactly the rows of the whole, for
// Q8_0 and for Q4_K (which the kernels may repack per part).
func TestLoadSplit(t *testing.T) {
	for _, c := range []struct {
		typ  gguf.Type
		cols int
		dims []uint64
		rows []int
	}{
		{gguf.TypeQ8_0, 64, []uint64{64, 48}, []int{32, 8, 8}},
		{gguf.TypeQ8_0, 64, []uint64{64, 5, 4}, []int{5, 5, 5, 5}},
		{gguf.TypeQ4_K, 256, []uint64{256, 64}, []int{32, 16, 16}},
		{gguf.TypeQ4_K, 256, []uint64{256, 16, 3}, []int{16, 16, 16}},
	} {
		n := 0
		for _, r := range c.rows {
			n += r
		}
		vals := make([]float32, n*c.cols)
		for i := range vals {
			vals[i] = float32(math.Sin(float64(i) * 0.37))
		}
		data, err := metalkit.Quantize(metalkit.DType(c.typ), vals)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		g := gguf.NewWriter(&b)
		if err := g.AddKV("general.architecture", "test"); err != nil {
			t.Fatal(err)
		}
		if err := g.AddTensor("t", c.typ, c.dims...); err != nil {
			t.Fatal(err)
		}
		if err := g.WriteHeader(); err != nil {
			t.Fatal(err)
		}
		if err := g.WriteTensor(data); err != nil {
			t.Fatal(err)
		}
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Parse(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		whole, err := metalkit.NewMatrix(metalkit.DType(c.typ), n, c.cols, data)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := loadSplit(f, "t", c.dims, c.rows, c.cols, true)
		if err != nil {
			t.Fatal(err)
		}
		want, got := make([]float32, c.cols), make([]float32, c.cols)
		off := 0
		for pi, p := range parts {
			for r := 0; r < c.rows[pi]; r++ {
				whole.Row(off+r, want)
				p.Row(r, got)
				if !slices.Equal(got, want) {
					t.Fatalf("%v %v: part %d row %d differs from row %d of the whole", c.typ, c.dims, pi, r, off+r)
				}
			}
			off += c.rows[pi]
		}
		if _, err := loadSplit(f, "t", []uint64{c.dims[0], 1}, []int{1}, c.cols, true); err == nil {
			t.Errorf("%v %v: wrong dims accepted", c.typ, c.dims)
		}
	}
}

// FuzzOpenArchs: a mutated model file of any architecture either fails to
// open with an error or opens and runs a step; nothing panics. Seeds: each
// architecture's tiny model with the 512-token stories260K vocabulary.
func FuzzOpenArchs(f *testing.F) {
	vocab, err := gguf.Parse(models.Stories260K)
	if err != nil {
		f.Fatal(err)
	}
	for _, arch := range []string{"qwen2", "qwen3", "qwen3moe", "phi3", "gemma3"} {
		var b bytes.Buffer
		if err := synth.Model(&b, arch, synth.ArchShapes[arch]["tiny"], synth.Options{Quant: gguf.TypeQ8_0, Vocab: vocab, Seed: 1}); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := OpenBytes("fuzz", data, Options{Threads: 1, Ctx: 64})
		if err != nil {
			return
		}
		defer m.Close()
		s := m.NewState()
		if err := m.Step([]Seq{{s, []int32{0, int32(m.Vocab() - 1)}}}); err != nil {
			t.Fatalf("a model that opened failed a step: %v", err)
		}
	})
}
