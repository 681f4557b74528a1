package metalkit

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Quantize encodes src as one row (or rows back to back) of type t, in
// ggml's byte layout. len(src) must be a multiple of t.BlockSize(). The
// quantisers are simple and correct rather than ggml's error-minimising
// searches; they exist for writing test GGUFs and for tests.
func Quantize(t DType, src []float32) ([]byte, error) {
	n := RowBytes(t, len(src))
	if !supported(t) {
		return nil, fmt.Errorf("%w: quantize %v", ErrType, t)
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: quantize %d values to %v (block %d)", ErrSize, len(src), t, t.BlockSize())
	}
	dst := make([]byte, n)
	switch t {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
		}
	case Q8_0:
		quantQ8_0(dst, src)
	case Q4_0:
		quantQ4_0(dst, src)
	case Q4_K:
		quantQ4_K(dst, src)
	case Q6_K:
		quantQ6_K(dst, src)
	}
	return dst, nil
}
