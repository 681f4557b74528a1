package metalkit

import (
	"encoding/binary"
	"math"
)

// Q6_K: 256 values per 210-byte super-block, 16 sub-blocks of 16 values
// with a signed 8-bit scale each; values are 6 bits, offset by 32.
//
//	byte  0                 128            192             208    210
//	      +-----------------+--------------+---------------+------+
//	      | ql[128]         | qh[64]       | scales[16]    |  d   |
//	      +-----------------+--------------+---------------+------+
//	        low 4 bits        high 2 bits    int8            f16
//
//	Two halves h of 128 values; half h uses ql[64h:64h+64], qh[32h:32h+32].
//	For l < 32, with L = ql[64h:], H = qh[32h:]:
//	  value 128h+l     : L[l]    & 15 | (H[l]>>0 & 3)<<4
//	  value 128h+l+32  : L[l+32] & 15 | (H[l]>>2 & 3)<<4
//	  value 128h+l+64  : L[l]    >> 4 | (H[l]>>4 & 3)<<4
//	  value 128h+l+96  : L[l+32] >> 4 | (H[l]>>6 & 3)<<4
//
//	x[n] = d · scales[n/16] · (q − 32)
const q6_KBytes = 210

// q6KValue returns the 6-bit value n (0..255) of a block.
func q6KValue(blk []byte, n int) int {
	h, r := n/128, n%128
	j, l := r/32, r%32
	ql := blk[64*h:]
	qh := blk[128+32*h+l]
	var lo byte
	switch j {
	case 0:
		lo = ql[l] & 15
	case 1:
		lo = ql[l+32] & 15
	case 2:
		lo = ql[l] >> 4
	case 3:
		lo = ql[l+32] >> 4
	}
	return int(lo | (qh>>(2*uint(j))&3)<<4)
}

func dequantQ6_K(out []float32, src []byte) {
	for b := 0; b < len(out)/qkBlock; b++ {
		blk := src[b*q6_KBytes : (b+1)*q6_KBytes]
		d := F16ToF32(binary.LittleEndian.Uint16(blk[208:]))
		o := out[b*qkBlock:]
		for n := 0; n < qkBlock; n++ {
			o[n] = d * float32(int8(blk[192+n/16])) * float32(q6KValue(blk, n)-32)
		}
	}
}

// dot4Q6_KGo is the reference Q6_K × Q8_K kernel; see dot4Q8_0Go for the
// contract.
//
//	out[r] = Σ_b d·a.d[b]·Σ_s scale_s·(Σ_{n∈s} q_n·y_n − 32·bsum16_s)
func dot4Q6_KGo(w []byte, stride int, a *q8Act, out *[4]float32) {
	nb := len(a.d)
	for r := 0; r < 4; r++ {
		row := w[r*stride:]
		var sum float32
		for b := 0; b < nb; b++ {
			blk := row[b*q6_KBytes : (b+1)*q6_KBytes]
			qy := a.qs[b*qkBlock : (b+1)*qkBlock]
			var sumi int32
			for s := 0; s < 16; s++ {
				var t int32
				for n := 16 * s; n < 16*s+16; n++ {
					t += int32(q6KValue(blk, n)) * int32(qy[n])
				}
				sumi += int32(int8(blk[192+s])) * (t - 32*int32(a.bs16[b*16+s]))
			}
			d := F16ToF32(binary.LittleEndian.Uint16(blk[208:]))
			sum += d * a.d[b] * float32(sumi)
		}
		out[r] = sum
	}
}

// quantQ6_K writes Q6_K super-blocks: per sub-block the value of largest
// magnitude maps to -32; the 16 sub-block scales are quantised to int8
// against d = max|scale|/127.
func quantQ6_K(dst []byte, src []float32) {
	for b := 0; b < len(src)/qkBlock; b++ {
		x := src[b*qkBlock : (b+1)*qkBlock]
		blk := dst[b*q6_KBytes : (b+1)*q6_KBytes]
		clear(blk)
		var scales [16]float32
		var maxAbs, maxScale float32
		for s := 0; s < 16; s++ {
			var amax, mx float32
			for _, v := range x[16*s : 16*s+16] {
				if a := float32(math.Abs(float64(v))); a > amax {
					amax, mx = a, v
				}
			}
			scales[s] = mx / -32
			if a := float32(math.Abs(float64(scales[s]))); a > maxAbs {
				maxAbs, maxScale = a, scales[s]
			}
		}
		var L [qkBlock]int
		if maxAbs != 0 {
			iscale := -128 / maxScale
			d := F16ToF32(F32ToF16(1 / iscale))
			binary.LittleEndian.PutUint16(blk[208:], F32ToF16(1/iscale))
			for s := 0; s < 16; s++ {
				ls := int(math.Round(float64(iscale * scales[s])))
				ls = max(-128, min(127, ls))
				blk[192+s] = byte(int8(ls))
				step := d * float32(ls)
				for n := 16 * s; n < 16*s+16; n++ {
					q := 0
					if step != 0 {
						q = int(math.Round(float64(x[n] / step)))
						q = max(-32, min(31, q))
					}
					L[n] = q + 32
				}
			}
		} else {
			for n := range L {
				L[n] = 32
			}
		}
		for h := 0; h < 2; h++ {
			ql, qh := blk[64*h:], blk[128+32*h:]
			l := L[128*h:]
			for i := 0; i < 32; i++ {
				ql[i] = byte(l[i]&15 | (l[i+64]&15)<<4)
				ql[i+32] = byte(l[i+32]&15 | (l[i+96]&15)<<4)
				qh[i] = byte(l[i]>>4 | (l[i+32]>>4)<<2 | (l[i+64]>>4)<<4 | (l[i+96]>>4)<<6)
			}
		}
	}
}
