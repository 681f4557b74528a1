//go:build !noasm

package metalkit

import "encoding/binary"

// iq2xxsBlocksAVX2 computes, for nb IQ2_XXS blocks at w and Q8_K blocks at
// q, the integer part of the dot (AVX2):
//
//	for b := 0; b < nb; b++ {
//		out[b] = 0
//		for sub := 0; sub < 8; sub++ {
//			w0, w1 := block b's words of sub-block sub
//			var s int32
//			for t := 0; t < 4; t++ {
//				e := tab[(w0>>(8t))&255<<7 | (w1>>(7t))&127]
//				for i := 0; i < 8; i++ { s += e[i] * q[256b+32sub+8t+i] }
//			}
//			out[b] += (2·(w1>>28)+1) · s
//		}
//	}
//
//go:noescape
func iq2xxsBlocksAVX2(w *byte, tab *[8]int8, q *int8, nb int, out *int32)

// dotIQ2_XXS is the IQ2_XXS × Q8_K dot: the AVX2 kernel when the CPU has
// it and metalkit uses assembly, else dotIQ2_XXSGo.
func dotIQ2_XXS(w []byte, a *q8KAct) float32 {
	nb := len(a.d)
	if !hasAVX2 || kern.name == "go" || nb == 0 {
		return dotIQ2_XXSGo(w, a)
	}
	if len(w) < nb*iq2xxsBytes || len(a.q) < nb*qkBlock {
		panic("metalkit: IQ2_XXS dot out of bounds")
	}
	var small [32]int32
	sums := small[:]
	if nb > len(small) {
		sums = make([]int32, nb)
	}
	tab := iq2xxsTable()
	iq2xxsBlocksAVX2(&w[0], &tab[0], &a.q[0], nb, &sums[0])
	var sum float32
	for b := 0; b < nb; b++ {
		sum += F16ToF32(binary.LittleEndian.Uint16(w[b*iq2xxsBytes:])) * a.d[b] * float32(sums[b]) / 8
	}
	return sum
}
