package metalkit

import (
	"encoding/binary"
	"math"
)

// Q4_0: 32 values per 18-byte block, 4 bits each, offset by 8.
//
//	byte  0      2                          18
//	      +------+--------------------------+
//	      |  d   | qs[0] ...         qs[15] |
//	      +------+--------------------------+
//	       f16    qs[j] = q[j] | q[j+16]<<4
//
//	x[j] = d · (q[j] - 8),  q[j] in 0..15: low nibbles hold values 0..15,
//	high nibbles values 16..31.
const (
	q4_0Block = 32
	q4_0Bytes = 18
)

func dequantQ4_0(out []float32, src []byte) {
	for b := 0; b < len(out)/q4_0Block; b++ {
		blk := src[b*q4_0Bytes:]
		d := F16ToF32(binary.LittleEndian.Uint16(blk))
		o := out[b*q4_0Block : (b+1)*q4_0Block]
		for j := 0; j < 16; j++ {
			o[j] = d * float32(int(blk[2+j]&15)-8)
			o[j+16] = d * float32(int(blk[2+j]>>4)-8)
		}
	}
}

// dot4Q4_0Go is the reference Q4_0 × Q8 kernel; see dot4Q8_0Go for the
// contract.
func dot4Q4_0Go(w []byte, stride int, a *q8Act, out *[4]float32) {
	nb := len(a.d)
	for r := 0; r < 4; r++ {
		row := w[r*stride:]
		var sum float32
		for b := 0; b < nb; b++ {
			blk := row[b*q4_0Bytes : (b+1)*q4_0Bytes]
			qs := a.qs[b*32 : b*32+32]
			var isum int32
			for j := 0; j < 16; j++ {
				isum += int32(int(blk[2+j]&15)-8) * int32(qs[j])
				isum += int32(int(blk[2+j]>>4)-8) * int32(qs[j+16])
			}
			sum += F16ToF32(binary.LittleEndian.Uint16(blk)) * a.d[b] * float32(isum)
		}
		out[r] = sum
	}
}

// quantQ4_0 writes Q4_0 blocks the way ggml's reference quantiser does: the
// value of largest magnitude maps to -8, d = max/-8.
func quantQ4_0(dst []byte, src []float32) {
	for b := 0; b < len(src)/q4_0Block; b++ {
		x := src[b*q4_0Block : (b+1)*q4_0Block]
		blk := dst[b*q4_0Bytes : (b+1)*q4_0Bytes]
		var amax, max float32
		for _, v := range x {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax, max = a, v
			}
		}
		d := max / -8
		id := float32(0)
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(blk, F32ToF16(d))
		for j := 0; j < 16; j++ {
			q0 := min(15, int(int8(x[j]*id+8.5)))
			q1 := min(15, int(int8(x[j+16]*id+8.5)))
			blk[2+j] = byte(q0) | byte(q1)<<4
		}
	}
}
