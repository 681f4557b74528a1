//go:build !noasm

package metalkit

import "encoding/binary"

// q2kBlocksAVX2 computes the scale part of nb Q2_K × Q8_K block dots (AVX2):
//
//	for b := 0; b < nb; b++ {
//		out[b] = 0
//		for n := 0; n < 256; n++ {
//			h, j, l := n/128, n%128/32, n%32
//			out[b] += (scales[n/16] & 15) · (qs[32h+l] >> 2j & 3) · q[256b+n]
//		}
//	}
//
//go:noescape
func q2kBlocksAVX2(w *byte, q *int8, nb int, out *int32)

// dotQ2_K is the Q2_K × Q8_K dot: the AVX2 kernel when the CPU has it and
// metalkit uses assembly, else dotQ2_KGo.
func dotQ2_K(w []byte, a *q8KAct) float32 {
	nb := len(a.d)
	if !hasAVX2 || kern.name == "go" || nb == 0 {
		return dotQ2_KGo(w, a)
	}
	if len(w) < nb*q2_KBytes || len(a.q) < nb*qkBlock || len(a.bsums) < 16*nb {
		panic("metalkit: Q2_K dot out of bounds")
	}
	var small [32]int32
	sums := small[:]
	if nb > len(small) {
		sums = make([]int32, nb)
	}
	q2kBlocksAVX2(&w[0], &a.q[0], nb, &sums[0])
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*q2_KBytes : (b+1)*q2_KBytes]
		var summ int32
		for s := 0; s < 16; s++ {
			summ += int32(blk[s]>>4) * int32(a.bsums[b*16+s])
		}
		d := F16ToF32(binary.LittleEndian.Uint16(blk[80:]))
		dmin := F16ToF32(binary.LittleEndian.Uint16(blk[82:]))
		sum += a.d[b] * (d*float32(sums[b]) - dmin*float32(summ))
	}
	return sum
}
