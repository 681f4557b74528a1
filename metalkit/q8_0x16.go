package metalkit

// Q8_0×16: Q8_0 rows repacked at load in groups of 16, as Q4_K×16
// (q4_kx16.go) does for Q4_K: the 16 rows sit in the 16 int32 lanes of a
// ZMM register, a VPDPBUSD multiplies four weights of every row by the
// same four activations (one broadcast dword), and the weights' scales
// are one vector per block. A group is one contiguous stream (the GGUF
// rows are 16 streams a row apart, which the prefetchers follow less
// well), and each block's weights, loaded once, serve every column of a
// batch. Without AVX-512 a line is two YMM of eight rows each (the avx2
// kernels, q8_0x16_amd64.s). The lines are also AMX's B-tile layout for
// K = 32 (eight rows of 64 bytes, each four consecutive values of 16
// rows). The bytes are the GGUF bytes, moved: a group takes exactly as
// much room as its 16 rows.
//
// Group g (rows 16g..16g+15, nb blocks a row) starts where row 16g did:
//
//	byte 0                  32·nb                                 544·nb
//	     +------------------+------------------------------------------+
//	     | d: nb × 16 f16   | qs: nb × 8 lines of 64 bytes             |
//	     +------------------+------------------------------------------+
//
//	d: block b's 16 scales at 32b, row r's at 32b+2r.
//	qs: line 8b+i (i < 8) holds, for row r < 16 at bytes 4r..4r+3, that
//	row's block b values 4i..4i+3.
//
// With nb even every line is 64-byte aligned within a group, and groups
// start at multiples of 64 from the matrix. Rows past the last whole group
// (Rows mod 16 of them) stay in the GGUF layout at their usual offsets.
const (
	q8xRows  = 16                  // rows per group
	q8xBlock = q8xRows * q8_0Bytes // bytes of one block of a group
	q8xLines = q8xRows * q8_0Block // bytes of one block's lines
	q8xScale = q8xBlock - q8xLines // bytes of one block's scales
)

// repackQ8_0x16 moves whole groups of 16 GGUF Q8_0 rows of nb blocks from
// src into the Q8_0×16 layout in dst (the same length).
func repackQ8_0x16(dst, src []byte, nb int) {
	rb := nb * q8_0Bytes
	for g := 0; g < len(src)/(q8xRows*rb); g++ {
		grp := dst[g*q8xRows*rb : (g+1)*q8xRows*rb]
		for r := 0; r < q8xRows; r++ {
			row := src[(g*q8xRows+r)*rb:][:rb]
			for b := 0; b < nb; b++ {
				blk := row[b*q8_0Bytes:][:q8_0Bytes]
				copy(grp[q8xScale*b+2*r:], blk[:2])
				for i := 0; i < 8; i++ {
					copy(grp[q8xScale*nb+q8xLines*b+64*i+4*r:][:4], blk[2+4*i:])
				}
			}
		}
	}
}

// q8xGather copies row r's block b (GGUF layout) out of a Q8_0×16 group of
// nb blocks.
func q8xGather(blk *[q8_0Bytes]byte, grp []byte, nb, r, b int) {
	copy(blk[:2], grp[q8xScale*b+2*r:])
	for i := 0; i < 8; i++ {
		copy(blk[2+4*i:6+4*i], grp[q8xScale*nb+q8xLines*b+64*i+4*r:])
	}
}

// rowQ8_0x16 dequantises row i of a Q8_0×16 matrix into out.
func (m Matrix) rowQ8_0x16(i int, out []float32) {
	rb := m.rowBytes()
	g := i / q8xRows
	if (g+1)*q8xRows > m.Rows { // a tail row, in the GGUF layout
		dequantQ8_0(out, m.Data[i*rb:(i+1)*rb])
		return
	}
	nb := rb / q8_0Bytes
	grp := m.Data[g*q8xRows*rb : (g+1)*q8xRows*rb]
	var blk [q8_0Bytes]byte
	for b := 0; b < nb; b++ {
		q8xGather(&blk, grp, nb, i%q8xRows, b)
		dequantQ8_0(out[b*q8_0Block:(b+1)*q8_0Block], blk[:])
	}
}

// dot16Q8_0xGo is the reference Q8_0×16 kernel: each row's blocks gathered
// back into the GGUF layout and dotted as dot4Q8_0Go does. w is the group
// (len(a.d) blocks a row).
func dot16Q8_0xGo(w []byte, a *q8Act, out *[16]float32) {
	nb := len(a.d)
	var row [q8_0Bytes]byte
	for r := 0; r < q8xRows; r++ {
		var sum float32
		for b := 0; b < nb; b++ {
			q8xGather(&row, w, nb, r, b)
			var isum int32
			for i, q := range a.qs[b*32 : b*32+32] {
				isum += int32(int8(row[2+i])) * int32(q)
			}
			sum += F16ToF32(le.Uint16(row[:])) * a.d[b] * float32(isum)
		}
		out[r] = sum
	}
}
