package metalkit

import "encoding/binary"

// Q4_K×16: Q4_K rows repacked at load in groups of 16, so that the 16 rows
// sit in the 16 int32 lanes of a ZMM register. A VPDPBUSD then multiplies
// four nibbles of every row by the same four activations (one broadcast
// dword), and the per-row scales d·a_k are a vector, so scale handling is
// paid once per 16 rows instead of once per row, and each super-block's
// nibbles and scales, unpacked once, serve several activation columns
// (q4_kx16_amd64.s; without VNNI, q4_kx16y_amd64.s takes each group as two
// halves of 8 rows in YMM lanes, with VPMADDUBSW). The bytes are the GGUF
// bytes, moved: a group takes exactly as much room as its 16 rows did, and
// so does the whole matrix.
//
// Group g (rows 16g..16g+15) starts where row 16g did; for each super-block
// b its 16 blocks (q4KxBlock = 2304 bytes) lie at 2304·b within the group:
//
//	byte  0        32       64        128       192       256                   2304
//	      +--------+--------+---------+---------+---------+---------------------+
//	      | d ×16  | dmin×16| sc0 ×16 | sc1 ×16 | sc2 ×16 | qs: 32 × 64 bytes   |
//	      +--------+--------+---------+---------+---------+---------------------+
//	       f16      f16      dwords: scales[0:4], [4:8], [8:12] of each row
//
//	qs: 64-byte line 8j+i (chunk j < 4, i < 8) holds, for row r < 16 at
//	bytes 4r..4r+3, that row's qs[32j+4i : 32j+4i+4]: low nibbles are values
//	64j+4i.. of sub-block 2j, high nibbles the same places of sub-block 2j+1.
//
// Rows past the last whole group (Rows mod 16 of them) stay in the GGUF
// layout at their usual offsets, so MatMul gives them to the row kernels.
const (
	q4KxRows  = 16                   // rows per group
	q4KxBlock = q4KxRows * q4_KBytes // bytes of one super-block of a group
)

// repackQ4Kx16 moves whole groups of 16 GGUF Q4_K rows of nb super-blocks
// from src into the Q4_K×16 layout in dst (the same length).
func repackQ4Kx16(dst, src []byte, nb int) {
	rb := nb * q4_KBytes
	for g := 0; g < len(src)/(q4KxRows*rb); g++ {
		for b := 0; b < nb; b++ {
			o := dst[(g*nb+b)*q4KxBlock : (g*nb+b+1)*q4KxBlock]
			for r := 0; r < q4KxRows; r++ {
				blk := src[(g*q4KxRows+r)*rb+b*q4_KBytes:][:q4_KBytes]
				le.PutUint16(o[2*r:], le.Uint16(blk[0:]))
				le.PutUint16(o[32+2*r:], le.Uint16(blk[2:]))
				for l := 0; l < 35; l++ { // 3 dwords of scales, 32 of nibbles
					le.PutUint32(o[64+64*l+4*r:], le.Uint32(blk[4+4*l:]))
				}
			}
		}
	}
}

// q4KxGather copies row r's GGUF block out of one Q4_K×16 super-block g.
func q4KxGather(blk *[q4_KBytes]byte, g []byte, r int) {
	g = g[:q4KxBlock]
	le.PutUint16(blk[0:], le.Uint16(g[2*r:]))
	le.PutUint16(blk[2:], le.Uint16(g[32+2*r:]))
	for l := 0; l < 35; l++ {
		le.PutUint32(blk[4+4*l:], le.Uint32(g[64+64*l+4*r:]))
	}
}

// rowQ4Kx16 dequantises row i of a Q4_K×16 matrix into out.
func (m Matrix) rowQ4Kx16(i int, out []float32) {
	rb := m.rowBytes()
	g := i / q4KxRows
	if (g+1)*q4KxRows > m.Rows { // a tail row, in the GGUF layout
		dequantQ4_K(out, m.Data[i*rb:(i+1)*rb])
		return
	}
	nb := rb / q4_KBytes
	var blk [q4_KBytes]byte
	for b := 0; b < nb; b++ {
		q4KxGather(&blk, m.Data[(g*nb+b)*q4KxBlock:], i%q4KxRows)
		dequantQ4_K(out[b*qkBlock:(b+1)*qkBlock], blk[:])
	}
}

// dot16Func computes out[r] = dot(row r of the Q4_K×16 group at w, a) for
// r < 16; w holds len(a.d) super-blocks.
type dot16Func func(w []byte, a *q8Act, out *[16]float32)

// dot16x4Func computes out[16c+r] = dot(row r of the group at w, a[c]) for
// r < 16, c < 4; fallback is the one-column kernel, for columns it cannot
// take.
type dot16x4Func func(w []byte, a []q8Act, out *[64]float32, fallback dot16Func)

// dot16x8Func is dot16x4Func for eight columns, out[16c+r].
type dot16x8Func func(w []byte, a []q8Act, out *[128]float32, fallback dot16Func)

// dot16Q4_KxGo is the reference Q4_K×16 kernel: each row's blocks gathered
// back into the GGUF layout and dotted as dot4Q4_KGo does.
func dot16Q4_KxGo(w []byte, a *q8Act, out *[16]float32) {
	nb := len(a.d)
	var blk [q4_KBytes]byte
	for r := 0; r < q4KxRows; r++ {
		var sum float32
		for b := 0; b < nb; b++ {
			q4KxGather(&blk, w[b*q4KxBlock:], r)
			sum += q4KBlockDot(blk[:], a, b)
		}
		out[r] = sum
	}
}

// dot16x4Go is the reference 16-row × 4-column kernel (any 16-row layout).
func dot16x4Go(w []byte, a []q8Act, out *[64]float32, d16 dot16Func) {
	for c := 0; c < 4; c++ {
		d16(w, &a[c], (*[16]float32)(out[16*c:])) // a local would escape
	}
}

// dot16x16Go is the reference 16-row × 16-column kernel (any 16-row
// layout).
func dot16x16Go(w []byte, a []q8Act, out *[256]float32, d16 dot16Func) {
	for c := 0; c < 16; c++ {
		d16(w, &a[c], (*[16]float32)(out[16*c:]))
	}
}

// dot16x8Go is the reference 16-row × 8-column kernel (any 16-row layout).
func dot16x8Go(w []byte, a []q8Act, out *[128]float32, d16 dot16Func) {
	for c := 0; c < 8; c++ {
		d16(w, &a[c], (*[16]float32)(out[16*c:]))
	}
}

// q4KBlockDot is one Q4_K super-block (GGUF layout) dotted with super-block
// b of a:
//
//	a.d[b]·(d·Σ_k a_k·Σ_l q·y − dmin·Σ_k b_k·bsum32_k)
func q4KBlockDot(blk []byte, a *q8Act, b int) float32 {
	qy := a.qs[b*qkBlock : (b+1)*qkBlock]
	var sumi, summ int32
	for k := 0; k < 8; k++ {
		sc, m := q4KScaleMin(k, blk[4:16])
		q := blk[16+32*(k/2):]
		shift := 4 * uint(k%2)
		var s int32
		for l := 0; l < 32; l++ {
			s += int32((q[l]>>shift)&15) * int32(qy[32*k+l])
		}
		sumi += int32(sc) * s
		summ += int32(m) * int32(a.bs32[b*8+k])
	}
	d := F16ToF32(binary.LittleEndian.Uint16(blk))
	dmin := F16ToF32(binary.LittleEndian.Uint16(blk[2:]))
	return a.d[b] * (d*float32(sumi) - dmin*float32(summ))
}
