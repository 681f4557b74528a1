package metalkit

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// TestLowBitFormats: quantise random rows to Q2_K and IQ2_XXS, check the
// round trip error is what 2 bits allow, and that MatMulLowBit (Q8_K
// activations, integer dots) matches the float dot of the dequantised rows
// within the activation quantisation error.
func TestLowBitFormats(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, cols, batch = 9, 512, 5
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	x := make([]float32, batch*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, tc := range []struct {
		t      DType
		q      func([]float32) []byte
		maxRel float64
	}{{Q2_K, QuantizeQ2_K, 0.6}, {IQ2_XXS, QuantizeIQ2_XXS, 0.6}} {
		var data []byte
		for r := 0; r < rows; r++ {
			data = append(data, tc.q(w[r*cols:(r+1)*cols])...)
		}
		m, err := NewMatrix(tc.t, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		deq := make([]float32, rows*cols)
		var num, den float64
		for r := 0; r < rows; r++ {
			m.Row(r, deq[r*cols:(r+1)*cols])
		}
		for i := range w {
			num += float64((w[i] - deq[i]) * (w[i] - deq[i]))
			den += float64(w[i] * w[i])
		}
		rel := math.Sqrt(num / den)
		t.Logf("%v: relative rms round-trip error %.3f", tc.t, rel)
		if rel > tc.maxRel {
			t.Errorf("%v: round-trip error %.3f", tc.t, rel)
		}
		out := make([]float32, batch*rows)
		MatMulLowBit(NewPool(3), out, m, x, batch)
		for b := 0; b < batch; b++ {
			for r := 0; r < rows; r++ {
				var want, scale float64
				for c := 0; c < cols; c++ {
					want += float64(deq[r*cols+c]) * float64(x[b*cols+c])
					scale += math.Abs(float64(deq[r*cols+c]) * float64(x[b*cols+c]))
				}
				if d := math.Abs(float64(out[b*rows+r]) - want); d > 0.01*scale+1e-4 {
					t.Errorf("%v row %d col %d: %g, float dot %g", tc.t, r, b, out[b*rows+r], want)
				}
			}
		}
	}
}

// BenchmarkMatMulLowBit: one routed expert's gate (IQ2_XXS) or down (Q2_K)
// projection at DeepSeek V4 Flash width, one token, 2 threads; reports the
// weight bytes read per second. "warm" reads one matrix over and over (it
// stays in L2 and L3); "cold" cycles through 256 MB of copies, so every
// byte comes from DRAM, as in decode.
func BenchmarkMatMulLowBit(b *testing.B) {
	for _, tc := range []struct {
		t          DType
		rows, cols int
	}{{IQ2_XXS, 2048, 4096}, {Q2_K, 4096, 2048}} {
		rng := rand.New(rand.NewPCG(3, 4))
		data := make([]byte, RowBytes(tc.t, tc.cols)*tc.rows)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		bb := tc.t.BlockBytes()
		for i := 0; i < len(data)/bb; i++ { // sane scales
			off := 0
			if tc.t == Q2_K {
				off = 80
				data[i*bb+82], data[i*bb+83] = 0, 0x20
			}
			data[i*bb+off], data[i*bb+off+1] = 0, 0x20
		}
		x := make([]float32, tc.cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for _, temp := range []string{"warm", "cold"} {
			b.Run(tc.t.String()+"/"+temp, func(b *testing.B) {
				copies := 1
				if temp == "cold" {
					copies = max(2, (256<<20)/len(data))
				}
				big := make([]byte, copies*len(data))
				ms := make([]Matrix, copies)
				for i := range ms {
					copy(big[i*len(data):], data)
					ms[i], _ = NewMatrix(tc.t, tc.rows, tc.cols, big[i*len(data):(i+1)*len(data)])
				}
				out := make([]float32, tc.rows)
				p := NewPool(2)
				defer p.Close()
				b.SetBytes(int64(len(data)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					MatMulLowBit(p, out, ms[i%copies], x, 1)
				}
			})
		}
	}
}

// lowBitCases are the 2-bit formats with their 4-row kernels and the byte
// offsets of their f16 scales in a block.
var lowBitCases = []struct {
	typ       DType
	pick      func(b *backend) dot4Func
	pick4     func(b *backend) dot1x4Func
	scaleOffs []int
}{
	{Q2_K, func(b *backend) dot4Func { return b.formats[Q2_K].dot4 }, func(b *backend) dot1x4Func { return b.formats[Q2_K].dot1x4 }, []int{80, 82}},
	{IQ2_XXS, func(b *backend) dot4Func { return b.formats[IQ2_XXS].dot4 }, func(b *backend) dot1x4Func { return b.formats[IQ2_XXS].dot1x4 }, []int{0}},
}

// randLowBitRows returns rows random rows of nb blocks of typ (every
// codebook entry, sign selector, scale and 2-bit value occurs) with f16
// scales in ±[0.001, 0.01], plus slack bytes after them.
func randLowBitRows(r *rand.Rand, typ DType, offs []int, rows, nb int) []byte {
	rb := RowBytes(typ, nb*qkBlock)
	w := make([]byte, rows*rb+7)
	for i := range w {
		w[i] = byte(r.Uint32())
	}
	for blk := 0; blk < rows*nb; blk++ {
		for _, off := range offs {
			d := 0.001 + 0.009*r.Float32()
			if r.IntN(4) == 0 {
				d = -d
			}
			binary.LittleEndian.PutUint16(w[blk*typ.BlockBytes()+off:], F32ToF16(d))
		}
	}
	return w
}

// lowBitWant is the dot of a dequantised row with the activations a
// represents, in float64, and the sum of the terms' magnitudes.
func lowBitWant(typ DType, row []byte, a *q8Act) (want, mag float64) {
	nb := len(a.d)
	deq := make([]float32, nb*qkBlock)
	m := Matrix{Type: typ, Rows: 1, Cols: nb * qkBlock, Data: row[:RowBytes(typ, nb*qkBlock)]}
	m.Row(0, deq)
	for i, w := range deq {
		x := float64(a.d[i/qkBlock]) * float64(a.qs[i])
		want += float64(w) * x
		mag += math.Abs(float64(w) * x)
	}
	return want, mag
}

// TestBackendLowBit: every backend's Q2_K and IQ2_XXS 4-row kernels, and
// the Go reference, give the float64 dot of the dequantised rows with the
// quantised activations to float32 rounding, for odd block counts, four
// rows and one row repeated (stride 0).
func TestBackendLowBit(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := newRand(t, 20)
			for _, lc := range lowBitCases {
				for _, nb := range []int{1, 2, 3, 5, 8, 16, 17, 33} {
					rb := RowBytes(lc.typ, nb*qkBlock)
					w := randLowBitRows(r, lc.typ, lc.scaleOffs, 4, nb)
					a := randAct(r, lc.typ, nb)
					for _, stride := range []int{rb, 0} {
						var got [4]float32
						lc.pick(b)(w, stride, a, &got)
						for row := 0; row < 4; row++ {
							want, mag := lowBitWant(lc.typ, w[row*stride:], a)
							if d := math.Abs(float64(got[row]) - want); !(d <= 1e-5*mag+1e-7) {
								t.Fatalf("%v %d blocks stride %d row %d: %g, want %g (terms %g)", lc.typ, nb, stride, row, got[row], want, mag)
							}
						}
					}
				}
			}
		})
	}
}

// TestBackendLowBit1x4: the one-row × four-column kernels, where a backend
// has them, on columns in actBuf's layout and on four separate columns
// (which take the 4-row kernel, one column at a time), and bit for bit as
// the 4-row kernel, so that a prompt and its tokens one by one give the
// same logits.
func TestBackendLowBit1x4(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		r := newRand(t, 22)
		for _, lc := range lowBitCases {
			x4 := lc.pick4(b)
			if x4 == nil {
				continue
			}
			for _, nb := range []int{1, 3, 8, 17} {
				w := randLowBitRows(r, lc.typ, lc.scaleOffs, 1, nb)
				var ab actBuf
				laid := ab.prepare(nb*qkBlock, 4, qkBlock)
				x := randVec(r, 4*nb*qkBlock)
				for c := range laid {
					quantActGo(&laid[c], x[c*nb*qkBlock:(c+1)*nb*qkBlock], qkBlock)
				}
				apart := []q8Act{*randAct(r, lc.typ, nb), *randAct(r, lc.typ, nb), *randAct(r, lc.typ, nb), *randAct(r, lc.typ, nb)}
				for _, cols := range [][]q8Act{laid, apart} {
					var got [4]float32
					x4(w, cols, &got, lc.pick(b))
					for c := range cols {
						want, mag := lowBitWant(lc.typ, w, &cols[c])
						if d := math.Abs(float64(got[c]) - want); !(d <= 1e-5*mag+1e-7) {
							t.Fatalf("%v %d blocks column %d: %g, want %g (terms %g)", lc.typ, nb, c, got[c], want, mag)
						}
						var one [4]float32
						lc.pick(b)(w, 0, &cols[c], &one)
						if math.Float32bits(one[0]) != math.Float32bits(got[c]) {
							t.Fatalf("%v %d blocks column %d: %g, 4-row kernel %g", lc.typ, nb, c, got[c], one[0])
						}
					}
				}
			}
		}
	})
}

// TestMatMulLowBit: MatMul on Q2_K and IQ2_XXS matrices with odd row counts
// and batches (four-row groups, a tail, several columns) matches the Go
// reference row dots on the same quantised activations.
func TestMatMulLowBit(t *testing.T) {
	r := newRand(t, 21)
	pool := NewPool(3)
	defer pool.Close()
	for _, lc := range lowBitCases {
		for _, shape := range [][3]int{{1, 256, 1}, {5, 768, 3}, {37, 4352, 1}, {66, 512, 6}} {
			rows, cols, batch := shape[0], shape[1], shape[2]
			nb := cols / qkBlock
			w := randLowBitRows(r, lc.typ, lc.scaleOffs, rows, nb)
			m, err := NewMatrix(lc.typ, rows, cols, w[:rows*RowBytes(lc.typ, cols)])
			if err != nil {
				t.Fatal(err)
			}
			x := randVec(r, cols*batch)
			got := make([]float32, rows*batch)
			MatMul(pool, got, m, x, batch)
			a := randAct(r, lc.typ, nb)
			rb := RowBytes(lc.typ, cols)
			for c := 0; c < batch; c++ {
				quantActGo(a, x[c*cols:(c+1)*cols], qkBlock)
				for row := 0; row < rows; row++ {
					want, mag := lowBitWant(lc.typ, w[row*rb:], a)
					if d := math.Abs(float64(got[c*rows+row]) - want); !(d <= 1e-5*mag+1e-7) {
						t.Fatalf("%v %dx%d column %d row %d: %g, want %g", lc.typ, rows, cols, c, row, got[c*rows+row], want)
					}
				}
			}
			if n := testing.AllocsPerRun(10, func() { MatMul(pool, got, m, x, batch) }); n != 0 {
				t.Errorf("%v %dx%d batch %d: %v allocations per MatMul", lc.typ, rows, cols, batch, n)
			}
		}
	}
}
