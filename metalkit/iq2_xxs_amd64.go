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

// dotIQ2_XXSAVX2 is the avx2 backend's IQ2_XXS row dot: iq2xxsBlocksAVX2
// for the integer sums, the block scales folded in here.
func dotIQ2_XXSAVX2(w []byte, a *q8Act) float32 {
	nb := len(a.d)
	if nb == 0 {
		return 0
	}
	if len(w) < nb*iq2xxsBytes || len(a.qs) < nb*qkBlock {
		panic("metalkit: IQ2_XXS dot out of bounds")
	}
	var small [32]int32
	sums := small[:]
	if nb > len(small) {
		sums = make([]int32, nb)
	}
	tab := iq2xxsTable()
	iq2xxsBlocksAVX2(&w[0], &tab[0], &a.qs[0], nb, &sums[0])
	var sum float32
	for b := 0; b < nb; b++ {
		sum += F16ToF32(binary.LittleEndian.Uint16(w[b*iq2xxsBytes:])) * a.d[b] * float32(sums[b]) / 8
	}
	return sum
}

// dot4IQ2_XXSAVX2 is the avx2 backend's 4-row IQ2_XXS kernel, one row at
// a time.
func dot4IQ2_XXSAVX2(w []byte, stride int, a *q8Act, out *[4]float32) {
	for r := 0; r < 4; r++ {
		out[r] = dotIQ2_XXSAVX2(w[r*stride:], a)
	}
}

// iq2xxsDot4Z dots four IQ2_XXS rows (row r at w + r·stride; stride 0
// repeats one row) of nb blocks with activations in 256-value blocks (qs,
// d); grid is iq2xxsGrid. (AVX512BW+VBMI+BITALG+VNNI; iq2_xxsz_amd64.s)
//
//	for r := 0; r < 4; r++ { out[r] = dotIQ2_XXSGo(w[r*stride:], a) }
//
//go:noescape
func iq2xxsDot4Z(w *byte, stride int, grid *uint64, qs *int8, d *float32, nb int, out *[4]float32)

// dot4IQ2_XXSZ is the avx512vnni backend's 4-row IQ2_XXS kernel.
func dot4IQ2_XXSZ(w []byte, stride int, a *q8Act, out *[4]float32) {
	nb := len(a.d)
	if nb == 0 {
		*out = [4]float32{}
		return
	}
	if len(w) < 3*stride+nb*iq2xxsBytes || len(a.qs) < nb*qkBlock {
		panic("metalkit: IQ2_XXS dot out of bounds")
	}
	iq2xxsDot4Z(&w[0], stride, &iq2xxsGrid[0], &a.qs[0], &a.d[0], nb, out)
}

// iq2xxsDot1x4Z dots one IQ2_XXS row of nb blocks with four activation
// columns, column c's quants at qs + c·qsStride and scales at d + c·dStride
// (bytes). (AVX512BW+VBMI+BITALG+VNNI; iq2_xxsz_amd64.s)
//
//	for c := 0; c < 4; c++ { out[c] = dotIQ2_XXSGo(w, a[c]) }
//
//go:noescape
func iq2xxsDot1x4Z(w *byte, grid *uint64, qs *int8, qsStride int, d *float32, dStride int, nb int, out *[4]float32)

// dot1x4IQ2_XXSZ is the avx512vnni backend's one-row × four-column
// IQ2_XXS kernel; columns not in actBuf's layout take fallback.
func dot1x4IQ2_XXSZ(w []byte, a []q8Act, out *[4]float32, fallback dot4Func) {
	nb := len(a[0].d)
	qsStride, dStride, ok := lowBitCols(a, nb)
	if !ok || len(w) < nb*iq2xxsBytes {
		dot1x4Go(w, a, out, fallback)
		return
	}
	iq2xxsDot1x4Z(&w[0], &iq2xxsGrid[0], &a[0].qs[0], qsStride, &a[0].d[0], dStride, nb, out)
}
