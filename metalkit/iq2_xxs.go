package metalkit

import (
	"encoding/binary"
	"math"
	"sync"
)

// IQ2_XXS: 256 values in 66 bytes, about 2.06 bits a weight (ggml type 16;
// DeepSeek V4 Flash's routed gate/up experts in ds4's "q2" files).
//
//	block (66 bytes): f16 d | u16 qs[32]
//	qs as 8 sub-blocks of 32 values, 8 bytes each, read as two u32 w0, w1:
//	  w0 bytes 0..3   grid indices g0..g3, one per group of 8 values
//	  w1 bits 7t..7t+6  sign selector z_t of group t (t < 4)
//	  w1 bits 28..31  sub-block scale s
//	value i of group t = d · (2s+1)/8 · grid[g_t] byte i · (−1 if bit i of K(z_t))
//	K(z) = z | 0x80 when popcount(z) is odd (each group has an even number
//	of negative values, so 7 bits say which).
//
// The grid is the format's fixed codebook of 256 eight-value vectors with
// entries in {8, 25, 43}; it cannot be computed, only listed.

const (
	iq2xxsBlock = 256
	iq2xxsBytes = 66
)

// iq2xxsGrid is the IQ2_XXS codebook: entry g, byte i (little-endian) is the
// magnitude of value i.
var iq2xxsGrid = [256]uint64{
	0x0808080808080808, 0x080808080808082b, 0x0808080808081919, 0x0808080808082b08,
	0x0808080808082b2b, 0x0808080808190819, 0x0808080808191908, 0x08080808082b0808,
	0x08080808082b082b, 0x08080808082b2b08, 0x08080808082b2b2b, 0x0808080819080819,
	0x0808080819081908, 0x0808080819190808, 0x0808080819192b08, 0x08080808192b0819,
	0x08080808192b1908, 0x080808082b080808, 0x080808082b08082b, 0x080808082b082b2b,
	0x080808082b2b082b, 0x0808081908080819, 0x0808081908081908, 0x0808081908190808,
	0x0808081908191919, 0x0808081919080808, 0x080808192b081908, 0x080808192b192b08,
	0x0808082b08080808, 0x0808082b0808082b, 0x0808082b082b082b, 0x0808082b2b08082b,
	0x0808190808080819, 0x0808190808081908, 0x0808190808190808, 0x08081908082b0819,
	0x08081908082b1908, 0x0808190819080808, 0x080819081908082b, 0x0808190819082b08,
	0x08081908192b0808, 0x080819082b080819, 0x080819082b081908, 0x080819082b190808,
	0x080819082b2b1908, 0x0808191908080808, 0x080819190808082b, 0x0808191908082b08,
	0x08081919082b0808, 0x080819191908192b, 0x08081919192b2b19, 0x080819192b080808,
	0x080819192b190819, 0x0808192b08082b19, 0x0808192b08190808, 0x0808192b19080808,
	0x0808192b2b081908, 0x0808192b2b2b1908, 0x08082b0808080808, 0x08082b0808081919,
	0x08082b0808082b08, 0x08082b0808191908, 0x08082b08082b2b08, 0x08082b0819080819,
	0x08082b0819081908, 0x08082b0819190808, 0x08082b081919082b, 0x08082b082b082b08,
	0x08082b1908081908, 0x08082b1919080808, 0x08082b2b0808082b, 0x08082b2b08191908,
	0x0819080808080819, 0x0819080808081908, 0x0819080808190808, 0x08190808082b0819,
	0x0819080819080808, 0x08190808192b0808, 0x081908082b081908, 0x081908082b190808,
	0x081908082b191919, 0x0819081908080808, 0x0819081908082b08, 0x08190819082b0808,
	0x0819081919190808, 0x0819081919192b2b, 0x081908192b080808, 0x0819082b082b1908,
	0x0819082b19081919, 0x0819190808080808, 0x0819190808082b08, 0x08191908082b0808,
	0x08191908082b1919, 0x0819190819082b19, 0x081919082b080808, 0x0819191908192b08,
	0x08191919192b082b, 0x0819192b08080808, 0x0819192b0819192b, 0x08192b0808080819,
	0x08192b0808081908, 0x08192b0808190808, 0x08192b0819080808, 0x08192b082b080819,
	0x08192b1908080808, 0x08192b1908081919, 0x08192b192b2b0808, 0x08192b2b19190819,
	0x082b080808080808, 0x082b08080808082b, 0x082b080808082b2b, 0x082b080819081908,
	0x082b0808192b0819, 0x082b08082b080808, 0x082b08082b08082b, 0x082b0819082b2b19,
	0x082b081919082b08, 0x082b082b08080808, 0x082b082b0808082b, 0x082b190808080819,
	0x082b190808081908, 0x082b190808190808, 0x082b190819080808, 0x082b19081919192b,
	0x082b191908080808, 0x082b191919080819, 0x082b1919192b1908, 0x082b192b2b190808,
	0x082b2b0808082b08, 0x082b2b08082b0808, 0x082b2b082b191908, 0x082b2b2b19081908,
	0x1908080808080819, 0x1908080808081908, 0x1908080808190808, 0x1908080808192b08,
	0x19080808082b0819, 0x19080808082b1908, 0x1908080819080808, 0x1908080819082b08,
	0x190808081919192b, 0x19080808192b0808, 0x190808082b080819, 0x190808082b081908,
	0x190808082b190808, 0x1908081908080808, 0x19080819082b0808, 0x19080819192b0819,
	0x190808192b080808, 0x190808192b081919, 0x1908082b08080819, 0x1908082b08190808,
	0x1908082b19082b08, 0x1908082b1919192b, 0x1908082b192b2b08, 0x1908190808080808,
	0x1908190808082b08, 0x19081908082b0808, 0x190819082b080808, 0x190819082b192b19,
	0x190819190819082b, 0x19081919082b1908, 0x1908192b08080808, 0x19082b0808080819,
	0x19082b0808081908, 0x19082b0808190808, 0x19082b0819080808, 0x19082b0819081919,
	0x19082b1908080808, 0x19082b1919192b08, 0x19082b19192b0819, 0x19082b192b08082b,
	0x19082b2b19081919, 0x19082b2b2b190808, 0x1919080808080808, 0x1919080808082b08,
	0x1919080808190819, 0x1919080808192b19, 0x19190808082b0808, 0x191908082b080808,
	0x191908082b082b08, 0x1919081908081908, 0x191908191908082b, 0x191908192b2b1908,
	0x1919082b2b190819, 0x191919082b190808, 0x191919082b19082b, 0x1919191908082b2b,
	0x1919192b08080819, 0x1919192b19191908, 0x19192b0808080808, 0x19192b0808190819,
	0x19192b0808192b19, 0x19192b08192b1908, 0x19192b1919080808, 0x19192b2b08082b08,
	0x192b080808081908, 0x192b080808190808, 0x192b080819080808, 0x192b0808192b2b08,
	0x192b081908080808, 0x192b081919191919, 0x192b082b08192b08, 0x192b082b192b0808,
	0x192b190808080808, 0x192b190808081919, 0x192b191908190808, 0x192b19190819082b,
	0x192b19192b081908, 0x192b2b081908082b, 0x2b08080808080808, 0x2b0808080808082b,
	0x2b08080808082b2b, 0x2b08080819080819, 0x2b0808082b08082b, 0x2b08081908081908,
	0x2b08081908192b08, 0x2b08081919080808, 0x2b08082b08190819, 0x2b08190808080819,
	0x2b08190808081908, 0x2b08190808190808, 0x2b08190808191919, 0x2b08190819080808,
	0x2b081908192b0808, 0x2b08191908080808, 0x2b0819191908192b, 0x2b0819192b191908,
	0x2b08192b08082b19, 0x2b08192b19080808, 0x2b08192b192b0808, 0x2b082b080808082b,
	0x2b082b1908081908, 0x2b082b2b08190819, 0x2b19080808081908, 0x2b19080808190808,
	0x2b190808082b1908, 0x2b19080819080808, 0x2b1908082b2b0819, 0x2b1908190819192b,
	0x2b1908192b080808, 0x2b19082b19081919, 0x2b19190808080808, 0x2b191908082b082b,
	0x2b19190819081908, 0x2b19191919190819, 0x2b192b082b080819, 0x2b192b19082b0808,
	0x2b2b08080808082b, 0x2b2b080819190808, 0x2b2b08082b081919, 0x2b2b081908082b19,
	0x2b2b082b08080808, 0x2b2b190808192b08, 0x2b2b2b0819190808, 0x2b2b2b1908081908,
}

// IQ2XXSGrid returns the IQ2_XXS codebook (entry g's byte i is value i's
// magnitude) for devices that keep a copy of their own: metalkit/cuda's
// kernels hold it as a table, which its tests check against this one.
func IQ2XXSGrid() [256]uint64 { return iq2xxsGrid }

// iq2xxsSigns returns the sign mask K(z) of a 7-bit selector.
func iq2xxsSigns(z uint32) uint8 {
	z &= 127
	m := uint8(z)
	if popcount7(z)&1 == 1 {
		m |= 0x80
	}
	return m
}

func popcount7(z uint32) int {
	n := 0
	for ; z != 0; z &= z - 1 {
		n++
	}
	return n
}

// dequantIQ2_XXS decodes one row (len(out)/256 blocks).
func dequantIQ2_XXS(out []float32, src []byte) {
	for b := 0; b*iq2xxsBlock < len(out); b++ {
		blk := src[b*iq2xxsBytes : (b+1)*iq2xxsBytes]
		d := F16ToF32(binary.LittleEndian.Uint16(blk))
		for ib := 0; ib < 8; ib++ {
			w0 := binary.LittleEndian.Uint32(blk[2+8*ib:])
			w1 := binary.LittleEndian.Uint32(blk[6+8*ib:])
			db := d * float32(2*(w1>>28)+1) / 8
			for t := 0; t < 4; t++ {
				g := iq2xxsGrid[(w0>>(8*t))&255]
				signs := iq2xxsSigns(w1 >> (7 * t))
				for i := 0; i < 8; i++ {
					v := db * float32(uint8(g>>(8*i)))
					if signs>>i&1 == 1 {
						v = -v
					}
					out[b*iq2xxsBlock+32*ib+8*t+i] = v
				}
			}
		}
	}
}

// iq2xxsSigned[g<<7|z] is codebook entry g with sign selector z applied,
// as 8 signed bytes: the inner loop of the dot becomes 8 multiply-adds.
// (256 × 128 × 8 bytes = 256 KiB, built on first use.)
var (
	iq2xxsSignedOnce sync.Once
	iq2xxsSigned     [][8]int8
)

func iq2xxsTable() [][8]int8 {
	iq2xxsSignedOnce.Do(func() {
		iq2xxsSigned = make([][8]int8, 256*128)
		for g := 0; g < 256; g++ {
			for z := uint32(0); z < 128; z++ {
				signs := iq2xxsSigns(z)
				e := &iq2xxsSigned[g<<7|int(z)]
				for i := 0; i < 8; i++ {
					v := int8(uint8(iq2xxsGrid[g] >> (8 * i)))
					if signs>>i&1 == 1 {
						v = -v
					}
					e[i] = v
				}
			}
		}
	})
	return iq2xxsSigned
}

// dotIQ2_XXSGo is the reference dot of one IQ2_XXS row with activations in
// 256-value blocks: Σ_blocks d·d_y/8 · Σ_sub (2s+1) · Σ_i grid·sign·q_y.
func dotIQ2_XXSGo(w []byte, a *q8Act) float32 {
	tab := iq2xxsTable()
	var sum float32
	for b := range a.d {
		blk := w[b*iq2xxsBytes : (b+1)*iq2xxsBytes]
		q := a.qs[b*qkBlock : (b+1)*qkBlock]
		var bsum int32
		for ib := 0; ib < 8; ib++ {
			w0 := binary.LittleEndian.Uint32(blk[2+8*ib:])
			w1 := binary.LittleEndian.Uint32(blk[6+8*ib:])
			var s int32
			for t := 0; t < 4; t++ {
				e := &tab[int((w0>>(8*t))&255)<<7|int((w1>>(7*t))&127)]
				y := q[32*ib+8*t : 32*ib+8*t+8 : 32*ib+8*t+8]
				s += int32(e[0])*int32(y[0]) + int32(e[1])*int32(y[1]) + int32(e[2])*int32(y[2]) + int32(e[3])*int32(y[3]) +
					int32(e[4])*int32(y[4]) + int32(e[5])*int32(y[5]) + int32(e[6])*int32(y[6]) + int32(e[7])*int32(y[7])
			}
			bsum += s * int32(2*(w1>>28)+1)
		}
		sum += F16ToF32(binary.LittleEndian.Uint16(blk)) * a.d[b] * float32(bsum) / 8
	}
	return sum
}

// dot4IQ2_XXSGo is the reference 4-row IQ2_XXS kernel (the goBackend's):
// out[r] is the dot of the row at w[r*stride:] with a.
func dot4IQ2_XXSGo(w []byte, stride int, a *q8Act, out *[4]float32) {
	for r := 0; r < 4; r++ {
		out[r] = dotIQ2_XXSGo(w[r*stride:], a)
	}
}

// QuantizeIQ2_XXS encodes src (a multiple of 256 values) greedily: per
// sub-block of 32 a scale, per group of 8 the sign pattern (the smallest
// value's sign flipped when the count of negatives is odd) and the codebook
// entry nearest the magnitudes. For synthetic models and tests; ds4's files
// use importance-weighted quantisation.
func QuantizeIQ2_XXS(src []float32) []byte {
	out := make([]byte, len(src)/iq2xxsBlock*iq2xxsBytes)
	for b := 0; b*iq2xxsBlock < len(src); b++ {
		x := src[b*iq2xxsBlock : (b+1)*iq2xxsBlock]
		blk := out[b*iq2xxsBytes : (b+1)*iq2xxsBytes]
		amax := float32(0)
		for _, v := range x {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		if amax == 0 {
			continue
		}
		// Largest magnitude 43 at scale 15: d·31/8·43 = amax.
		d := F16ToF32(F32ToF16(amax / (31.0 / 8 * 43)))
		binary.LittleEndian.PutUint16(blk, F32ToF16(d))
		if d == 0 {
			continue
		}
		for ib := 0; ib < 8; ib++ {
			sub := x[32*ib : 32*ib+32]
			bestErr, bestW0, bestW1 := math.Inf(1), uint32(0), uint32(0)
			// Scales near the one that maps the sub-block's largest
			// magnitude onto the largest grid value.
			sa := float32(0)
			for _, v := range sub {
				sa = max(sa, float32(math.Abs(float64(v))))
			}
			s0 := int(math.Round(float64(sa/d)*8/43-1) / 2)
			for s := uint32(max(0, s0-1)); s <= uint32(min(15, s0+1)); s++ {
				db := float64(d) * float64(2*s+1) / 8
				w0, w1, e := iq2xxsEncode(sub, db)
				if e < bestErr {
					bestErr, bestW0, bestW1 = e, w0, w1|s<<28
				}
			}
			binary.LittleEndian.PutUint32(blk[2+8*ib:], bestW0)
			binary.LittleEndian.PutUint32(blk[6+8*ib:], bestW1)
		}
	}
	return out
}

// iq2xxsEncode encodes 32 values at sub-block scale db and returns the words
// (without the scale bits) and the squared error.
func iq2xxsEncode(x []float32, db float64) (w0, w1 uint32, err float64) {
	for t := 0; t < 4; t++ {
		g := x[8*t : 8*t+8]
		var mask uint8
		neg := 0
		small := 0
		for i, v := range g {
			if v < 0 {
				mask |= 1 << i
				neg++
			}
			if math.Abs(float64(v)) < math.Abs(float64(g[small])) {
				small = i
			}
		}
		if neg%2 == 1 {
			mask ^= 1 << small
		}
		best, bestE := 0, math.Inf(1)
		for k, e := range iq2xxsGrid {
			var se float64
			for i, v := range g {
				m := db * float64(uint8(e>>(8*i)))
				if mask>>i&1 == 1 {
					m = -m
				}
				d := float64(v) - m
				se += d * d
			}
			if se < bestE {
				best, bestE = k, se
			}
		}
		w0 |= uint32(best) << (8 * t)
		w1 |= uint32(mask&127) << (7 * t)
		err += bestE
	}
	return w0, w1, err
}
