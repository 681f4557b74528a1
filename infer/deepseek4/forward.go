package deepseek4

import (
	"sort"

	"reddwarf/infer"
	"reddwarf/metalkit"
)

// scratch is per-step activation memory, grown to the largest batch.
// Buffers hold T token rows back to back.
type scratch struct {
	rows []batchRow
	seqs []batchSeq

	X     []float32 // HC state                       (T × HC·Dim)
	Xn    []float32 // HC state / rms                 (T × HC·Dim)
	mixes []float32 // HC control vectors             (T × mix)
	pre   []float32 // HC pre weights                 (T × HC)
	post  []float32 // HC post weights                (T × HC)
	comb  []float32 // HC combine matrices            (T × HC²)
	x     []float32 // collapsed sub-layer input      (T × Dim)
	h     []float32 // normed sub-layer input         (T × Dim)
	y     []float32 // sub-layer output               (T × Dim)
	qa    []float32 // q low-rank                     (T × QLora)
	q     []float32 // queries                        (T × Heads·W)
	kv    []float32 // raw K=V rows                   (T × W)
	ckv   []float32 // compressor values              (T × c·W)
	cg    []float32 // compressor gates               (T × c·W)
	ikv   []float32 // indexer compressor values      (T × 2I)
	ig    []float32 // indexer compressor gates       (T × 2I)
	iq    []float32 // indexer queries                (T × IHeads·I)
	iw    []float32 // indexer head weights           (T × IHeads)
	att   []float32 // attention output               (T × Heads·W)
	grp   []float32 // one output group's inputs      (T × Heads·W/OGroups)
	low   []float32 // grouped low-rank outputs       (T × OGroups·OLora)
	lowg  []float32 // one group's low-rank outputs   (T × OLora)
	sel   []int32   // indexer selections             (T × ITopK), -1 padded
	rl    []float32 // router logits                  (T × Experts)
	eh    []float32 // gathered expert inputs         (n × Dim)
	eg    []float32 // expert gate                    (n × FFN)
	eu    []float32 // expert up                      (n × FFN)
	ed    []float32 // expert down                    (n × Dim)
	logit []float32 // output rows                    (R × Vocab)
	hb    []float32 // head inputs                    (R × Dim)
}

// batchRow is one token row of a batch.
type batchRow struct {
	seq int // index into run.seqs
	pos int // absolute position
	tok int32
}

// batchSeq is one session's part of a batch: its rows [first, first+n) and,
// while a layer runs, its raw rows: the Window−1 before the chunk (from the
// ring) followed by the chunk's own.
type batchSeq struct {
	st    *state
	s     *infer.State
	first int
	n     int
	start int       // position of the first row
	win   []float32 // raw rows of positions [start−nprev, start+n)
	nprev int
	snap  *state // the state at the page boundary snap.n being captured, or nil
}

// Forward implements infer.Arch.
func (m *model) Forward(d metalkit.Device, batch []infer.Seq) {
	// Every architecture runs on host memory today (metalkit.HostDevice);
	// Model refuses any other device for it, so this cannot fail.
	dev := d.(metalkit.HostDevice)
	m.forward(dev, batch, nil)
}

// forward runs one batch. Every seq's pending replay tokens (after a
// rollback) are fed first. With all != nil it also stores the logits of
// every row of every seq into all[i] (tests); otherwise only each State's
// last logits are computed.
func (m *model) forward(dev metalkit.HostDevice, batch []infer.Seq, all [][]float32) {
	m.layOut(batch)
	m.embed()
	for li := range m.w.layers {
		m.layer(dev, li)
	}
	m.head(dev, all)
	m.advance()
}

// layOut lists the batch's token rows, seq by seq: pending replay tokens,
// then the new ones; and sizes the per-row buffers.
func (m *model) layOut(batch []infer.Seq) {
	c := &m.cfg
	r := &m.run
	r.rows, r.seqs = r.rows[:0], r.seqs[:0]
	for i, sq := range batch {
		st := sq.State.Ext().(*state)
		toks := append(append([]int32(nil), sq.State.Tokens()[st.n:]...), sq.Tokens...)
		bs := batchSeq{st: st, s: sq.State, first: len(r.rows), n: len(toks), start: st.n}
		// The last page boundary before a prefill chunk's last row: a
		// prefix cache can resume a later prompt with these tokens there.
		if b := (st.n + len(toks) - 1) / infer.PageTokens * infer.PageTokens; len(toks) > 1 && b > 0 && b >= st.n {
			bs.snap = &state{arch: m, n: b, layers: make([]layerState, c.Layers)}
		}
		r.seqs = append(r.seqs, bs)
		for j, t := range toks {
			r.rows = append(r.rows, batchRow{seq: i, pos: st.n + j, tok: t})
		}
	}
	T, D, hcD, mix := len(r.rows), c.Dim, c.HC*c.Dim, c.mix()
	r.X, r.Xn = grow(r.X, T*hcD), grow(r.Xn, T*hcD)
	r.mixes = grow(r.mixes, T*mix)
	r.pre, r.post, r.comb = grow(r.pre, T*c.HC), grow(r.post, T*c.HC), grow(r.comb, T*c.HC*c.HC)
	r.x, r.h, r.y = grow(r.x, T*D), grow(r.h, T*D), grow(r.y, T*D)
}

// embed starts every HC stream of every row as the token's embedding.
func (m *model) embed() {
	c := &m.cfg
	r := &m.run
	D, hcD := c.Dim, c.HC*c.Dim
	for t, row := range r.rows {
		e := r.X[t*hcD : t*hcD+D]
		m.w.embed.Row(int(row.tok), e)
		for s := 1; s < c.HC; s++ {
			copy(r.X[t*hcD+s*D:t*hcD+(s+1)*D], e)
		}
	}
}

// layer runs block li on every row: the attention sub-layer, then the MoE
// sub-layer, each between the HC state's collapse (hcPre) and update
// (hcPost), with its own RMSNorm.
func (m *model) layer(dev metalkit.HostDevice, li int) {
	c := &m.cfg
	r := &m.run
	l := &m.w.layers[li]
	T, D := len(r.rows), c.Dim

	m.hcPre(dev, l.hcAttnFn, l.hcAttnScale, l.hcAttnBase, T)
	for t := 0; t < T; t++ {
		metalkit.RMSNormExact(r.h[t*D:(t+1)*D], r.x[t*D:(t+1)*D], l.attnNorm, c.Eps)
	}
	m.attention(dev, li, l, T)
	m.hcPost(T)

	m.hcPre(dev, l.hcFFNFn, l.hcFFNScale, l.hcFFNBase, T)
	for t := 0; t < T; t++ {
		metalkit.RMSNormExact(r.h[t*D:(t+1)*D], r.x[t*D:(t+1)*D], l.ffnNorm, c.Eps)
	}
	m.moe(dev, li, l, T)
	m.hcPost(T)
}

// head collapses the HC state of the rows that need logits (each seq's
// last, or every row when all != nil), norms it and applies the output
// matrix; each State gets its last row's logits.
func (m *model) head(dev metalkit.HostDevice, all [][]float32) {
	c := &m.cfg
	r := &m.run
	D, hcD := c.Dim, c.HC*c.Dim
	var need []int
	for _, sq := range r.seqs {
		if all != nil {
			for t := sq.first; t < sq.first+sq.n; t++ {
				need = append(need, t)
			}
		} else {
			need = append(need, sq.first+sq.n-1)
		}
	}
	R := len(need)
	r.hb = grow(r.hb, R*D)
	for i, t := range need {
		m.outputHC(r.X[t*hcD:(t+1)*hcD], r.hb[i*D:(i+1)*D])
		metalkit.RMSNormExact(r.hb[i*D:(i+1)*D], r.hb[i*D:(i+1)*D], m.w.outNorm, c.Eps)
	}
	r.logit = grow(r.logit, R*c.Vocab)
	dev.MatMulHost(r.logit, m.w.output, r.hb, R)
	k := 0
	for si, sq := range r.seqs {
		if all != nil {
			all[si] = append(all[si][:0], r.logit[k*c.Vocab:(k+sq.n)*c.Vocab]...)
			k += sq.n
		} else {
			k++
		}
		// Cannot fail: the row is Vocab wide.
		_ = sq.s.SetLogits(r.logit[(k-1)*c.Vocab : k*c.Vocab])
	}
}

// advance counts the rows into each seq's state, keeps the page-boundary
// snapshot captured, and takes an automatic restore point every cpEvery
// tokens.
func (m *model) advance() {
	for _, sq := range m.run.seqs {
		if ps := sq.snap; ps != nil {
			k := len(sq.st.checkpoints)
			for k > 0 && sq.st.checkpoints[k-1].n > ps.n {
				k--
			}
			ps.checkpoints = sq.st.checkpoints[:k:k]
			sq.st.pageSnap = ps
		}
		sq.st.n += sq.n
		if cps := sq.st.checkpoints; m.cpEvery > 0 && sq.st.n-lastCheckpoint(cps) >= m.cpEvery {
			sq.st.Checkpoint()
		}
	}
}

func lastCheckpoint(cps []checkpoint) int {
	if len(cps) == 0 {
		return 0
	}
	return cps[len(cps)-1].n
}

// hcPre computes, for every row, the hyper-connection weights of one
// sub-layer from the HC state X (spec §4.2) and the collapsed input x:
// f = X/rms(X); m = fn·f; pre = σ(a_pre·m + b) + ε; post = 2σ(a_post·m + b);
// comb = Sinkhorn(softmax rows of a_comb·m + b); x = Σ_s pre_s X_s.
func (m *model) hcPre(dev metalkit.HostDevice, fn metalkit.Matrix, scale, base []float32, T int) {
	c := &m.cfg
	r := &m.run
	H, D, hcD, mix := c.HC, c.Dim, c.HC*c.Dim, c.mix()
	for t := 0; t < T; t++ {
		metalkit.RMSNormExact(r.Xn[t*hcD:(t+1)*hcD], r.X[t*hcD:(t+1)*hcD], nil, c.Eps)
	}
	dev.MatMulHost(r.mixes, fn, r.Xn, T)
	for t := 0; t < T; t++ {
		mx := r.mixes[t*mix : (t+1)*mix]
		pre, post, comb := r.pre[t*H:(t+1)*H], r.post[t*H:(t+1)*H], r.comb[t*H*H:(t+1)*H*H]
		for s := 0; s < H; s++ {
			pre[s] = sigmoid(scale[0]*mx[s]+base[s]) + c.HCEps
			post[s] = 2 * sigmoid(scale[1]*mx[H+s]+base[H+s])
		}
		for i := 0; i < H; i++ {
			row := comb[i*H : (i+1)*H]
			for j := range row {
				row[j] = scale[2]*mx[2*H+i*H+j] + base[2*H+i*H+j]
			}
			metalkit.Softmax(row)
			for j := range row {
				row[j] += c.HCEps
			}
		}
		metalkit.SinkhornCols(comb, H, c.HCEps)
		for it := 1; it < c.Sinkhorn; it++ {
			metalkit.SinkhornRows(comb, H, c.HCEps)
			metalkit.SinkhornCols(comb, H, c.HCEps)
		}
		x := r.x[t*D : (t+1)*D]
		X := r.X[t*hcD : (t+1)*hcD]
		for i := range x {
			x[i] = 0
		}
		for s := 0; s < H; s++ {
			metalkit.Axpy(x, pre[s], X[s*D:(s+1)*D])
		}
	}
}

// hcPost replaces the HC state by X'_j = post_j·y + Σ_i comb_ij·X_i (spec §4.3).
func (m *model) hcPost(T int) {
	c := &m.cfg
	r := &m.run
	H, D, hcD := c.HC, c.Dim, c.HC*c.Dim
	old := r.Xn[:hcD] // scratch: Xn is free until the next hcPre
	for t := 0; t < T; t++ {
		X := r.X[t*hcD : (t+1)*hcD]
		copy(old, X)
		y := r.y[t*D : (t+1)*D]
		post, comb := r.post[t*H:(t+1)*H], r.comb[t*H*H:(t+1)*H*H]
		for j := 0; j < H; j++ {
			dst := X[j*D : (j+1)*D]
			for d := range dst {
				dst[d] = post[j] * y[d]
			}
			for i := 0; i < H; i++ {
				metalkit.Axpy(dst, comb[i*H+j], old[i*D:(i+1)*D])
			}
		}
	}
}

// moe runs the FFN sub-layer on r.h, leaving its output in r.y (spec §4.7).
func (m *model) moe(dev metalkit.HostDevice, li int, l *layerWeights, T int) {
	c := &m.cfg
	r := &m.run
	D, E, K, F := c.Dim, c.Experts, c.ExpertsUsed, c.ExpertFFN
	lim := c.Clamp[li]
	r.rl = grow(r.rl, T*E)
	dev.MatMulHost(r.rl, l.router, r.h, T)

	// Choose experts and weights per row.
	type pick struct {
		t int
		w float32
	}
	byExpert := make([][]pick, E)
	P := make([]float32, E)
	idx := make([]int, E)
	for t, row := range r.rows {
		for e := 0; e < E; e++ {
			P[e] = sqrtSoftplus(r.rl[t*E+e])
		}
		var chosen []int
		if l.tid2eid != nil {
			for _, e := range l.tid2eid[int(row.tok)*K : (int(row.tok)+1)*K] {
				chosen = append(chosen, int(e))
			}
		} else {
			for e := range idx {
				idx[e] = e
			}
			key := func(e int) float32 {
				if l.bias != nil {
					return P[e] + l.bias[e]
				}
				return P[e]
			}
			sort.SliceStable(idx, func(a, b int) bool { return key(idx[a]) > key(idx[b]) })
			chosen = idx[:K]
		}
		var sum float32
		for _, e := range chosen {
			sum += P[e]
		}
		sum = max(sum, 6.103515625e-5)
		for _, e := range chosen {
			byExpert[e] = append(byExpert[e], pick{t, c.ExpScale * P[e] / sum})
		}
	}

	// Shared expert over all rows, then each routed expert over its rows.
	y := r.y[:T*D]
	if c.Shared > 0 {
		r.eg, r.eu = grow(r.eg, T*F), grow(r.eu, T*F)
		dev.MatMulHost(r.eg, l.gateSh, r.h, T)
		dev.MatMulHost(r.eu, l.upSh, r.h, T)
		swigluClamp(r.eg[:T*F], r.eu[:T*F], lim)
		dev.MatMulHost(y, l.downSh, r.eg, T)
	} else {
		for i := range y {
			y[i] = 0
		}
	}
	for e, ps := range byExpert {
		n := len(ps)
		if n == 0 {
			continue
		}
		r.eh, r.eg, r.eu, r.ed = grow(r.eh, n*D), grow(r.eg, n*F), grow(r.eu, n*F), grow(r.ed, n*D)
		for i, p := range ps {
			copy(r.eh[i*D:(i+1)*D], r.h[p.t*D:(p.t+1)*D])
		}
		dev.MatMulHost(r.eg, l.gateExps[e], r.eh, n)
		dev.MatMulHost(r.eu, l.upExps[e], r.eh, n)
		swigluClamp(r.eg[:n*F], r.eu[:n*F], lim)
		for i, p := range ps {
			metalkit.Scale(r.eg[i*F:(i+1)*F], p.w)
		}
		dev.MatMulHost(r.ed, l.downExps[e], r.eg, n)
		for i, p := range ps {
			metalkit.Add(y[p.t*D:(p.t+1)*D], y[p.t*D:(p.t+1)*D], r.ed[i*D:(i+1)*D])
		}
	}
}

// swigluClamp sets g = silu(min(g, lim)) · clamp(u, ±lim) (no clamp when lim ≤ 0).
func swigluClamp(g, u []float32, lim float32) {
	for i := range g {
		gv, uv := g[i], u[i]
		if lim > 0 {
			gv = min(gv, lim)
			uv = min(max(uv, -lim), lim)
		}
		g[i] = metalkit.SiLU(gv) * uv
	}
}

// outputHC collapses an HC state for the output head (spec §4.8).
func (m *model) outputHC(X, out []float32) {
	c := &m.cfg
	H, D, hcD := c.HC, c.Dim, c.HC*c.Dim
	f := make([]float32, hcD)
	metalkit.RMSNormExact(f, X, nil, c.Eps)
	mx := make([]float32, H)
	metalkit.MatMul(nil, mx, m.w.outHCFn, f, 1)
	for i := range out[:D] {
		out[i] = 0
	}
	for s := 0; s < H; s++ {
		w := sigmoid(mx[s]*m.w.outHCScl[0]+m.w.outHCBase[s]) + c.HCEps
		metalkit.Axpy(out[:D], w, X[s*D:(s+1)*D])
	}
}

// grow returns b resized to n values, reallocated only when too small.
func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func growInt32(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	return b[:n]
}
