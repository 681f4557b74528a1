//go:build !noasm

package metalkit

import (
	"encoding/binary"
	"unsafe"
)

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

// dotQ2_KAVX2 is the avx2 backend's Q2_K row dot: q2kBlocksAVX2 for the
// scale part, the mins and block scales folded in here.
func dotQ2_KAVX2(w []byte, a *q8Act) float32 {
	nb := len(a.d)
	if nb == 0 {
		return 0
	}
	if len(w) < nb*q2_KBytes || len(a.qs) < nb*qkBlock || len(a.bs16) < 16*nb {
		panic("metalkit: Q2_K dot out of bounds")
	}
	var small [32]int32
	sums := small[:]
	if nb > len(small) {
		sums = make([]int32, nb)
	}
	q2kBlocksAVX2(&w[0], &a.qs[0], nb, &sums[0])
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*q2_KBytes : (b+1)*q2_KBytes]
		var summ int32
		for s := 0; s < 16; s++ {
			summ += int32(blk[s]>>4) * int32(a.bs16[b*16+s])
		}
		d := F16ToF32(binary.LittleEndian.Uint16(blk[80:]))
		dmin := F16ToF32(binary.LittleEndian.Uint16(blk[82:]))
		sum += a.d[b] * (d*float32(sums[b]) - dmin*float32(summ))
	}
	return sum
}

// dot4Q2_KAVX2 is the avx2 backend's 4-row Q2_K kernel, one row at a time.
func dot4Q2_KAVX2(w []byte, stride int, a *q8Act, out *[4]float32) {
	for r := 0; r < 4; r++ {
		out[r] = dotQ2_KAVX2(w[r*stride:], a)
	}
}

// q2KDot4Z dots four Q2_K rows (row r at w + r·stride; stride 0 repeats
// one row) of nb blocks with activations in 256-value blocks (qs, d, and
// bs16, the sums of each 16). (AVX512BW+VNNI; q2_kz_amd64.s)
//
//	for r := 0; r < 4; r++ { out[r] = dotQ2_KGo(w[r*stride:], a) }
//
//go:noescape
func q2KDot4Z(w *byte, stride int, qs *int8, d *float32, bs16 *int16, nb int, out *[4]float32)

// dot4Q2_KZ is the avx512vnni backend's 4-row Q2_K kernel.
func dot4Q2_KZ(w []byte, stride int, a *q8Act, out *[4]float32) {
	nb := len(a.d)
	if nb == 0 {
		*out = [4]float32{}
		return
	}
	if len(w) < 3*stride+nb*q2_KBytes || len(a.qs) < nb*qkBlock || len(a.bs16) < 16*nb {
		panic("metalkit: Q2_K dot out of bounds")
	}
	q2KDot4Z(&w[0], stride, &a.qs[0], &a.d[0], &a.bs16[0], nb, out)
}

// q2KDot1x4Z dots one Q2_K row of nb blocks with four activation columns
// laid out as actBuf lays them out: column c's quants at qs + c·qsStride,
// scales at d + c·dStride, 16-value sums at bs16 + 8c·dStride (bytes).
// (AVX512BW+VNNI; q2_kz_amd64.s)
//
//	for c := 0; c < 4; c++ { out[c] = dotQ2_KGo(w, a[c]) }
//
//go:noescape
func q2KDot1x4Z(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs16 *int16, nb int, out *[4]float32)

// dot1x4Q2_KZ is the avx512vnni backend's one-row × four-column Q2_K
// kernel; columns not in actBuf's layout take fallback, one at a time.
func dot1x4Q2_KZ(w []byte, a []q8Act, out *[4]float32, fallback dot4Func) {
	nb := len(a[0].d)
	qsStride, dStride, ok := lowBitCols(a, nb)
	if !ok || len(w) < nb*q2_KBytes {
		dot1x4Go(w, a, out, fallback)
		return
	}
	q2KDot1x4Z(&w[0], &a[0].qs[0], qsStride, &a[0].d[0], dStride, &a[0].bs16[0], nb, out)
}

// lowBitCols returns the byte distances between consecutive columns of
// a[:4]'s quants and scales, and whether the four columns lie as actBuf
// lays them out (nb blocks each, column c's quants, scales and 16-value
// sums at c times the strides, the sums' stride 8·dStride), which the
// one-row × four-column kernels assume.
func lowBitCols(a []q8Act, nb int) (qsStride, dStride int, ok bool) {
	if len(a) < 4 || nb == 0 {
		return 0, 0, false
	}
	for c := 0; c < 4; c++ {
		if len(a[c].d) != nb || len(a[c].qs) < nb*qkBlock || len(a[c].bs16) < 16*nb {
			return 0, 0, false
		}
	}
	addr := func(p unsafe.Pointer) uintptr { return uintptr(p) }
	qs0, d0, bs0 := addr(unsafe.Pointer(&a[0].qs[0])), addr(unsafe.Pointer(&a[0].d[0])), addr(unsafe.Pointer(&a[0].bs16[0]))
	qsStride = int(addr(unsafe.Pointer(&a[1].qs[0])) - qs0)
	dStride = int(addr(unsafe.Pointer(&a[1].d[0])) - d0)
	for c := 1; c < 4; c++ {
		if addr(unsafe.Pointer(&a[c].qs[0])) != qs0+uintptr(c*qsStride) ||
			addr(unsafe.Pointer(&a[c].d[0])) != d0+uintptr(c*dStride) ||
			addr(unsafe.Pointer(&a[c].bs16[0])) != bs0+uintptr(8*c*dStride) {
			return 0, 0, false
		}
	}
	return qsStride, dStride, true
}
