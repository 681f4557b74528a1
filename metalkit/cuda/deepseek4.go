package cuda

import (
	"fmt"

	"reddwarf/metalkit"
)

// deepseek4's ops (metalkit.DeepSeek4Ops): clamped SwiGLU and the grouped
// expert matmul. doc.go says what the deepseek4 device forward still
// needs.

func (d *Device) ClampedSwiGLU(out, gate, up metalkit.Buffer, n int, limit float32) {
	o, g, u := buf(out, n, "ClampedSwiGLU out"), buf(gate, n, "ClampedSwiGLU gate"), buf(up, n, "ClampedSwiGLU up")
	if n == 0 {
		return
	}
	defer d.bind()()
	d.launch("clamped_swiglu", grid((n+255)/256, 1), 256, o, g, u, i32(n), f32(limit))
}

// UploadExperts uploads the stacked tensor as one matrix (expert e's row r
// is its row e·R + r): the expert kernels index it by expert. They exist
// for the types deepseek4's expert tensors come in (IQ2_XXS, Q2_K, Q4_K,
// Q8_0, F16, F32), on rows of whole 32-value units (every quantised
// type's are; deepseek4's float experts are thousands wide); other
// tensors are refused.
func (d *Device) UploadExperts(m metalkit.Matrix, n int) (metalkit.Weights, error) {
	_, ok := d.fn["experts_"+weightKernels[m.Type]]
	if !ok || n <= 0 || m.Rows%n != 0 || m.Cols%32 != 0 {
		return nil, fmt.Errorf("cuda: upload %d experts of %v %dx%d: %w", n, m.Type, m.Rows, m.Cols, metalkit.ErrUnsupported)
	}
	w, err := d.Upload(m)
	if err != nil {
		return nil, err
	}
	w.(*weights).experts = n
	return w, nil
}

// expertsFewMax is the most pairs MatMulExperts gives the lean kernel
// (experts_vec: matvec's loop once per pair), above which it takes the one
// that reads an expert's rows once per eight of its pairs (experts). Up to
// two tokens' picks are mostly one pair per expert, where the lean kernel's
// few registers hide the loads' latency better. Chosen from the shape
// alone, so that a recorded decode step keeps its kernel. Not yet tuned on
// a GPU.
const expertsFewMax = 16

// MatMulExperts groups the pairs by expert on the host and launches one
// kernel over (row block, group): its host array is the groups (expert,
// start, count) then the pairs' indices in group order. It has
// min(pairs, experts) groups whatever the routing, unused ones empty, so
// that its length and the grid depend on the shape only and a recorded
// step replays with new routing.
func (d *Device) MatMulExperts(out metalkit.Buffer, w metalkit.Weights, x metalkit.Buffer, experts []int32, per int) {
	ww := w.(*weights)
	if ww.experts == 0 {
		panic("cuda: MatMulExperts on weights not from UploadExperts")
	}
	if per < 1 {
		panic(fmt.Sprintf("cuda: MatMulExperts with %d pairs per x row", per))
	}
	rows, cols, np := ww.m.Rows/ww.experts, ww.m.Cols, len(experts)
	o, xp := buf(out, np*rows, "MatMulExperts out"), buf(x, (np+per-1)/per*cols, "MatMulExperts x")
	count := make([]int32, ww.experts)
	for i, e := range experts {
		if e < 0 || int(e) >= ww.experts {
			panic(fmt.Sprintf("cuda: MatMulExperts pair %d: expert %d of %d", i, e, ww.experts))
		}
		count[e]++
	}
	if np == 0 || rows == 0 {
		return
	}
	gmax := min(np, ww.experts)
	meta := make([]int32, 3*gmax+np)
	start := make([]int32, ww.experts) // then: where each expert's next pair goes
	g, at := 0, int32(0)
	for e, c := range count {
		if c == 0 {
			continue
		}
		meta[3*g], meta[3*g+1], meta[3*g+2] = int32(e), at, c
		start[e] = at
		g++
		at += c
	}
	for i, e := range experts {
		meta[3*gmax+int(start[e])] = int32(i)
		start[e]++
	}
	defer d.bind()()
	mp := d.upload32(meta)
	kernel := ww.expertsMany
	if np <= expertsFewMax {
		kernel = ww.expertsFew
	}
	const warps = 4 // rows per block of 128 threads
	d.launch(kernel, grid((rows+warps-1)/warps, gmax), 32*warps, o, ww.ptr, xp, mp, i32(rows), i32(cols), i32(per), i32(gmax), int64(ww.rowBytes))
}

// The rest of deepseek4's ops run deepseek4.cu's kernels (its own module,
// deepseek4.ptx). Each checks its buffers' sizes as the CPU device's
// slicing would, so that a wrong call panics here too.

// ds4 limits of deepseek4.cu's kernels (its MAX_WIDTH, MAX_EXPERTS, MAX_K,
// and attend_sink's ATT_MAXD·32).
const (
	ds4MaxWidth   = 2048
	ds4MaxExperts = 1024
	ds4MaxK       = 32
	ds4MaxHeadDim = 512
	attWarps      = 8 // attend_sink's ATT_WARPS
)

// optBuf is buf for an optional buffer: nil is the null pointer.
func optBuf(b metalkit.Buffer, n int, what string) uint64 {
	if b == nil {
		return 0
	}
	return buf(b, n, what)
}

func (d *Device) RMSNormF64(out, x, w metalkit.Buffer, rows, n int, eps float32) {
	o, xp, wp := buf(out, rows*n, "RMSNormF64 out"), buf(x, rows*n, "RMSNormF64 x"), optBuf(w, n, "RMSNormF64 w")
	if rows == 0 || n == 0 {
		return
	}
	defer d.bind()()
	d.launch("rmsnorm_f64", grid(rows, 1), 1024, o, xp, wp, i32(n), f32(eps))
}

func (d *Device) HCPre(x, postComb, X, mixes, coef metalkit.Buffer, rows, hc, dim, sinkhorn int, eps float32) {
	if hc*hc > 32 {
		panic(fmt.Sprintf("cuda: HCPre with %d streams (at most 5: a warp's lane per comb value)", hc))
	}
	mix, ns := hc, 1
	if postComb != nil {
		mix, ns = (2+hc)*hc, 3
	}
	xp, pc := buf(x, rows*dim, "HCPre x"), optBuf(postComb, rows*(hc+hc*hc), "HCPre postComb")
	Xp, mp, cp := buf(X, rows*hc*dim, "HCPre X"), buf(mixes, rows*mix, "HCPre mixes"), buf(coef, ns+mix, "HCPre coef")
	if rows == 0 {
		return
	}
	defer d.bind()()
	d.launch("hc_pre", grid(rows, (dim+255)/256), 256, xp, pc, Xp, mp, cp, i32(hc), i32(dim), i32(sinkhorn), f32(eps))
}

func (d *Device) HCPost(X, y, postComb metalkit.Buffer, rows, hc, dim int) {
	if hc > 16 {
		panic(fmt.Sprintf("cuda: HCPost with %d streams (at most 16)", hc))
	}
	Xp, yp, pc := buf(X, rows*hc*dim, "HCPost X"), buf(y, rows*dim, "HCPost y"), buf(postComb, rows*(hc+hc*hc), "HCPost postComb")
	if rows == 0 || dim == 0 {
		return
	}
	defer d.bind()()
	d.launch("hc_post", grid(rows, (dim+255)/256), 256, Xp, yp, pc, i32(hc), i32(dim))
}

func (d *Device) RopeTail(x, freq metalkit.Buffer, pos []int32, heads, width, pairs int, sign float32) {
	if 2*pairs > width || pairs > 1024 {
		panic(fmt.Sprintf("cuda: RopeTail of %d pairs on rows of %d", pairs, width))
	}
	xp, fp := buf(x, len(pos)*heads*width, "RopeTail x"), buf(freq, pairs, "RopeTail freq")
	if len(pos) == 0 || heads == 0 || pairs == 0 {
		return
	}
	defer d.bind()()
	pp := d.upload32(pos)
	d.launch("rope_tail", grid(len(pos), heads), (pairs+31)/32*32, xp, fp, pp, i32(heads), i32(width), i32(pairs), f32(sign))
}

func (d *Device) RoundTrip(x metalkit.Buffer, rows, stride, n int, f metalkit.RoundFormat) {
	if n > ds4MaxWidth || n > stride {
		panic(fmt.Sprintf("cuda: RoundTrip of %d values in rows of %d (at most %d)", n, stride, ds4MaxWidth))
	}
	xp := buf(x, rows*stride, "RoundTrip x")
	if rows == 0 || n == 0 {
		return
	}
	defer d.bind()()
	d.launch("round_trip", grid(rows, 1), 256, xp, i32(stride), i32(n), i32(f))
}

func (d *Device) Route(ids, weights, logits, bias metalkit.Buffer, hash []int32, rows, experts, k int, scale float32) {
	if experts > ds4MaxExperts || k > ds4MaxK || k > experts || (hash != nil && len(hash) < rows*k) {
		panic(fmt.Sprintf("cuda: Route %d of %d experts (at most %d of %d), %d hash ids for %d rows", k, experts, ds4MaxK, ds4MaxExperts, len(hash), rows))
	}
	ip, wp := buf(ids, rows*k, "Route ids"), buf(weights, rows*k, "Route weights")
	lp, bp := buf(logits, rows*experts, "Route logits"), optBuf(bias, experts, "Route bias")
	if rows == 0 || k == 0 {
		return
	}
	defer d.bind()()
	var hp uint64
	if hash != nil {
		hp = d.upload32(hash[:rows*k])
	}
	d.launch("route", grid(rows, 1), 256, ip, wp, lp, bp, hp, i32(experts), i32(k), f32(scale))
}

// MatMulExpertsBy groups the pairs on the device (experts_group writes
// MatMulExperts' host array into the work area) and launches the same
// expert kernel over min(pairs, experts) groups.
func (d *Device) MatMulExpertsBy(out metalkit.Buffer, w metalkit.Weights, x, ids metalkit.Buffer, pairs, per int) {
	ww := w.(*weights)
	if ww.experts == 0 {
		panic("cuda: MatMulExpertsBy on weights not from UploadExperts")
	}
	if per < 1 || ww.experts > ds4MaxExperts {
		panic(fmt.Sprintf("cuda: MatMulExpertsBy with %d pairs per x row, %d experts", per, ww.experts))
	}
	rows, cols := ww.m.Rows/ww.experts, ww.m.Cols
	o, xp := buf(out, pairs*rows, "MatMulExpertsBy out"), buf(x, (pairs+per-1)/per*cols, "MatMulExpertsBy x")
	ip := buf(ids, pairs, "MatMulExpertsBy ids")
	if pairs == 0 || rows == 0 {
		return
	}
	defer d.bind()()
	gmax := min(pairs, ww.experts)
	mp := d.workspace(3*gmax + pairs)
	d.launch("experts_group", grid(1, 1), 1024, mp, ip, i32(pairs), i32(ww.experts))
	kernel := ww.expertsMany
	if pairs <= expertsFewMax {
		kernel = ww.expertsFew
	}
	const warps = 4
	d.launch(kernel, grid((rows+warps-1)/warps, gmax), 32*warps, o, ww.ptr, xp, mp, i32(rows), i32(cols), i32(per), i32(gmax), int64(ww.rowBytes))
}

func (d *Device) ScaleRows(x, s metalkit.Buffer, rows, n int) {
	xp, sp := buf(x, rows*n, "ScaleRows x"), buf(s, rows, "ScaleRows s")
	if rows == 0 || n == 0 {
		return
	}
	defer d.bind()()
	d.launch("scale_rows", grid(rows, (n+255)/256), 256, xp, sp, i32(n))
}

func (d *Device) Combine(out, base, parts, ids metalkit.Buffer, rows, k, n int) {
	o, bp := buf(out, rows*n, "Combine out"), optBuf(base, rows*n, "Combine base")
	pp, ip := buf(parts, rows*k*n, "Combine parts"), buf(ids, rows*k, "Combine ids")
	if rows == 0 || n == 0 {
		return
	}
	defer d.bind()()
	d.launch("combine", grid(rows, (n+255)/256), 256, o, bp, pp, ip, i32(k), i32(n))
}

func (d *Device) Compress(st metalkit.CompressState, c metalkit.Compressor, kv, gate metalkit.Buffer, first, n, start int) {
	if c.Width > ds4MaxWidth || c.RoundN > c.Width || 2*c.RopePairs > c.Width || c.RopePairs > 256 || (c.Ratio != 4 && c.Ratio != 128) {
		panic(fmt.Sprintf("cuda: Compress ratio %d, width %d (at most %d), %d rounded, %d rotated pairs", c.Ratio, c.Width, ds4MaxWidth, c.RoundN, c.RopePairs))
	}
	cw, slots := c.Width, c.Ratio
	if c.Ratio == 4 {
		cw, slots = 2*c.Width, 8
	}
	rp := buf(st.Rows, (start+n)/c.Ratio*c.Width, "Compress rows")
	fk, fs := buf(st.KV, slots*cw, "Compress frontier"), buf(st.Score, slots*cw, "Compress scores")
	kp, gp := buf(kv, (first+n)*cw, "Compress kv"), buf(gate, (first+n)*cw, "Compress gate")
	ap, np, fp := buf(c.APE, c.Ratio*cw, "Compress ape"), buf(c.Norm, c.Width, "Compress norm"), buf(c.Freq, c.RopePairs, "Compress freq")
	if n == 0 {
		return
	}
	mode := c.RoundN<<8 | int(c.Round)
	if c.F16 {
		mode |= 1 << 4
	}
	defer d.bind()()
	span := d.span(first, n, start)
	if n == 1 {
		d.launch("compress", grid(1, 1), 256, rp, fk, fs, kp, gp, ap, np, fp, span, i32(c.Ratio), i32(c.Width), i32(c.RopePairs), i32(mode), f32(c.Eps))
		return
	}
	// A prefill chunk: its windows in parallel, then the frontier.
	if windows := (start+n)/c.Ratio - start/c.Ratio; windows > 0 {
		d.launch("compress_windows", grid(windows, 1), 256, rp, fk, fs, kp, gp, ap, np, fp, span, i32(c.Ratio), i32(c.Width), i32(c.RopePairs), i32(mode), f32(c.Eps))
	}
	d.launch("compress_frontier", grid((cw+255)/256, min(slots, c.Ratio)), 256, fk, fs, kp, gp, ap, span, i32(c.Ratio), i32(c.Width))
}

func (d *Device) RingPut(ring, kv metalkit.Buffer, first, n, start, window, width int) {
	rp, kp := buf(ring, window*width, "RingPut ring"), buf(kv, (first+n)*width, "RingPut kv")
	if n == 0 || width == 0 {
		return
	}
	defer d.bind()()
	d.launch("ring_put", grid(min(n, window), (width+255)/256), 256, rp, kp, d.span(first, n, start), i32(window), i32(width))
}

func (d *Device) IndexerTopK(sel, iq, iw, idx metalkit.Buffer, first, n, start, heads, width, k int, scale float32) {
	sp, qp := buf(sel, (first+n)*k, "IndexerTopK sel"), buf(iq, (first+n)*heads*width, "IndexerTopK iq")
	wp, xp := buf(iw, (first+n)*heads, "IndexerTopK iw"), buf(idx, (start+n)/4*width, "IndexerTopK idx")
	if n == 0 || k == 0 {
		return
	}
	// The work area's rows are as long as idx can hold, not as it holds
	// now: the launch stays the same as the rows come.
	ncmax := max(idx.Len()/width, 1)
	defer d.bind()()
	work := d.workspace(2 * n * ncmax)
	span := d.span(first, n, start)
	const warps = 8 // compressed rows a block of indexer_scores
	d.launch("indexer_scores", grid(n, (ncmax+warps-1)/warps), 32*warps, qp, wp, xp, work, span, i32(heads), i32(width), i32(ncmax), f32(scale))
	d.launch("indexer_select", grid(n, 1), 256, sp, work, span, i32(n), i32(k), i32(ncmax))
}

func (d *Device) AttendSink(out, q, kv, ring, comp, sel metalkit.Buffer, first, n, start int, a metalkit.SinkAttention) {
	W, H := a.Width, a.Heads
	if W%32 != 0 || W > ds4MaxHeadDim {
		panic(fmt.Sprintf("cuda: AttendSink on heads of %d values (whole warps, at most %d)", W, ds4MaxHeadDim))
	}
	o, qp := buf(out, (first+n)*H*W, "AttendSink out"), buf(q, (first+n)*H*W, "AttendSink q")
	kp, rp := buf(kv, (first+n)*W, "AttendSink kv"), buf(ring, a.Window*W, "AttendSink ring")
	var cp, sp uint64
	switch a.Ratio {
	case 128:
		cp = buf(comp, (start+n)/128*W, "AttendSink comp")
	case 4:
		cp, sp = buf(comp, (start+n)/4*W, "AttendSink comp"), buf(sel, (first+n)*a.TopK, "AttendSink sel")
	}
	hp := buf(a.Sinks, H, "AttendSink sinks")
	if n == 0 || H == 0 {
		return
	}
	defer d.bind()()
	d.launch("attend_sink", grid(n, H), 32*attWarps, o, qp, kp, rp, cp, sp, hp, d.span(first, n, start), i32(H), i32(W), i32(a.Window), i32(a.Ratio), i32(a.TopK))
}

// span uploads a session's rows (first, n, start) for a kernel to read:
// kept out of the launch's parameters, it leaves a recorded decode step's
// launches the same from one position to the next (graph.go replays them).
func (d *Device) span(first, n, start int) uint64 {
	return d.upload32([]int32{int32(first), int32(n), int32(start)})
}
