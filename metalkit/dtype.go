package metalkit

import (
	"errors"
	"fmt"
)

// DType is a tensor element type. The numbers are ggml's (and so GGUF's);
// they are on-disk values and never change.
type DType uint32

const (
	F32     DType = 0  // 4-byte IEEE float
	F16     DType = 1  // 2-byte IEEE half
	Q4_0    DType = 2  // 32 values in 18 bytes, see q4_0.go
	Q8_0    DType = 8  // 32 values in 34 bytes, see q8_0.go
	Q2_K    DType = 10 // 256 values in 84 bytes, see q2_k.go (MatMulLowBit)
	Q4_K    DType = 12 // 256 values in 144 bytes, see q4_k.go
	Q6_K    DType = 14 // 256 values in 210 bytes, see q6_k.go
	Q8_K    DType = 15 // 256 values in 292 bytes, activation side only
	IQ2_XXS DType = 16 // 256 values in 66 bytes, see iq2_xxs.go (MatMulLowBit)
	BF16    DType = 30 // 2-byte brain float (top half of an f32)
)

// ErrType is returned for a type metalkit cannot compute with.
var ErrType = errors.New("metalkit: unsupported tensor type")

// ErrSize is returned when a buffer length does not match a shape.
var ErrSize = errors.New("metalkit: size mismatch")

var typeInfo = map[DType]struct {
	name        string
	block, size int
}{
	F32:     {"F32", 1, 4},
	F16:     {"F16", 1, 2},
	Q4_0:    {"Q4_0", 32, 18},
	Q8_0:    {"Q8_0", 32, 34},
	Q2_K:    {"Q2_K", 256, 84},
	Q4_K:    {"Q4_K", 256, 144},
	Q6_K:    {"Q6_K", 256, 210},
	Q8_K:    {"Q8_K", 256, 292},
	IQ2_XXS: {"IQ2_XXS", 256, 66},
	BF16:    {"BF16", 1, 2},
}

// BlockSize is the number of elements in one block of t (1 for float types,
// 0 for an unknown type).
func (t DType) BlockSize() int { return typeInfo[t].block }

// BlockBytes is the size in bytes of one block of t (0 for an unknown type).
func (t DType) BlockBytes() int { return typeInfo[t].size }

func (t DType) String() string {
	if i, ok := typeInfo[t]; ok {
		return i.name
	}
	return fmt.Sprintf("DType(%d)", uint32(t))
}

// RowBytes is the size in bytes of a row of n elements of type t. n must be a
// multiple of t.BlockSize(); RowBytes returns -1 otherwise or for an unknown type.
func RowBytes(t DType, n int) int {
	bs := t.BlockSize()
	if bs == 0 || n < 0 || n%bs != 0 {
		return -1
	}
	return n / bs * t.BlockBytes()
}

// supported reports whether MatMul and Row handle t.
func supported(t DType) bool {
	_, quantised := goBackend.formats[t]
	return quantised || t == F32 || t == F16 || t == BF16
}

// Matrix is a row-major weight matrix as GGUF stores it: Rows rows of Cols
// elements (ggml ne0 = Cols, ne1 = Rows), each row RowBytes(Type, Cols) bytes,
// rows back to back. Data is usually a slice of the read-only model mmap;
// metalkit never writes to it. Repack may return the same matrix with Data
// rearranged for the kernels (same size, a heap copy).
type Matrix struct {
	Type       DType
	Rows, Cols int
	Data       []byte
	layout     layout // layoutGGUF unless Repack changed it
}

// NewMatrix checks that t is supported, that cols is a whole number of
// blocks and that data holds exactly rows rows.
func NewMatrix(t DType, rows, cols int, data []byte) (Matrix, error) {
	if !supported(t) {
		return Matrix{}, fmt.Errorf("%w: %v", ErrType, t)
	}
	rb := RowBytes(t, cols)
	if rows < 0 || rb < 0 {
		return Matrix{}, fmt.Errorf("%w: %v matrix %dx%d: cols not a multiple of %d", ErrSize, t, rows, cols, t.BlockSize())
	}
	if len(data) != rows*rb {
		return Matrix{}, fmt.Errorf("%w: %v matrix %dx%d needs %d bytes, have %d", ErrSize, t, rows, cols, rows*rb, len(data))
	}
	return Matrix{Type: t, Rows: rows, Cols: cols, Data: data}, nil
}

// rowBytes is the byte stride between rows.
func (m Matrix) rowBytes() int { return RowBytes(m.Type, m.Cols) }

// rowData is the bytes of row i.
func (m Matrix) rowData(i int) []byte {
	rb := m.rowBytes()
	return m.Data[i*rb : (i+1)*rb]
}

// Row dequantises row i into out[:m.Cols]. It panics if i is out of range,
// out is too short or the type is unsupported (programmer errors).
func (m Matrix) Row(i int, out []float32) {
	if i < 0 || i >= m.Rows {
		panic(fmt.Sprintf("metalkit: Row %d of %d", i, m.Rows))
	}
	out = out[:m.Cols]
	switch m.layout {
	case layoutQ4Kx16:
		m.rowQ4Kx16(i, out)
		return
	case layoutQ8_0x16:
		m.rowQ8_0x16(i, out)
		return
	}
	dequantRow(m.Type, m.rowData(i), out)
}

// dequantRow decodes one row of src (RowBytes(t, len(out)) bytes) into out.
func dequantRow(t DType, src []byte, out []float32) {
	switch t {
	case F32:
		f32FromBytes(out, src)
	case F16:
		F16ToF32Row(out, bytesAsU16(src))
	case BF16:
		bf16Row(out, src)
	case Q8_0:
		dequantQ8_0(out, src)
	case Q4_0:
		dequantQ4_0(out, src)
	case Q4_K:
		dequantQ4_K(out, src)
	case Q6_K:
		dequantQ6_K(out, src)
	case Q2_K:
		dequantQ2_K(out, src)
	case IQ2_XXS:
		dequantIQ2_XXS(out, src)
	default:
		panic(fmt.Sprintf("metalkit: no dequantiser for %v", t))
	}
}
