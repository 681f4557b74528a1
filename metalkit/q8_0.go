package metalkit

import (
	"encoding/binary"
	"math"
)

// Q8_0: 32 values per 34-byte block.
//
//	byte  0      2                                        34
//	      +------+----------------------------------------+
//	      |  d   | q[0] q[1] ...                    q[31] |
//	      +------+----------------------------------------+
//	       f16    int8 each
//
//	x[i] = d · q[i]
const (
	q8_0Block = 32
	q8_0Bytes = 34
)

func dequantQ8_0(out []float32, src []byte) {
	for b := 0; b < len(out)/q8_0Block; b++ {
		blk := src[b*q8_0Bytes:]
		d := F16ToF32(binary.LittleEndian.Uint16(blk))
		for i := 0; i < q8_0Block; i++ {
			out[b*q8_0Block+i] = d * float32(int8(blk[2+i]))
		}
	}
}

// dot4Q8_0Go is the reference Q8_0 × Q8 kernel: for r < 4, row r starts at
// w[r*stride:] (stride may be 0 to repeat a row) and holds len(a.d) blocks;
//
//	out[r] = Σ_b d_w(r,b)·a.d[b]·Σ_i q_w(r,b,i)·a.qs[32b+i]
func dot4Q8_0Go(w []byte, stride int, a *q8Act, out *[4]float32) {
	nb := len(a.d)
	for r := 0; r < 4; r++ {
		row := w[r*stride:]
		var sum float32
		for b := 0; b < nb; b++ {
			blk := row[b*q8_0Bytes : (b+1)*q8_0Bytes]
			qs := a.qs[b*32 : b*32+32]
			var isum int32
			for i := 0; i < 32; i++ {
				isum += int32(int8(blk[2+i])) * int32(qs[i])
			}
			sum += F16ToF32(binary.LittleEndian.Uint16(blk)) * a.d[b] * float32(isum)
		}
		out[r] = sum
	}
}

// quantQ8_0 writes len(src)/32 Q8_0 blocks: d = max|x|/127, q = round(x/d).
func quantQ8_0(dst []byte, src []float32) {
	for b := 0; b < len(src)/q8_0Block; b++ {
		x := src[b*q8_0Block : (b+1)*q8_0Block]
		blk := dst[b*q8_0Bytes : (b+1)*q8_0Bytes]
		amax := absMax(x)
		d := amax / 127
		id := float32(0)
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(blk, F32ToF16(d))
		for i, v := range x {
			blk[2+i] = byte(int8(math.Round(float64(v * id))))
		}
	}
}

func absMax(x []float32) float32 {
	var m float32
	for _, v := range x {
		if v < 0 {
			v = -v
		}
		if v > m {
			m = v
		}
	}
	return m
}
