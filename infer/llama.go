package infer

import (
	"fmt"
	"slices"

	"reddwarf/infer/gguf"
	"reddwarf/metalkit"
)

// This file is the llama architecture (Llama 1/2/3, Mistral, TinyStories and
// anything else llama.cpp loads as general.architecture = "llama"), in the
// shape of llama2.c's run.c: llamaConfig (hyperparameters), llamaWeights
// (tensors), llamaScratch (per-step activations; the KV cache lives in each
// State), and one batched forward read top to bottom.
//
// The same forward runs the architectures that differ from llama only by
// optional parts of a block, each marked in Forward and loaded by its own
// file: Q/K/V biases (qwen2.go), RMSNorm of each query and key head
// (qwen3.go), a mixture-of-experts FFN (qwen3moe.go, moe.go) and fused
// Q/K/V and gate/up matrices, split at load time (phi3.go).

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
			return fmt.Errorf("%s: metadata %s missing or out of range", arch, key(k))
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
		return c, fmt.Errorf("%s: value_length %d != key_length %d not supported", arch, v, c.HeadDim)
	}
	if c.KVHeads <= 0 || c.Heads%c.KVHeads != 0 || c.HeadDim <= 0 || c.HeadDim%2 != 0 {
		return c, fmt.Errorf("%s: heads %d, kv heads %d, head dim %d: not a valid GQA shape", arch, c.Heads, c.KVHeads, c.HeadDim)
	}
	if v, ok := f.Float(key("attention.layer_norm_rms_epsilon")); ok && v > 0 {
		c.Eps = float32(v)
	}
	c.RopeDim = c.HeadDim
	if v, ok := f.Uint(key("rope.dimension_count")); ok {
		c.RopeDim = int(v)
	}
	if c.RopeDim <= 0 || c.RopeDim > c.HeadDim || c.RopeDim%2 != 0 {
		return c, fmt.Errorf("%s: rope dimension %d with head dim %d", arch, c.RopeDim, c.HeadDim)
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
// The optional parts are nil (or zero) in a plain llama file.
type llamaLayer struct {
	attnNorm     []float32       // attn_norm.weight   (dim)
	wq           metalkit.Matrix // attn_q.weight      (heads·headDim rows × dim)
	wk           metalkit.Matrix // attn_k.weight      (kvHeads·headDim × dim)
	wv           metalkit.Matrix // attn_v.weight      (kvHeads·headDim × dim)
	bq, bk, bv   []float32       // attn_{q,k,v}.bias  (heads·headDim, kvHeads·headDim ×2), optional (qwen2)
	qNorm, kNorm []float32       // attn_{q,k}_norm.weight (headDim), optional (qwen3): RMSNorm per head
	wo           metalkit.Matrix // attn_output.weight (dim × heads·headDim)
	ffnNorm      []float32       // ffn_norm.weight    (dim)
	wGate        metalkit.Matrix // ffn_gate.weight    (ffn × dim)
	wUp          metalkit.Matrix // ffn_up.weight      (ffn × dim)
	wDown        metalkit.Matrix // ffn_down.weight    (dim × ffn)
	moe          *moeFFN         // replaces the dense FFN when set (qwen3moe)
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

// loadLlama reads the config and every tensor, checking names, shapes and
// types.
func loadLlama(f *gguf.File, opt Options, kv KVType) (Arch, error) {
	m, ld, err := newLlamaBody(f, opt, kv)
	if err != nil {
		return nil, err
	}
	for i := range m.w.layers {
		l, p := &m.w.layers[i], fmt.Sprintf("blk.%d.", i)
		ld.attention(l, p, &m.cfg)
		ld.denseFFN(l, p, &m.cfg)
	}
	return m, ld.done()
}

// newLlamaBody reads the config of f's architecture and the tensors outside
// the blocks (embedding, final norm, classifier, rope factors), and returns
// the model with its layers allocated but not loaded, and the loader the
// caller loads them with.
func newLlamaBody(f *gguf.File, opt Options, kv KVType) (*llama, *tensorLoader, error) {
	arch := f.Architecture()
	cfg, err := readLlamaConfig(f, arch)
	if err != nil {
		return nil, nil, err
	}
	// The embedding gives the vocabulary size when the metadata doesn't.
	if cfg.Vocab == 0 {
		t, ok := f.Tensor("token_embd.weight")
		if !ok || len(t.Dims) != 2 || t.Dims[1] == 0 || t.Dims[1] > 1<<24 {
			return nil, nil, fmt.Errorf("%s: tensor token_embd.weight missing or not 2-D", arch)
		}
		cfg.Vocab = int(t.Dims[1])
	}
	// Every block has tensors: a block count above the file's tensor count
	// is a hostile header, refused before the layers are allocated.
	if cfg.Layers > len(f.Tensors) {
		return nil, nil, fmt.Errorf("%s: block_count %d with %d tensors in the file", arch, cfg.Layers, len(f.Tensors))
	}
	m := &llama{cfg: cfg, kvType: kv}
	ld := &tensorLoader{f: f, arch: arch, gguf: runsOnDevice(opt) || opt.keepGGUF}
	w := &m.w
	ld.matrix(&w.embed, "token_embd.weight", cfg.Vocab, cfg.Dim)
	ld.vector(&w.outNorm, "output_norm.weight", cfg.Dim)
	if ld.has("output.weight") {
		ld.matrix(&w.output, "output.weight", cfg.Vocab, cfg.Dim)
	} else {
		w.output = w.embed // tied classifier
	}
	if ld.has("rope_freqs.weight") {
		ld.vector(&w.ropeFreqs, "rope_freqs.weight", cfg.RopeDim/2)
	}
	w.layers = make([]llamaLayer, cfg.Layers)
	return m, ld, ld.err
}

// attention loads block p's attention norm, its separate Q, K, V and
// output matrices, and the Q/K/V biases when the file has them (qwen2
// does; llama.cpp takes them in any of these architectures).
func (ld *tensorLoader) attention(l *llamaLayer, p string, c *llamaConfig) {
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	ld.vector(&l.attnNorm, p+"attn_norm.weight", c.Dim)
	ld.matrix(&l.wq, p+"attn_q.weight", qDim, c.Dim)
	ld.matrix(&l.wk, p+"attn_k.weight", kvDim, c.Dim)
	ld.matrix(&l.wv, p+"attn_v.weight", kvDim, c.Dim)
	ld.matrix(&l.wo, p+"attn_output.weight", c.Dim, qDim)
	ld.qkvBias(l, p, c)
}

// qkvBias loads block p's Q, K and V biases if attn_q.bias is present.
func (ld *tensorLoader) qkvBias(l *llamaLayer, p string, c *llamaConfig) {
	if !ld.has(p + "attn_q.bias") {
		return
	}
	ld.vector(&l.bq, p+"attn_q.bias", c.Heads*c.HeadDim)
	ld.vector(&l.bk, p+"attn_k.bias", c.KVHeads*c.HeadDim)
	ld.vector(&l.bv, p+"attn_v.bias", c.KVHeads*c.HeadDim)
}

// qkNorm loads block p's per-head query and key norms.
func (ld *tensorLoader) qkNorm(l *llamaLayer, p string, c *llamaConfig) {
	ld.vector(&l.qNorm, p+"attn_q_norm.weight", c.HeadDim)
	ld.vector(&l.kNorm, p+"attn_k_norm.weight", c.HeadDim)
}

// denseFFN loads block p's FFN norm and SwiGLU matrices.
func (ld *tensorLoader) denseFFN(l *llamaLayer, p string, c *llamaConfig) {
	ld.vector(&l.ffnNorm, p+"ffn_norm.weight", c.Dim)
	ld.matrix(&l.wGate, p+"ffn_gate.weight", c.FFN, c.Dim)
	ld.matrix(&l.wUp, p+"ffn_up.weight", c.FFN, c.Dim)
	ld.matrix(&l.wDown, p+"ffn_down.weight", c.Dim, c.FFN)
}

// tensorLoader loads and checks tensors by name, keeping the first error
// (every later call is a no-op), so loaders read as a list of tensors.
// Errors name the architecture and the tensor. done checks that nothing
// in the file was left unread.
type tensorLoader struct {
	f    *gguf.File
	arch string
	gguf bool // keep matrices in the file's layout: a device uploads them (Upload takes that layout)
	err  error
	used map[string]bool
}

// use records that tensor name was loaded.
func (ld *tensorLoader) use(name string) {
	if ld.used == nil {
		ld.used = map[string]bool{}
	}
	ld.used[name] = true
}

// done returns the first error, or an error naming a tensor of the file
// that no load used: like llama.cpp's tensor count check, it refuses a file
// of another architecture that happens to have every tensor asked for (a
// qwen3 file read as qwen2 would silently lose its head norms).
func (ld *tensorLoader) done() error {
	if ld.err != nil {
		return ld.err
	}
	for _, t := range ld.f.Tensors {
		if !ld.used[t.Name] {
			return fmt.Errorf("%s: tensor %s is not part of this architecture", ld.arch, t.Name)
		}
	}
	return nil
}

// has reports whether tensor name is in the file.
func (ld *tensorLoader) has(name string) bool {
	_, ok := ld.f.Tensor(name)
	return ok
}

// matrix loads tensor name as a rows × cols matrix (GGUF dims [cols, rows]).
func (ld *tensorLoader) matrix(dst *metalkit.Matrix, name string, rows, cols int) {
	ld.split([]*metalkit.Matrix{dst}, name, []uint64{uint64(cols), uint64(rows)}, []int{rows}, cols)
}

// vector loads 1-D tensor name of n values as float32 (a copy).
func (ld *tensorLoader) vector(dst *[]float32, name string, n int) {
	if ld.err != nil {
		return
	}
	ld.use(name)
	*dst, ld.err = loadVector(ld.f, name, n)
	if ld.err != nil {
		ld.err = fmt.Errorf("%s: %w", ld.arch, ld.err)
	}
}

// split loads tensor name, whose GGUF dims must be dims, as consecutive
// matrices of rows[i] rows × cols each: the parts of a fused matrix
// (phi3's attn_qkv: Q, K, V rows one after the other) or the experts of a
// 3-D expert tensor (dims [cols, rows, experts]).
func (ld *tensorLoader) split(dst []*metalkit.Matrix, name string, dims []uint64, rows []int, cols int) {
	if ld.err != nil {
		return
	}
	ld.use(name)
	var ms []metalkit.Matrix
	ms, ld.err = loadSplit(ld.f, name, dims, rows, cols, !ld.gguf)
	if ld.err != nil {
		ld.err = fmt.Errorf("%s: %w", ld.arch, ld.err)
		return
	}
	for i, m := range ms {
		*dst[i] = m
	}
}

// loadSplit is tensorLoader.split. With repack, weights the CPU kernels
// stream better in another layout (Q4_K) are copied into it; when every
// part was, the file's pages are then dropped, so the weights are resident
// once.
func loadSplit(f *gguf.File, name string, dims []uint64, rows []int, cols int, repack bool) ([]metalkit.Matrix, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %s missing (want shape %v)", name, dims)
	}
	if !slices.Equal(t.Dims, dims) {
		return nil, fmt.Errorf("tensor %s has shape %v, want %v", name, t.Dims, dims)
	}
	data := f.TensorData(t)
	rb := metalkit.RowBytes(metalkit.DType(t.Type), cols)
	out := make([]metalkit.Matrix, len(rows))
	all := true
	off := 0
	for i, n := range rows {
		end := off + n*rb
		if rb < 0 || end > len(data) {
			return nil, fmt.Errorf("tensor %s (%v, shape %v): %d bytes, too few for its shape", name, t.Type, t.Dims, len(data))
		}
		m, err := metalkit.NewMatrix(metalkit.DType(t.Type), n, cols, data[off:end:end])
		if err != nil {
			return nil, fmt.Errorf("tensor %s (%v, shape %v): %w", name, t.Type, t.Dims, err)
		}
		if repack {
			m = metalkit.Repack(m)
		}
		all = all && m.Repacked()
		out[i], off = m, end
	}
	if off != len(data) {
		return nil, fmt.Errorf("tensor %s (%v, shape %v): %d bytes, want %d", name, t.Type, t.Dims, len(data), off)
	}
	if all {
		f.Release(t)
	}
	return out, nil
}

// loadVector returns 1-D tensor name of n values as float32 (a copy).
func loadVector(f *gguf.File, name string, n int) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %s missing (want shape [%d])", name, n)
	}
	if len(t.Dims) != 1 || t.Dims[0] != uint64(n) {
		return nil, fmt.Errorf("tensor %s has shape %v, want [%d]", name, t.Dims, n)
	}
	m, err := metalkit.NewMatrix(metalkit.DType(t.Type), 1, n, f.TensorData(t))
	if err != nil {
		return nil, fmt.Errorf("tensor %s (%v): %w", name, t.Type, err)
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
	moe    moeScratch
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
func (m *llama) Forward(d metalkit.Device, batch []Seq) {
	// This pass runs on host memory (metalkit.HostDevice); on any other
	// device Model runs llamadevice.go's pass instead, so this cannot fail.
	dev := d.(metalkit.HostDevice)
	c := &m.cfg
	w := &m.w
	r := &m.run

	// Embed: row t of x is the embedding of the batch's t-th token.
	T := m.embedBatch(batch)

	for li := range w.layers {
		l := &w.layers[li]

		// Attention block: x += Wo · attention(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x)).
		m.rmsnormRows(r.xb, r.x, l.attnNorm, T)
		dev.MatMulHost(r.q, l.wq, r.xb, T)
		dev.MatMulHost(r.k, l.wk, r.xb, T)
		dev.MatMulHost(r.v, l.wv, r.xb, T)
		addBias(r.q, l.bq, T) // qwen2: Q/K/V biases
		addBias(r.k, l.bk, T)
		addBias(r.v, l.bv, T)
		m.normHeads(r.q, l.qNorm, T*c.Heads) // qwen3: RMSNorm of each head
		m.normHeads(r.k, l.kNorm, T*c.KVHeads)
		m.ropeAndStore(dev, li, c.RopeBase, c.RopeScale)
		m.attention(dev, li, 0)
		if li == len(w.layers)-1 {
			// The last layer's output matters only for rows that need
			// logits: keep those (each seq's last row) and drop the rest
			// before the output projection and the FFN.
			T = m.keepLastRows()
		}
		dev.MatMulHost(r.xb, l.wo, r.att, T)
		metalkit.Add(r.x, r.x, r.xb)

		// Feed-forward block: x += Wdown · (SiLU(Wgate·n(x)) ⊙ Wup·n(x)),
		// or x += MoE(n(x)) (qwen3moe).
		m.rmsnormRows(r.xb, r.x, l.ffnNorm, T)
		if l.moe != nil {
			l.moe.addTo(dev, r.x, r.xb, T, &r.moe)
			continue
		}
		dev.MatMulHost(r.hb, l.wGate, r.xb, T)
		dev.MatMulHost(r.hb2, l.wUp, r.xb, T)
		metalkit.SwiGLU(r.hb, r.hb, r.hb2)
		dev.MatMulHost(r.xb, l.wDown, r.hb, T)
		metalkit.Add(r.x, r.x, r.xb)
	}

	// Classifier, for the last row of each seq (now rows [0, seqs)):
	// logits = Wout · n(x).
	m.classify(dev, batch)
}

// embedBatch lays out the batch's rows (every new token of every seq, seq
// after seq), sizes the scratch for them and sets row t of x to the
// embedding of its token. It returns the row count.
func (m *llama) embedBatch(batch []Seq) int {
	c := &m.cfg
	r := &m.run
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
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
	t := 0
	for _, sq := range batch {
		for _, tok := range sq.Tokens {
			m.w.embed.Row(int(tok), r.x[t*c.Dim:(t+1)*c.Dim])
			t++
		}
	}
	return T
}

// classify sets each seq's logits from its row of x (rows [0, seqs), after
// keepLastRows): logits = Wout · n(x).
func (m *llama) classify(dev metalkit.HostDevice, batch []Seq) {
	c := &m.cfg
	r := &m.run
	S := len(batch)
	m.rmsnormRows(r.xb, r.x, m.w.outNorm, S)
	r.logits = grow(r.logits, S*c.Vocab)
	dev.MatMulHost(r.logits, m.w.output, r.xb, S)
	for i, sq := range batch {
		s := sq.State
		if cap(s.logits) < c.Vocab {
			s.logits = make([]float32, c.Vocab)
		}
		s.logits = s.logits[:c.Vocab]
		copy(s.logits, r.logits[i*c.Vocab:(i+1)*c.Vocab])
	}
}

// keepLastRows moves each seq's last row of x and att to rows [0, seqs),
// shortens the row buffers to them and returns the new row count. Moving in order is safe: r.last is increasing
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
	T, ffn := len(r.last), m.cfg.FFN
	r.x, r.xb, r.att = r.x[:T*d], r.xb[:T*d], r.att[:T*qDim]
	r.hb, r.hb2 = r.hb[:T*ffn], r.hb2[:T*ffn]
	return T
}

// rmsnormRows normalises each of the n rows of x into out.
func (m *llama) rmsnormRows(out, x, weight []float32, n int) {
	d := m.cfg.Dim
	for t := 0; t < n; t++ {
		metalkit.RMSNorm(out[t*d:(t+1)*d], x[t*d:(t+1)*d], weight, m.cfg.Eps)
	}
}

// normHeads applies RMSNorm with weight w (headDim values) to each of the n
// heads in x, in place; nothing when w is nil.
func (m *llama) normHeads(x, w []float32, n int) {
	if w == nil {
		return
	}
	hd := m.cfg.HeadDim
	for h := 0; h < n; h++ {
		metalkit.RMSNorm(x[h*hd:(h+1)*hd], x[h*hd:(h+1)*hd], w, m.cfg.Eps)
	}
}

// addBias adds bias b to each of the n rows of x; nothing when b is nil.
func addBias(x, b []float32, n int) {
	if b == nil {
		return
	}
	d := len(b)
	for t := 0; t < n; t++ {
		metalkit.Add(x[t*d:(t+1)*d], x[t*d:(t+1)*d], b)
	}
}

// rope rotates the nHeads heads of x for position pos, in place, with
// frequency base and scale (per layer in gemma3).
func (m *llama) rope(x []float32, nHeads, pos int, base, scale float32) {
	c := &m.cfg
	switch {
	case m.w.ropeFreqs != nil:
		metalkit.RopeFactors(x, pos, metalkit.Rope{Heads: nHeads, HeadDim: c.HeadDim, Dim: c.RopeDim,
			Base: base, Scale: scale, Neox: c.RopeNeox, Factors: m.w.ropeFreqs})
	case c.RopeNeox:
		metalkit.RopeNeox(x, nHeads, c.HeadDim, c.RopeDim, pos, base, scale)
	default:
		metalkit.RopeNorm(x, nHeads, c.HeadDim, c.RopeDim, pos, base, scale)
	}
}

// ropeAndStore rotates every row's query and key heads for the row's
// position (frequency base and scale, per layer in gemma3) and stores its
// keys and values in its state at layer li. The rows are split across the
// pool: a decode batch of S sessions is S rows of this work, each storing
// into its own cache pages (a strided write per value, most of them cache
// misses), which one core doing alone left the others waiting. Split in
// contiguous ranges as attention's (row, KV head) jobs are, each row's new
// keys and values are then in the cache of the core that attends them.
func (m *llama) ropeAndStore(dev metalkit.HostDevice, li int, base, scale float32) {
	c := &m.cfg
	r := &m.run
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	store := func(start, end int) {
		for t := start; t < end; t++ {
			row := r.rows[t]
			m.rope(r.q[t*qDim:(t+1)*qDim], c.Heads, row.pos, base, scale)
			m.rope(r.k[t*kvDim:(t+1)*kvDim], c.KVHeads, row.pos, base, scale)
			row.s.putKV(li, row.pos, r.k[t*kvDim:(t+1)*kvDim], r.v[t*kvDim:(t+1)*kvDim])
		}
	}
	dev.Parallel(len(r.rows), store)
}

// attention computes r.att for every row of layer li: each row's query heads
// attend to positions [0, pos] of the row's own state (causal), or with a
// sliding window of w > 0 positions to [pos-w+1, pos]. Work is split over
// (row, KV head) pairs; see attendGroup.
func (m *llama) attention(dev metalkit.HostDevice, li, w int) {
	c := &m.cfg
	r := &m.run
	qDim := c.Heads * c.HeadDim
	group := c.Heads / c.KVHeads
	maxLen := 0
	for _, row := range r.rows {
		maxLen = max(maxLen, row.pos+1)
	}
	dev.Parallel(len(r.rows)*c.KVHeads, func(start, end int) {
		sc := newAttnScratch(group, c.HeadDim, maxLen)
		for job := start; job < end; job++ {
			t, g := job/c.KVHeads, job%c.KVHeads
			row := r.rows[t]
			q := r.q[t*qDim+g*group*c.HeadDim : t*qDim+(g+1)*group*c.HeadDim]
			out := r.att[t*qDim+g*group*c.HeadDim : t*qDim+(g+1)*group*c.HeadDim]
			from := 0
			if w > 0 {
				from = max(0, row.pos+1-w)
			}
			attendGroup(row.s, li, g, c.HeadDim, group, from, row.pos+1, q, out, sc)
		}
	})
}
