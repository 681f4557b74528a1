package metalkit

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// F16 and BF16 rows are plain arrays of little-endian 16-bit values:
//
//	F16:  s eeeee mmmmmmmmmm          (IEEE binary16, bias 15)
//	BF16: s eeeeeeee mmmmmmm          (the top 16 bits of an f32)
//
// metalkit reads F16 rows in place as []uint16, which assumes a
// little-endian host (amd64, arm64).

// F16ToF32 converts an IEEE half to float32 exactly, subnormals, infinities
// and NaNs included.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf, nan
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: normalise the mantissa.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// F32ToF16 converts f to the nearest IEEE half, ties to even. Values too
// large become ±inf, NaNs stay NaN (quiet), tiny values become subnormals or
// ±0.
func F32ToF16(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int(bits>>23) & 0xff
	mant := bits & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - e)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to inf: that is correct
	}
	return sign | uint16(h)
}

// BF16ToF32 widens a bfloat16 (exact).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds f to the nearest bfloat16, ties to even (NaN stays NaN).
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// F16ToF32Row converts out[i] = F16ToF32(x[i]) for i < len(x); out must be
// at least as long as x.
func F16ToF32Row(out []float32, x []uint16) {
	out = out[:len(x)]
	kern.f16ToF32(out, x)
}

// F32ToF16Row converts out[i] = F32ToF16(x[i]) for i < len(x).
func F32ToF16Row(out []uint16, x []float32) {
	out = out[:len(x)]
	kern.f32ToF16(out, x)
}

// DotF16 returns Σ a[i]·b[i] over len(a) with a in f16 (an f16 KV-cache
// row); b must be at least as long as a.
func DotF16(a []uint16, b []float32) float32 {
	b = b[:len(a)]
	return kern.dotF16(a, b)
}

// AxpyF16 does out[i] += a·x[i] for i < len(x) with x in f16.
func AxpyF16(out []float32, a float32, x []uint16) {
	out = out[:len(x)]
	kern.axpyF16(out, a, x)
}

func f16ToF32RowGo(out []float32, x []uint16) {
	for i, h := range x {
		out[i] = F16ToF32(h)
	}
}

func f32ToF16RowGo(out []uint16, x []float32) {
	for i, f := range x {
		out[i] = F32ToF16(f)
	}
}

func dotF16Go(a []uint16, b []float32) float32 {
	var s float32
	for i, h := range a {
		s += F16ToF32(h) * b[i]
	}
	return s
}

func dotBF16Go(a []uint16, b []float32) float32 {
	var s float32
	for i, h := range a {
		s += BF16ToF32(h) * b[i]
	}
	return s
}

func axpyF16Go(out []float32, a float32, x []uint16) {
	for i, h := range x {
		out[i] += a * F16ToF32(h)
	}
}

// bf16Row decodes a BF16 row.
func bf16Row(out []float32, src []byte) {
	for i := range out {
		out[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// f32FromBytes decodes a little-endian F32 row.
func f32FromBytes(out []float32, src []byte) {
	copy(out, bytesAsF32(src))
}

// bytesAsU16 views b as []uint16 (little-endian host).
func bytesAsU16(b []byte) []uint16 {
	if len(b) < 2 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2)
}

// bytesAsF32 views b as []float32 (little-endian host).
func bytesAsF32(b []byte) []float32 {
	if len(b) < 4 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}
