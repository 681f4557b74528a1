package infer

import (
	"fmt"

	"reddwarf/infer/gguf"
)

// This file is the qwen2 architecture (Qwen2, Qwen2.5 and their coders), as
// llama.cpp loads general.architecture = "qwen2": llama's forward with
//
//   - biases on the Q, K and V projections (attn_{q,k,v}.bias), and
//   - RoPE rotating the two halves of each head (GPT-NeoX mode), where
//     llama rotates adjacent pairs.
//
// Everything else (RMSNorm, GQA, SwiGLU FFN, tied or untied classifier) is
// llama's, so the weights and Forward are llama.go's.

func init() { Register("qwen2", loadQwen2) }

// loadQwen2 reads the "qwen2." hyperparameters and the tensors: llama's
// plus the three biases of every block.
func loadQwen2(f *gguf.File, opt Options, kv KVType) (Arch, error) {
	m, ld, err := newLlamaBody(f, opt, kv)
	if err != nil {
		return nil, err
	}
	m.cfg.RopeNeox = true
	for i := range m.w.layers {
		l, p := &m.w.layers[i], fmt.Sprintf("blk.%d.", i)
		ld.attention(l, p, &m.cfg) // with the biases, which llama.cpp also makes optional
		ld.denseFFN(l, p, &m.cfg)
	}
	return m, ld.done()
}
