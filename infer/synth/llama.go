package synth

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"

	"reddwarf/infer/gguf"
	"reddwarf/metalkit"
)

// Shape is the shape of a synthetic llama model.
type Shape struct {
	Name    string
	Dim     int
	Layers  int
	Heads   int
	KVHeads int
	FFN     int
	Ctx     int
	Tied    bool // no output.weight: the classifier reuses token_embd.weight
}

// Shapes are the shapes `reddwarf synth --shape` knows. "1b" is the
// Llama-3.2-1B body (dim 2048, 16 layers, 32/8 heads, FFN 8192, tied
// embeddings); "tiny" is a small untied model for quick tests. The
// vocabulary comes from the tokenizer file given to Llama.
var Shapes = map[string]Shape{
	"1b":   {Name: "1b", Dim: 2048, Layers: 16, Heads: 32, KVHeads: 8, FFN: 8192, Ctx: 4096, Tied: true},
	"tiny": {Name: "tiny", Dim: 256, Layers: 4, Heads: 8, KVHeads: 4, FFN: 768, Ctx: 2048},
}

// Options configure Llama.
type Options struct {
	Shape Shape
	Quant gguf.Type  // weight matrices: F32, F16, Q8_0, Q4_0, Q4_K, Q6_K ...
	Vocab *gguf.File // tokenizer.* metadata is copied from it
	Seed  uint64
	Std   float64 // weight noise standard deviation; 0 = 0.02
}

// fileTypes maps the weight type to general.file_type (llama_ftype).
var fileTypes = map[gguf.Type]uint32{
	gguf.TypeF32: 0, gguf.TypeF16: 1, gguf.TypeQ4_0: 2, gguf.TypeQ8_0: 7,
	gguf.TypeQ4_K: 14, gguf.TypeQ6_K: 18, gguf.TypeBF16: 32,
}

// Llama writes a random-weight llama GGUF v3 to w: weights are
// gaussian noise (so activations stay sane through RMSNorm), norms are 1,
// the tokenizer is copied from opt.Vocab. The same options give the same
// bytes. Tensors are generated and quantised one at a time, in parallel
// row chunks, so memory stays near the largest tensor.
func Llama(w io.Writer, opt Options) error {
	sh := opt.Shape
	if opt.Std == 0 {
		opt.Std = 0.02
	}
	toks, ok := opt.Vocab.Strings("tokenizer.ggml.tokens")
	if !ok || len(toks) == 0 {
		return fmt.Errorf("synth: vocab file has no tokenizer.ggml.tokens")
	}
	vocab := len(toks)
	hd := sh.Dim / sh.Heads
	ft, ok := fileTypes[opt.Quant]
	if !ok {
		return fmt.Errorf("synth: weight type %v not supported", opt.Quant)
	}

	g := gguf.NewWriter(w)
	kvs := []struct {
		k string
		v any
	}{
		{"general.architecture", "llama"},
		{"general.name", fmt.Sprintf("reddwarf-synth-%s-%s", sh.Name, strings.ToLower(opt.Quant.String()))},
		{"general.file_type", ft},
		{"llama.context_length", uint32(sh.Ctx)},
		{"llama.embedding_length", uint32(sh.Dim)},
		{"llama.block_count", uint32(sh.Layers)},
		{"llama.feed_forward_length", uint32(sh.FFN)},
		{"llama.attention.head_count", uint32(sh.Heads)},
		{"llama.attention.head_count_kv", uint32(sh.KVHeads)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"llama.rope.freq_base", float32(10000)},
		{"llama.rope.dimension_count", uint32(hd)},
		{"llama.vocab_size", uint32(vocab)},
	}
	for _, kv := range kvs {
		if err := g.AddKV(kv.k, kv.v); err != nil {
			return err
		}
	}
	for _, kv := range opt.Vocab.KVs {
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			if err := g.AddKV(kv.Key, kv.Value); err != nil {
				return err
			}
		}
	}

	// The tensor list, in file order: name, type, rows × cols (dims [cols, rows]).
	type spec struct {
		name       string
		typ        gguf.Type
		rows, cols int
		norm       bool // all ones
	}
	q := opt.Quant
	specs := []spec{{"token_embd.weight", q, vocab, sh.Dim, false}, {"output_norm.weight", gguf.TypeF32, 1, sh.Dim, true}}
	if !sh.Tied {
		specs = append(specs, spec{"output.weight", q, vocab, sh.Dim, false})
	}
	for i := 0; i < sh.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		specs = append(specs,
			spec{p + "attn_norm.weight", gguf.TypeF32, 1, sh.Dim, true},
			spec{p + "attn_q.weight", q, sh.Heads * hd, sh.Dim, false},
			spec{p + "attn_k.weight", q, sh.KVHeads * hd, sh.Dim, false},
			spec{p + "attn_v.weight", q, sh.KVHeads * hd, sh.Dim, false},
			spec{p + "attn_output.weight", q, sh.Dim, sh.Heads * hd, false},
			spec{p + "ffn_norm.weight", gguf.TypeF32, 1, sh.Dim, true},
			spec{p + "ffn_gate.weight", q, sh.FFN, sh.Dim, false},
			spec{p + "ffn_up.weight", q, sh.FFN, sh.Dim, false},
			spec{p + "ffn_down.weight", q, sh.Dim, sh.FFN, false},
		)
	}
	for _, s := range specs {
		var err error
		if s.rows == 1 && s.norm {
			err = g.AddTensor(s.name, s.typ, uint64(s.cols))
		} else {
			err = g.AddTensor(s.name, s.typ, uint64(s.cols), uint64(s.rows))
		}
		if err != nil {
			return err
		}
	}
	if err := g.WriteHeader(); err != nil {
		return err
	}
	for i, s := range specs {
		data, err := tensorData(s.typ, s.rows, s.cols, s.norm, opt.Std, opt.Seed, uint64(i))
		if err != nil {
			return fmt.Errorf("synth: %s: %w", s.name, err)
		}
		if err := g.WriteTensor(data); err != nil {
			return err
		}
	}
	return g.Close()
}

// tensorData returns rows × cols values of type typ: ones if norm, else
// N(0, std²) noise. Rows are generated in chunks, each from its own PCG
// stream (seed, tensor index, chunk), so the bytes don't depend on how many
// goroutines ran.
func tensorData(typ gguf.Type, rows, cols int, norm bool, std float64, seed, index uint64) ([]byte, error) {
	rb := metalkit.RowBytes(metalkit.DType(typ), cols)
	out := make([]byte, rows*rb)
	const chunkRows = 64
	chunks := (rows + chunkRows - 1) / chunkRows
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		firstEr error
		next    = make(chan int, chunks)
	)
	for c := 0; c < chunks; c++ {
		next <- c
	}
	close(next)
	for range min(runtime.NumCPU(), chunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float32, chunkRows*cols)
			for c := range next {
				r0, r1 := c*chunkRows, min(rows, (c+1)*chunkRows)
				vals := buf[:(r1-r0)*cols]
				rng := rand.New(rand.NewPCG(seed, index<<32|uint64(c)))
				for i := range vals {
					if norm {
						vals[i] = 1
					} else {
						vals[i] = float32(rng.NormFloat64() * std)
					}
				}
				b, err := metalkit.Quantize(metalkit.DType(typ), vals)
				if err != nil {
					mu.Lock()
					firstEr = err
					mu.Unlock()
					continue
				}
				copy(out[r0*rb:r1*rb], b)
			}
		}()
	}
	wg.Wait()
	return out, firstEr
}
