package synth

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"reddwarf/infer/gguf"
	"reddwarf/metalkit"
)

// DeepSeek4Shape is a deepseek4 configuration for synthetic models.
type DeepSeek4Shape struct {
	Name                               string
	Dim, Layers, Vocab, Heads, HeadDim int
	RopeDim, QLora, OGroups, OLora     int
	Experts, ExpertsUsed, FFN, Hash    int
	Window, IHeads, IDim, ITopK, Ctx   int
	Ratios                             []int // per layer; nil = ds4's schedule (0, 0, then 4 on even, 128 on odd layers)
}

// DeepSeek4Shapes are the synthetic deepseek4 shapes: "full" has DeepSeek V4
// Flash's real widths (spec §2.1) with the layer count left to the caller;
// "tiny256" is the smallest shape whose widths hold K-quant blocks (256).
var DeepSeek4Shapes = map[string]DeepSeek4Shape{
	"full": {Name: "full", Dim: 4096, Layers: 43, Vocab: 129280, Heads: 64, HeadDim: 512, RopeDim: 64,
		QLora: 1024, OGroups: 8, OLora: 1024, Experts: 256, ExpertsUsed: 6, FFN: 2048, Hash: 3,
		Window: 128, IHeads: 64, IDim: 128, ITopK: 512, Ctx: 1 << 20},
	"tiny256": {Name: "tiny256", Dim: 256, Layers: 4, Vocab: 256, Heads: 4, HeadDim: 128, RopeDim: 64,
		QLora: 64, OGroups: 2, OLora: 64, Experts: 8, ExpertsUsed: 2, FFN: 256, Hash: 3,
		Window: 8, IHeads: 8, IDim: 64, ITopK: 8, Ctx: 1024},
}

// DeepSeek4Options say what DeepSeek4 writes.
type DeepSeek4Options struct {
	Shape DeepSeek4Shape
	// Quant: "f32" (every matrix F32), or "q2", ds4's 2-bit mix (routed
	// gate/up IQ2_XXS, routed down Q2_K, attention/shared/output Q8_0,
	// embedding/HC/router/compressor/indexer F16).
	Quant string
	Seed  uint64
	// Fast writes random quantised blocks directly instead of quantising
	// random floats (full-width files for speed runs; values are still
	// bounded, logits meaningless).
	Fast bool
}

// ratios returns the per-layer compression ratios of a shape.
func (s DeepSeek4Shape) ratios() []int {
	if s.Ratios != nil {
		return s.Ratios
	}
	r := make([]int, s.Layers)
	for i := range r {
		switch {
		case i < 2:
			r[i] = 0
		case i%2 == 0:
			r[i] = 4
		default:
			r[i] = 128
		}
	}
	return r
}

// DeepSeek4 writes a random-weight deepseek4 GGUF with ds4's tensor names
// and metadata (plus the keys llama.cpp's deepseek4 loader needs).
func DeepSeek4(w io.Writer, opt DeepSeek4Options) error {
	s := opt.Shape
	rs := s.ratios()
	if len(rs) != s.Layers {
		return fmt.Errorf("synth deepseek4: %d ratios for %d layers", len(rs), s.Layers)
	}
	g := gguf.NewWriter(w)
	const a = "deepseek4."
	u := func(v int) uint32 { return uint32(v) }
	ratios := make([]uint32, len(rs))
	clamp := make([]float32, len(rs))
	for i, r := range rs {
		ratios[i], clamp[i] = uint32(r), 10
	}
	tokens := make([]string, s.Vocab)
	ttype := make([]int32, s.Vocab)
	for i := range tokens {
		if i < 256 {
			tokens[i] = string(rune(gpt2ByteRune(byte(i))))
		} else {
			tokens[i] = fmt.Sprintf("<t%d>", i)
		}
		ttype[i] = 1
	}
	orig := 64 // YaRN original context: the trained length over the factor 16
	if s.Ctx > 64*16 {
		orig = s.Ctx / 16
	}
	kvs := []struct {
		k string
		v any
	}{
		{"general.architecture", "deepseek4"}, {"general.name", "deepseek4 synthetic " + s.Name + " " + opt.Quant},
		{a + "context_length", u(s.Ctx)}, {a + "block_count", u(s.Layers)}, {a + "embedding_length", u(s.Dim)},
		{a + "vocab_size", u(s.Vocab)}, {a + "attention.head_count", u(s.Heads)}, {a + "attention.head_count_kv", u(1)},
		{a + "attention.key_length", u(s.HeadDim)}, {a + "attention.value_length", u(s.HeadDim)},
		{a + "rope.dimension_count", u(s.RopeDim)}, {a + "attention.q_lora_rank", u(s.QLora)},
		{a + "attention.output_lora_rank", u(s.OLora)}, {a + "attention.output_group_count", u(s.OGroups)},
		{a + "expert_count", u(s.Experts)}, {a + "expert_used_count", u(s.ExpertsUsed)},
		{a + "expert_feed_forward_length", u(s.FFN)}, {a + "expert_shared_count", u(1)},
		{a + "hash_layer_count", u(s.Hash)}, {a + "attention.sliding_window", u(s.Window)},
		{a + "attention.indexer.head_count", u(s.IHeads)}, {a + "attention.indexer.key_length", u(s.IDim)},
		{a + "attention.indexer.top_k", u(s.ITopK)}, {a + "hyper_connection.count", u(4)},
		{a + "hyper_connection.sinkhorn_iterations", u(20)}, {a + "attention.compress_ratios", ratios},
		{a + "swiglu_clamp_exp", clamp}, {a + "rope.scaling.type", "yarn"},
		{a + "rope.scaling.original_context_length", u(orig)}, {a + "rope.freq_base", float32(10000)},
		{a + "rope.scaling.factor", float32(16)}, {a + "rope.scaling.yarn_beta_fast", float32(32)},
		{a + "rope.scaling.yarn_beta_slow", float32(1)}, {a + "attention.compress_rope_freq_base", float32(160000)},
		{a + "expert_weights_scale", float32(1.5)}, {a + "attention.layer_norm_rms_epsilon", float32(1e-6)},
		{a + "hyper_connection.epsilon", float32(1e-6)}, {a + "expert_weights_norm", true},
		{a + "expert_gating_func", u(4)},
		{"tokenizer.ggml.model", "gpt2"}, {"tokenizer.ggml.pre", "deepseek-v3"},
		{"tokenizer.ggml.tokens", tokens}, {"tokenizer.ggml.token_type", ttype},
		{"tokenizer.ggml.merges", []string{}}, {"tokenizer.ggml.bos_token_id", u(0)}, {"tokenizer.ggml.eos_token_id", u(1)},
	}
	for _, kv := range kvs {
		if err := g.AddKV(kv.k, kv.v); err != nil {
			return err
		}
	}

	// Tensor plan: name, kind, GGUF dims (ne0 first).
	type tensor struct {
		name string
		kind byte // 'd' dense (Q8_0 in q2), 'h' half (F16), 'f' F32 vector, 'n' norm (F32 ≈ 1), 'g' gate/up experts, 'w' down experts, 'i' tid2eid, 'b' bias, 's' hc scale
		dims []uint64
	}
	D, W, H, mix := uint64(s.Dim), uint64(s.HeadDim), uint64(s.Heads), uint64(24)
	ts := []tensor{
		{"token_embd.weight", 'h', []uint64{D, uint64(s.Vocab)}},
		{"output_hc_base.weight", 'f', []uint64{4}},
		{"output_hc_fn.weight", 'h', []uint64{4 * D, 4}},
		{"output_hc_scale.weight", 's', []uint64{1}},
		{"output_norm.weight", 'n', []uint64{D}},
		{"output.weight", 'd', []uint64{D, uint64(s.Vocab)}},
	}
	for L, r := range rs {
		p := fmt.Sprintf("blk.%d.", L)
		c := uint64(1)
		if r == 4 {
			c = 2
		}
		ts = append(ts,
			tensor{p + "hc_attn_fn.weight", 'h', []uint64{4 * D, mix}},
			tensor{p + "hc_attn_scale.weight", 's', []uint64{3}},
			tensor{p + "hc_attn_base.weight", 'f', []uint64{mix}},
			tensor{p + "attn_norm.weight", 'n', []uint64{D}},
			tensor{p + "attn_q_a.weight", 'd', []uint64{D, uint64(s.QLora)}},
			tensor{p + "attn_q_a_norm.weight", 'n', []uint64{uint64(s.QLora)}},
			tensor{p + "attn_q_b.weight", 'd', []uint64{uint64(s.QLora), H * W}},
			tensor{p + "attn_kv.weight", 'd', []uint64{D, W}},
			tensor{p + "attn_kv_a_norm.weight", 'n', []uint64{W}},
			tensor{p + "attn_sinks.weight", 'f', []uint64{H}},
			tensor{p + "attn_output_a.weight", 'd', []uint64{H * W / uint64(s.OGroups), uint64(s.OGroups * s.OLora)}},
			tensor{p + "attn_output_b.weight", 'd', []uint64{uint64(s.OGroups * s.OLora), D}},
		)
		if r != 0 {
			ts = append(ts,
				tensor{p + "attn_compressor_ape.weight", 'h', []uint64{c * W, uint64(r)}},
				tensor{p + "attn_compressor_kv.weight", 'h', []uint64{D, c * W}},
				tensor{p + "attn_compressor_gate.weight", 'h', []uint64{D, c * W}},
				tensor{p + "attn_compressor_norm.weight", 'n', []uint64{W}})
		}
		if r == 4 {
			I := uint64(s.IDim)
			ts = append(ts,
				tensor{p + "indexer.attn_q_b.weight", 'h', []uint64{uint64(s.QLora), uint64(s.IHeads) * I}},
				tensor{p + "indexer.proj.weight", 'h', []uint64{D, uint64(s.IHeads)}},
				tensor{p + "indexer_compressor_ape.weight", 'h', []uint64{2 * I, 4}},
				tensor{p + "indexer_compressor_kv.weight", 'h', []uint64{D, 2 * I}},
				tensor{p + "indexer_compressor_gate.weight", 'h', []uint64{D, 2 * I}},
				tensor{p + "indexer_compressor_norm.weight", 'n', []uint64{I}})
		}
		ts = append(ts,
			tensor{p + "hc_ffn_fn.weight", 'h', []uint64{4 * D, mix}},
			tensor{p + "hc_ffn_scale.weight", 's', []uint64{3}},
			tensor{p + "hc_ffn_base.weight", 'f', []uint64{mix}},
			tensor{p + "ffn_norm.weight", 'n', []uint64{D}},
			tensor{p + "ffn_gate_inp.weight", 'h', []uint64{D, uint64(s.Experts)}})
		if L < s.Hash {
			ts = append(ts, tensor{p + "ffn_gate_tid2eid.weight", 'i', []uint64{uint64(s.ExpertsUsed), uint64(s.Vocab)}})
		} else {
			ts = append(ts, tensor{p + "exp_probs_b.bias", 'b', []uint64{uint64(s.Experts)}})
		}
		E, F := uint64(s.Experts), uint64(s.FFN)
		ts = append(ts,
			tensor{p + "ffn_gate_exps.weight", 'g', []uint64{D, F, E}},
			tensor{p + "ffn_up_exps.weight", 'g', []uint64{D, F, E}},
			tensor{p + "ffn_down_exps.weight", 'w', []uint64{F, D, E}},
			tensor{p + "ffn_gate_shexp.weight", 'd', []uint64{D, F}},
			tensor{p + "ffn_up_shexp.weight", 'd', []uint64{D, F}},
			tensor{p + "ffn_down_shexp.weight", 'd', []uint64{F, D}})
	}
	typeOf := func(kind byte) gguf.Type {
		q2 := opt.Quant == "q2"
		switch kind {
		case 'h':
			if q2 {
				return gguf.TypeF16
			}
		case 'd':
			if q2 {
				return gguf.TypeQ8_0
			}
		case 'g':
			if q2 {
				return gguf.Type(metalkit.IQ2_XXS)
			}
		case 'w':
			if q2 {
				return gguf.Type(metalkit.Q2_K)
			}
		case 'i':
			return gguf.TypeI32
		}
		return gguf.TypeF32
	}
	for _, t := range ts {
		if err := g.AddTensor(t.name, typeOf(t.kind), t.dims...); err != nil {
			return err
		}
	}
	if err := g.WriteHeader(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0xd5f4))
	for _, t := range ts {
		typ := typeOf(t.kind)
		row := int(t.dims[0])
		n := 1
		for _, d := range t.dims {
			n *= int(d)
		}
		rows := n / row
		var buf []byte
		switch {
		case t.kind == 'i':
			buf = make([]byte, 4*n)
			for r := 0; r < rows; r++ {
				perm := rng.Perm(s.Experts)
				for k := 0; k < row; k++ {
					binary.LittleEndian.PutUint32(buf[4*(r*row+k):], uint32(perm[k]))
				}
			}
		case opt.Fast && (typ == gguf.Type(metalkit.IQ2_XXS) || typ == gguf.Type(metalkit.Q2_K) || typ == gguf.TypeQ8_0):
			buf = fastBlocks(rng, metalkit.DType(typ), n, row)
		default:
			vals := make([]float32, row)
			rb := metalkit.RowBytes(metalkit.DType(typ), row)
			buf = make([]byte, 0, rows*rb)
			sd := float32(0.1)
			if t.kind == 'g' || t.kind == 'w' || t.kind == 'd' || t.kind == 'h' {
				sd = float32(1 / math.Sqrt(float64(row)))
			}
			for r := 0; r < rows; r++ {
				for i := range vals {
					switch t.kind {
					case 'n':
						vals[i] = 1 + 0.1*float32(rng.NormFloat64())
					case 's':
						vals[i] = 0.5 + rng.Float32()
					default:
						vals[i] = sd * float32(rng.NormFloat64())
					}
				}
				var q []byte
				switch metalkit.DType(typ) {
				case metalkit.IQ2_XXS:
					q = metalkit.QuantizeIQ2_XXS(vals)
				case metalkit.Q2_K:
					q = metalkit.QuantizeQ2_K(vals)
				default:
					var err error
					if q, err = metalkit.Quantize(metalkit.DType(typ), vals); err != nil {
						return fmt.Errorf("synth deepseek4: %s: %w", t.name, err)
					}
				}
				buf = append(buf, q...)
			}
		}
		if err := g.WriteTensor(buf); err != nil {
			return err
		}
	}
	return g.Close()
}

// fastBlocks returns n values of type t as random blocks with bounded
// scales (no quantisation): rows of row values.
func fastBlocks(rng *rand.Rand, t metalkit.DType, n, row int) []byte {
	bb, bs := t.BlockBytes(), t.BlockSize()
	buf := make([]byte, n/bs*bb)
	for i := 0; i+8 <= len(buf); i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], rng.Uint64())
	}
	d := metalkit.F32ToF16(float32(0.5 / math.Sqrt(float64(row))))
	for b := 0; b < n/bs; b++ {
		blk := buf[b*bb : (b+1)*bb]
		switch t {
		case metalkit.Q8_0:
			binary.LittleEndian.PutUint16(blk, metalkit.F32ToF16(float32(1/(127*math.Sqrt(float64(row))))))
		case metalkit.IQ2_XXS:
			binary.LittleEndian.PutUint16(blk, d)
		case metalkit.Q2_K:
			binary.LittleEndian.PutUint16(blk[80:], d)
			binary.LittleEndian.PutUint16(blk[82:], d)
		}
	}
	return buf
}

// gpt2ByteRune is the GPT-2 byte-level alphabet: printable Latin-1 bytes map
// to themselves, the other 68 to U+0100 onwards in byte order.
func gpt2ByteRune(b byte) rune {
	if b >= 33 && b <= 126 || b >= 161 && b <= 172 || b >= 174 {
		return rune(b)
	}
	n := 0
	for c := 0; c < int(b); c++ {
		cb := byte(c)
		if !(cb >= 33 && cb <= 126 || cb >= 161 && cb <= 172 || cb >= 174) {
			n++
		}
	}
	return rune(256 + n)
}
