//go:build !noasm

package metalkit

// The avx2 backend's Q4_K×16 kernels (q4_kx16y_amd64.s): AVX2 has no
// VNNI, so a group is two halves of 8 rows, one YMM lane per row.

// q4KDot16x1AVX2 dots the sixteen rows of a Q4_K×16 group (nb super-blocks
// at w) with one column of Q8_K activations. (AVX2+FMA+F16C)
//
//	for r := 0; r < 16; r++ { out[r] = Σ_b q4KBlockDot(row r's block b, a, b) }
//
// See dot16Q4_KxGo for the exact loop.
//
//go:noescape
func q4KDot16x1AVX2(w *byte, qs *int8, d *float32, bs32 *int16, nb int, out *[16]float32)

// q4KDot16x4AVX2 dots the sixteen rows of a Q4_K×16 group with four
// columns: column c's quants at qs + c·qsStride, scales at d + c·dStride,
// 32-value sums at bs32 + 4c·dStride (bytes; actBuf's layout), out[16c+r].
// (AVX2+FMA+F16C)
//
//	for c := 0; c < 4; c++ { out[16c:16c+16] = q4KDot16x1AVX2(w, column c) }
//
//go:noescape
func q4KDot16x4AVX2(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs32 *int16, nb int, out *[64]float32)

// dot16x8Q4_KxAVX2 is the eight-column kernel: two four-column tiles (the
// group stays in L1 between them; AVX2's sixteen registers hold the int16
// sums of four columns at a time).
func dot16x8Q4_KxAVX2(w []byte, a []q8Act, out *[128]float32, fallback dot16Func) {
	x4 := q4Kx16Dot4(q4KDot16x4AVX2)
	x4.dot(w, a[0:4], (*[64]float32)(out[0:64]), fallback)
	x4.dot(w, a[4:8], (*[64]float32)(out[64:128]), fallback)
}
