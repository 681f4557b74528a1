package metalkit

import (
	"math"
	"sort"
)

// deepseek4's numerics and kernels, shared by infer/deepseek4's host
// forward and CPUDevice's DeepSeek4Ops (the reference the GPU's are tested
// against), so that both give the same bits.

// FP8 and FP4 block sizes of ds4's QAT round trips (spec §3.3–3.4).
const (
	FP8Block = 64
	FP4Block = 32
)

// Pow2Ceil returns 2^ceil(log2(r)) for r > 0, exactly.
func Pow2Ceil(r float32) float32 {
	f, e := math.Frexp(float64(r)) // r = f·2^e, f in [0.5, 1)
	if f == 0.5 {
		e--
	}
	return float32(math.Ldexp(1, e))
}

// RoundE4M3 rounds v (|v| ≤ 448) to the nearest E4M3FN value, ties to
// even. Normal values have 3 mantissa bits and exponents down to 2^-6;
// below that the step is 2^-9 (subnormals).
func RoundE4M3(v float32) float32 {
	m := math.Abs(float64(v))
	var q float64
	if m < 1.0/64 {
		q = math.RoundToEven(m*512) / 512
	} else {
		_, e := math.Frexp(m) // m in [2^(e-1), 2^e)
		step := math.Ldexp(1, e-1-3)
		q = math.RoundToEven(m/step) * step
	}
	if v < 0 {
		q = -q
	}
	return float32(q)
}

// FP8RoundTrip applies ds4's KV FP8 simulation to x (a multiple of 64
// values): per 64-block, scale = 2^ceil(log2(max(amax, 1e-4)/448)), then
// x ← e4m3(clamp(x/scale, ±448))·scale.
func FP8RoundTrip(x []float32) {
	for b := 0; b+FP8Block <= len(x); b += FP8Block {
		blk := x[b : b+FP8Block]
		a := float32(1e-4)
		for _, v := range blk {
			a = max(a, float32(math.Abs(float64(v))))
		}
		s := Pow2Ceil(a / 448)
		for i, v := range blk {
			blk[i] = RoundE4M3(min(max(v/s, -448), 448)) * s
		}
	}
}

// The E2M1 magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6} and the midpoints
// between them.
var (
	e2m1Vals = [8]float32{0, 0.5, 1, 1.5, 2, 3, 4, 6}
	e2m1Mids = [7]float32{0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5}
)

// roundE2M1 rounds v (|v| ≤ 6) to the nearest E2M1 value, ties to the
// even code.
func roundE2M1(v float32) float32 {
	m := float32(math.Abs(float64(v)))
	i := 0
	for i < 7 && m > e2m1Mids[i] {
		i++
	}
	if i < 7 && m == e2m1Mids[i] && i%2 == 1 {
		i++
	}
	if v < 0 {
		return -e2m1Vals[i]
	}
	return e2m1Vals[i]
}

// Hadamard applies the orthonormal Walsh–Hadamard transform (Sylvester
// order, scaled by 1/√n) to x in place; len(x) is a power of two.
func Hadamard(x []float32) {
	n := len(x)
	for h := 1; h < n; h *= 2 {
		for i := 0; i < n; i += 2 * h {
			for j := i; j < i+h; j++ {
				a, b := x[j], x[j+h]
				x[j], x[j+h] = a+b, a-b
			}
		}
	}
	s := float32(1 / math.Sqrt(float64(n)))
	for i := range x {
		x[i] *= s
	}
}

// FP4RoundTrip is ds4's indexer QAT (spec §3.4): Hadamard, then per
// 32-block scale = 2^ceil(log2(max(amax, 6·2^-126)/6)) and
// x ← e2m1(clamp(x/scale, ±6))·scale.
func FP4RoundTrip(x []float32) {
	Hadamard(x)
	for b := 0; b+FP4Block <= len(x); b += FP4Block {
		blk := x[b : b+FP4Block]
		a := float32(6 * math.Ldexp(1, -126))
		for _, v := range blk {
			a = max(a, float32(math.Abs(float64(v))))
		}
		s := Pow2Ceil(a / 6)
		for i, v := range blk {
			blk[i] = roundE2M1(min(max(v/s, -6), 6)) * s
		}
	}
}

// Sigmoid is 1/(1+e^−x), in float64.
func Sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

// SqrtSoftplus is deepseek4's router score: sqrt(ln(1+e^x)), linear above 20.
func SqrtSoftplus(x float32) float32 {
	if x > 20 {
		return float32(math.Sqrt(float64(x)))
	}
	return float32(math.Sqrt(math.Log1p(math.Exp(float64(x)))))
}

// CompressStep feeds one token's compressor projections (kv, gate: coff·w
// values, coff 2 at ratio 4 and 1 otherwise) into a frontier (spec §4.5)
// and returns the pooled row (w values, a fresh slice) when position p
// completes a window, else nil. A ratio-4 frontier has 8 slots of 2w
// (the previous window's, then the current one's); others ratio slots of w.
func CompressStep(fKV, fScore, kv, gate, ape []float32, ratio, w, p int) []float32 {
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
	sc, vs := make([]float32, ratio), make([]float32, ratio)
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

// SinkAttend sets out to the softmax-weighted sum of rows with weights
// softmax_i(q·rows_i·scale) taken beside an extra logit sink that has no
// value (deepseek4's attention sink, spec §4.4).
func SinkAttend(out, q []float32, rows [][]float32, sink, scale float32, z []float32) {
	mx := sink
	for i, kr := range rows {
		z[i] = Dot(q, kr) * scale
		mx = max(mx, z[i])
	}
	den := float32(math.Exp(float64(sink - mx)))
	clear(out)
	for i, kr := range rows {
		e := float32(math.Exp(float64(z[i] - mx)))
		den += e
		Axpy(out, e, kr)
	}
	Scale(out, 1/den)
}

// TopKAscending writes into sel the indices of the len(sel) largest of
// scores (equal scores: the lower index first, as ds4), in ascending
// order; order is scratch of len(scores).
func TopKAscending(sel []int32, scores []float32, order []int32) {
	for i := range order {
		order[i] = int32(i)
	}
	sort.Slice(order, func(x, y int) bool {
		a, b := order[x], order[y]
		if scores[a] != scores[b] {
			return scores[a] > scores[b]
		}
		return a < b
	})
	copy(sel, order[:len(sel)])
	sort.Slice(sel, func(x, y int) bool { return sel[x] < sel[y] })
}

// RoundFormat is a rounding that DeepSeek4Ops.RoundTrip applies.
type RoundFormat int

const (
	// RoundFP8 is FP8RoundTrip (n a multiple of 64).
	RoundFP8 RoundFormat = iota + 1
	// RoundFP4 is FP4RoundTrip (n a power of two, at least 32).
	RoundFP4
	// RoundF16 is RoundF16Row.
	RoundF16
)

// Compressor is one of a layer's compressors (spec §4.5) as
// DeepSeek4Ops.Compress runs it: Ratio 4 (overlapping windows: 8 frontier
// slots of 2·Width values) or 128 (Ratio slots of Width); APE (Ratio ×
// slot width), Norm (Width) and Freq (RopePairs inverse frequencies) on
// the device. A pooled row is normed (RMSNormF64 with Norm), its last
// 2·RopePairs values rotated at the window's first position, its first
// RoundN values put through Round (0: none) and, with F16, every value
// rounded to f16.
type Compressor struct {
	Ratio, Width, RopePairs, RoundN int
	Round                           RoundFormat
	F16                             bool
	APE, Norm, Freq                 Buffer
	Eps                             float32
}

// slotWidth is the width of a frontier slot and of a token's projections.
func (c Compressor) slotWidth() int {
	if c.Ratio == 4 {
		return 2 * c.Width
	}
	return c.Width
}

// CompressState is one session's state of one compressor on the device:
// Rows, the compressed rows so far (row i pooled from the window ending
// at position (i+1)·Ratio−1), and the frontier, KV and Score (slots ×
// slot width each; an empty slot's score is −1e30).
type CompressState struct {
	Rows, KV, Score Buffer
}

// SinkAttention is one layer's attention as DeepSeek4Ops.AttendSink runs
// it: Heads query heads of Width values over one shared K=V row per
// position; the raw rows of the last Window positions, then the
// compressed rows (Ratio 128: all of them; Ratio 4: the TopK the indexer
// selected; Ratio 0: none); Sinks, one logit per head on the device.
type SinkAttention struct {
	Heads, Width, Window, Ratio, TopK int
	Sinks                             Buffer
}

// RMSNormF64 implements DeepSeek4Ops with RMSNormExact per row.
func (d *CPUDevice) RMSNormF64(out, x, w Buffer, rows, n int, eps float32) {
	o, xs := cpuBuf(out), cpuBuf(x)
	var ws []float32
	if w != nil {
		ws = cpuBuf(w)[:n]
	}
	for r := 0; r < rows; r++ {
		RMSNormExact(o[r*n:(r+1)*n], xs[r*n:(r+1)*n], ws, eps)
	}
}

// HCPre implements DeepSeek4Ops with infer/deepseek4's loops.
func (d *CPUDevice) HCPre(x, postComb, X, mixes, coef Buffer, rows, hc, dim, sinkhorn int, eps float32) {
	xs, Xs, ms, cf := cpuBuf(x), cpuBuf(X), cpuBuf(mixes), cpuBuf(coef)
	mix, nscale := hc, 1
	if postComb != nil {
		mix, nscale = (2+hc)*hc, 3
	}
	scale, base := cf[:nscale], cf[nscale:nscale+mix]
	pre := make([]float32, hc)
	for t := 0; t < rows; t++ {
		mx := ms[t*mix : (t+1)*mix]
		for s := 0; s < hc; s++ {
			pre[s] = Sigmoid(scale[0]*mx[s]+base[s]) + eps
		}
		if postComb != nil {
			pc := cpuBuf(postComb)[t*(hc+hc*hc) : (t+1)*(hc+hc*hc)]
			post, comb := pc[:hc], pc[hc:]
			for s := 0; s < hc; s++ {
				post[s] = 2 * Sigmoid(scale[1]*mx[hc+s]+base[hc+s])
			}
			for i := 0; i < hc; i++ {
				row := comb[i*hc : (i+1)*hc]
				for j := range row {
					row[j] = scale[2]*mx[2*hc+i*hc+j] + base[2*hc+i*hc+j]
				}
				Softmax(row)
				for j := range row {
					row[j] += eps
				}
			}
			SinkhornCols(comb, hc, eps)
			for it := 1; it < sinkhorn; it++ {
				SinkhornRows(comb, hc, eps)
				SinkhornCols(comb, hc, eps)
			}
		}
		xt, Xt := xs[t*dim:(t+1)*dim], Xs[t*hc*dim:(t+1)*hc*dim]
		clear(xt)
		for s := 0; s < hc; s++ {
			Axpy(xt, pre[s], Xt[s*dim:(s+1)*dim])
		}
	}
}

// SinkhornRows divides each row of the H×H matrix cm by its sum + eps.
func SinkhornRows(cm []float32, H int, eps float32) {
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

// SinkhornCols divides each column of the H×H matrix cm by its sum + eps.
func SinkhornCols(cm []float32, H int, eps float32) {
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

// HCPost implements DeepSeek4Ops with infer/deepseek4's loop.
func (d *CPUDevice) HCPost(X, y, postComb Buffer, rows, hc, dim int) {
	Xs, ys, pcs := cpuBuf(X), cpuBuf(y), cpuBuf(postComb)
	old := make([]float32, hc*dim)
	for t := 0; t < rows; t++ {
		Xt := Xs[t*hc*dim : (t+1)*hc*dim]
		copy(old, Xt)
		yt := ys[t*dim : (t+1)*dim]
		pc := pcs[t*(hc+hc*hc) : (t+1)*(hc+hc*hc)]
		post, comb := pc[:hc], pc[hc:]
		for j := 0; j < hc; j++ {
			dst := Xt[j*dim : (j+1)*dim]
			for i := range dst {
				dst[i] = post[j] * yt[i]
			}
			for i := 0; i < hc; i++ {
				Axpy(dst, comb[i*hc+j], old[i*dim:(i+1)*dim])
			}
		}
	}
}

// RopeTail implements DeepSeek4Ops with RopeTail per head.
func (d *CPUDevice) RopeTail(x, freq Buffer, pos []int32, heads, width, pairs int, sign float32) {
	xs, f := cpuBuf(x), cpuBuf(freq)[:pairs]
	for i, p := range pos {
		for h := 0; h < heads; h++ {
			v := xs[(i*heads+h)*width : (i*heads+h+1)*width]
			RopeTail(v, f, int(p), sign)
		}
	}
}

// RoundTrip implements DeepSeek4Ops.
func (d *CPUDevice) RoundTrip(x Buffer, rows, stride, n int, f RoundFormat) {
	xs := cpuBuf(x)
	for r := 0; r < rows; r++ {
		roundTrip(xs[r*stride:r*stride+n], f)
	}
}

func roundTrip(v []float32, f RoundFormat) {
	switch f {
	case RoundFP8:
		FP8RoundTrip(v)
	case RoundFP4:
		FP4RoundTrip(v)
	case RoundF16:
		RoundF16Row(v)
	}
}

// Route implements DeepSeek4Ops with infer/deepseek4's choice: a stable
// sort by score (so ties go to the lower expert) and the weights' sum in
// the chosen order.
func (d *CPUDevice) Route(ids, weights, logits, bias Buffer, hash []int32, rows, experts, k int, scale float32) {
	is, ws, ls := cpuBuf(ids), cpuBuf(weights), cpuBuf(logits)
	P := make([]float32, experts)
	idx := make([]int, experts)
	chosen := make([]int, k)
	for t := 0; t < rows; t++ {
		for e := range P {
			P[e] = SqrtSoftplus(ls[t*experts+e])
		}
		if hash != nil {
			for j := range chosen {
				chosen[j] = int(hash[t*k+j])
			}
		} else {
			for e := range idx {
				idx[e] = e
			}
			key := func(e int) float32 {
				if bias != nil {
					return P[e] + cpuBuf(bias)[e]
				}
				return P[e]
			}
			sort.SliceStable(idx, func(a, b int) bool { return key(idx[a]) > key(idx[b]) })
			copy(chosen, idx[:k])
		}
		var sum float32
		for _, e := range chosen {
			sum += P[e]
		}
		sum = max(sum, 6.103515625e-5)
		for j, e := range chosen {
			is[t*k+j] = float32(e)
			ws[t*k+j] = scale * P[e] / sum
		}
	}
}

// expertIDs reads n expert ids stored as float32 values.
func expertIDs(ids Buffer, n int) []int32 {
	out := make([]int32, n)
	for i, v := range cpuBuf(ids)[:n] {
		out[i] = int32(v)
	}
	return out
}

// MatMulExpertsBy implements DeepSeek4Ops with MatMulExperts.
func (d *CPUDevice) MatMulExpertsBy(out Buffer, w Weights, x, ids Buffer, pairs, per int) {
	d.MatMulExperts(out, w, x, expertIDs(ids, pairs), per)
}

// ScaleRows implements DeepSeek4Ops with Scale per row.
func (d *CPUDevice) ScaleRows(x, s Buffer, rows, n int) {
	xs, ss := cpuBuf(x), cpuBuf(s)
	for r := 0; r < rows; r++ {
		Scale(xs[r*n:(r+1)*n], ss[r])
	}
}

// Combine implements DeepSeek4Ops with Add per part, in ascending expert
// order, as infer/deepseek4's host forward adds its experts' outputs.
func (d *CPUDevice) Combine(out, base, parts, ids Buffer, rows, k, n int) {
	os, ps, is := cpuBuf(out), cpuBuf(parts), cpuBuf(ids)
	order := make([]int, k)
	for t := 0; t < rows; t++ {
		o := os[t*n : (t+1)*n]
		if base != nil {
			copy(o, cpuBuf(base)[t*n:(t+1)*n])
		} else {
			clear(o)
		}
		for j := range order {
			order[j] = j
		}
		sort.SliceStable(order, func(a, b int) bool { return is[t*k+order[a]] < is[t*k+order[b]] })
		for _, j := range order {
			Add(o, o, ps[(t*k+j)*n:(t*k+j+1)*n])
		}
	}
}

// Compress implements DeepSeek4Ops with CompressStep and the host
// forward's finishing of each row.
func (d *CPUDevice) Compress(st CompressState, c Compressor, kv, gate Buffer, first, n, start int) {
	cw := c.slotWidth()
	rows, fKV, fScore := cpuBuf(st.Rows), cpuBuf(st.KV), cpuBuf(st.Score)
	ks, gs, ape := cpuBuf(kv), cpuBuf(gate), cpuBuf(c.APE)
	norm, freq := cpuBuf(c.Norm)[:c.Width], cpuBuf(c.Freq)[:c.RopePairs]
	for j := 0; j < n; j++ {
		t, p := first+j, start+j
		row := CompressStep(fKV, fScore, ks[t*cw:(t+1)*cw], gs[t*cw:(t+1)*cw], ape, c.Ratio, c.Width, p)
		if row == nil {
			continue
		}
		RMSNormExact(row, row, norm, c.Eps)
		RopeTail(row, freq, p+1-c.Ratio, 1)
		roundTrip(row[:c.RoundN], c.Round)
		if c.F16 {
			RoundF16Row(row)
		}
		i := (p+1)/c.Ratio - 1
		copy(rows[i*c.Width:(i+1)*c.Width], row)
	}
}

// RingPut implements DeepSeek4Ops.
func (d *CPUDevice) RingPut(ring, kv Buffer, first, n, start, window, width int) {
	rs, ks := cpuBuf(ring), cpuBuf(kv)
	for p := max(start+n-window, start); p < start+n; p++ {
		t := first + p - start
		copy(rs[(p%window)*width:(p%window+1)*width], ks[t*width:(t+1)*width])
	}
}

// IndexerTopK implements DeepSeek4Ops with infer/deepseek4's scoring.
func (d *CPUDevice) IndexerTopK(sel, iq, iw, idx Buffer, first, n, start, heads, width, k int, scale float32) {
	ss, qs, ws, is := cpuBuf(sel), cpuBuf(iq), cpuBuf(iw), cpuBuf(idx)
	var scores []float32
	var order []int32
	for j := 0; j < n; j++ {
		t, pos := first+j, start+j
		nc := (pos + 1) / 4
		s := ss[t*k : (t+1)*k]
		if nc <= k {
			for i := range s {
				s[i] = -1
				if i < nc {
					s[i] = float32(i)
				}
			}
			continue
		}
		scores = append(scores[:0], make([]float32, nc)...)
		for h := 0; h < heads; h++ {
			qh := qs[(t*heads+h)*width : (t*heads+h+1)*width]
			w := ws[t*heads+h] * scale
			for ci := 0; ci < nc; ci++ {
				if dot := Dot(qh, is[ci*width:(ci+1)*width]); dot > 0 {
					scores[ci] += w * dot
				}
			}
		}
		order = append(order[:0], make([]int32, nc)...)
		chosen := make([]int32, k)
		TopKAscending(chosen, scores, order)
		for i, c := range chosen {
			s[i] = float32(c)
		}
	}
}

// AttendSink implements DeepSeek4Ops with SinkAttend.
func (d *CPUDevice) AttendSink(out, q, kv, ring, comp, sel Buffer, first, n, start int, a SinkAttention) {
	os, qs, ks, rs := cpuBuf(out), cpuBuf(q), cpuBuf(kv), cpuBuf(ring)
	W, H := a.Width, a.Heads
	sinks := cpuBuf(a.Sinks)
	scale := float32(1 / math.Sqrt(float64(W)))
	var rows [][]float32
	var z []float32
	for j := 0; j < n; j++ {
		t, pos := first+j, start+j
		rows = rows[:0]
		for p := max(0, pos-a.Window+1); p <= pos; p++ {
			if p < start {
				rows = append(rows, rs[(p%a.Window)*W:(p%a.Window+1)*W])
			} else {
				r := first + p - start
				rows = append(rows, ks[r*W:(r+1)*W])
			}
		}
		switch a.Ratio {
		case 128:
			cs := cpuBuf(comp)
			for ci := 0; ci < (pos+1)/128; ci++ {
				rows = append(rows, cs[ci*W:(ci+1)*W])
			}
		case 4:
			cs := cpuBuf(comp)
			for _, ci := range cpuBuf(sel)[t*a.TopK : (t+1)*a.TopK] {
				if ci >= 0 {
					rows = append(rows, cs[int(ci)*W:(int(ci)+1)*W])
				}
			}
		}
		if len(z) < len(rows) {
			z = make([]float32, len(rows))
		}
		for h := 0; h < H; h++ {
			SinkAttend(os[(t*H+h)*W:(t*H+h+1)*W], qs[(t*H+h)*W:(t*H+h+1)*W], rows, sinks[h], scale, z)
		}
	}
}
