package infer

import (
	"fmt"
	"math"

	"reddwarf/infer/gguf"
	"reddwarf/metalkit"
)

// This file is the gemma3 architecture (Gemma 3 text models: 270M, 1B, 4B,
// 12B, 27B), as llama.cpp loads general.architecture = "gemma3". Its blocks
// have llama's tensors plus qwen3's head norms, and differ in how they are
// put together:
//
//   - the embedding is scaled by √dim before the first block;
//   - "sandwich" norms: the attention and FFN outputs are RMS-normalised
//     (post_attention_norm, post_ffw_norm) before they join the residual;
//   - the FFN is GeGLU, GELU (tanh approximation) in place of SiLU;
//   - local and global layers: five of every six (sliding_window_pattern)
//     attend only to the last sliding_window positions and use RoPE base
//     rope.freq_base_swa (10,000) unscaled; the sixth attends to everything,
//     with rope.freq_base (1,000,000) and the file's linear RoPE scaling;
//   - queries are scaled by 1/√headDim, except in the 27B (62 layers), by
//     1/√(dim/heads), as llama.cpp does;
//   - final_logit_softcapping, when set, caps the logits: c·tanh(logit/c).
//
// The norm weights are used as stored: the GGUF converter already folded
// Gemma's (1 + w) into them. RoPE is GPT-NeoX mode. Every layer keeps all its
// K/V rows, local ones too (llama.cpp keeps only the window's).

func init() { Register("gemma3", loadGemma3) }

// gemma3 is the loaded architecture: llama's blocks, scratch and helpers,
// and what gemma3 adds.
type gemma3 struct {
	*llama
	post    []gemma3Post // per layer
	swa     []bool       // per layer: a local (sliding-window) layer
	window  int          // attention.sliding_window: positions a local layer sees
	swaBase float32      // rope.freq_base_swa (default 10000)
	qScale  float32      // query factor on top of attendGroup's 1/√headDim
	softcap float32      // final_logit_softcapping (0 = none)
}

// gemma3Post is one block's output norms.
type gemma3Post struct {
	attn []float32 // post_attention_norm.weight (dim)
	ffn  []float32 // post_ffw_norm.weight       (dim)
}

// loadGemma3 reads the "gemma3." hyperparameters and every tensor.
func loadGemma3(f *gguf.File, opt Options, kv KVType) (Arch, error) {
	base, ld, err := newLlamaBody(f, opt, kv)
	if err != nil {
		return nil, err
	}
	c := &base.cfg
	c.RopeNeox = true
	m := &gemma3{llama: base, swaBase: 10000, qScale: 1}
	key := func(k string) string { return ld.arch + "." + k }

	// Local layers: all but the last of every `period` layers, when the
	// file has a window.
	if v, ok := f.Uint(key("attention.sliding_window")); ok && v > 0 {
		period := uint64(6)
		if p, ok := f.Uint(key("attention.sliding_window_pattern")); ok {
			period = p
		}
		m.window = int(min(v, 1<<30))
		m.swa = make([]bool, c.Layers)
		for i := range m.swa {
			m.swa[i] = period == 0 || uint64(i)%period < period-1
		}
		if b, ok := f.Float(key("rope.freq_base_swa")); ok && b > 0 {
			m.swaBase = float32(b)
		}
	}
	if c.Layers == 62 { // the 27B scales queries by 1/√(dim/heads)
		m.qScale = float32(math.Sqrt(float64(c.HeadDim) / float64(c.Dim/c.Heads)))
	}
	if v, ok := f.Float(key("final_logit_softcapping")); ok && v > 0 {
		m.softcap = float32(v)
	}

	m.post = make([]gemma3Post, c.Layers)
	for i := range base.w.layers {
		l, p := &base.w.layers[i], fmt.Sprintf("blk.%d.", i)
		ld.attention(l, p, c)
		ld.qkNorm(l, p, c)
		ld.vector(&m.post[i].attn, p+"post_attention_norm.weight", c.Dim)
		ld.denseFFN(l, p, c)
		ld.vector(&m.post[i].ffn, p+"post_ffw_norm.weight", c.Dim)
	}
	return m, ld.done()
}

// Forward implements Arch: one batched step over all seqs.
func (m *gemma3) Forward(d metalkit.Device, batch []Seq) {
	// Every architecture runs on host memory today (metalkit.HostDevice);
	// Model refuses any other device for it, so this cannot fail.
	dev := d.(metalkit.HostDevice)
	c := &m.cfg
	w := &m.w
	r := &m.run

	// Embed, scaled by √dim.
	T := m.embedBatch(batch)
	metalkit.Scale(r.x, float32(math.Sqrt(float64(c.Dim))))

	for li := range w.layers {
		l, post := &w.layers[li], &m.post[li]
		base, scale, window := c.RopeBase, c.RopeScale, 0
		if m.swa != nil && m.swa[li] {
			base, scale, window = m.swaBase, 1, m.window
		}

		// Attention block:
		// x += n_post(Wo · attention(rope(n_q(Wq·n(x))), rope(n_k(Wk·n(x))), Wv·n(x))).
		m.rmsnormRows(r.xb, r.x, l.attnNorm, T)
		dev.MatMulHost(r.q, l.wq, r.xb, T)
		dev.MatMulHost(r.k, l.wk, r.xb, T)
		dev.MatMulHost(r.v, l.wv, r.xb, T)
		m.normHeads(r.q, l.qNorm, T*c.Heads)
		m.normHeads(r.k, l.kNorm, T*c.KVHeads)
		if m.qScale != 1 {
			metalkit.Scale(r.q, m.qScale)
		}
		m.ropeAndStore(dev, li, base, scale)
		m.attention(dev, li, window)
		if li == len(w.layers)-1 {
			T = m.keepLastRows() // only the rows that need logits go on
		}
		dev.MatMulHost(r.xb, l.wo, r.att, T)
		m.rmsnormRows(r.xb, r.xb, post.attn, T)
		metalkit.Add(r.x, r.x, r.xb)

		// Feed-forward block: x += n_post(Wdown · (GELU(Wgate·n(x)) ⊙ Wup·n(x))).
		m.rmsnormRows(r.xb, r.x, l.ffnNorm, T)
		dev.MatMulHost(r.hb, l.wGate, r.xb, T)
		dev.MatMulHost(r.hb2, l.wUp, r.xb, T)
		metalkit.GeGLU(r.hb, r.hb, r.hb2)
		dev.MatMulHost(r.xb, l.wDown, r.hb, T)
		m.rmsnormRows(r.xb, r.xb, post.ffn, T)
		metalkit.Add(r.x, r.x, r.xb)
	}

	// Classifier, for the last row of each seq, then the soft cap.
	m.classify(dev, batch)
	if m.softcap > 0 {
		for _, sq := range batch {
			for i, v := range sq.State.logits {
				sq.State.logits[i] = m.softcap * float32(math.Tanh(float64(v/m.softcap)))
			}
		}
	}
}
