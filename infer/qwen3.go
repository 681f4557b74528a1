package infer

import (
	"fmt"

	"reddwarf/infer/gguf"
)

// This file is the qwen3 architecture (Qwen3 dense models), as llama.cpp
// loads general.architecture = "qwen3": llama's forward with
//
//   - an RMSNorm over each query and each key head (attn_q_norm,
//     attn_k_norm, headDim weights each) between the projection and RoPE,
//     in place of qwen2's biases,
//   - RoPE in GPT-NeoX mode (halves), and
//   - a head size of its own (attention.key_length, 128), so the query
//     width heads·headDim need not equal the embedding width.
//
// The weights and Forward are llama.go's; qwen3moe.go replaces the FFN.

func init() { Register("qwen3", loadQwen3) }

// loadQwen3 reads the "qwen3." hyperparameters and the tensors: llama's
// plus the two head norms of every block.
func loadQwen3(f *gguf.File, opt Options, kv KVType) (Arch, error) {
	m, ld, err := newLlamaBody(f, opt, kv)
	if err != nil {
		return nil, err
	}
	m.cfg.RopeNeox = true
	for i := range m.w.layers {
		l, p := &m.w.layers[i], fmt.Sprintf("blk.%d.", i)
		ld.attention(l, p, &m.cfg)
		ld.qkNorm(l, p, &m.cfg)
		ld.denseFFN(l, p, &m.cfg)
	}
	return m, ld.done()
}
