package metalkit

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Q2_K: 256 values in 84 bytes, 16 sub-blocks of 16 values with a 4-bit
// scale and a 4-bit min each (ggml type 10; DeepSeek V4 Flash's routed down
// experts in ds4's "q2" files).
//
//	byte  0              16                       80     82     84
//	      +--------------+------------------------+------+------+
//	      | scales[16]   | qs[64]                 |  d   | dmin |
//	      +--------------+------------------------+------+------+
//	                                                f16    f16
//	scales[s]: low nibble a_s, high nibble b_s (sub-block s = values 16s..16s+15)
//	value n = 128h + 32j + l (h < 2, j < 4, l < 32):
//	  q = (qs[32h + l] >> 2j) & 3,   x[n] = d·a_s·q − dmin·b_s,  s = n/16
const q2_KBytes = 84

// dequantQ2_K decodes one row (len(out)/256 blocks).
func dequantQ2_K(out []float32, src []byte) {
	for b := 0; b*qkBlock < len(out); b++ {
		blk := src[b*q2_KBytes : (b+1)*q2_KBytes]
		d := F16ToF32(binary.LittleEndian.Uint16(blk[80:]))
		dmin := F16ToF32(binary.LittleEndian.Uint16(blk[82:]))
		for n := 0; n < qkBlock; n++ {
			h, j, l := n/128, (n%128)/32, n%32
			q := (blk[16+32*h+l] >> (2 * j)) & 3
			sc := blk[n/16]
			out[b*qkBlock+n] = d*float32(sc&15)*float32(q) - dmin*float32(sc>>4)
		}
	}
}

// q8KAct is one column of activations quantised for the K-quant and IQ
// dots of this file and iq2_xxs.go: per 256-value block a scale d and 8-bit
// values, plus the sums of each 16-value group (they fold the Q2_K mins out
// of the inner loop).
//
//	x[i] ≈ d[i/256] · q[i],  d = amax/127
type q8KAct struct {
	q     []int8
	d     []float32
	bsums []int16
}

// quantQ8K quantises x (a multiple of 256 values) into a, reusing its memory.
func quantQ8K(a *q8KAct, x []float32) {
	nb := len(x) / qkBlock
	if cap(a.q) < len(x) {
		a.q, a.d, a.bsums = make([]int8, len(x)), make([]float32, nb), make([]int16, 16*nb)
	}
	a.q, a.d, a.bsums = a.q[:len(x)], a.d[:nb], a.bsums[:16*nb]
	for b := 0; b < nb; b++ {
		xb := x[b*qkBlock : (b+1)*qkBlock]
		amax := absMax(xb)
		d := amax / 127
		id := float32(0)
		if d != 0 {
			id = 1 / d
		}
		a.d[b] = d
		for i, v := range xb {
			a.q[b*qkBlock+i] = int8(math.RoundToEven(float64(v * id)))
		}
		for s := 0; s < 16; s++ {
			var t int16
			for _, v := range a.q[b*qkBlock+16*s : b*qkBlock+16*s+16] {
				t += int16(v)
			}
			a.bsums[b*16+s] = t
		}
	}
}

// dotQ2_KGo is the reference dot of one Q2_K row with Q8_K activations:
//
//	Σ_b d_y·(d·Σ_s a_s·Σ_{i∈s} q_i·y_i − dmin·Σ_s b_s·bsum_s)
func dotQ2_KGo(w []byte, a *q8KAct) float32 {
	var sum float32
	for b := range a.d {
		blk := w[b*q2_KBytes : (b+1)*q2_KBytes]
		y := a.q[b*qkBlock : (b+1)*qkBlock]
		bs := a.bsums[b*16 : b*16+16]
		var sumi, summ int32
		for h := 0; h < 2; h++ {
			qs := blk[16+32*h : 16+32*h+32]
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				yy := y[128*h+32*j : 128*h+32*j+32]
				var t0, t1 int32
				for l := 0; l < 16; l++ {
					t0 += int32((qs[l]>>shift)&3) * int32(yy[l])
					t1 += int32((qs[l+16]>>shift)&3) * int32(yy[l+16])
				}
				s := 8*h + 2*j
				sumi += int32(blk[s]&15)*t0 + int32(blk[s+1]&15)*t1
			}
		}
		for s := 0; s < 16; s++ {
			summ += int32(blk[s]>>4) * int32(bs[s])
		}
		d := F16ToF32(binary.LittleEndian.Uint16(blk[80:]))
		dmin := F16ToF32(binary.LittleEndian.Uint16(blk[82:]))
		sum += a.d[b] * (d*float32(sumi) - dmin*float32(summ))
	}
	return sum
}

// QuantizeQ2_K encodes src (a multiple of 256 values): per 16-value
// sub-block the least-squares-free min/max fit x ≈ scale·q − min with q in
// 0..3, then the 16 scales and 16 mins are themselves quantised to 4 bits
// against the block's d and dmin. For synthetic models and tests.
func QuantizeQ2_K(src []float32) []byte {
	out := make([]byte, len(src)/qkBlock*q2_KBytes)
	for b := 0; b*qkBlock < len(src); b++ {
		x := src[b*qkBlock : (b+1)*qkBlock]
		blk := out[b*q2_KBytes : (b+1)*q2_KBytes]
		var scales, mins [16]float32
		var maxScale, maxMin float32
		for s := 0; s < 16; s++ {
			lo, hi := float32(0), float32(0)
			for i, v := range x[16*s : 16*s+16] {
				if i == 0 || v < lo {
					lo = v
				}
				if i == 0 || v > hi {
					hi = v
				}
			}
			lo = min(lo, 0)
			scales[s], mins[s] = (hi-lo)/3, -lo
			maxScale, maxMin = max(maxScale, scales[s]), max(maxMin, mins[s])
		}
		d := F16ToF32(F32ToF16(maxScale / 15))
		dmin := F16ToF32(F32ToF16(maxMin / 15))
		binary.LittleEndian.PutUint16(blk[80:], F32ToF16(d))
		binary.LittleEndian.PutUint16(blk[82:], F32ToF16(dmin))
		for s := 0; s < 16; s++ {
			var a, m uint8
			if d > 0 {
				a = uint8(min(15, math.Round(float64(scales[s]/d))))
			}
			if dmin > 0 {
				m = uint8(min(15, math.Round(float64(mins[s]/dmin))))
			}
			blk[s] = a | m<<4
			sc, mn := d*float32(a), dmin*float32(m)
			for i := 0; i < 16; i++ {
				n := 16*s + i
				q := 0
				if sc > 0 {
					q = int(min(3, max(0, math.Round(float64((x[n]+mn)/sc)))))
				}
				h, j, l := n/128, (n%128)/32, n%32
				blk[16+32*h+l] |= uint8(q) << (2 * j)
			}
		}
	}
	return out
}

// lowBitDot is the dot kernel of a type MatMulLowBit handles.
func lowBitDot(t DType) func(w []byte, a *q8KAct) float32 {
	switch t {
	case Q2_K:
		return dotQ2_K
	case IQ2_XXS:
		return dotIQ2_XXS
	}
	return nil
}

// MatMulLowBit is MatMul for the 2-bit formats (Q2_K, IQ2_XXS) and falls
// back to MatMul for every other type:
//
//	out[b*m.Rows + r] = Σ_c m[r][c] · x[b*m.Cols + c]
//
// Activations are quantised to 8 bits per 256 values (Q8_K) once per call
// and each weight row is read once for the whole batch. Rows are split over
// p's workers.
func MatMulLowBit(p *Pool, out []float32, m Matrix, x []float32, batch int) {
	dot := lowBitDot(m.Type)
	if dot == nil {
		MatMul(p, out, m, x, batch)
		return
	}
	if batch <= 0 || m.Rows == 0 {
		return
	}
	rb := RowBytes(m.Type, m.Cols)
	if len(out) < batch*m.Rows || len(x) < batch*m.Cols || len(m.Data) < m.Rows*rb {
		panic(fmt.Sprintf("metalkit: MatMulLowBit %v %dx%d batch %d: out %d, x %d", m.Type, m.Rows, m.Cols, batch, len(out), len(x)))
	}
	acts := make([]q8KAct, batch)
	for b := range acts {
		quantQ8K(&acts[b], x[b*m.Cols:(b+1)*m.Cols])
	}
	if p == nil {
		p = serialPool
	}
	p.Parallel(m.Rows, func(start, end int) {
		for r := start; r < end; r++ {
			w := m.Data[r*rb : (r+1)*rb]
			for b := range acts {
				out[b*m.Rows+r] = dot(w, &acts[b])
			}
		}
	})
}
