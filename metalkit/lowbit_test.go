package metalkit

import (
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
// weight bytes read per second.
func BenchmarkMatMulLowBit(b *testing.B) {
	for _, tc := range []struct {
		t          DType
		rows, cols int
	}{{IQ2_XXS, 2048, 4096}, {Q2_K, 4096, 2048}} {
		b.Run(tc.t.String(), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 4))
			data := make([]byte, RowBytes(tc.t, tc.cols)*tc.rows)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			bs, bb := tc.t.BlockSize(), tc.t.BlockBytes()
			for i := 0; i < len(data)/bb; i++ { // sane scales
				off := 0
				if tc.t == Q2_K {
					off = 80
					data[i*bb+82], data[i*bb+83] = 0, 0x20
				}
				data[i*bb+off], data[i*bb+off+1] = 0, 0x20
			}
			_ = bs
			m, _ := NewMatrix(tc.t, tc.rows, tc.cols, data)
			x := make([]float32, tc.cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			out := make([]float32, tc.rows)
			p := NewPool(2)
			defer p.Close()
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				MatMulLowBit(p, out, m, x, 1)
			}
		})
	}
}

// TestIQ2_XXSKernel: the AVX2 IQ2_XXS kernel gives exactly the pure-Go
// reference's result (the same integer sums, the same float steps) on
// random blocks with every codebook entry, sign selector and scale.
func TestIQ2_XXSKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, nb := range []int{1, 3, 16, 40} {
		w := make([]byte, nb*iq2xxsBytes)
		for i := range w {
			w[i] = byte(rng.Uint32())
		}
		for b := 0; b < nb; b++ {
			w[b*iq2xxsBytes], w[b*iq2xxsBytes+1] = byte(rng.Uint32()), 0x1c // d around 2^-2
		}
		x := make([]float32, nb*qkBlock)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		var a q8KAct
		quantQ8K(&a, x)
		got, want := dotIQ2_XXS(w, &a), dotIQ2_XXSGo(w, &a)
		if got != want {
			t.Errorf("%d blocks: kernel %g, reference %g", nb, got, want)
		}
	}
}

// TestQ2_KKernel: the AVX2 Q2_K kernel gives exactly the Go reference's
// result on random blocks.
func TestQ2_KKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, nb := range []int{1, 2, 8, 40} {
		w := make([]byte, nb*q2_KBytes)
		for i := range w {
			w[i] = byte(rng.Uint32())
		}
		for b := 0; b < nb; b++ {
			w[b*q2_KBytes+81], w[b*q2_KBytes+83] = 0x1c, 0x18
		}
		x := make([]float32, nb*qkBlock)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		var a q8KAct
		quantQ8K(&a, x)
		if got, want := dotQ2_K(w, &a), dotQ2_KGo(w, &a); got != want {
			t.Errorf("%d blocks: kernel %g, reference %g", nb, got, want)
		}
	}
}
