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
