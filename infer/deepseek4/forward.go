package deepseek4

import (
	"math"
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
}

// Forward implements infer.Arch.
func (m *model) Forward(pool *metalkit.Pool, batch []infer.Seq) {
	m.forward(pool, batch, nil)
}

// forward runs one batch. Every seq's pending replay tokens (after a
// rollback) are fed first. With all != nil it also stores the logits of
// every row of every seq into all[i] (tests); otherwise only each State's
// last logits are computed.
func (m *model) forward(pool *metalkit.Pool, batch []infer.Seq, all [][]float32) {
	m.layOut(batch)
	m.embed()
	for li := range m.w.layers {
		m.layer(pool, li)
	}
	m.head(pool, all)
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
		r.seqs = append(r.seqs, batchSeq{st: st, s: sq.State, first: len(r.rows), n: len(toks), start: st.n})
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
func (m *model) layer(pool *metalkit.Pool, li int) {
	c := &m.cfg
	r := &m.run
	l := &m.w.layers[li]
	T, D := len(r.rows), c.Dim

	m.hcPre(pool, l.hcAttnFn, l.hcAttnScale, l.hcAttnBase, T)
	for t := 0; t < T; t++ {
		rmsNormW(r.h[t*D:(t+1)*D], r.x[t*D:(t+1)*D], l.attnNorm, c.Eps)
	}
	m.attention(pool, li, l, T)
	m.hcPost(T)

	m.hcPre(pool, l.hcFFNFn, l.hcFFNScale, l.hcFFNBase, T)
	for t := 0; t < T; t++ {
		rmsNormW(r.h[t*D:(t+1)*D], r.x[t*D:(t+1)*D], l.ffnNorm, c.Eps)
	}
	m.moe(pool, li, l, T)
	m.hcPost(T)
}

// head collapses the HC state of the rows that need logits (each seq's
// last, or every row when all != nil), norms it and applies the output
// matrix; each State gets its last row's logits.
func (m *model) head(pool *metalkit.Pool, all [][]float32) {
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
		rmsNormW(r.hb[i*D:(i+1)*D], r.hb[i*D:(i+1)*D], m.w.outNorm, c.Eps)
	}
	r.logit = grow(r.logit, R*c.Vocab)
	metalkit.MatMul(pool, r.logit, m.w.output, r.hb, R)
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

// advance counts the rows into each seq's state and takes an automatic
// restore point every cpEvery tokens.
func (m *model) advance() {
	for _, sq := range m.run.seqs {
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
func (m *model) hcPre(pool *metalkit.Pool, fn metalkit.Matrix, scale, base []float32, T int) {
	c := &m.cfg
	r := &m.run
	H, D, hcD, mix := c.HC, c.Dim, c.HC*c.Dim, c.mix()
	for t := 0; t < T; t++ {
		rmsNormNoWeight(r.Xn[t*hcD:(t+1)*hcD], r.X[t*hcD:(t+1)*hcD], c.Eps)
	}
	metalkit.MatMul(pool, r.mixes, fn, r.Xn, T)
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
		sinkhornCols(comb, H, c.HCEps)
		for it := 1; it < c.Sinkhorn; it++ {
			sinkhornRows(comb, H, c.HCEps)
			sinkhornCols(comb, H, c.HCEps)
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

func sinkhornRows(cm []float32, H int, eps float32) {
	for i := 0; i < H; i++ {
		var s float32
		for j := 0; j < H; j++ {
			s += cm[i*H+j]
		}
		for j := 0; j < H; j++ {
			cm[i*H+j] /= s + eps
		}
	}
}

func sinkhornCols(cm []float32, H int, eps float32) {
	for j := 0; j < H; j++ {
		var s float32
		for i := 0; i < H; i++ {
			s += cm[i*H+j]
		}
		for i := 0; i < H; i++ {
			cm[i*H+j] /= s + eps
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

// outputHC collapses an HC state for the output head (spec §4.8).
func (m *model) outputHC(X, out []float32) {
	c := &m.cfg
	H, D, hcD := c.HC, c.Dim, c.HC*c.Dim
	f := make([]float32, hcD)
	rmsNormNoWeight(f, X, c.Eps)
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

// attention runs the attention sub-layer on r.h, leaving its output in r.y
// (spec §4.4).
func (m *model) attention(pool *metalkit.Pool, li int, l *layerWeights, T int) {
	c := &m.cfg
	r := &m.run
	W, H, I := c.HeadDim, c.Heads, c.IDim
	nope := W - c.RopeDim
	ratio := l.ratio
	freq := m.ropeMain
	if ratio != 0 {
		freq = m.ropeComp
	}
	roundRows := m.kvType == infer.KVF16

	// Queries: q = q_b · RMSNorm(q_a · h); per-head unweighted norm; RoPE.
	r.qa = grow(r.qa, T*c.QLora)
	r.q = grow(r.q, T*H*W)
	metalkit.MatMul(pool, r.qa, l.qA, r.h, T)
	for t := 0; t < T; t++ {
		rmsNormW(r.qa[t*c.QLora:(t+1)*c.QLora], r.qa[t*c.QLora:(t+1)*c.QLora], l.qANorm, c.Eps)
	}
	metalkit.MatMul(pool, r.q, l.qB, r.qa, T)
	// K=V row: RMSNorm(kv · h); RoPE on the tail; FP8 on the rest; f16.
	r.kv = grow(r.kv, T*W)
	metalkit.MatMul(pool, r.kv, l.kv, r.h, T)
	for t, row := range r.rows {
		for h := 0; h < H; h++ {
			qh := r.q[(t*H+h)*W : (t*H+h+1)*W]
			rmsNormNoWeight(qh, qh, c.Eps)
			ropeTail(qh, freq, row.pos, 1)
		}
		k := r.kv[t*W : (t+1)*W]
		rmsNormW(k, k, l.kvNorm, c.Eps)
		ropeTail(k, freq, row.pos, 1)
		if m.ds4 {
			fp8RoundTrip(k[:nope])
		}
		if roundRows {
			roundF16(k)
		}
	}
	// Compressor and indexer projections, batched.
	if ratio != 0 {
		cw := len(l.cmpAPE) / ratio
		r.ckv, r.cg = grow(r.ckv, T*cw), grow(r.cg, T*cw)
		metalkit.MatMul(pool, r.ckv, l.cmpKV, r.h, T)
		metalkit.MatMul(pool, r.cg, l.cmpGate, r.h, T)
	}
	if ratio == 4 {
		r.ikv, r.ig = grow(r.ikv, T*2*I), grow(r.ig, T*2*I)
		r.iq, r.iw = grow(r.iq, T*c.IHeads*I), grow(r.iw, T*c.IHeads)
		metalkit.MatMul(pool, r.ikv, l.idxCmpKV, r.h, T)
		metalkit.MatMul(pool, r.ig, l.idxCmpGate, r.h, T)
		metalkit.MatMul(pool, r.iq, l.idxQB, r.qa, T)
		metalkit.MatMul(pool, r.iw, l.idxProj, r.h, T)
	}

	// Per seq, in position order: raw window rows, compressor emissions.
	for si := range r.seqs {
		sq := &r.seqs[si]
		ls := &sq.st.layers[li]
		nprev := min(c.Window-1, sq.start)
		sq.nprev = nprev
		sq.win = grow(sq.win, (nprev+sq.n)*W)
		for j := 0; j < nprev; j++ {
			p := sq.start - nprev + j
			copy(sq.win[j*W:(j+1)*W], ls.ring[(p%c.Window)*W:(p%c.Window+1)*W])
		}
		copy(sq.win[nprev*W:], r.kv[sq.first*W:(sq.first+sq.n)*W])
		for j := 0; j < sq.n; j++ {
			t, p := sq.first+j, sq.start+j
			if ratio != 0 {
				cw := len(l.cmpAPE) / ratio
				if row := compressStep(ls.fKV, ls.fScore, r.ckv[t*cw:(t+1)*cw], r.cg[t*cw:(t+1)*cw], l.cmpAPE, ratio, W, p); row != nil {
					rmsNormW(row, row, l.cmpNorm, c.Eps)
					ropeTail(row, m.ropeComp, p+1-ratio, 1)
					if m.ds4 {
						fp8RoundTrip(row[:nope])
					}
					if roundRows {
						roundF16(row)
					}
					ls.comp.append(row)
				}
			}
			if ratio == 4 {
				if row := compressStep(ls.iKV, ls.iScore, r.ikv[t*2*I:(t+1)*2*I], r.ig[t*2*I:(t+1)*2*I], l.idxCmpAPE, 4, I, p); row != nil {
					rmsNormW(row, row, l.idxCmpNorm, c.Eps)
					ropeTail(row, m.ropeComp, p+1-4, 1)
					if m.ds4 {
						fp4RoundTrip(row)
					}
					if roundRows {
						roundF16(row)
					}
					ls.idx.append(row)
				}
			}
		}
		// The ring keeps the last Window rows.
		end := sq.start + sq.n
		for p := max(end-c.Window, sq.start-nprev); p < end; p++ {
			j := p - (sq.start - nprev)
			copy(ls.ring[(p%c.Window)*W:(p%c.Window+1)*W], sq.win[j*W:(j+1)*W])
		}
	}

	// Indexer selections (ratio 4), one per row.
	k := c.ITopK
	if ratio == 4 {
		r.sel = growInt32(r.sel, T*k)
		pool.Parallel(T, func(a, b int) {
			var scores []float32
			var order []int32
			qh := make([]float32, I)
			for t := a; t < b; t++ {
				row := r.rows[t]
				ls := &r.seqs[row.seq].st.layers[li]
				nc := (row.pos + 1) / 4
				sel := r.sel[t*k : (t+1)*k]
				if nc <= k {
					for i := range sel {
						sel[i] = -1
						if i < nc {
							sel[i] = int32(i)
						}
					}
					continue
				}
				scores = grow(scores, nc)
				for i := range scores {
					scores[i] = 0
				}
				scale := float32(1 / math.Sqrt(float64(I*c.IHeads)))
				for h := 0; h < c.IHeads; h++ {
					copy(qh, r.iq[(t*c.IHeads+h)*I:(t*c.IHeads+h+1)*I])
					ropeTail(qh, m.ropeComp, row.pos, 1)
					if m.ds4 {
						fp4RoundTrip(qh)
					}
					w := r.iw[t*c.IHeads+h] * scale
					for ci := 0; ci < nc; ci++ {
						d := metalkit.Dot(qh, ls.idx.row(ci))
						if d > 0 {
							scores[ci] += w * d
						}
					}
				}
				order = order[:0]
				for i := 0; i < nc; i++ {
					order = append(order, int32(i))
				}
				// Largest score first; equal scores: lower row first (ds4).
				sort.Slice(order, func(x, y int) bool {
					a, b := order[x], order[y]
					if scores[a] != scores[b] {
						return scores[a] > scores[b]
					}
					return a < b
				})
				copy(sel, order[:k])
				sort.Slice(sel, func(x, y int) bool { return sel[x] < sel[y] })
			}
		})
	}

	// Attention with sink over the raw window and the visible compressed rows.
	r.att = grow(r.att, T*H*W)
	scale := float32(1 / math.Sqrt(float64(W)))
	pool.Parallel(T*H, func(a, b int) {
		var z []float32
		var rowsBuf [][]float32
		for job := a; job < b; job++ {
			t, h := job/H, job%H
			row := r.rows[t]
			sq := &r.seqs[row.seq]
			ls := &sq.st.layers[li]
			q := r.q[(t*H+h)*W : (t*H+h+1)*W]
			out := r.att[(t*H+h)*W : (t*H+h+1)*W]
			rowsBuf = rowsBuf[:0]
			// raw rows: positions max(0, p−Window+1) … p
			lo := max(0, row.pos-c.Window+1)
			for p := lo; p <= row.pos; p++ {
				j := p - (sq.start - sq.nprev)
				rowsBuf = append(rowsBuf, sq.win[j*W:(j+1)*W])
			}
			if ratio == 128 {
				for ci := 0; ci < (row.pos+1)/128; ci++ {
					rowsBuf = append(rowsBuf, ls.comp.row(ci))
				}
			} else if ratio == 4 {
				for _, ci := range r.sel[t*k : (t+1)*k] {
					if ci >= 0 {
						rowsBuf = append(rowsBuf, ls.comp.row(int(ci)))
					}
				}
			}
			z = grow(z, len(rowsBuf))
			mx := l.sinks[h]
			for i, kr := range rowsBuf {
				z[i] = metalkit.Dot(q, kr) * scale
				mx = max(mx, z[i])
			}
			den := float32(math.Exp(float64(l.sinks[h] - mx)))
			for i := range out {
				out[i] = 0
			}
			for i, kr := range rowsBuf {
				e := float32(math.Exp(float64(z[i] - mx)))
				den += e
				metalkit.Axpy(out, e, kr)
			}
			metalkit.Scale(out, 1/den)
			ropeTail(out, freq, row.pos, -1)
		}
	})

	// Grouped output projection: low_g = A_g · o_g, y = B · concat(low).
	gw := H * W / c.OGroups
	r.grp = grow(r.grp, T*gw)
	r.low, r.lowg = grow(r.low, T*c.OGroups*c.OLora), grow(r.lowg, T*c.OLora)
	rb := len(l.oA.Data) / l.oA.Rows
	for g := 0; g < c.OGroups; g++ {
		for t := 0; t < T; t++ {
			copy(r.grp[t*gw:(t+1)*gw], r.att[t*H*W+g*gw:t*H*W+(g+1)*gw])
		}
		A := metalkit.Matrix{Type: l.oA.Type, Rows: c.OLora, Cols: gw, Data: l.oA.Data[g*c.OLora*rb : (g+1)*c.OLora*rb]}
		metalkit.MatMul(pool, r.lowg, A, r.grp, T)
		for t := 0; t < T; t++ {
			copy(r.low[t*c.OGroups*c.OLora+g*c.OLora:], r.lowg[t*c.OLora:(t+1)*c.OLora])
		}
	}
	metalkit.MatMul(pool, r.y, l.oB, r.low, T)
}

// compressStep feeds one token's compressor projections (kv, gate: coff·w
// values) into a frontier (spec §4.5) and returns the pooled row (w values,
// a fresh slice) when position p completes a window, else nil.
func compressStep(fKV, fScore, kv, gate, ape []float32, ratio, w, p int) []float32 {
	cw := len(kv)
	slot := p % ratio
	if ratio == 4 {
		slot += 4
	}
	apeRow := ape[(p%ratio)*cw : (p%ratio+1)*cw]
	for j := 0; j < cw; j++ {
		fKV[slot*cw+j] = kv[j]
		fScore[slot*cw+j] = gate[j] + apeRow[j]
	}
	if (p+1)%ratio != 0 {
		return nil
	}
	out := make([]float32, w)
	if ratio == 4 {
		// 8 candidates per column: A-halves of slots 0–3 (previous window),
		// B-halves of slots 4–7 (current window).
		for j := 0; j < w; j++ {
			var sc, vs [8]float32
			for s := 0; s < 4; s++ {
				sc[s], vs[s] = fScore[s*cw+j], fKV[s*cw+j]
				sc[4+s], vs[4+s] = fScore[(4+s)*cw+w+j], fKV[(4+s)*cw+w+j]
			}
			out[j] = poolColumn(sc[:], vs[:])
		}
		copy(fKV[:4*cw], fKV[4*cw:])
		copy(fScore[:4*cw], fScore[4*cw:])
		return out
	}
	var sc, vs []float32
	sc, vs = make([]float32, ratio), make([]float32, ratio)
	for j := 0; j < w; j++ {
		for s := 0; s < ratio; s++ {
			sc[s], vs[s] = fScore[s*cw+j], fKV[s*cw+j]
		}
		out[j] = poolColumn(sc, vs)
	}
	return out
}

// poolColumn is Σ softmax(sc)·vs; empty slots (score ≤ −5e29) weigh 0.
func poolColumn(sc, vs []float32) float32 {
	mx := float32(math.Inf(-1))
	for _, s := range sc {
		mx = max(mx, s)
	}
	if mx <= -5e29 {
		return 0
	}
	var den, num float32
	for i, s := range sc {
		e := float32(math.Exp(float64(s - mx)))
		den += e
		num += e * vs[i]
	}
	return num / den
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

// moe runs the FFN sub-layer on r.h, leaving its output in r.y (spec §4.7).
func (m *model) moe(pool *metalkit.Pool, li int, l *layerWeights, T int) {
	c := &m.cfg
	r := &m.run
	D, E, K, F := c.Dim, c.Experts, c.ExpertsUsed, c.ExpertFFN
	lim := c.Clamp[li]
	r.rl = grow(r.rl, T*E)
	metalkit.MatMul(pool, r.rl, l.router, r.h, T)

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
		metalkit.MatMul(pool, r.eg, l.gateSh, r.h, T)
		metalkit.MatMul(pool, r.eu, l.upSh, r.h, T)
		swigluClamp(r.eg[:T*F], r.eu[:T*F], lim)
		metalkit.MatMul(pool, y, l.downSh, r.eg, T)
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
		metalkit.MatMulLowBit(pool, r.eg, l.gateExps[e], r.eh, n)
		metalkit.MatMulLowBit(pool, r.eu, l.upExps[e], r.eh, n)
		swigluClamp(r.eg[:n*F], r.eu[:n*F], lim)
		for i, p := range ps {
			metalkit.Scale(r.eg[i*F:(i+1)*F], p.w)
		}
		metalkit.MatMulLowBit(pool, r.ed, l.downExps[e], r.eg, n)
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
