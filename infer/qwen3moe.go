package infer

import (
	"fmt"

	"reddwarf/infer/gguf"
)

// This file is the qwen3moe architecture (Qwen3-30B-A3B, Qwen3-235B-A22B,
// Qwen3-Coder), as llama.cpp loads general.architecture = "qwen3moe":
// qwen3's attention (head norms, NeoX RoPE) with every block's FFN a
// mixture of experts (moe.go): a softmax router over expert_count experts,
// the expert_used_count most probable run, their outputs weighted by the
// renormalised probabilities. There are no shared experts.

func init() { Register("qwen3moe", loadQwen3MoE) }

// loadQwen3MoE reads the "qwen3moe." hyperparameters, then the tensors:
// qwen3's attention and, per block, the router and the expert tensors.
func loadQwen3MoE(f *gguf.File, opt Options, kv KVType) (Arch, error) {
	arch := f.Architecture()
	experts, _ := f.Uint(arch + ".expert_count")
	used, _ := f.Uint(arch + ".expert_used_count")
	ffn, _ := f.Uint(arch + ".expert_feed_forward_length")
	if experts == 0 || experts > 1<<12 || used == 0 || used > experts || ffn == 0 || ffn > 1<<24 {
		return nil, fmt.Errorf("%s: expert_count %d, expert_used_count %d, expert_feed_forward_length %d: missing or out of range", arch, experts, used, ffn)
	}
	m, ld, err := newLlamaBody(f, opt, kv)
	if err != nil {
		return nil, err
	}
	m.cfg.RopeNeox = true
	for i := range m.w.layers {
		l, p := &m.w.layers[i], fmt.Sprintf("blk.%d.", i)
		ld.attention(l, p, &m.cfg)
		ld.qkNorm(l, p, &m.cfg)
		ld.vector(&l.ffnNorm, p+"ffn_norm.weight", m.cfg.Dim)
		l.moe = ld.moe(p, m.cfg.Dim, int(ffn), int(experts), int(used))
	}
	// No block has a dense FFN: feed_forward_length must not size the
	// dense FFN's scratch (a hostile value would allocate it anyway).
	m.cfg.FFN = 0
	return m, ld.done()
}
