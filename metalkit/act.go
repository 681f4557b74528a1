package metalkit

import "math"

// q8Act is one column of activations quantised to 8 bits, the activation
// side of every quantised dot. With 32-value blocks (Q8_0 style, for Q8_0
// and Q4_0 weights) only qs and d are set; with 256-value blocks (Q8_K
// style, for K-quants) bs16 and bs32 hold the sums of qs over each 16- and
// 32-value group, which fold the weights' offsets and mins out of the inner
// loop. With 32-value blocks cz[b] = −16·Σ qs[32b:32b+32] is the correction
// of the ZMM kernels (q8_0z_amd64.s), which flip the weights' sign bit:
// spread over a block's 8 int32 lanes it takes back 128·Σ qs.
//
//	x[i] ≈ d[i/block] · qs[i],  qs in −127..127 (never −128: the AVX2
//	kernels negate it)
type q8Act struct {
	qs   []int8
	d    []float32
	cz   []int32
	bs16 []int16
	bs32 []int16
}

// quantAct quantises x into a with blocks of bs values (32 or 256); a's
// slices must already have the right lengths.
func quantAct(a *q8Act, x []float32, bs int) {
	if bs == 32 && len(a.cz) > 0 && kern.quant32 != nil {
		kern.quant32(a, x)
		return
	}
	if bs == qkBlock && kern.quant256 != nil {
		kern.quant256(a, x)
		return
	}
	quantActGo(a, x, bs)
}

// quantActGo is the reference quantAct.
func quantActGo(a *q8Act, x []float32, bs int) {
	for b := 0; b < len(x)/bs; b++ {
		xb := x[b*bs : (b+1)*bs]
		q := a.qs[b*bs : (b+1)*bs]
		amax := absMax(xb)
		d := amax / 127
		id := float32(0)
		if d != 0 {
			id = 1 / d
		}
		a.d[b] = d
		for i, v := range xb {
			q[i] = int8(math.RoundToEven(float64(v * id)))
		}
		if bs == 32 && len(a.cz) > b {
			var t int32
			for _, v := range q {
				t += int32(v)
			}
			a.cz[b] = -16 * t
		}
		if bs == qkBlock {
			for s := 0; s < 16; s++ {
				var t int16
				for _, v := range q[16*s : 16*s+16] {
					t += int16(v)
				}
				a.bs16[b*16+s] = t
			}
			for k := 0; k < 8; k++ {
				a.bs32[b*8+k] = a.bs16[b*16+2*k] + a.bs16[b*16+2*k+1]
			}
		}
	}
}

// actBuf holds a whole batch of quantised columns; it grows and is reused.
type actBuf struct {
	qs   []int8
	d    []float32
	cz   []int32
	bs16 []int16
	bs32 []int16
	cols []q8Act
}

// prepare sizes the buffer for batch columns of n values in blocks of bs and
// returns the column views.
func (ab *actBuf) prepare(n, batch, bs int) []q8Act {
	nb := n / bs
	ab.qs = grow(ab.qs, n*batch)
	ab.d = grow(ab.d, nb*batch)
	if bs == 32 {
		ab.cz = grow(ab.cz, nb*batch)
	}
	if bs == qkBlock {
		ab.bs16 = grow(ab.bs16, 16*nb*batch)
		ab.bs32 = grow(ab.bs32, 8*nb*batch)
	}
	if cap(ab.cols) < batch {
		ab.cols = make([]q8Act, batch)
	}
	ab.cols = ab.cols[:batch]
	for b := range ab.cols {
		c := &ab.cols[b]
		c.qs = ab.qs[b*n : (b+1)*n]
		c.d = ab.d[b*nb : (b+1)*nb]
		c.cz, c.bs16, c.bs32 = nil, nil, nil
		if bs == 32 {
			c.cz = ab.cz[b*nb : (b+1)*nb]
		}
		if bs == qkBlock {
			c.bs16 = ab.bs16[b*16*nb : (b+1)*16*nb]
			c.bs32 = ab.bs32[b*8*nb : (b+1)*8*nb]
		}
	}
	return ab.cols
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
