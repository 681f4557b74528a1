package metalkit

import (
	"encoding/binary"
	"math"
)

// Q4_K: 256 values per 144-byte super-block, 8 sub-blocks of 32 values,
// each with a 6-bit scale a_k and 6-bit min b_k.
//
//	byte  0      2      4                16                          144
//	      +------+------+----------------+----------------------------+
//	      |  d   | dmin | scales[12]     | qs[128]                    |
//	      +------+------+----------------+----------------------------+
//	       f16    f16
//
//	scales, bits:      k < 4                     k >= 4
//	  a_k  = scales[k] & 63            (scales[k+4] & 15) | (scales[k-4] >> 6) << 4
//	  b_k  = scales[k+4] & 63          (scales[k+4] >> 4) | (scales[k]   >> 6) << 4
//
//	qs: 4 chunks of 32 bytes; chunk j's low nibbles are values 64j..64j+31
//	(sub-block 2j), its high nibbles values 64j+32..64j+63 (sub-block 2j+1).
//
//	x[32k+l] = d·a_k·q − dmin·b_k
const (
	qkBlock   = 256
	q4_KBytes = 144
)

// q4KScaleMin returns the 6-bit scale and min of sub-block k.
func q4KScaleMin(k int, s []byte) (sc, m uint8) {
	if k < 4 {
		return s[k] & 63, s[k+4] & 63
	}
	return s[k+4]&15 | (s[k-4]>>6)<<4, s[k+4]>>4 | (s[k]>>6)<<4
}

func dequantQ4_K(out []float32, src []byte) {
	for b := 0; b < len(out)/qkBlock; b++ {
		blk := src[b*q4_KBytes : (b+1)*q4_KBytes]
		d := F16ToF32(binary.LittleEndian.Uint16(blk))
		dmin := F16ToF32(binary.LittleEndian.Uint16(blk[2:]))
		o := out[b*qkBlock:]
		for k := 0; k < 8; k++ {
			sc, m := q4KScaleMin(k, blk[4:16])
			d1, m1 := d*float32(sc), dmin*float32(m)
			q := blk[16+32*(k/2):]
			shift := 4 * uint(k%2)
			for l := 0; l < 32; l++ {
				o[32*k+l] = d1*float32((q[l]>>shift)&15) - m1
			}
		}
	}
}

// dot4Q4_KGo is the reference Q4_K × Q8_K kernel; see dot4Q8_0Go for the
// contract (a holds len(a.d) super-blocks).
//
//	out[r] = Σ_b a.d[b]·(d·Σ_k a_k·Σ_l q·y − dmin·Σ_k b_k·bsum32_k)
func dot4Q4_KGo(w []byte, stride int, a *q8Act, out *[4]float32) {
	nb := len(a.d)
	for r := 0; r < 4; r++ {
		row := w[r*stride:]
		var sum float32
		for b := 0; b < nb; b++ {
			sum += q4KBlockDot(row[b*q4_KBytes:(b+1)*q4_KBytes], a, b)
		}
		out[r] = sum
	}
}

// quantQ4_K writes Q4_K super-blocks with a plain per-sub-block range fit:
// min = min(0, min x), scale = (max x − min)/15, then both quantised to 6 bits
// against the super-block's d and dmin. (ggml searches harder; the bytes
// decode the same way.)
func quantQ4_K(dst []byte, src []float32) {
	for b := 0; b < len(src)/qkBlock; b++ {
		x := src[b*qkBlock : (b+1)*qkBlock]
		blk := dst[b*q4_KBytes : (b+1)*q4_KBytes]
		clear(blk)
		var scales, mins [8]float32
		var maxScale, maxMin float32
		for k := 0; k < 8; k++ {
			lo, hi := float32(0), float32(math.Inf(-1))
			for _, v := range x[32*k : 32*k+32] {
				lo, hi = min(lo, v), max(hi, v)
			}
			scales[k], mins[k] = (hi-lo)/15, -lo
			maxScale, maxMin = max(maxScale, scales[k]), max(maxMin, mins[k])
		}
		d, dmin := maxScale/63, maxMin/63
		// Store the rounded f16 values and quantise against them.
		binary.LittleEndian.PutUint16(blk, F32ToF16(d))
		binary.LittleEndian.PutUint16(blk[2:], F32ToF16(dmin))
		d, dmin = F16ToF32(binary.LittleEndian.Uint16(blk)), F16ToF32(binary.LittleEndian.Uint16(blk[2:]))
		s := blk[4:16]
		for k := 0; k < 8; k++ {
			ls, lm := uint8(0), uint8(0)
			if d > 0 {
				ls = uint8(min(63, math.Round(float64(scales[k]/d))))
			}
			if dmin > 0 {
				lm = uint8(min(63, math.Round(float64(mins[k]/dmin))))
			}
			if k < 4 {
				s[k] |= ls
				s[k+4] |= lm
			} else {
				s[k+4] = ls&15 | (lm&15)<<4
				s[k-4] |= (ls >> 4) << 6
				s[k] |= (lm >> 4) << 6
			}
			step, off := d*float32(ls), dmin*float32(lm)
			qs := blk[16+32*(k/2):]
			shift := 4 * uint(k%2)
			for l := 0; l < 32; l++ {
				q := 0
				if step > 0 {
					q = int(math.Round(float64((x[32*k+l] + off) / step)))
					q = max(0, min(15, q))
				}
				qs[l] |= byte(q) << shift
			}
		}
	}
}
