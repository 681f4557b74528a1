package deepseek4

import (
	"fmt"
	"math"
	"sync"

	"reddwarf/infer"
	"reddwarf/metalkit"
)

// This file is the forward on a device whose memory is not the host's (a
// GPU; in tests the CPU device seen through metalkit.DeviceOnly): the
// pass of forward.go and attention.go, batched the same way, written in
// metalkit.Device and metalkit.DeepSeek4Ops calls over device Buffers, as
// infer/llamadevice.go is for llama. The weights go up once (OnDevice),
// in the file's layout; each session's state (ring, compressor frontiers,
// compressed and indexer rows) lives in device Buffers beside its host
// copy (deviceState), which is brought up to date only when the host
// needs it (state.sync). Per step only tokens, positions and hash routes
// go up, and only the logits come back; a decode step is one graph launch
// where the device records graphs (metalkit.GraphDevice).
//
// A prefill chunk that crosses a page boundary runs in two steps, the
// rows before the last boundary first, so that the state there can be
// kept for the prefix cache, as forward.go keeps it in one pass. A
// session's compressed and indexer rows grow by doubling (reserve).

// deviceModel is the weights on the device and a step's buffers.
type deviceModel struct {
	m  *model
	d  metalkit.DeepSeek4Ops
	mu sync.Mutex // a step, or a state's copy between host and device

	embed, output, outHCFn metalkit.Weights
	outNorm, outCoef       metalkit.Buffer
	ropeMain, ropeComp     metalkit.Buffer
	layers                 []deviceLayer
	free                   []*deviceState    // released sessions' buffers, reused
	spare                  []metalkit.Buffer // row buffers a session outgrew, reused
	run                    deviceScratch
}

// deviceLayer is one block's tensors on the device; those a layer's
// ratio does not use are nil.
type deviceLayer struct {
	hcAttnFn, hcFFNFn          metalkit.Weights
	hcAttnCoef, hcFFNCoef      metalkit.Buffer // scales then bases (HCPre's coef)
	attnNorm, ffnNorm          metalkit.Buffer
	qANorm, kvNorm, bias       metalkit.Buffer
	qA, qB, kv, oA, oB         metalkit.Weights // oA: OGroups "experts"
	cmpKV, cmpGate             metalkit.Weights
	idxQB, idxProj             metalkit.Weights
	idxCmpKV, idxCmpGate       metalkit.Weights
	router                     metalkit.Weights
	gateExps, upExps, downExps metalkit.Weights
	gateSh, upSh, downSh       metalkit.Weights
	cmp, idx                   metalkit.Compressor
	attn                       metalkit.SinkAttention
}

// deviceScratch is a step's device buffers for up to rows token rows
// (grown, never shrunk) and its host arrays.
type deviceScratch struct {
	rows                 int
	X, Xn                metalkit.Buffer // HC state, its norm        (rows × HC·Dim)
	mixes, postComb      metalkit.Buffer // HC control, post and comb (rows × mix, rows × (HC+HC²))
	x, h, y, sh          metalkit.Buffer // (rows × Dim): collapsed, normed, sub-layer output, shared expert
	qa, q, kv, att, low  metalkit.Buffer
	ckv, cg, ikv, ig     metalkit.Buffer
	iq, iw, sel          metalkit.Buffer
	rl, ids, wts         metalkit.Buffer
	eg, eu, ed, sg, su   metalkit.Buffer
	hX, hmix, hb, logits metalkit.Buffer // the head's rows (one a seq)
	tokensHC, pos        []int32
	groups               []int32   // rows × OGroups: 0…OGroups−1 each row (oA's "experts")
	hash                 [][]int32 // per hash layer: rows × K expert ids
	logitsHost           []float32
	decodeKeys           map[int]string // Graph keys by batch size
}

// deviceState is one session's state on the device: n positions' worth,
// or n = −1 when the host copy changed since (Truncate, a restore), so
// that the next step uploads it.
type deviceState struct {
	n      int
	layers []deviceLayerState
}

type deviceLayerState struct {
	ring     metalkit.Buffer        // Window × HeadDim
	cmp, idx metalkit.CompressState // Rows nil where the layer has none
}

// OnDevice implements infer.DeviceStepper: the weights go up, and every
// step runs forwardDevice.
func (m *model) OnDevice(d metalkit.Device) (func(batch []infer.Seq) error, error) {
	ops, ok := d.(metalkit.DeepSeek4Ops)
	if !ok {
		return nil, fmt.Errorf("deepseek4: %s has no deepseek4 ops", d.Name())
	}
	if len(m.stacks) == 0 {
		return nil, fmt.Errorf("deepseek4: loaded for the host: open with the device in infer.Options")
	}
	c := &m.cfg
	g := &deviceModel{m: m, d: ops}
	var err error
	upload := func(w metalkit.Matrix) metalkit.Weights {
		if err != nil || w.Data == nil {
			return nil
		}
		var up metalkit.Weights
		up, err = d.Upload(w)
		return up
	}
	experts := func(w metalkit.Matrix, n int) metalkit.Weights {
		if err != nil {
			return nil
		}
		var up metalkit.Weights
		up, err = ops.UploadExperts(w, n)
		return up
	}
	vector := func(vs ...[]float32) metalkit.Buffer {
		var v []float32
		for _, x := range vs {
			v = append(v, x...)
		}
		if err != nil || len(v) == 0 {
			return nil
		}
		var b metalkit.Buffer
		if b, err = d.Alloc(len(v)); err == nil {
			d.Write(b, 0, v)
		}
		return b
	}
	w := &m.w
	g.embed, g.output, g.outHCFn = upload(w.embed), upload(w.output), upload(w.outHCFn)
	g.outNorm, g.outCoef = vector(w.outNorm), vector(w.outHCScl[:1], w.outHCBase)
	g.ropeMain, g.ropeComp = vector(m.ropeMain), vector(m.ropeComp)
	g.layers = make([]deviceLayer, c.Layers)
	f16 := m.kvType == infer.KVF16
	for i := range w.layers {
		l, gl := &w.layers[i], &g.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		gl.hcAttnFn, gl.hcFFNFn = upload(l.hcAttnFn), upload(l.hcFFNFn)
		gl.hcAttnCoef, gl.hcFFNCoef = vector(l.hcAttnScale, l.hcAttnBase), vector(l.hcFFNScale, l.hcFFNBase)
		gl.attnNorm, gl.ffnNorm = vector(l.attnNorm), vector(l.ffnNorm)
		gl.qANorm, gl.kvNorm, gl.bias = vector(l.qANorm), vector(l.kvNorm), vector(l.bias)
		gl.qA, gl.qB, gl.kv = upload(l.qA), upload(l.qB), upload(l.kv)
		gl.oA, gl.oB = experts(l.oA, c.OGroups), upload(l.oB)
		gl.router = upload(l.router)
		gl.gateExps = experts(m.stacks[p+"ffn_gate_exps.weight"], c.Experts)
		gl.upExps = experts(m.stacks[p+"ffn_up_exps.weight"], c.Experts)
		gl.downExps = experts(m.stacks[p+"ffn_down_exps.weight"], c.Experts)
		gl.gateSh, gl.upSh, gl.downSh = upload(l.gateSh), upload(l.upSh), upload(l.downSh)
		gl.attn = metalkit.SinkAttention{Heads: c.Heads, Width: c.HeadDim, Window: c.Window, Ratio: l.ratio, TopK: c.ITopK, Sinks: vector(l.sinks)}
		if l.ratio != 0 {
			gl.cmpKV, gl.cmpGate = upload(l.cmpKV), upload(l.cmpGate)
			gl.cmp = metalkit.Compressor{Ratio: l.ratio, Width: c.HeadDim, RopePairs: c.RopeDim / 2, F16: f16,
				APE: vector(l.cmpAPE), Norm: vector(l.cmpNorm), Freq: g.ropeComp, Eps: c.Eps}
			if m.ds4 {
				gl.cmp.Round, gl.cmp.RoundN = metalkit.RoundFP8, c.HeadDim-c.RopeDim
			}
		}
		if l.ratio == 4 {
			gl.idxQB, gl.idxProj = upload(l.idxQB), upload(l.idxProj)
			gl.idxCmpKV, gl.idxCmpGate = upload(l.idxCmpKV), upload(l.idxCmpGate)
			gl.idx = metalkit.Compressor{Ratio: 4, Width: c.IDim, RopePairs: c.RopeDim / 2, F16: f16,
				APE: vector(l.idxCmpAPE), Norm: vector(l.idxCmpNorm), Freq: g.ropeComp, Eps: c.Eps}
			if m.ds4 {
				gl.idx.Round, gl.idx.RoundN = metalkit.RoundFP4, c.IDim
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("deepseek4 on %s: %w", d.Name(), err)
	}
	m.dev = g
	return g.forward, nil
}

// forward implements infer.DeviceStepper's step: one batched pass over
// every seq's pending replay tokens and new ones.
func (g *deviceModel) forward(batch []infer.Seq) error {
	m := g.m
	// Each seq's rows: its pending replay tokens, then the new ones.
	rows := make([][]int32, len(batch))
	var cut []int // seqs whose chunk first runs to a page boundary
	for i, sq := range batch {
		st := sq.State.Ext().(*state)
		rows[i] = append(append([]int32(nil), sq.State.Tokens()[st.n:]...), sq.Tokens...)
		// A prefill chunk keeps the state at the last page boundary
		// before its last row, for the prefix cache (forward.go's
		// snapshots): at the chunk's start it is the state now; inside
		// the chunk, the rows before it run first, on their own.
		b := (st.n + len(rows[i]) - 1) / infer.PageTokens * infer.PageTokens
		switch {
		case len(rows[i]) < 2 || b == 0 || b < st.n:
		case b == st.n:
			st.pageSnap = st.Clone().(*state)
		default:
			cut = append(cut, i)
		}
	}
	if len(cut) > 0 {
		first, firstRows := make([]infer.Seq, len(cut)), make([][]int32, len(cut))
		for k, i := range cut {
			st := batch[i].State.Ext().(*state)
			b := (st.n + len(rows[i]) - 1) / infer.PageTokens * infer.PageTokens
			first[k], firstRows[k] = batch[i], rows[i][:b-st.n]
			rows[i] = rows[i][b-st.n:]
		}
		g.mu.Lock()
		err := g.step(first, firstRows)
		g.mu.Unlock()
		if err != nil {
			return err
		}
		for _, sq := range m.run.seqs {
			sq.st.n += sq.n // no restore point here: the host forward takes them after the whole chunk
			sq.st.pageSnap = sq.st.Clone().(*state)
		}
	}
	g.mu.Lock()
	if err := g.step(batch, rows); err != nil {
		g.mu.Unlock()
		return err
	}
	g.mu.Unlock()
	m.advanceDevice() // may take a restore point, which syncs (locking)
	return nil
}

// step runs the pass over rows[i] of each batch[i].State and sets the
// logits; the rows are not yet counted into the states.
func (g *deviceModel) step(batch []infer.Seq, rows [][]int32) error {
	m := g.m
	m.layOutRows(batch, rows)
	r := &m.run
	T, S := len(r.rows), len(r.seqs)
	if err := g.grow(T); err != nil {
		return err
	}
	for _, sq := range r.seqs {
		if err := g.attach(sq.st, sq.start+sq.n); err != nil {
			return err
		}
	}
	g.layOut()
	if gd, ok := g.d.(metalkit.GraphDevice); ok && T == S {
		// A decode step (one row a seq) as one launch where the device
		// records graphs: its kernels read positions from device memory,
		// so the recording replays from one position to the next.
		if g.run.decodeKeys == nil {
			g.run.decodeKeys = map[int]string{}
		}
		key, ok := g.run.decodeKeys[S]
		if !ok {
			key = fmt.Sprintf("deepseek4 %p decode/%d", g, S)
			g.run.decodeKeys[S] = key
		}
		gd.Graph(key, func() { g.pass(T, S) })
	} else {
		g.pass(T, S)
	}
	c := &m.cfg
	g.run.logitsHost = grow(g.run.logitsHost, S*c.Vocab)
	if err := g.d.Read(g.run.logitsHost, g.run.logits, 0); err != nil {
		return err
	}
	for i, sq := range r.seqs {
		// Cannot fail: the row is Vocab wide.
		_ = sq.s.SetLogits(g.run.logitsHost[i*c.Vocab : (i+1)*c.Vocab])
		sq.st.dev.n = sq.st.n + sq.n
		sq.st.hostStale = true
	}
	return nil
}

// pass is the step's ops: T token rows of S seqs, each seq's rows
// consecutive; the head runs on each seq's last row.
func (g *deviceModel) pass(T, S int) {
	d, m, r := g.d, g.m, &g.run
	c := &m.cfg
	d.Embed(r.X, g.embed, r.tokensHC) // every HC stream starts as the embedding
	hashLayer := 0
	for li := range g.layers {
		l := &g.layers[li]
		g.hcPre(l.hcAttnFn, l.hcAttnCoef, T)
		d.RMSNormF64(r.h, r.x, l.attnNorm, T, c.Dim, c.Eps)
		g.attention(li, l, T)
		d.HCPost(r.X, r.y, r.postComb, T, c.HC, c.Dim)

		g.hcPre(l.hcFFNFn, l.hcFFNCoef, T)
		d.RMSNormF64(r.h, r.x, l.ffnNorm, T, c.Dim, c.Eps)
		var hash []int32
		if m.w.layers[li].tid2eid != nil {
			hash = r.hash[hashLayer]
			hashLayer++
		}
		g.moe(li, l, T, hash)
		d.HCPost(r.X, r.y, r.postComb, T, c.HC, c.Dim)
	}
	g.head(T, S)
}

// hcPre collapses the HC state into r.x and leaves the sub-layer's post
// and comb weights in r.postComb (forward.go's hcPre).
func (g *deviceModel) hcPre(fn metalkit.Weights, coef metalkit.Buffer, T int) {
	d, r, c := g.d, &g.run, &g.m.cfg
	d.RMSNormF64(r.Xn, r.X, nil, T, c.HC*c.Dim, c.Eps)
	d.MatMul(r.mixes, fn, r.Xn, T)
	d.HCPre(r.x, r.postComb, r.X, r.mixes, coef, T, c.HC, c.Dim, c.Sinkhorn, c.HCEps)
}

// attention is attention.go's sub-layer on r.h, leaving r.y.
func (g *deviceModel) attention(li int, l *deviceLayer, T int) {
	d, m, r := g.d, g.m, &g.run
	c := &m.cfg
	W, H, I, pairs := c.HeadDim, c.Heads, c.IDim, c.RopeDim/2
	ratio := l.attn.Ratio
	freq := g.ropeMain
	if ratio != 0 {
		freq = g.ropeComp
	}

	// Queries: q = rope(norm_h(q_b · norm(q_a · h))).
	d.MatMul(r.qa, l.qA, r.h, T)
	d.RMSNormF64(r.qa, r.qa, l.qANorm, T, c.QLora, c.Eps)
	d.MatMul(r.q, l.qB, r.qa, T)
	d.RMSNormF64(r.q, r.q, nil, T*H, W, c.Eps)
	d.RopeTail(r.q, freq, r.pos, H, W, pairs, 1)

	// Raw K=V rows: rope(norm(kv · h)), FP8 on the rest, f16.
	d.MatMul(r.kv, l.kv, r.h, T)
	d.RMSNormF64(r.kv, r.kv, l.kvNorm, T, W, c.Eps)
	d.RopeTail(r.kv, freq, r.pos, 1, W, pairs, 1)
	if m.ds4 {
		d.RoundTrip(r.kv, T, W, W-c.RopeDim, metalkit.RoundFP8)
	}
	if m.kvType == infer.KVF16 {
		d.RoundTrip(r.kv, T, W, W, metalkit.RoundF16)
	}

	// Compressors (and the indexer's) over each seq's rows in order.
	if ratio != 0 {
		d.MatMul(r.ckv, l.cmpKV, r.h, T)
		d.MatMul(r.cg, l.cmpGate, r.h, T)
	}
	if ratio == 4 {
		d.MatMul(r.ikv, l.idxCmpKV, r.h, T)
		d.MatMul(r.ig, l.idxCmpGate, r.h, T)
		d.MatMul(r.iq, l.idxQB, r.qa, T)
		d.MatMul(r.iw, l.idxProj, r.h, T)
	}
	for _, sq := range m.run.seqs {
		ls := &sq.st.dev.layers[li]
		if ratio != 0 {
			d.Compress(ls.cmp, l.cmp, r.ckv, r.cg, sq.first, sq.n, sq.start)
		}
		if ratio == 4 {
			d.Compress(ls.idx, l.idx, r.ikv, r.ig, sq.first, sq.n, sq.start)
		}
	}

	// The indexer's choice of compressed rows (ratio 4).
	if ratio == 4 {
		d.RopeTail(r.iq, g.ropeComp, r.pos, c.IHeads, I, pairs, 1)
		if m.ds4 {
			d.RoundTrip(r.iq, T*c.IHeads, I, I, metalkit.RoundFP4)
		}
		scale := float32(1 / math.Sqrt(float64(I*c.IHeads)))
		for _, sq := range m.run.seqs {
			d.IndexerTopK(r.sel, r.iq, r.iw, sq.st.dev.layers[li].idx.Rows, sq.first, sq.n, sq.start, c.IHeads, I, c.ITopK, scale)
		}
	}

	// Attention over the window and the compressed rows, then the ring
	// keeps the last Window raw rows.
	for _, sq := range m.run.seqs {
		ls := &sq.st.dev.layers[li]
		d.AttendSink(r.att, r.q, r.kv, ls.ring, ls.cmp.Rows, r.sel, sq.first, sq.n, sq.start, l.attn)
		d.RingPut(ls.ring, r.kv, sq.first, sq.n, sq.start, c.Window, W)
	}
	d.RopeTail(r.att, freq, r.pos, H, W, pairs, -1)

	// Grouped low-rank output: each group's heads through its own A_g
	// (oA as OGroups "experts", one pair per row and group), then B.
	d.MatMulExperts(r.low, l.oA, r.att, r.groups[:T*c.OGroups], 1)
	d.MatMul(r.y, l.oB, r.low, T)
}

// moe is forward.go's moe on r.h, leaving r.y: the shared expert, then
// the routed experts' weighted outputs added in ascending expert order.
func (g *deviceModel) moe(li int, l *deviceLayer, T int, hash []int32) {
	d, m, r := g.d, g.m, &g.run
	c := &m.cfg
	D, E, K, F := c.Dim, c.Experts, c.ExpertsUsed, c.ExpertFFN
	lim := c.Clamp[li]
	d.MatMul(r.rl, l.router, r.h, T)
	d.Route(r.ids, r.wts, r.rl, l.bias, hash, T, E, K, c.ExpScale)
	d.MatMulExpertsBy(r.eg, l.gateExps, r.h, r.ids, T*K, K)
	d.MatMulExpertsBy(r.eu, l.upExps, r.h, r.ids, T*K, K)
	d.ClampedSwiGLU(r.eg, r.eg, r.eu, T*K*F, lim)
	d.ScaleRows(r.eg, r.wts, T*K, F)
	d.MatMulExpertsBy(r.ed, l.downExps, r.eg, r.ids, T*K, 1)
	var base metalkit.Buffer
	if c.Shared > 0 {
		d.MatMul(r.sg, l.gateSh, r.h, T)
		d.MatMul(r.su, l.upSh, r.h, T)
		d.ClampedSwiGLU(r.sg, r.sg, r.su, T*F, lim)
		d.MatMul(r.sh, l.downSh, r.sg, T)
		base = r.sh
	}
	d.Combine(r.y, base, r.ed, r.ids, T, K, D)
}

// head collapses each seq's last row's HC state, norms it and applies the
// output matrix (forward.go's head and outputHC), into r.logits.
func (g *deviceModel) head(T, S int) {
	d, m, r := g.d, g.m, &g.run
	c := &m.cfg
	hcD := c.HC * c.Dim
	X := r.X
	if T > S { // a prefill: gather the last rows
		for i, sq := range m.run.seqs {
			d.Copy(r.hX, i*hcD, r.X, (sq.first+sq.n-1)*hcD, hcD)
		}
		X = r.hX
	}
	d.RMSNormF64(r.Xn, X, nil, S, hcD, c.Eps)
	d.MatMul(r.hmix, g.outHCFn, r.Xn, S)
	d.HCPre(r.hb, nil, X, r.hmix, g.outCoef, S, c.HC, c.Dim, 0, c.HCEps)
	d.RMSNormF64(r.hb, r.hb, g.outNorm, S, c.Dim, c.Eps)
	d.MatMul(r.logits, g.output, r.hb, S)
}

// layOutRows lists the batch's token rows, seq by seq (rows[i] for
// batch[i]), as forward.go's layOut, without its host buffers or page
// snapshots.
func (m *model) layOutRows(batch []infer.Seq, rows [][]int32) {
	r := &m.run
	r.rows, r.seqs = r.rows[:0], r.seqs[:0]
	for i, sq := range batch {
		st := sq.State.Ext().(*state)
		r.seqs = append(r.seqs, batchSeq{st: st, s: sq.State, first: len(r.rows), n: len(rows[i]), start: st.n})
		for j, t := range rows[i] {
			r.rows = append(r.rows, batchRow{seq: i, pos: st.n + j, tok: t})
		}
	}
}

// layOut fills the step's host arrays from m.run.rows.
func (g *deviceModel) layOut() {
	m, r := g.m, &g.run
	c := &m.cfg
	r.tokensHC, r.pos = r.tokensHC[:0], r.pos[:0]
	for _, row := range m.run.rows {
		for s := 0; s < c.HC; s++ {
			r.tokensHC = append(r.tokensHC, row.tok)
		}
		r.pos = append(r.pos, int32(row.pos))
	}
	hl := 0
	for li := range m.w.layers {
		t2e := m.w.layers[li].tid2eid
		if t2e == nil {
			continue
		}
		if hl == len(r.hash) {
			r.hash = append(r.hash, nil)
		}
		h := r.hash[hl][:0]
		K := c.ExpertsUsed
		for _, row := range m.run.rows {
			h = append(h, t2e[int(row.tok)*K:(int(row.tok)+1)*K]...)
		}
		r.hash[hl] = h
		hl++
	}
}

// grow makes the step's buffers hold T rows.
func (g *deviceModel) grow(T int) error {
	r, c := &g.run, &g.m.cfg
	if T <= r.rows {
		return nil
	}
	rows := max(T, 2*r.rows)
	var err error
	alloc := func(n int) metalkit.Buffer {
		if err != nil {
			return nil
		}
		var b metalkit.Buffer
		b, err = g.d.Alloc(max(n, 1))
		return b
	}
	D, hcD, W, H, I, K, F := c.Dim, c.HC*c.Dim, c.HeadDim, c.Heads, c.IDim, c.ExpertsUsed, c.ExpertFFN
	r.X, r.Xn = alloc(rows*hcD), alloc(rows*hcD)
	r.mixes, r.postComb = alloc(rows*c.mix()), alloc(rows*(c.HC+c.HC*c.HC))
	r.x, r.h, r.y, r.sh = alloc(rows*D), alloc(rows*D), alloc(rows*D), alloc(rows*D)
	r.qa, r.q, r.kv, r.att = alloc(rows*c.QLora), alloc(rows*H*W), alloc(rows*W), alloc(rows*H*W)
	r.low = alloc(rows * c.OGroups * c.OLora)
	r.ckv, r.cg = alloc(rows*2*W), alloc(rows*2*W)
	r.ikv, r.ig = alloc(rows*2*I), alloc(rows*2*I)
	r.iq, r.iw, r.sel = alloc(rows*c.IHeads*I), alloc(rows*c.IHeads), alloc(rows*c.ITopK)
	r.rl, r.ids, r.wts = alloc(rows*c.Experts), alloc(rows*K), alloc(rows*K)
	r.eg, r.eu, r.ed = alloc(rows*K*F), alloc(rows*K*F), alloc(rows*K*D)
	r.sg, r.su = alloc(rows*F), alloc(rows*F)
	r.hX, r.hmix, r.hb, r.logits = alloc(rows*hcD), alloc(rows*c.HC), alloc(rows*D), alloc(rows*c.Vocab)
	r.groups = r.groups[:0]
	for range rows {
		for gi := 0; gi < c.OGroups; gi++ {
			r.groups = append(r.groups, int32(gi))
		}
	}
	if err != nil {
		r.rows = 0 // half grown: start again next step
		return err
	}
	r.rows = rows
	return nil
}

// attach gives st its device state, with room for the rows of positions
// before end, uploading the host copy where the device's is missing or
// out of date.
func (g *deviceModel) attach(st *state, end int) error {
	if st.dev == nil {
		if k := len(g.free); k > 0 {
			st.dev, g.free = g.free[k-1], g.free[:k-1]
		} else {
			ds, err := g.newState()
			if err != nil {
				return err
			}
			st.dev = ds
		}
	}
	valid := 0 // positions whose rows the device holds
	if st.dev.n == st.n {
		valid = st.n
	}
	if err := g.reserve(st.dev, end, valid); err != nil {
		return err
	}
	if st.dev.n != st.n {
		g.upload(st)
	}
	return nil
}

// devRowsFirst is how many positions' compressed and indexer rows a
// session's device state first has room for; reserve doubles the room as
// the session grows (at most to the context), so that a short session
// does not hold a whole context's rows.
const devRowsFirst = 128

// newState allocates a session's device state: the ring and frontiers,
// and room for devRowsFirst positions' rows.
func (g *deviceModel) newState() (*deviceState, error) {
	m := g.m
	c := &m.cfg
	ds := &deviceState{n: -1, layers: make([]deviceLayerState, c.Layers)}
	var err error
	alloc := func(n int) metalkit.Buffer {
		if err != nil {
			return nil
		}
		var b metalkit.Buffer
		b, err = g.d.Alloc(max(n, 1))
		return b
	}
	first := min(devRowsFirst, m.ctx)
	for i := range ds.layers {
		l := &ds.layers[i]
		l.ring = alloc(c.Window * c.HeadDim)
		if r := c.Ratios[i]; r != 0 {
			s, w := frontierSlots(r, c.HeadDim)
			l.cmp = metalkit.CompressState{Rows: alloc(max(first/r, 1) * c.HeadDim), KV: alloc(s * w), Score: alloc(s * w)}
			if r == 4 {
				l.idx = metalkit.CompressState{Rows: alloc(max(first/4, 1) * c.IDim), KV: alloc(8 * 2 * c.IDim), Score: alloc(8 * 2 * c.IDim)}
			}
		}
	}
	return ds, err
}

// reserve gives ds's row buffers room for the rows of positions before
// end, keeping those of the first valid positions: a buffer too small is
// replaced by one twice as large (or as needed), the kept rows copied
// over, and the old one kept for another session's growth (a device has
// no Free).
func (g *deviceModel) reserve(ds *deviceState, end, valid int) error {
	c := &g.m.cfg
	for i := range ds.layers {
		l, r := &ds.layers[i], c.Ratios[i]
		if r == 0 {
			continue
		}
		if err := g.growRows(&l.cmp.Rows, end/r*c.HeadDim, valid/r*c.HeadDim); err != nil {
			return err
		}
		if r == 4 {
			if err := g.growRows(&l.idx.Rows, end/4*c.IDim, valid/4*c.IDim); err != nil {
				return err
			}
		}
	}
	return nil
}

// growRows makes *b hold need values, keeping its first keep.
func (g *deviceModel) growRows(b *metalkit.Buffer, need, keep int) error {
	if (*b).Len() >= need {
		return nil
	}
	size := max(need, 2*(*b).Len())
	var nb metalkit.Buffer
	for i, sb := range g.spare { // the smallest spare that fits
		if sb.Len() >= size && (nb == nil || sb.Len() < nb.Len()) {
			nb = sb
			g.spare[i] = g.spare[len(g.spare)-1]
			g.spare = g.spare[:len(g.spare)-1]
			break
		}
	}
	if nb == nil {
		var err error
		if nb, err = g.d.Alloc(size); err != nil {
			return err
		}
	}
	if keep > 0 {
		g.d.Copy(nb, 0, *b, 0, keep)
	}
	g.spare = append(g.spare, *b)
	*b = nb
	return nil
}

// upload copies st's host state into its device state.
func (g *deviceModel) upload(st *state) {
	d, c := g.d, &g.m.cfg
	for i := range st.layers {
		l, dl := &st.layers[i], &st.dev.layers[i]
		d.Write(dl.ring, 0, l.ring)
		if c.Ratios[i] != 0 {
			d.Write(dl.cmp.KV, 0, l.fKV)
			d.Write(dl.cmp.Score, 0, l.fScore)
			if l.comp.n > 0 {
				d.Write(dl.cmp.Rows, 0, l.comp.all())
			}
		}
		if c.Ratios[i] == 4 {
			d.Write(dl.idx.KV, 0, l.iKV)
			d.Write(dl.idx.Score, 0, l.iScore)
			if l.idx.n > 0 {
				d.Write(dl.idx.Rows, 0, l.idx.all())
			}
		}
	}
	st.dev.n = st.n
	st.hostStale = false
}

// pull brings st's host copy up to date with its device state after
// device steps: the ring and frontiers whole, the rows appended since.
func (g *deviceModel) pull(st *state) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	d, c := g.d, &g.m.cfg
	var rows []float32
	for i := range st.layers {
		l, dl := &st.layers[i], &st.dev.layers[i]
		if err := d.Read(l.ring, dl.ring, 0); err != nil {
			return err
		}
		r := c.Ratios[i]
		if r == 0 {
			continue
		}
		if err := d.Read(l.fKV, dl.cmp.KV, 0); err != nil {
			return err
		}
		if err := d.Read(l.fScore, dl.cmp.Score, 0); err != nil {
			return err
		}
		if err := readRows(d, &l.comp, dl.cmp.Rows, st.n/r, &rows); err != nil {
			return err
		}
		if r != 4 {
			continue
		}
		if err := d.Read(l.iKV, dl.idx.KV, 0); err != nil {
			return err
		}
		if err := d.Read(l.iScore, dl.idx.Score, 0); err != nil {
			return err
		}
		if err := readRows(d, &l.idx, dl.idx.Rows, st.n/4, &rows); err != nil {
			return err
		}
	}
	st.hostStale = false
	return nil
}

// readRows appends to s the rows [s.n, n) of the device's b, in one Read
// (buf is scratch).
func readRows(d metalkit.Device, s *rowStore, b metalkit.Buffer, n int, buf *[]float32) error {
	if n <= s.n {
		return nil
	}
	*buf = grow(*buf, (n-s.n)*s.width)
	if err := d.Read(*buf, b, s.n*s.width); err != nil {
		return err
	}
	for k, x := 0, *buf; k < len(x); k += s.width {
		s.append(x[k : k+s.width])
	}
	return nil
}

// release keeps a released session's device state for the next one (a
// device has no Free).
func (g *deviceModel) release(ds *deviceState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ds.n = -1
	g.free = append(g.free, ds)
}

// advanceDevice counts the rows into each seq's state and takes the
// automatic restore points (forward.go's advance, without page
// snapshots).
func (m *model) advanceDevice() {
	for _, sq := range m.run.seqs {
		sq.st.n += sq.n
		if cps := sq.st.checkpoints; m.cpEvery > 0 && sq.st.n-lastCheckpoint(cps) >= m.cpEvery {
			sq.st.Checkpoint()
		}
	}
}
