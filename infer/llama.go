package infer

import (
	"fmt"
	"math"

	"reddwarf/infer/gguf"
	"reddwarf/metalkit"
)

// This file is the llama architecture (Llama 1/2/3, Mistral, TinyStories and
// anything else llama.cpp loads as general.architecture = "llama"), in the
// shape of llama2.c's run.c: llamaConfig (hyperparameters), llamaWeights
// (tensors), llamaScratch (per-step activations; the KV cache lives in each
// State), and one batched forward read top to bottom.

func init() { Register("llama", loadLlama) }

// llamaConfig holds the hyperparameters, each from the GGUF key named beside
// it ("llama." prefix); shapes come from metadata, never from constants.
type llamaConfig struct {
	Dim       int     // embedding_length
	Layers    int     // block_count
	FFN       int     // feed_forward_length
	Heads     int     // attention.head_count
	KVHeads   int     // attention.head_count_kv (default Heads)
	HeadDim   int     // attention.key_length (default Dim/Heads)
	Vocab     int     // vocab_size, else rows of token_embd.weight
	Ctx       int     // context_length
	Eps       float32 // attention.layer_norm_rms_epsilon (default 1e-5)
	RopeDim   int     // rope.dimension_count (default HeadDim)
	RopeBase  float32 // rope.freq_base (default 10000)
	RopeScale float32 // 1 / rope.scaling.factor when rope.scaling.type is linear (default 1)
	RopeNeox  bool    // rotate halves (GPT-NeoX) instead of adjacent pairs; false for llama, as in llama.cpp
}

// readLlamaConfig reads and checks the hyperparameters of architecture arch.
func readLlamaConfig(f *gguf.File, arch string) (llamaConfig, error) {
	key := func(k string) string { return arch + "." + k }
	c := llamaConfig{Eps: 1e-5, RopeBase: 10000, RopeScale: 1}
	need := func(k string, dst *int) error {
		v, ok := f.Uint(key(k))
		if !ok || v == 0 || v > 1<<24 {
			return fmt.Errorf("llama: metadata %s missing or out of range", key(k))
		}
		*dst = int(v)
		return nil
	}
	for _, p := range []struct {
		k   string
		dst *int
	}{
		{"embedding_length", &c.Dim}, {"block_count", &c.Layers},
		{"feed_forward_length", &c.FFN}, {"attention.head_count", &c.Heads},
		{"context_length", &c.Ctx},
	} {
		if err := need(p.k, p.dst); err != nil {
			return c, err
		}
	}
	c.KVHeads = c.Heads
	if v, ok := f.Uint(key("attention.head_count_kv")); ok {
		c.KVHeads = int(v)
	}
	c.HeadDim = c.Dim / c.Heads
	if v, ok := f.Uint(key("attention.key_length")); ok {
		c.HeadDim = int(v)
	}
	if v, ok := f.Uint(key("attention.value_length")); ok && int(v) != c.HeadDim {
		return c, fmt.Errorf("llama: value_length %d != key_length %d not supported", v, c.HeadDim)
	}
	if c.KVHeads <= 0 || c.Heads%c.KVHeads != 0 || c.HeadDim <= 0 || c.HeadDim%2 != 0 {
		return c, fmt.Errorf("llama: heads %d, kv heads %d, head dim %d: not a valid GQA shape", c.Heads, c.KVHeads, c.HeadDim)
	}
	if v, ok := f.Float(key("attention.layer_norm_rms_epsilon")); ok && v > 0 {
		c.Eps = float32(v)
	}
	c.RopeDim = c.HeadDim
	if v, ok := f.Uint(key("rope.dimension_count")); ok {
		c.RopeDim = int(v)
	}
	if c.RopeDim <= 0 || c.RopeDim > c.HeadDim || c.RopeDim%2 != 0 {
		return c, fmt.Errorf("llama: rope dimension %d with head dim %d", c.RopeDim, c.HeadDim)
	}
	if v, ok := f.Float(key("rope.freq_base")); ok && v > 0 {
		c.RopeBase = float32(v)
	}
	if typ, _ := f.String(key("rope.scaling.type")); typ == "linear" {
		if v, ok := f.Float(key("rope.scaling.factor")); ok && v > 0 {
			c.RopeScale = float32(1 / v)
		}
	}
	if v, ok := f.Uint(key("vocab_size")); ok {
		c.Vocab = int(v)
	}
	return c, nil
}

// llamaLayer is one transformer block's tensors (GGUF names "blk.N.*").
type llamaLayer struct {
	attnNorm []float32       // attn_norm.weight   (dim)
	wq       metalkit.Matrix // attn_q.weight      (heads·headDim rows × dim)
	wk       metalkit.Matrix // attn_k.weight      (kvHeads·headDim × dim)
	wv       metalkit.Matrix // attn_v.weight      (kvHeads·headDim × dim)
	wo       metalkit.Matrix // attn_output.weight (dim × heads·headDim)
	ffnNorm  []float32       // ffn_norm.weight    (dim)
	wGate    metalkit.Matrix // ffn_gate.weight    (ffn × dim)
	wUp      metalkit.Matrix // ffn_up.weight      (ffn × dim)
	wDown    metalkit.Matrix // ffn_down.weight    (dim × ffn)
}

// llamaWeights holds every tensor, in place in the GGUF's data (mmap), or
// repacked on the heap where metalkit has a better layout (Q4_K).
type llamaWeights struct {
	embed     metalkit.Matrix // token_embd.weight  (vocab × dim)
	layers    []llamaLayer
	outNorm   []float32       // output_norm.weight (dim)
	output    metalkit.Matrix // output.weight      (vocab × dim); token_embd.weight when absent (tied)
	ropeFreqs []float32       // rope_freqs.weight  (ropeDim/2), optional: per-pair divisors of θ (Llama 3.1+)
}

// llama is the loaded architecture.
type llama struct {
	cfg    llamaConfig
	w      llamaWeights
	kvType KVType
	run    llamaScratch
}

// loadLlama reads the config and every tensor, checking names, shapes and types.
func loadLlama(f *gguf.File, opt Options, kv KVType) (Arch, error) {
	cfg, err := readLlamaConfig(f, f.Architecture())
	if err != nil {
		return nil, err
	}
	m := &llama{cfg: cfg, kvType: kv}
	qDim, kvDim := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim

	// The embedding gives the vocabulary size when the metadata doesn't.
	if cfg.Vocab == 0 {
		t, ok := f.Tensor("token_embd.weight")
		if !ok || len(t.Dims) != 2 {
			return nil, fmt.Errorf("llama: tensor token_embd.weight missing or not 2-D")
		}
		m.cfg.Vocab = int(t.Dims[1])
		cfg.Vocab = m.cfg.Vocab
	}
	w := &m.w
	if w.embed, err = loadMatrix(f, "token_embd.weight", cfg.Vocab, cfg.Dim); err != nil {
		return nil, err
	}
	if w.outNorm, err = loadVector(f, "output_norm.weight", cfg.Dim); err != nil {
		return nil, err
	}
	if _, ok := f.Tensor("output.weight"); ok {
		if w.output, err = loadMatrix(f, "output.weight", cfg.Vocab, cfg.Dim); err != nil {
			return nil, err
		}
	} else {
		w.output = w.embed // tied classifier
	}
	if _, ok := f.Tensor("rope_freqs.weight"); ok {
		if w.ropeFreqs, err = loadVector(f, "rope_freqs.weight", cfg.RopeDim/2); err != nil {
			return nil, err
		}
	}
	w.layers = make([]llamaLayer, cfg.Layers)
	for i := range w.layers {
		l := &w.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		for _, t := range []struct {
			name       string
			dst        *metalkit.Matrix
			rows, cols int
		}{
			{"attn_q.weight", &l.wq, qDim, cfg.Dim},
			{"attn_k.weight", &l.wk, kvDim, cfg.Dim},
			{"attn_v.weight", &l.wv, kvDim, cfg.Dim},
			{"attn_output.weight", &l.wo, cfg.Dim, qDim},
			{"ffn_gate.weight", &l.wGate, cfg.FFN, cfg.Dim},
			{"ffn_up.weight", &l.wUp, cfg.FFN, cfg.Dim},
			{"ffn_down.weight", &l.wDown, cfg.Dim, cfg.FFN},
		} {
			if *t.dst, err = loadMatrix(f, p+t.name, t.rows, t.cols); err != nil {
				return nil, err
			}
		}
		if l.attnNorm, err = loadVector(f, p+"attn_norm.weight", cfg.Dim); err != nil {
			return nil, err
		}
		if l.ffnNorm, err = loadVector(f, p+"ffn_norm.weight", cfg.Dim); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// loadMatrix returns tensor name as a rows × cols matrix (GGUF dims [cols, rows]).
func loadMatrix(f *gguf.File, name string, rows, cols int) (metalkit.Matrix, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return metalkit.Matrix{}, fmt.Errorf("llama: tensor %s missing (want shape [%d, %d])", name, cols, rows)
	}
	if len(t.Dims) != 2 || t.Dims[0] != uint64(cols) || t.Dims[1] != uint64(rows) {
		return metalkit.Matrix{}, fmt.Errorf("llama: tensor %s has shape %v, want [%d, %d]", name, t.Dims, cols, rows)
	}
	m, err := metalkit.NewMatrix(metalkit.DType(t.Type), rows, cols, f.TensorData(t))
	if err != nil {
		return metalkit.Matrix{}, fmt.Errorf("llama: tensor %s (%v, shape %v): %w", name, t.Type, t.Dims, err)
	}
	// Weights the kernels stream better in another layout (Q4_K) are
	// copied into it; the file's pages are then dropped, so the weights
	// are resident once.
	if p := metalkit.Repack(m); p.Repacked() {
		f.Release(t)
		m = p
	}
	return m, nil
}

// loadVector returns 1-D tensor name of n values as float32 (a copy).
func loadVector(f *gguf.File, name string, n int) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("llama: tensor %s missing (want shape [%d])", name, n)
	}
	if len(t.Dims) != 1 || t.Dims[0] != uint64(n) {
		return nil, fmt.Errorf("llama: tensor %s has shape %v, want [%d]", name, t.Dims, n)
	}
	m, err := metalkit.NewMatrix(metalkit.DType(t.Type), 1, n, f.TensorData(t))
	if err != nil {
		return nil, fmt.Errorf("llama: tensor %s (%v): %w", name, t.Type, err)
	}
	out := make([]float32, n)
	m.Row(0, out)
	return out, nil
}

// Shape implements Arch.
func (m *llama) Shape() Shape {
	c := m.cfg
	return Shape{Vocab: c.Vocab, Ctx: c.Ctx, Layers: c.Layers, Dim: c.Dim, Heads: c.Heads, KVHeads: c.KVHeads}
}

// KVLayout implements Arch: per layer one K and one V row of kvHeads·headDim.
func (m *llama) KVLayout() KVLayout {
	return KVLayout{Layers: m.cfg.Layers, Heads: m.cfg.KVHeads, HeadDim: m.cfg.HeadDim, Type: m.kvType}
}

// llamaScratch is the per-step activation memory (run.c's RunState minus the
// KV cache), grown to the largest batch seen. Rows are tokens: buffer
// x holds T rows of dim values back to back, and so on.
type llamaScratch struct {
	rows   []rowRef  // the batch's token rows, in order
	last   []int     // per seq: index of its last row
	x      []float32 // residual stream        (T × dim)
	xb     []float32 // normed input / scratch  (T × dim)
	q      []float32 // queries                 (T × heads·headDim)
	k, v   []float32 // new keys, values        (T × kvHeads·headDim)
	att    []float32 // attention output        (T × heads·headDim)
	hb     []float32 // ffn gate, then SwiGLU   (T × ffn)
	hb2    []float32 // ffn up                  (T × ffn)
	logits []float32 // classifier output       (seqs × vocab)
}

// rowRef is one token row of a batch: which state, at which position.
type rowRef struct {
	s   *State
	pos int
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// Forward implements Arch: one batched step over all seqs.
func (m *llama) Forward(pool *metalkit.Pool, batch []Seq) {
	c := &m.cfg
	w := &m.w
	r := &m.run
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim

	// Lay out the rows: every new token of every seq, seq after seq.
	r.rows, r.last = r.rows[:0], r.last[:0]
	for _, sq := range batch {
		start := sq.State.Len()
		for i := range sq.Tokens {
			r.rows = append(r.rows, rowRef{sq.State, start + i})
		}
		r.last = append(r.last, len(r.rows)-1)
	}
	T := len(r.rows)
	r.x, r.xb = grow(r.x, T*c.Dim), grow(r.xb, T*c.Dim)
	r.q, r.att = grow(r.q, T*qDim), grow(r.att, T*qDim)
	r.k, r.v = grow(r.k, T*kvDim), grow(r.v, T*kvDim)
	r.hb, r.hb2 = grow(r.hb, T*c.FFN), grow(r.hb2, T*c.FFN)

	// Embed: row t of x is the embedding of its token.
	t := 0
	for _, sq := range batch {
		for _, tok := range sq.Tokens {
			w.embed.Row(int(tok), r.x[t*c.Dim:(t+1)*c.Dim])
			t++
		}
	}

	for li := range w.layers {
		l := &w.layers[li]

		// Attention block: x += Wo · attention(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x)).
		m.rmsnormRows(r.xb, r.x, l.attnNorm, T)
		metalkit.MatMul(pool, r.q, l.wq, r.xb, T)
		metalkit.MatMul(pool, r.k, l.wk, r.xb, T)
		metalkit.MatMul(pool, r.v, l.wv, r.xb, T)
		for t, row := range r.rows {
			m.rope(r.q[t*qDim:(t+1)*qDim], c.Heads, row.pos)
			m.rope(r.k[t*kvDim:(t+1)*kvDim], c.KVHeads, row.pos)
			row.s.putKV(li, row.pos, r.k[t*kvDim:(t+1)*kvDim], r.v[t*kvDim:(t+1)*kvDim])
		}
		m.attention(pool, li)
		if li == len(w.layers)-1 {
			// The last layer's output matters only for rows that need
			// logits: keep those (each seq's last row) and drop the rest
			// before the output projection and the FFN.
			T = m.keepLastRows()
			r.x, r.xb, r.att = r.x[:T*c.Dim], r.xb[:T*c.Dim], r.att[:T*qDim]
			r.hb, r.hb2 = r.hb[:T*c.FFN], r.hb2[:T*c.FFN]
		}
		metalkit.MatMul(pool, r.xb, l.wo, r.att, T)
		metalkit.Add(r.x, r.x, r.xb)

		// Feed-forward block: x += Wdown · (SiLU(Wgate·n(x)) ⊙ Wup·n(x)).
		m.rmsnormRows(r.xb, r.x, l.ffnNorm, T)
		metalkit.MatMul(pool, r.hb, l.wGate, r.xb, T)
		metalkit.MatMul(pool, r.hb2, l.wUp, r.xb, T)
		metalkit.SwiGLU(r.hb, r.hb, r.hb2)
		metalkit.MatMul(pool, r.xb, l.wDown, r.hb, T)
		metalkit.Add(r.x, r.x, r.xb)
	}

	// Classifier, for the last row of each seq (now rows [0, S)):
	// logits = Wout · n(x).
	S := len(batch)
	m.rmsnormRows(r.xb, r.x, w.outNorm, S)
	r.logits = grow(r.logits, S*c.Vocab)
	metalkit.MatMul(pool, r.logits, w.output, r.xb, S)
	for i, sq := range batch {
		s := sq.State
		if cap(s.logits) < c.Vocab {
			s.logits = make([]float32, c.Vocab)
		}
		s.logits = s.logits[:c.Vocab]
		copy(s.logits, r.logits[i*c.Vocab:(i+1)*c.Vocab])
	}
}

// keepLastRows moves each seq's last row of x and att to rows [0, seqs) and
// returns the new row count. Moving in order is safe: r.last is increasing
// and r.last[i] ≥ i, so no row is overwritten before it is moved.
func (m *llama) keepLastRows() int {
	r := &m.run
	d, qDim := m.cfg.Dim, m.cfg.Heads*m.cfg.HeadDim
	for i, t := range r.last {
		if i != t {
			copy(r.x[i*d:(i+1)*d], r.x[t*d:(t+1)*d])
			copy(r.att[i*qDim:(i+1)*qDim], r.att[t*qDim:(t+1)*qDim])
		}
	}
	return len(r.last)
}

// rmsnormRows normalises each of the n rows of x into out.
func (m *llama) rmsnormRows(out, x, weight []float32, n int) {
	d := m.cfg.Dim
	for t := 0; t < n; t++ {
		metalkit.RMSNorm(out[t*d:(t+1)*d], x[t*d:(t+1)*d], weight, m.cfg.Eps)
	}
}

// rope rotates the nHeads heads of x for position pos, in place.
func (m *llama) rope(x []float32, nHeads, pos int) {
	c := &m.cfg
	switch {
	case m.w.ropeFreqs != nil:
		ropeWithFactors(x, nHeads, c.HeadDim, c.RopeDim, pos, c.RopeBase, c.RopeScale, m.w.ropeFreqs, c.RopeNeox)
	case c.RopeNeox:
		metalkit.RopeNeox(x, nHeads, c.HeadDim, c.RopeDim, pos, c.RopeBase, c.RopeScale)
	default:
		metalkit.RopeNorm(x, nHeads, c.HeadDim, c.RopeDim, pos, c.RopeBase, c.RopeScale)
	}
}

// ropeWithFactors is RopeNorm/RopeNeox with θ_i divided by factors[i]
// (llama.cpp's rope "freq_factors", from rope_freqs.weight). metalkit's rope
// has no factors argument, so it lives here.
func ropeWithFactors(x []float32, nHeads, headDim, ropeDim, pos int, base, scale float32, factors []float32, neox bool) {
	half := ropeDim / 2
	for i := 0; i < half; i++ {
		theta := float64(pos) * float64(scale) * math.Pow(float64(base), -float64(2*i)/float64(ropeDim)) / float64(factors[i])
		sn, cs := math.Sincos(theta)
		s, c := float32(sn), float32(cs)
		for h := 0; h < nHeads; h++ {
			a, b := h*headDim+2*i, h*headDim+2*i+1
			if neox {
				a, b = h*headDim+i, h*headDim+i+half
			}
			x0, x1 := x[a], x[b]
			x[a] = x0*c - x1*s
			x[b] = x0*s + x1*c
		}
	}
}

// attention computes r.att for every row of layer li: each row's query heads
// attend to positions [0, pos] of the row's own state (causal). Work is
// split over (row, KV head) pairs; see attendGroup.
func (m *llama) attention(pool *metalkit.Pool, li int) {
	c := &m.cfg
	r := &m.run
	qDim := c.Heads * c.HeadDim
	group := c.Heads / c.KVHeads
	maxLen := 0
	for _, row := range r.rows {
		maxLen = max(maxLen, row.pos+1)
	}
	pool.Parallel(len(r.rows)*c.KVHeads, func(start, end int) {
		sc := newAttnScratch(group, c.HeadDim, maxLen)
		for job := start; job < end; job++ {
			t, g := job/c.KVHeads, job%c.KVHeads
			row := r.rows[t]
			q := r.q[t*qDim+g*group*c.HeadDim : t*qDim+(g+1)*group*c.HeadDim]
			out := r.att[t*qDim+g*group*c.HeadDim : t*qDim+(g+1)*group*c.HeadDim]
			attendGroup(row.s, li, g, c.HeadDim, group, row.pos+1, q, out, sc)
		}
	})
}
