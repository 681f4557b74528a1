package infer

import (
	"fmt"

	"reddwarf/metalkit"
)

// This file is llama's forward on a device whose memory is not the host's
// (a GPU; in tests the CPU device seen through metalkit.DeviceOnly): the
// pass of llama.Forward, batched the same way (every Seq's tokens are rows
// of one pass, so prefill chunks and decode tokens share each weight
// read), written in metalkit.Device ops over device Buffers. The weights
// are uploaded once at Open; the KV rows live in the model's device pool
// (devicekv.go), a State's pages naming its slots. Per step only the
// tokens, positions, KV slots and page tables go up, and only each Seq's
// logits come back (a Read each, into its State). A step of decode tokens only (one row a
// Seq) runs as one graph launch where the device records graphs
// (metalkit.GraphDevice), keyed by its batch size.
//
// It runs the llama family with dense FFNs: llama, qwen2 (Q/K/V biases),
// qwen3 (per-head Q/K norms), phi3 (fused matrices, split at load). A
// mixture-of-experts FFN (qwen3moe) needs routing ops the Device does not
// have yet; onDevice refuses it.

// llamaDevice is llama's weights on the device and the step's buffers.
type llamaDevice struct {
	m             *llama // config; host biases to tile
	d             metalkit.Device
	kv            *deviceKV
	embed, output metalkit.Weights
	outNorm       metalkit.Buffer
	layers        []llamaDeviceLayer
	qRope, kRope  metalkit.Rope
	run           llamaDeviceScratch
}

// llamaDeviceLayer is one block's tensors on the device; the optional
// parts are nil where the llamaLayer's are.
type llamaDeviceLayer struct {
	attnNorm, ffnNorm                 metalkit.Buffer // (dim)
	qNorm, kNorm                      metalkit.Buffer // (headDim), qwen3
	bq, bk, bv                        metalkit.Buffer // biases tiled over the scratch's rows, qwen2
	wq, wk, wv, wo, wGate, wUp, wDown metalkit.Weights
	qkv                               []metalkit.Weights // {wq, wk, wv}: matMuls' operands
}

// llamaDeviceScratch is a step's device buffers, for up to rows token
// rows (grown, never shrunk: a device has no Free, and the largest batch
// comes back), and its host arrays.
type llamaDeviceScratch struct {
	rows        int
	x, xb       metalkit.Buffer   // residual stream, normed input (rows × dim)
	q, att      metalkit.Buffer   // queries, attention output (rows × heads·headDim)
	k, v        metalkit.Buffer   // new keys, values (rows × kvHeads·headDim)
	hb, hb2     metalkit.Buffer   // ffn gate then SwiGLU, ffn up (rows × ffn)
	qkv         []metalkit.Buffer // {q, k, v}: matMuls' outputs
	logits      metalkit.Buffer   // classifier output (rows × vocab; seqs used)
	tokens, pos []int32           // per row
	slots       []int32           // per row: KV pool slot (page·PageTokens + position in page)
	attn        []metalkit.AttnRow
	tables      [][]int32 // per seq: its pages' pool ids, in position order
	last        []int     // per seq: index of its last row
	decodeKeys  []string  // Graph keys by batch size
}

// onDevice implements deviceArch.
func (m *llama) onDevice(d metalkit.Device, kv *deviceKV) (deviceForward, error) {
	c := &m.cfg
	var err error
	upload := func(w metalkit.Matrix) metalkit.Weights {
		if err != nil {
			return nil
		}
		var up metalkit.Weights
		up, err = d.Upload(w)
		return up
	}
	vector := func(v []float32) metalkit.Buffer {
		if err != nil || v == nil {
			return nil
		}
		var b metalkit.Buffer
		if b, err = d.Alloc(len(v)); err == nil {
			d.Write(b, 0, v)
		}
		return b
	}
	g := &llamaDevice{m: m, d: d, kv: kv}
	g.embed, g.outNorm = upload(m.w.embed), vector(m.w.outNorm)
	g.output = g.embed // a tied classifier is the embedding, once
	if !sameMatrix(m.w.output, m.w.embed) {
		g.output = upload(m.w.output)
	}
	for i := range m.w.layers {
		l := &m.w.layers[i]
		if l.moe != nil {
			return nil, fmt.Errorf("layer %d: a mixture-of-experts FFN does not run on a device yet", i)
		}
		g.layers = append(g.layers, llamaDeviceLayer{
			attnNorm: vector(l.attnNorm), ffnNorm: vector(l.ffnNorm), qNorm: vector(l.qNorm), kNorm: vector(l.kNorm),
			wq: upload(l.wq), wk: upload(l.wk), wv: upload(l.wv), wo: upload(l.wo),
			wGate: upload(l.wGate), wUp: upload(l.wUp), wDown: upload(l.wDown)})
	}
	if err != nil {
		return nil, err
	}
	for i := range g.layers {
		l := &g.layers[i]
		l.qkv = []metalkit.Weights{l.wq, l.wk, l.wv}
	}
	rope := metalkit.Rope{HeadDim: c.HeadDim, Dim: c.RopeDim, Base: c.RopeBase, Scale: c.RopeScale, Neox: c.RopeNeox, Factors: m.w.ropeFreqs}
	g.qRope, g.kRope = rope, rope
	g.qRope.Heads, g.kRope.Heads = c.Heads, c.KVHeads
	return g, nil
}

// sameMatrix reports whether a and b are the same tensor (a tied output).
func sameMatrix(a, b metalkit.Matrix) bool {
	return len(a.Data) > 0 && len(a.Data) == len(b.Data) && &a.Data[0] == &b.Data[0]
}

// forward implements deviceForward: one batched step over all seqs.
func (g *llamaDevice) forward(batch []Seq) error {
	r := &g.run
	T, S := g.layout(batch)
	g.kv.run.Lock()
	defer g.kv.run.Unlock()
	if err := g.grow(T); err != nil {
		return err
	}
	if gd, ok := g.d.(metalkit.GraphDevice); ok && T == S {
		gd.Graph(g.decodeKey(S), func() { g.pass(T, S) })
	} else {
		g.pass(T, S)
	}
	// Each seq's logits are read straight into its State (a llama-3
	// vocabulary is 0.5 MB a seq: one host copy fewer a step). A failed
	// Read (a GPU that stopped) may leave a State's logits half new.
	vocab := g.m.cfg.Vocab
	for i, sq := range batch {
		s := sq.State
		if cap(s.logits) < vocab {
			s.logits = make([]float32, vocab)
		}
		s.logits = s.logits[:vocab]
		if err := g.d.Read(s.logits, r.logits, i*vocab); err != nil {
			return err
		}
	}
	return nil
}

// pass is the step's ops: T token rows, S seqs (their last rows are the
// rows that need logits). Each block's norm is taken where the residual
// before it is added (AddRMSNorm, one op where the device can), so xb
// holds n(x) at the top of every block.
func (g *llamaDevice) pass(T, S int) {
	d, c, r := g.d, &g.m.cfg, &g.run
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim

	// Embed: row t of x is the embedding of the batch's t-th token.
	d.Embed(r.x, g.embed, r.tokens)
	d.RMSNorm(r.xb, r.x, g.layers[0].attnNorm, T, c.Dim, c.Eps)
	for li := range g.layers {
		l := &g.layers[li]

		// Attention block: x += Wo · attention(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x)).
		g.matMuls(r.qkv, l.qkv, r.xb, T)
		if l.bq != nil { // qwen2: Q/K/V biases
			d.Add(r.q, r.q, l.bq, T*qDim)
			d.Add(r.k, r.k, l.bk, T*kvDim)
			d.Add(r.v, r.v, l.bv, T*kvDim)
		}
		if l.qNorm != nil { // qwen3: RMSNorm of each head
			d.RMSNorm(r.q, r.q, l.qNorm, T*c.Heads, c.HeadDim, c.Eps)
			d.RMSNorm(r.k, r.k, l.kNorm, T*c.KVHeads, c.HeadDim, c.Eps)
		}
		d.Rope(r.q, r.pos, g.qRope)
		d.Rope(r.k, r.pos, g.kRope)
		d.PutKV(g.kv.pool, li, r.slots, r.k, r.v)
		d.Attention(r.att, r.q, g.kv.pool, li, c.Heads, r.attn)
		if li == len(g.layers)-1 && T > S {
			// The last layer's output matters only for each seq's
			// last row: move those to rows [0, S) and go on with them.
			g.keepLastRows()
			T = S
		}
		d.MatMul(r.xb, l.wo, r.att, T)
		d.AddRMSNorm(r.xb, r.x, r.xb, l.ffnNorm, T, c.Dim, c.Eps)

		// Feed-forward block: x += Wdown · (SiLU(Wgate·n(x)) ⊙ Wup·n(x)).
		g.matMulSwiGLU(l, T)
		d.MatMul(r.xb, l.wDown, r.hb, T)
		next := g.outNorm
		if li+1 < len(g.layers) {
			next = g.layers[li+1].attnNorm
		}
		d.AddRMSNorm(r.xb, r.x, r.xb, next, T, c.Dim, c.Eps)
	}

	// Classifier, for the last row of each seq (rows [0, S)):
	// logits = Wout · n(x).
	d.MatMul(r.logits, g.output, r.xb, S)
}

// matMuls sets outs[i] = ws[i]·x for every i: one op where the device
// has MatMuls (on a GPU one launch at decode), else MatMul each.
func (g *llamaDevice) matMuls(outs []metalkit.Buffer, ws []metalkit.Weights, x metalkit.Buffer, T int) {
	if mm, ok := g.d.(metalkit.MatMulsDevice); ok {
		mm.MatMuls(outs, ws, x, T)
		return
	}
	for i, w := range ws {
		g.d.MatMul(outs[i], w, x, T)
	}
}

// matMulSwiGLU sets hb = SiLU(Wgate·xb) ⊙ (Wup·xb): one op where the
// device has MatMulSwiGLU (on a GPU one launch at decode), else the two
// MatMuls and SwiGLU (hb2 holding Wup·xb).
func (g *llamaDevice) matMulSwiGLU(l *llamaDeviceLayer, T int) {
	r := &g.run
	if mm, ok := g.d.(metalkit.MatMulsDevice); ok {
		mm.MatMulSwiGLU(r.hb, r.hb2, l.wGate, l.wUp, r.xb, T)
		return
	}
	g.d.MatMul(r.hb, l.wGate, r.xb, T)
	g.d.MatMul(r.hb2, l.wUp, r.xb, T)
	g.d.SwiGLU(r.hb, r.hb, r.hb2, T*g.m.cfg.FFN)
}

// keepLastRows moves each seq's last row of x and att to rows [0, seqs).
// In order it is safe: last is increasing and last[i] ≥ i, so no row is
// overwritten before it is moved.
func (g *llamaDevice) keepLastRows() {
	c, r := &g.m.cfg, &g.run
	qDim := c.Heads * c.HeadDim
	for i, t := range r.last {
		if i != t {
			g.d.Copy(r.x, i*c.Dim, r.x, t*c.Dim, c.Dim)
			g.d.Copy(r.att, i*qDim, r.att, t*qDim, qDim)
		}
	}
}

// layout fills the step's host arrays: each row's token, position and KV
// slot, and its attention row (its seq's page table, causal up to its own
// position). It returns the row and seq counts.
func (g *llamaDevice) layout(batch []Seq) (T, S int) {
	r := &g.run
	r.tokens, r.pos, r.slots, r.attn, r.last = r.tokens[:0], r.pos[:0], r.slots[:0], r.attn[:0], r.last[:0]
	for len(r.tables) < len(batch) {
		r.tables = append(r.tables, nil)
	}
	for si, sq := range batch {
		s := sq.State
		table := r.tables[si][:0]
		for _, p := range s.pages {
			table = append(table, p.dev.id)
		}
		r.tables[si] = table
		for i, tok := range sq.Tokens {
			pos := s.Len() + i
			r.tokens = append(r.tokens, tok)
			r.pos = append(r.pos, int32(pos))
			r.slots = append(r.slots, table[pos/PageTokens]*PageTokens+int32(pos%PageTokens))
			r.attn = append(r.attn, metalkit.AttnRow{Pages: table, N: pos + 1})
		}
		r.last = append(r.last, len(r.tokens)-1)
	}
	return len(r.tokens), len(batch)
}

// grow makes the device buffers hold T rows (the biases tiled over them).
func (g *llamaDevice) grow(T int) error {
	r, c := &g.run, &g.m.cfg
	if T <= r.rows {
		return nil
	}
	rows := max(T, 2*r.rows)
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	var err error
	alloc := func(n int) metalkit.Buffer {
		if err != nil {
			return nil
		}
		var b metalkit.Buffer
		b, err = g.d.Alloc(n)
		return b
	}
	tiled := func(bias []float32) metalkit.Buffer {
		if bias == nil {
			return nil
		}
		b := alloc(rows * len(bias))
		if err == nil {
			host := make([]float32, 0, rows*len(bias))
			for range rows {
				host = append(host, bias...)
			}
			g.d.Write(b, 0, host)
		}
		return b
	}
	r.x, r.xb = alloc(rows*c.Dim), alloc(rows*c.Dim)
	r.q, r.att = alloc(rows*qDim), alloc(rows*qDim)
	r.k, r.v = alloc(rows*kvDim), alloc(rows*kvDim)
	r.hb, r.hb2 = alloc(rows*c.FFN), alloc(rows*c.FFN)
	r.logits = alloc(rows * c.Vocab)
	r.qkv = []metalkit.Buffer{r.q, r.k, r.v}
	for i := range g.layers {
		l, hl := &g.layers[i], &g.m.w.layers[i]
		l.bq, l.bk, l.bv = tiled(hl.bq), tiled(hl.bk), tiled(hl.bv)
	}
	if err != nil {
		r.rows = 0 // half grown: start again next step
		return err
	}
	r.rows = rows
	return nil
}

// decodeKey is the Graph key of a decode step of S seqs.
func (g *llamaDevice) decodeKey(S int) string {
	r := &g.run
	for len(r.decodeKeys) <= S {
		// Per model: two models on one device keep their own recordings.
		r.decodeKeys = append(r.decodeKeys, fmt.Sprintf("llama %p decode/%d", g, len(r.decodeKeys)))
	}
	return r.decodeKeys[S]
}
