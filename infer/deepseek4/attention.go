package deepseek4

import (
	"math"

	"reddwarf/infer"
	"reddwarf/metalkit"
)

// attention runs the attention sub-layer on r.h, leaving its output in r.y
// (spec §4.4). Every row attends, with a per-head sink, to the raw rows of
// the last Window positions and to compressed rows: on ratio-128 layers
// every one so far, on ratio-4 layers the ITopK the lightning indexer
// picks.
func (m *model) attention(dev metalkit.HostDevice, li int, l *layerWeights, T int) {
	m.queries(dev, l, T)
	m.kvRows(dev, l, T)
	m.compressorInputs(dev, l, T)
	for si := range m.run.seqs {
		m.window(li, si)
		m.compress(li, l, si)
		m.keepRing(li, si)
	}
	if l.ratio == 4 {
		m.indexerSelect(dev, li, T)
	}
	m.attend(dev, li, l, T)
	m.outputProjection(dev, l, T)
}

// ropeFreq is the RoPE of a layer of the given ratio: plain on ratio-0
// layers, YaRN-blended on compressed ones.
func (m *model) ropeFreq(ratio int) []float32 {
	if ratio != 0 {
		return m.ropeComp
	}
	return m.ropeMain
}

// queries sets r.qa = RMSNorm(q_a · h) and r.q = q_b · qa, each head then
// normed without weight and rotated at its position.
func (m *model) queries(dev metalkit.HostDevice, l *layerWeights, T int) {
	c := &m.cfg
	r := &m.run
	W, H := c.HeadDim, c.Heads
	freq := m.ropeFreq(l.ratio)
	r.qa = grow(r.qa, T*c.QLora)
	r.q = grow(r.q, T*H*W)
	dev.MatMulHost(r.qa, l.qA, r.h, T)
	for t := 0; t < T; t++ {
		metalkit.RMSNormExact(r.qa[t*c.QLora:(t+1)*c.QLora], r.qa[t*c.QLora:(t+1)*c.QLora], l.qANorm, c.Eps)
	}
	dev.MatMulHost(r.q, l.qB, r.qa, T)
	for t, row := range r.rows {
		for h := 0; h < H; h++ {
			qh := r.q[(t*H+h)*W : (t*H+h+1)*W]
			metalkit.RMSNormExact(qh, qh, nil, c.Eps)
			metalkit.RopeTail(qh, freq, row.pos, 1)
		}
	}
}

// kvRows sets r.kv to each row's raw K=V row: RMSNorm(kv · h), RoPE on the
// tail, ds4's FP8 round trip on the rest, f16 rounding with an f16 cache.
func (m *model) kvRows(dev metalkit.HostDevice, l *layerWeights, T int) {
	c := &m.cfg
	r := &m.run
	W, nope := c.HeadDim, c.HeadDim-c.RopeDim
	freq := m.ropeFreq(l.ratio)
	r.kv = grow(r.kv, T*W)
	dev.MatMulHost(r.kv, l.kv, r.h, T)
	for t, row := range r.rows {
		k := r.kv[t*W : (t+1)*W]
		metalkit.RMSNormExact(k, k, l.kvNorm, c.Eps)
		metalkit.RopeTail(k, freq, row.pos, 1)
		if m.ds4 {
			fp8RoundTrip(k[:nope])
		}
		if m.kvType == infer.KVF16 {
			metalkit.RoundF16Row(k)
		}
	}
}

// compressorInputs runs the batched projections the compressors and the
// indexer take: compressor values and gates (ratio ≠ 0); indexer
// compressor values and gates, indexer queries and head weights (ratio 4).
func (m *model) compressorInputs(dev metalkit.HostDevice, l *layerWeights, T int) {
	c := &m.cfg
	r := &m.run
	I := c.IDim
	if l.ratio != 0 {
		cw := len(l.cmpAPE) / l.ratio
		r.ckv, r.cg = grow(r.ckv, T*cw), grow(r.cg, T*cw)
		dev.MatMulHost(r.ckv, l.cmpKV, r.h, T)
		dev.MatMulHost(r.cg, l.cmpGate, r.h, T)
	}
	if l.ratio == 4 {
		r.ikv, r.ig = grow(r.ikv, T*2*I), grow(r.ig, T*2*I)
		r.iq, r.iw = grow(r.iq, T*c.IHeads*I), grow(r.iw, T*c.IHeads)
		dev.MatMulHost(r.ikv, l.idxCmpKV, r.h, T)
		dev.MatMulHost(r.ig, l.idxCmpGate, r.h, T)
		dev.MatMulHost(r.iq, l.idxQB, r.qa, T)
		dev.MatMulHost(r.iw, l.idxProj, r.h, T)
	}
}

// window gathers seq si's raw rows for this layer into sq.win: the
// Window−1 positions before the chunk (from the ring), then the chunk's own.
func (m *model) window(li, si int) {
	c := &m.cfg
	r := &m.run
	W := c.HeadDim
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
}

// compress feeds seq si's rows, in position order, to the layer's
// compressors (spec §4.5); each window they complete appends a compressed
// row (normed, rotated at the window's first position, FP8 and f16 rounded)
// and, on ratio-4 layers, an indexer row (FP4 instead of FP8).
func (m *model) compress(li int, l *layerWeights, si int) {
	c := &m.cfg
	r := &m.run
	W, I, nope, ratio := c.HeadDim, c.IDim, c.HeadDim-c.RopeDim, l.ratio
	if ratio == 0 {
		if r.seqs[si].snap != nil {
			m.snapLayer(li, si)
		}
		return
	}
	sq := &r.seqs[si]
	ls := &sq.st.layers[li]
	roundRows := m.kvType == infer.KVF16
	cw := len(l.cmpAPE) / ratio
	for j := 0; j < sq.n; j++ {
		t, p := sq.first+j, sq.start+j
		if sq.snap != nil && p == sq.snap.n {
			m.snapLayer(li, si) // before position p changes the frontiers
		}
		if row := metalkit.CompressStep(ls.fKV, ls.fScore, r.ckv[t*cw:(t+1)*cw], r.cg[t*cw:(t+1)*cw], l.cmpAPE, ratio, W, p); row != nil {
			metalkit.RMSNormExact(row, row, l.cmpNorm, c.Eps)
			metalkit.RopeTail(row, m.ropeComp, p+1-ratio, 1)
			if m.ds4 {
				fp8RoundTrip(row[:nope])
			}
			if roundRows {
				metalkit.RoundF16Row(row)
			}
			ls.comp.append(row)
		}
		if ratio != 4 {
			continue
		}
		if row := metalkit.CompressStep(ls.iKV, ls.iScore, r.ikv[t*2*I:(t+1)*2*I], r.ig[t*2*I:(t+1)*2*I], l.idxCmpAPE, 4, I, p); row != nil {
			metalkit.RMSNormExact(row, row, l.idxCmpNorm, c.Eps)
			metalkit.RopeTail(row, m.ropeComp, p+1-4, 1)
			if m.ds4 {
				fp4RoundTrip(row)
			}
			if roundRows {
				metalkit.RoundF16Row(row)
			}
			ls.idx.append(row)
		}
	}
}

// snapLayer captures layer li of seq si's state at the page boundary
// sq.snap.n, while compress is there: the ring then held the raw rows of
// the Window positions before it (in sq.win past the chunk's start), the
// frontiers and rows are the layer's now. Slots of positions not reached yet stay zero, as in
// a fresh state; nothing reads them.
func (m *model) snapLayer(li, si int) {
	c := &m.cfg
	W := c.HeadDim
	sq := &m.run.seqs[si]
	ls := &sq.st.layers[li]
	b := sq.snap.n
	s := ls.snapshot()
	if b > sq.start { // else the ring is still the one at b
		for i := range s.ring {
			s.ring[i] = 0
		}
		for p := max(0, b-c.Window); p < b; p++ {
			j := p - (sq.start - sq.nprev)
			copy(s.ring[(p%c.Window)*W:(p%c.Window+1)*W], sq.win[j*W:(j+1)*W])
		}
	}
	s.comp, s.idx = ls.comp.clone(), ls.idx.clone()
	sq.snap.layers[li] = s
}

// keepRing stores the last Window of seq si's raw rows in the layer's ring.
func (m *model) keepRing(li, si int) {
	c := &m.cfg
	W := c.HeadDim
	sq := &m.run.seqs[si]
	ls := &sq.st.layers[li]
	end := sq.start + sq.n
	for p := max(end-c.Window, sq.start-sq.nprev); p < end; p++ {
		j := p - (sq.start - sq.nprev)
		copy(ls.ring[(p%c.Window)*W:(p%c.Window+1)*W], sq.win[j*W:(j+1)*W])
	}
}

// indexerSelect picks, for every row of a ratio-4 layer, the ITopK
// compressed rows it attends to (all of them while there are no more),
// into r.sel in ascending order, -1 padded: the lightning indexer scores
// row i as Σ_h w_h·max(0, q_h·k_i) (spec §4.6).
func (m *model) indexerSelect(dev metalkit.HostDevice, li, T int) {
	c := &m.cfg
	r := &m.run
	I, k := c.IDim, c.ITopK
	r.sel = growInt32(r.sel, T*k)
	dev.Parallel(T, func(a, b int) {
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
				metalkit.RopeTail(qh, m.ropeComp, row.pos, 1)
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
			order = growInt32(order, nc)
			metalkit.TopKAscending(sel, scores, order)
		}
	})
}

// attend sets r.att, per row and head, to the softmax-weighted sum of the
// visible rows (raw positions max(0, p−Window+1)…p, then the compressed
// rows), with the head's sink as an extra logit that has no value, and
// rotates the result back (RoPE at −p).
func (m *model) attend(dev metalkit.HostDevice, li int, l *layerWeights, T int) {
	c := &m.cfg
	r := &m.run
	W, H, k, ratio := c.HeadDim, c.Heads, c.ITopK, l.ratio
	freq := m.ropeFreq(ratio)
	r.att = grow(r.att, T*H*W)
	scale := float32(1 / math.Sqrt(float64(W)))
	dev.Parallel(T*H, func(a, b int) {
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
			metalkit.SinkAttend(out, q, rowsBuf, l.sinks[h], scale, z)
			metalkit.RopeTail(out, freq, row.pos, -1)
		}
	})
}

// outputProjection sets r.y = B · concat_g(A_g · o_g): each group of
// Heads/OGroups heads' outputs through its own low-rank A_g, then one B.
func (m *model) outputProjection(dev metalkit.HostDevice, l *layerWeights, T int) {
	c := &m.cfg
	r := &m.run
	W, H := c.HeadDim, c.Heads
	gw := H * W / c.OGroups
	r.grp = grow(r.grp, T*gw)
	r.low, r.lowg = grow(r.low, T*c.OGroups*c.OLora), grow(r.lowg, T*c.OLora)
	for g := 0; g < c.OGroups; g++ {
		for t := 0; t < T; t++ {
			copy(r.grp[t*gw:(t+1)*gw], r.att[t*H*W+g*gw:t*H*W+(g+1)*gw])
		}
		dev.MatMulHost(r.lowg, l.oAg[g], r.grp, T)
		for t := 0; t < T; t++ {
			copy(r.low[t*c.OGroups*c.OLora+g*c.OLora:], r.lowg[t*c.OLora:(t+1)*c.OLora])
		}
	}
	dev.MatMulHost(r.y, l.oB, r.low, T)
}
