package infer

import (
	"fmt"

	"reddwarf/infer/gguf"
	"reddwarf/metalkit"
)

// This file is the phi3 architecture (Phi-3 and Phi-3.5 mini/medium, Phi-4
// mini), as llama.cpp loads general.architecture = "phi3": llama's forward
// with
//
//   - one fused Q/K/V matrix (attn_qkv.weight: the Q rows, then K, then V)
//     instead of three, or three separate ones in some conversions,
//   - one fused gate/up matrix (ffn_up.weight of 2·ffn rows: gate, then up;
//     SwiGLU is SiLU(first half) ⊙ second half), and
//   - RoPE in GPT-NeoX mode (halves).
//
// The fused matrices are cut into llama's at load time (their rows are
// consecutive in the file, so the parts are views, not copies); the weights
// and Forward are then llama.go's. Long-context files (rope_factors_long /
// rope_factors_short, Phi-3-128k and Phi-3.5) are refused for now.

func init() { Register("phi3", loadPhi3) }

// loadPhi3 reads the "phi3." hyperparameters and the tensors, splitting the
// fused ones.
func loadPhi3(f *gguf.File, opt Options, kv KVType) (Arch, error) {
	if _, ok := f.Tensor("rope_factors_long.weight"); ok {
		return nil, fmt.Errorf("phi3: long-context RoPE factors (rope_factors_long.weight) not supported")
	}
	m, ld, err := newLlamaBody(f, opt, kv)
	if err != nil {
		return nil, err
	}
	c := &m.cfg
	c.RopeNeox = true
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	for i := range m.w.layers {
		l, p := &m.w.layers[i], fmt.Sprintf("blk.%d.", i)
		if ld.has(p + "attn_qkv.weight") {
			ld.vector(&l.attnNorm, p+"attn_norm.weight", c.Dim)
			ld.split([]*metalkit.Matrix{&l.wq, &l.wk, &l.wv}, p+"attn_qkv.weight",
				[]uint64{uint64(c.Dim), uint64(qDim + 2*kvDim)}, []int{qDim, kvDim, kvDim}, c.Dim)
			ld.matrix(&l.wo, p+"attn_output.weight", c.Dim, qDim)
		} else {
			ld.attention(l, p, c)
		}
		ld.vector(&l.ffnNorm, p+"ffn_norm.weight", c.Dim)
		ld.split([]*metalkit.Matrix{&l.wGate, &l.wUp}, p+"ffn_up.weight",
			[]uint64{uint64(c.Dim), uint64(2 * c.FFN)}, []int{c.FFN, c.FFN}, c.Dim)
		ld.matrix(&l.wDown, p+"ffn_down.weight", c.Dim, c.FFN)
	}
	return m, ld.done()
}
