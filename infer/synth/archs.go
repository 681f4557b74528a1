package synth

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"

	"reddwarf/infer/gguf"
)

// ArchShape is the shape of a synthetic model of any architecture (Model):
// llama's Shape and what the others add.
type ArchShape struct {
	Shape
	HeadDim     int // attention.key_length; 0 = Dim/Heads
	Experts     int // qwen3moe: expert_count
	ExpertsUsed int // qwen3moe: expert_used_count
	ExpertFFN   int // qwen3moe: expert_feed_forward_length
	Window      int // gemma3: attention.sliding_window
	Pattern     int // gemma3: attention.sliding_window_pattern (every Pattern-th layer is global)
}

// ArchShapes are the shapes Model knows, per architecture other than llama
// (Shapes). "tiny"
// is for the reference tests; the others are the bodies of released models
// (random weights), for benchmarks.
var ArchShapes = map[string]map[string]ArchShape{
	"qwen2": {
		"tiny": {Shape: Shape{Name: "tiny", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, Ctx: 512, Tied: true}},
		"0.5b": {Shape: Shape{Name: "0.5b", Dim: 896, Layers: 24, Heads: 14, KVHeads: 2, FFN: 4864, Ctx: 4096, Tied: true}},
	},
	"qwen3": {
		"tiny": {Shape: Shape{Name: "tiny", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, Ctx: 512, Tied: true}, HeadDim: 32},
		"0.6b": {Shape: Shape{Name: "0.6b", Dim: 1024, Layers: 28, Heads: 16, KVHeads: 8, FFN: 3072, Ctx: 4096, Tied: true}, HeadDim: 128},
	},
	"qwen3moe": {
		"tiny": {Shape: Shape{Name: "tiny", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, Ctx: 512, Tied: true}, HeadDim: 32,
			Experts: 8, ExpertsUsed: 2, ExpertFFN: 32},
	},
	"phi3": {
		"tiny": {Shape: Shape{Name: "tiny", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, Ctx: 512}},
	},
	"gemma3": {
		"tiny": {Shape: Shape{Name: "tiny", Dim: 64, Layers: 3, Heads: 4, KVHeads: 2, FFN: 128, Ctx: 512, Tied: true}, HeadDim: 32,
			Window: 8, Pattern: 3},
		"1b": {Shape: Shape{Name: "1b", Dim: 1152, Layers: 26, Heads: 4, KVHeads: 1, FFN: 6912, Ctx: 4096, Tied: true}, HeadDim: 256,
			Window: 512, Pattern: 6},
	},
}

// synthKind says how a synthetic tensor is filled.
type synthKind int

const (
	synthWeight synthKind = iota // N(0, std²), in the weight type
	synthNorm                    // F32 1 + N(0, 0.1²): norms whose weights matter
	synthBias                    // F32 N(0, std²)
)

// synthSpec is one tensor of a synthetic model.
type synthSpec struct {
	name string
	dims []uint64 // GGUF order: cols first
	kind synthKind
}

// Model writes a random-weight GGUF v3 model of architecture arch
// (qwen2, qwen3, qwen3moe, phi3, gemma3; llama goes to Llama) with the
// shape sh and opt's weight type, vocabulary, seed and noise; the same
// arguments give the same bytes. Norm weights are 1 plus small noise, so a
// norm applied with the wrong weights shows in the logits.
func Model(w io.Writer, arch string, sh ArchShape, opt Options) error {
	if arch == "llama" {
		opt.Shape = sh.Shape
		return Llama(w, opt)
	}
	if _, ok := ArchShapes[arch]; !ok {
		return fmt.Errorf("synth: architecture %q not supported", arch)
	}
	if opt.Std == 0 {
		opt.Std = 0.02
	}
	toks, ok := opt.Vocab.Strings("tokenizer.ggml.tokens")
	if !ok || len(toks) == 0 {
		return fmt.Errorf("synth: vocab file has no tokenizer.ggml.tokens")
	}
	ft, ok := fileTypes[opt.Quant]
	if !ok {
		return fmt.Errorf("synth: weight type %v not supported", opt.Quant)
	}
	hd := sh.HeadDim
	if hd == 0 {
		hd = sh.Dim / sh.Heads
	}

	g := gguf.NewWriter(w)
	type kv struct {
		k string
		v any
	}
	kvs := []kv{
		{"general.architecture", arch},
		{"general.name", fmt.Sprintf("reddwarf-synth-%s-%s-%s", arch, sh.Name, strings.ToLower(opt.Quant.String()))},
		{"general.file_type", ft},
	}
	a := func(k string, v any) { kvs = append(kvs, kv{arch + "." + k, v}) }
	a("context_length", uint32(sh.Ctx))
	a("embedding_length", uint32(sh.Dim))
	a("block_count", uint32(sh.Layers))
	a("feed_forward_length", uint32(sh.FFN))
	a("attention.head_count", uint32(sh.Heads))
	a("attention.head_count_kv", uint32(sh.KVHeads))
	a("attention.key_length", uint32(hd))
	a("attention.value_length", uint32(hd))
	a("attention.layer_norm_rms_epsilon", float32(1e-6))
	a("rope.dimension_count", uint32(hd))
	switch arch {
	case "qwen2", "qwen3", "qwen3moe":
		a("rope.freq_base", float32(1e6))
	case "phi3":
		a("rope.freq_base", float32(1e4))
	case "gemma3":
		a("rope.freq_base", float32(1e6))
		a("rope.freq_base_swa", float32(1e4))
		a("attention.sliding_window", uint32(sh.Window))
		a("attention.sliding_window_pattern", uint32(sh.Pattern))
	}
	if arch == "qwen3moe" {
		a("expert_count", uint32(sh.Experts))
		a("expert_used_count", uint32(sh.ExpertsUsed))
		a("expert_feed_forward_length", uint32(sh.ExpertFFN))
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

	// The tensor list, in file order.
	d, v := uint64(sh.Dim), uint64(len(toks))
	q, kvd, ffn := uint64(sh.Heads*hd), uint64(sh.KVHeads*hd), uint64(sh.FFN)
	specs := []synthSpec{{"token_embd.weight", []uint64{d, v}, synthWeight}, {"output_norm.weight", []uint64{d}, synthNorm}}
	if !sh.Tied {
		specs = append(specs, synthSpec{"output.weight", []uint64{d, v}, synthWeight})
	}
	for i := 0; i < sh.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		t := func(name string, kind synthKind, dims ...uint64) {
			specs = append(specs, synthSpec{p + name, dims, kind})
		}
		t("attn_norm.weight", synthNorm, d)
		if arch == "phi3" {
			t("attn_qkv.weight", synthWeight, d, q+2*kvd)
		} else {
			t("attn_q.weight", synthWeight, d, q)
			t("attn_k.weight", synthWeight, d, kvd)
			t("attn_v.weight", synthWeight, d, kvd)
		}
		if arch == "qwen2" {
			t("attn_q.bias", synthBias, q)
			t("attn_k.bias", synthBias, kvd)
			t("attn_v.bias", synthBias, kvd)
		}
		if arch == "qwen3" || arch == "qwen3moe" || arch == "gemma3" {
			t("attn_q_norm.weight", synthNorm, uint64(hd))
			t("attn_k_norm.weight", synthNorm, uint64(hd))
		}
		t("attn_output.weight", synthWeight, q, d)
		if arch == "gemma3" {
			t("post_attention_norm.weight", synthNorm, d)
		}
		t("ffn_norm.weight", synthNorm, d)
		switch arch {
		case "qwen3moe":
			e, ef := uint64(sh.Experts), uint64(sh.ExpertFFN)
			t("ffn_gate_inp.weight", synthWeight, d, e)
			t("ffn_gate_exps.weight", synthWeight, d, ef, e)
			t("ffn_up_exps.weight", synthWeight, d, ef, e)
			t("ffn_down_exps.weight", synthWeight, ef, d, e)
		case "phi3":
			t("ffn_up.weight", synthWeight, d, 2*ffn)
			t("ffn_down.weight", synthWeight, ffn, d)
		default:
			t("ffn_gate.weight", synthWeight, d, ffn)
			t("ffn_up.weight", synthWeight, d, ffn)
			t("ffn_down.weight", synthWeight, ffn, d)
		}
		if arch == "gemma3" {
			t("post_ffw_norm.weight", synthNorm, d)
		}
	}

	for _, s := range specs {
		typ := opt.Quant
		if s.kind != synthWeight {
			typ = gguf.TypeF32
		}
		if err := g.AddTensor(s.name, typ, s.dims...); err != nil {
			return err
		}
	}
	if err := g.WriteHeader(); err != nil {
		return err
	}
	for i, s := range specs {
		var data []byte
		switch s.kind {
		case synthWeight:
			rows := 1
			for _, n := range s.dims[1:] {
				rows *= int(n)
			}
			var err error
			if data, err = tensorData(opt.Quant, rows, int(s.dims[0]), false, opt.Std, opt.Seed, uint64(i)); err != nil {
				return fmt.Errorf("synth: %s: %w", s.name, err)
			}
		case synthNorm:
			data = synthF32(int(s.dims[0]), 1, 0.1, opt.Seed, uint64(i))
		case synthBias:
			data = synthF32(int(s.dims[0]), 0, opt.Std, opt.Seed, uint64(i))
		}
		if err := g.WriteTensor(data); err != nil {
			return err
		}
	}
	return g.Close()
}

// synthF32 returns n F32 values mean + N(0, std²) from the PCG stream
// (seed, index).
func synthF32(n int, mean, std float64, seed, index uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, index<<32))
	out := make([]byte, 0, 4*n)
	for range n {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(mean+rng.NormFloat64()*std)))
	}
	return out
}
