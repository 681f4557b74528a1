package metalkit

import (
	"encoding/binary"
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

// dotQ2_KGo is the reference dot of one Q2_K row with activations in
// 256-value blocks (a.qs, a.d, and a.bs16, the sums of each 16 values, which
// fold the mins out of the inner loop):
//
//	Σ_b d_y·(d·Σ_s a_s·Σ_{i∈s} q_i·y_i − dmin·Σ_s b_s·bsum_s)
func dotQ2_KGo(w []byte, a *q8Act) float32 {
	var sum float32
	for b := range a.d {
		blk := w[b*q2_KBytes : (b+1)*q2_KBytes]
		y := a.qs[b*qkBlock : (b+1)*qkBlock]
		bs := a.bs16[b*16 : b*16+16]
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

// dot4Q2_KGo is the reference 4-row Q2_K kernel (the goBackend's): out[r] is
// the dot of the row at w[r*stride:] with a.
func dot4Q2_KGo(w []byte, stride int, a *q8Act, out *[4]float32) {
	for r := 0; r < 4; r++ {
		out[r] = dotQ2_KGo(w[r*stride:], a)
	}
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

// MatMulLowBit is MatMul, which takes the 2-bit formats (Q2_K, IQ2_XXS)
// like every other since their kernels joined the backends; deepseek4's
// routed experts call it by this name.
func MatMulLowBit(p *Pool, out []float32, m Matrix, x []float32, batch int) {
	MatMul(p, out, m, x, batch)
}
