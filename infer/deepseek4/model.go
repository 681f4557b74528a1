package deepseek4

import (
	"encoding/binary"
	"fmt"
	"math"

	"reddwarf/infer"
	"reddwarf/infer/gguf"
	"reddwarf/metalkit"
)

// This file is the model: config (hyperparameters, every one from
// metadata), weights (tensors with ds4's names) and the loader, which init
// registers with infer under the architecture name "deepseek4".

func init() { infer.Register("deepseek4", load) }

// config holds the hyperparameters; each field names its GGUF key
// ("deepseek4." prefix). Nothing is hard-coded, so small configurations run
// too (tests use a 6-layer, 64-wide model).
type config struct {
	Dim         int       // embedding_length
	Layers      int       // block_count
	Vocab       int       // vocab_size (else rows of token_embd.weight)
	Ctx         int       // context_length
	Heads       int       // attention.head_count
	HeadDim     int       // attention.key_length (= value_length; one shared K=V row)
	RopeDim     int       // rope.dimension_count (the last RopeDim of each head rotate)
	QLora       int       // attention.q_lora_rank
	OGroups     int       // attention.output_group_count
	OLora       int       // attention.output_lora_rank
	Experts     int       // expert_count
	ExpertsUsed int       // expert_used_count
	ExpertFFN   int       // expert_feed_forward_length (shared expert too)
	Shared      int       // expert_shared_count (0 or 1)
	HashLayers  int       // hash_layer_count: layers [0, HashLayers) route by token id
	Window      int       // attention.sliding_window: raw rows visible, current included
	IHeads      int       // attention.indexer.head_count
	IDim        int       // attention.indexer.key_length
	ITopK       int       // attention.indexer.top_k
	HC          int       // hyper_connection.count: residual streams
	Sinkhorn    int       // hyper_connection.sinkhorn_iterations
	Ratios      []int     // attention.compress_ratios: 0 (sliding only), 4 (CSA) or 128 (HCA), per layer
	Clamp       []float32 // swiglu_clamp_exp, per layer
	RopeBase    float64   // rope.freq_base (ratio-0 layers)
	CRopeBase   float64   // attention.compress_rope_freq_base (compressed layers)
	YarnFactor  float64   // rope.scaling.factor
	YarnOrig    float64   // rope.scaling.original_context_length
	BetaFast    float64   // rope.scaling.yarn_beta_fast (default 32)
	BetaSlow    float64   // rope.scaling.yarn_beta_slow (default 1)
	ExpScale    float32   // expert_weights_scale
	Eps         float32   // attention.layer_norm_rms_epsilon
	HCEps       float32   // hyper_connection.epsilon
}

// mix is the width of an HC control vector: pre (HC), post (HC), comb (HC²).
func (c *config) mix() int { return (2 + c.HC) * c.HC }

// readConfig reads and checks the hyperparameters.
func readConfig(f *gguf.File) (config, error) {
	const p = "deepseek4."
	var c config
	ints := []struct {
		k   string
		dst *int
		opt bool
	}{
		{"embedding_length", &c.Dim, false}, {"block_count", &c.Layers, false},
		{"context_length", &c.Ctx, true}, {"attention.head_count", &c.Heads, false},
		{"attention.key_length", &c.HeadDim, false}, {"rope.dimension_count", &c.RopeDim, false},
		{"attention.q_lora_rank", &c.QLora, false}, {"attention.output_group_count", &c.OGroups, false},
		{"attention.output_lora_rank", &c.OLora, false}, {"expert_count", &c.Experts, false},
		{"expert_used_count", &c.ExpertsUsed, false}, {"expert_feed_forward_length", &c.ExpertFFN, false},
		{"expert_shared_count", &c.Shared, true}, {"hash_layer_count", &c.HashLayers, true},
		{"attention.sliding_window", &c.Window, false}, {"attention.indexer.head_count", &c.IHeads, true},
		{"attention.indexer.key_length", &c.IDim, true}, {"attention.indexer.top_k", &c.ITopK, true},
		{"hyper_connection.count", &c.HC, false}, {"hyper_connection.sinkhorn_iterations", &c.Sinkhorn, false},
		{"vocab_size", &c.Vocab, true},
	}
	for _, it := range ints {
		v, ok := f.Uint(p + it.k)
		if !ok {
			if it.opt {
				continue
			}
			return c, fmt.Errorf("deepseek4: metadata %s%s missing (u32)", p, it.k)
		}
		if v > 1<<30 {
			return c, fmt.Errorf("deepseek4: metadata %s%s = %d out of range", p, it.k, v)
		}
		*it.dst = int(v)
	}
	if v, ok := f.Uint(p + "attention.value_length"); ok && int(v) != c.HeadDim {
		return c, fmt.Errorf("deepseek4: attention.value_length %d != key_length %d", v, c.HeadDim)
	}
	if v, ok := f.Uint(p + "attention.head_count_kv"); ok && v != 1 {
		return c, fmt.Errorf("deepseek4: attention.head_count_kv %d, want 1 (shared K=V row)", v)
	}
	floats := []struct {
		k   string
		dst *float64
		def float64
	}{
		{"rope.freq_base", &c.RopeBase, 10000}, {"attention.compress_rope_freq_base", &c.CRopeBase, 160000},
		{"rope.scaling.factor", &c.YarnFactor, 1}, {"rope.scaling.original_context_length", &c.YarnOrig, 0},
		{"rope.scaling.yarn_beta_fast", &c.BetaFast, 32}, {"rope.scaling.yarn_beta_slow", &c.BetaSlow, 1},
	}
	for _, it := range floats {
		*it.dst = it.def
		if v, ok := f.Float(p + it.k); ok {
			*it.dst = v
		}
	}
	if c.YarnOrig == 0 {
		if v, ok := f.Uint(p + "rope.scaling.original_context_length"); ok {
			c.YarnOrig = float64(v)
		}
	}
	c.ExpScale, c.Eps, c.HCEps = 1, 1e-6, 1e-6
	for _, it := range []struct {
		k   string
		dst *float32
	}{{"expert_weights_scale", &c.ExpScale}, {"attention.layer_norm_rms_epsilon", &c.Eps}, {"hyper_connection.epsilon", &c.HCEps}} {
		if v, ok := f.Float(p + it.k); ok {
			*it.dst = float32(v)
		}
	}
	if b, ok := f.Bool(p + "expert_weights_norm"); ok && !b {
		return c, fmt.Errorf("deepseek4: expert_weights_norm false is not supported")
	}
	rs, ok := f.Int32s(p + "attention.compress_ratios")
	if !ok || len(rs) < c.Layers {
		return c, fmt.Errorf("deepseek4: metadata %sattention.compress_ratios missing or shorter than %d layers", p, c.Layers)
	}
	c.Ratios = make([]int, c.Layers)
	for i := range c.Ratios {
		c.Ratios[i] = int(rs[i])
		if r := c.Ratios[i]; r != 0 && r != 4 && r != 128 {
			return c, fmt.Errorf("deepseek4: layer %d compress ratio %d, want 0, 4 or 128", i, r)
		}
	}
	c.Clamp = make([]float32, c.Layers)
	if cl, ok := f.Float32s(p + "swiglu_clamp_exp"); ok && len(cl) >= c.Layers {
		copy(c.Clamp, cl)
	} else if v, ok := f.Float(p + "swiglu_clamp_exp"); ok {
		for i := range c.Clamp {
			c.Clamp[i] = float32(v)
		}
	} else {
		return c, fmt.Errorf("deepseek4: metadata %sswiglu_clamp_exp missing or shorter than %d layers", p, c.Layers)
	}
	switch {
	case c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.HeadDim <= 0:
		return c, fmt.Errorf("deepseek4: dim %d, layers %d, heads %d, head dim %d: all must be positive", c.Dim, c.Layers, c.Heads, c.HeadDim)
	case c.RopeDim <= 0 || c.RopeDim%2 != 0 || c.RopeDim > c.HeadDim:
		return c, fmt.Errorf("deepseek4: rope dims %d with head dim %d", c.RopeDim, c.HeadDim)
	case c.OGroups <= 0 || c.Heads%c.OGroups != 0:
		return c, fmt.Errorf("deepseek4: %d heads not divisible into %d output groups", c.Heads, c.OGroups)
	case c.ExpertsUsed <= 0 || c.ExpertsUsed > c.Experts:
		return c, fmt.Errorf("deepseek4: %d experts used of %d", c.ExpertsUsed, c.Experts)
	case c.HC <= 0 || c.Sinkhorn <= 0 || c.Window <= 0:
		return c, fmt.Errorf("deepseek4: hyper-connections %d, sinkhorn %d, window %d: must be positive", c.HC, c.Sinkhorn, c.Window)
	case c.Shared > 1:
		return c, fmt.Errorf("deepseek4: %d shared experts, want 0 or 1", c.Shared)
	}
	for _, r := range c.Ratios {
		if r == 4 && (c.IHeads <= 0 || c.IDim < c.RopeDim || c.IDim&(c.IDim-1) != 0 || c.IDim%32 != 0 || c.ITopK <= 0) {
			return c, fmt.Errorf("deepseek4: indexer heads %d, key length %d (a power of two, multiple of 32, >= rope dims %d), top-k %d", c.IHeads, c.IDim, c.RopeDim, c.ITopK)
		}
	}
	return c, nil
}

// layerWeights is one block's tensors (GGUF "blk.N."); shapes are rows × cols
// (GGUF dims reversed). r is the layer's compression ratio, c = 2 when r = 4
// else 1, W = HeadDim, I = IDim.
type layerWeights struct {
	ratio int

	hcAttnFn    metalkit.Matrix   // hc_attn_fn.weight    (mix × HC·Dim)
	hcAttnScale []float32         // hc_attn_scale.weight (3: pre, post, comb)
	hcAttnBase  []float32         // hc_attn_base.weight  (mix)
	attnNorm    []float32         // attn_norm.weight     (Dim)
	qA          metalkit.Matrix   // attn_q_a.weight      (QLora × Dim)
	qANorm      []float32         // attn_q_a_norm.weight (QLora)
	qB          metalkit.Matrix   // attn_q_b.weight      (Heads·W × QLora)
	kv          metalkit.Matrix   // attn_kv.weight       (W × Dim)
	kvNorm      []float32         // attn_kv_a_norm.weight (W)
	sinks       []float32         // attn_sinks.weight    (Heads)
	oA          metalkit.Matrix   // attn_output_a.weight (OGroups·OLora × Heads·W/OGroups)
	oAg         []metalkit.Matrix // oA's groups (OLora × Heads·W/OGroups each), repacked as experts
	oB          metalkit.Matrix   // attn_output_b.weight (Dim × OGroups·OLora)

	// Attention compressor (r ≠ 0).
	cmpAPE  []float32       // attn_compressor_ape.weight  (r × c·W), row = position in window
	cmpKV   metalkit.Matrix // attn_compressor_kv.weight   (c·W × Dim)
	cmpGate metalkit.Matrix // attn_compressor_gate.weight (c·W × Dim)
	cmpNorm []float32       // attn_compressor_norm.weight (W)

	// Lightning indexer (r = 4).
	idxQB      metalkit.Matrix // indexer.attn_q_b.weight         (IHeads·I × QLora)
	idxProj    metalkit.Matrix // indexer.proj.weight             (IHeads × Dim)
	idxCmpAPE  []float32       // indexer_compressor_ape.weight   (4 × 2·I)
	idxCmpKV   metalkit.Matrix // indexer_compressor_kv.weight    (2·I × Dim)
	idxCmpGate metalkit.Matrix // indexer_compressor_gate.weight  (2·I × Dim)
	idxCmpNorm []float32       // indexer_compressor_norm.weight  (I)

	hcFFNFn    metalkit.Matrix   // hc_ffn_fn.weight    (mix × HC·Dim)
	hcFFNScale []float32         // hc_ffn_scale.weight (3)
	hcFFNBase  []float32         // hc_ffn_base.weight  (mix)
	ffnNorm    []float32         // ffn_norm.weight     (Dim)
	router     metalkit.Matrix   // ffn_gate_inp.weight (Experts × Dim)
	bias       []float32         // exp_probs_b.bias    (Experts), nil = none (top-k on P alone)
	tid2eid    []int32           // ffn_gate_tid2eid.weight (Vocab × ExpertsUsed), hash layers only
	gateExps   []metalkit.Matrix // ffn_gate_exps.weight (per expert ExpertFFN × Dim)
	upExps     []metalkit.Matrix // ffn_up_exps.weight   (per expert ExpertFFN × Dim)
	downExps   []metalkit.Matrix // ffn_down_exps.weight (per expert Dim × ExpertFFN)
	gateSh     metalkit.Matrix   // ffn_gate_shexp.weight (ExpertFFN × Dim)
	upSh       metalkit.Matrix   // ffn_up_shexp.weight   (ExpertFFN × Dim)
	downSh     metalkit.Matrix   // ffn_down_shexp.weight (Dim × ExpertFFN)
}

// weights holds every tensor, in place in the GGUF's data.
type weights struct {
	embed     metalkit.Matrix // token_embd.weight      (Vocab × Dim)
	outHCFn   metalkit.Matrix // output_hc_fn.weight    (HC × HC·Dim)
	outHCBase []float32       // output_hc_base.weight  (HC)
	outHCScl  []float32       // output_hc_scale.weight (1)
	outNorm   []float32       // output_norm.weight     (Dim)
	output    metalkit.Matrix // output.weight          (Vocab × Dim)
	layers    []layerWeights
}

// loader reads tensors, turning every problem into an error that names
// the tensor and what was expected.
type loader struct {
	f   *gguf.File
	err error
	// keep leaves every matrix in the file's layout, unrepacked and its
	// pages kept, for a device's Upload (the forward through the Device
	// ops); stacks then collects each expert tensor whole, by name.
	keep   bool
	stacks map[string]metalkit.Matrix
}

func (ld *loader) info(name string, want []uint64) *gguf.TensorInfo {
	if ld.err != nil {
		return nil
	}
	t, ok := ld.f.Tensor(name)
	if !ok {
		ld.err = fmt.Errorf("deepseek4: tensor %s missing (want shape %v)", name, want)
		return nil
	}
	if len(t.Dims) != len(want) {
		ld.err = fmt.Errorf("deepseek4: tensor %s has shape %v, want %v", name, t.Dims, want)
		return nil
	}
	for i := range want {
		if t.Dims[i] != want[i] {
			ld.err = fmt.Errorf("deepseek4: tensor %s has shape %v, want %v", name, t.Dims, want)
			return nil
		}
	}
	return t
}

// matrix loads a 2-D tensor as rows × cols (GGUF dims [cols, rows]).
func (ld *loader) matrix(name string, rows, cols int) metalkit.Matrix {
	t := ld.info(name, []uint64{uint64(cols), uint64(rows)})
	if t == nil {
		return metalkit.Matrix{}
	}
	m, err := metalkit.NewMatrix(metalkit.DType(t.Type), rows, cols, ld.f.TensorData(t))
	if err != nil {
		ld.err = fmt.Errorf("deepseek4: tensor %s (%v, shape %v): %w", name, t.Type, t.Dims, err)
	}
	return m
}

// weight is matrix for a tensor only MatMul and Row read: its data is
// repacked into the layout the CPU kernels stream best (metalkit.Repack),
// as llama's weights are, and the file's pages for it are released.
func (ld *loader) weight(name string, rows, cols int) metalkit.Matrix {
	m := ld.matrix(name, rows, cols)
	if ld.err != nil || ld.keep {
		return m
	}
	if p := metalkit.Repack(m); p.Repacked() {
		m = p
		if t, ok := ld.f.Tensor(name); ok {
			ld.f.Release(t)
		}
	}
	return m
}

// experts loads a 3-D expert tensor (GGUF [cols, rows, n]) as n matrices,
// each repacked as weight's (only MatMul reads them).
func (ld *loader) experts(name string, rows, cols, n int) []metalkit.Matrix {
	t := ld.info(name, []uint64{uint64(cols), uint64(rows), uint64(n)})
	if t == nil {
		return nil
	}
	all, err := metalkit.NewMatrix(metalkit.DType(t.Type), rows*n, cols, ld.f.TensorData(t))
	if err != nil {
		ld.err = fmt.Errorf("deepseek4: tensor %s (%v, shape %v; want IQ2_XXS, Q2_K, Q4_K, Q8_0, F16 or F32): %w", name, t.Type, t.Dims, err)
		return nil
	}
	if ld.keep {
		ld.stacks[name] = all
	}
	rb := len(all.Data) / (rows * n)
	out := make([]metalkit.Matrix, n)
	repacked := !ld.keep
	for e := range out {
		m, err := metalkit.NewMatrix(all.Type, rows, cols, all.Data[e*rows*rb:(e+1)*rows*rb:(e+1)*rows*rb])
		if err != nil {
			ld.err = fmt.Errorf("deepseek4: tensor %s expert %d: %w", name, e, err)
			return nil
		}
		if p := metalkit.Repack(m); p.Repacked() && !ld.keep {
			m = p
		} else {
			repacked = false
		}
		out[e] = m
	}
	if repacked {
		ld.f.Release(t)
	}
	return out
}

// groups splits m (the tensor name) into n matrices of m.Rows/n rows,
// each repacked as an expert's (so that a device's UploadExperts of m,
// which repacks the same way on the CPU, gives the same products).
func (ld *loader) groups(name string, m metalkit.Matrix, n int) []metalkit.Matrix {
	if ld.err != nil {
		return nil
	}
	rows, rb := m.Rows/n, len(m.Data)/m.Rows
	out := make([]metalkit.Matrix, n)
	for g := range out {
		sub, err := metalkit.NewMatrix(m.Type, rows, m.Cols, m.Data[g*rows*rb:(g+1)*rows*rb:(g+1)*rows*rb])
		if err != nil {
			ld.err = fmt.Errorf("deepseek4: tensor %s group %d: %w", name, g, err)
			return nil
		}
		if p := metalkit.Repack(sub); p.Repacked() && !ld.keep {
			sub = p
		}
		out[g] = sub
	}
	return out
}

// vector loads a 1-D float tensor of n values (a copy, as float32).
func (ld *loader) vector(name string, n int) []float32 {
	return ld.table(name, 1, n)
}

// table loads a float tensor of GGUF dims [cols, rows] (or [cols] when rows
// is 1) as rows·cols float32 values, row-major.
func (ld *loader) table(name string, rows, cols int) []float32 {
	want := []uint64{uint64(cols)}
	if rows != 1 {
		want = append(want, uint64(rows))
	}
	t := ld.info(name, want)
	if t == nil {
		return nil
	}
	m, err := metalkit.NewMatrix(metalkit.DType(t.Type), rows, cols, ld.f.TensorData(t))
	if err != nil {
		ld.err = fmt.Errorf("deepseek4: tensor %s (%v, want F32 or F16): %w", name, t.Type, err)
		return nil
	}
	out := make([]float32, rows*cols)
	for r := 0; r < rows; r++ {
		m.Row(r, out[r*cols:(r+1)*cols])
	}
	return out
}

// int32s loads an I32 tensor of GGUF dims [cols, rows].
func (ld *loader) int32s(name string, rows, cols int) []int32 {
	t := ld.info(name, []uint64{uint64(cols), uint64(rows)})
	if t == nil {
		return nil
	}
	if t.Type != gguf.TypeI32 {
		ld.err = fmt.Errorf("deepseek4: tensor %s is %v, want I32", name, t.Type)
		return nil
	}
	b := ld.f.TensorData(t)
	out := make([]int32, rows*cols)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// model is the loaded architecture (an infer.StatefulArch).
type model struct {
	cfg      config
	w        weights
	kvType   infer.KVType
	ds4      bool      // ds4 numerics: FP8 KV and FP4 indexer round trips (infer.Options.Numerics "ds4")
	cpEvery  int       // automatic restore point every cpEvery tokens (infer.Options.CheckpointInterval); 0 = never
	ropeMain []float32 // per rotary pair: inverse frequency, ratio-0 layers
	ropeComp []float32 // per rotary pair: inverse frequency (YaRN-blended), compressed layers
	run      scratch
	ctx      int                        // the Model's context (infer.Options.Ctx, else the trained one)
	stacks   map[string]metalkit.Matrix // expert tensors whole, by name, for a device (loader.keep)
	dev      *deviceModel               // the forward through the Device ops, when on one (device.go)
}

// load reads the config and every tensor, checking names, shapes and types.
func load(f *gguf.File, opt infer.Options, kv infer.KVType) (infer.Arch, error) {
	cfg, err := readConfig(f)
	if err != nil {
		return nil, err
	}
	m := &model{kvType: kv, cpEvery: opt.CheckpointInterval}
	switch {
	case m.cpEvery == 0:
		m.cpEvery = defaultCheckpointInterval
	case m.cpEvery < 0:
		m.cpEvery = 0
	}
	switch opt.Numerics {
	case "", "ds4":
		m.ds4 = true
	case "exact":
	default:
		return nil, fmt.Errorf("deepseek4: numerics %q: want ds4 or exact", opt.Numerics)
	}
	if m.ds4 && (cfg.HeadDim-cfg.RopeDim)%64 != 0 {
		return nil, fmt.Errorf("deepseek4: ds4 numerics need head dim - rope dims (%d) to be a multiple of 64 (FP8 blocks)", cfg.HeadDim-cfg.RopeDim)
	}
	if cfg.Vocab == 0 {
		t, ok := f.Tensor("token_embd.weight")
		if !ok || len(t.Dims) != 2 {
			return nil, fmt.Errorf("deepseek4: tensor token_embd.weight missing or not 2-D")
		}
		cfg.Vocab = int(t.Dims[1])
	}
	if cfg.Ctx == 0 {
		cfg.Ctx = 1 << 20
	}
	m.cfg = cfg
	c := &m.cfg
	// On a device that is not the host's, the weights go up in the
	// file's layout (OnDevice), and the host forward does not run.
	_, host := opt.Device.(metalkit.HostDevice)
	ld := &loader{f: f, keep: opt.Device != nil && !host, stacks: map[string]metalkit.Matrix{}}
	w := &m.w
	D, W, hcD, mix := c.Dim, c.HeadDim, c.HC*c.Dim, c.mix()
	w.embed = ld.weight("token_embd.weight", c.Vocab, D)
	w.outHCFn = ld.matrix("output_hc_fn.weight", c.HC, hcD)
	w.outHCBase = ld.vector("output_hc_base.weight", c.HC)
	w.outHCScl = ld.vector("output_hc_scale.weight", 1)
	w.outNorm = ld.vector("output_norm.weight", D)
	w.output = ld.weight("output.weight", c.Vocab, D)
	w.layers = make([]layerWeights, c.Layers)
	for i := range w.layers {
		l := &w.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		r := c.Ratios[i]
		l.ratio = r
		l.hcAttnFn = ld.matrix(p+"hc_attn_fn.weight", mix, hcD)
		l.hcAttnScale = ld.vector(p+"hc_attn_scale.weight", 3)
		l.hcAttnBase = ld.vector(p+"hc_attn_base.weight", mix)
		l.attnNorm = ld.vector(p+"attn_norm.weight", D)
		l.qA = ld.weight(p+"attn_q_a.weight", c.QLora, D)
		l.qANorm = ld.vector(p+"attn_q_a_norm.weight", c.QLora)
		l.qB = ld.weight(p+"attn_q_b.weight", c.Heads*W, c.QLora)
		l.kv = ld.weight(p+"attn_kv.weight", W, D)
		l.kvNorm = ld.vector(p+"attn_kv_a_norm.weight", W)
		l.sinks = ld.vector(p+"attn_sinks.weight", c.Heads)
		l.oA = ld.matrix(p+"attn_output_a.weight", c.OGroups*c.OLora, c.Heads*W/c.OGroups)
		l.oAg = ld.groups(p+"attn_output_a.weight", l.oA, c.OGroups)
		l.oB = ld.weight(p+"attn_output_b.weight", D, c.OGroups*c.OLora)
		if r != 0 {
			coff := 1
			if r == 4 {
				coff = 2
			}
			l.cmpAPE = ld.table(p+"attn_compressor_ape.weight", r, coff*W)
			l.cmpKV = ld.weight(p+"attn_compressor_kv.weight", coff*W, D)
			l.cmpGate = ld.weight(p+"attn_compressor_gate.weight", coff*W, D)
			l.cmpNorm = ld.vector(p+"attn_compressor_norm.weight", W)
		}
		if r == 4 {
			I := c.IDim
			l.idxQB = ld.weight(p+"indexer.attn_q_b.weight", c.IHeads*I, c.QLora)
			l.idxProj = ld.weight(p+"indexer.proj.weight", c.IHeads, D)
			l.idxCmpAPE = ld.table(p+"indexer_compressor_ape.weight", 4, 2*I)
			l.idxCmpKV = ld.weight(p+"indexer_compressor_kv.weight", 2*I, D)
			l.idxCmpGate = ld.weight(p+"indexer_compressor_gate.weight", 2*I, D)
			l.idxCmpNorm = ld.vector(p+"indexer_compressor_norm.weight", I)
		}
		l.hcFFNFn = ld.matrix(p+"hc_ffn_fn.weight", mix, hcD)
		l.hcFFNScale = ld.vector(p+"hc_ffn_scale.weight", 3)
		l.hcFFNBase = ld.vector(p+"hc_ffn_base.weight", mix)
		l.ffnNorm = ld.vector(p+"ffn_norm.weight", D)
		l.router = ld.weight(p+"ffn_gate_inp.weight", c.Experts, D)
		if i < c.HashLayers {
			l.tid2eid = ld.int32s(p+"ffn_gate_tid2eid.weight", c.Vocab, c.ExpertsUsed)
			for j, e := range l.tid2eid {
				if ld.err == nil && (e < 0 || int(e) >= c.Experts) {
					ld.err = fmt.Errorf("deepseek4: tensor %sffn_gate_tid2eid.weight: entry %d = %d not an expert in [0, %d)", p, j, e, c.Experts)
				}
			}
		} else if _, ok := f.Tensor(p + "exp_probs_b.bias"); ok {
			l.bias = ld.vector(p+"exp_probs_b.bias", c.Experts)
		}
		l.gateExps = ld.experts(p+"ffn_gate_exps.weight", c.ExpertFFN, D, c.Experts)
		l.upExps = ld.experts(p+"ffn_up_exps.weight", c.ExpertFFN, D, c.Experts)
		l.downExps = ld.experts(p+"ffn_down_exps.weight", D, c.ExpertFFN, c.Experts)
		if ld.err == nil && l.gateExps[0].Type != l.upExps[0].Type {
			ld.err = fmt.Errorf("deepseek4: tensor %sffn_up_exps.weight is %v, want the type of ffn_gate_exps (%v)", p, l.upExps[0].Type, l.gateExps[0].Type)
		}
		if c.Shared > 0 {
			l.gateSh = ld.weight(p+"ffn_gate_shexp.weight", c.ExpertFFN, D)
			l.upSh = ld.weight(p+"ffn_up_shexp.weight", c.ExpertFFN, D)
			l.downSh = ld.weight(p+"ffn_down_shexp.weight", D, c.ExpertFFN)
		}
		if ld.err != nil {
			return nil, ld.err
		}
	}
	if ld.err != nil {
		return nil, ld.err
	}
	m.ropeMain, m.ropeComp = ropeFreqs(c)
	m.stacks = ld.stacks
	m.ctx = opt.Ctx
	if m.ctx <= 0 {
		m.ctx = c.Ctx
	}
	return m, nil
}

// ropeFreqs returns the per-pair inverse frequencies of the two RoPE
// kinds (spec §3.2): plain θ_k = base^(−2k/R) on ratio-0 layers; on
// compressed layers a YaRN blend of θ_k and θ_k/factor, γ_k = 1 − ramp(k)
// between the correction dims of β_fast and β_slow. No magnitude factor.
func ropeFreqs(c *config) (main, comp []float32) {
	R := c.RopeDim
	main = make([]float32, R/2)
	comp = make([]float32, R/2)
	for k := range main {
		main[k] = float32(1 / math.Pow(c.RopeBase, float64(2*k)/float64(R)))
	}
	corr := func(beta float64) float64 {
		return float64(R) * math.Log(c.YarnOrig/(2*math.Pi*beta)) / (2 * math.Log(c.CRopeBase))
	}
	lo, hi := 0.0, float64(R-1)
	if c.YarnOrig > 0 {
		lo = math.Max(0, math.Floor(corr(c.BetaFast)))
		hi = math.Min(float64(R-1), math.Ceil(corr(c.BetaSlow)))
	}
	for k := range comp {
		e := 1 / math.Pow(c.CRopeBase, float64(2*k)/float64(R))
		if c.YarnFactor <= 1 || c.YarnOrig == 0 {
			comp[k] = float32(e)
			continue
		}
		g := 1 - math.Min(1, math.Max(0, (float64(k)-lo)/math.Max(0.001, hi-lo)))
		comp[k] = float32(e/c.YarnFactor*(1-g) + e*g)
	}
	return main, comp
}

// Shape implements Arch.
func (m *model) Shape() infer.Shape {
	c := &m.cfg
	return infer.Shape{Vocab: c.Vocab, Ctx: c.Ctx, Layers: c.Layers, Dim: c.Dim, Heads: c.Heads, KVHeads: 1}
}

// KVLayout implements infer.Arch. deepseek4 keeps no paged K/V rows: its
// session state hangs off State.ext, so the pages are empty, and a page's
// memory is what that state grows by over its positions.
func (m *model) KVLayout() infer.KVLayout {
	return infer.KVLayout{Layers: 0, Heads: 1, HeadDim: m.cfg.HeadDim, Type: m.kvType,
		StateBytes: int64(math.Ceil(m.GrowthBytesPerToken() * infer.PageTokens))}
}
