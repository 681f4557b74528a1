package metalkit

import (
	"math"
	"testing"
)

// TestGeGLU checks GELU against values of the tanh approximation computed in
// float64 and GeGLU's product.
func TestGeGLU(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{0, 0}, {1, 0.8411919906082768}, {-1, -0.15880800939172324}, {3, 2.996362607918227}, {-5, -2.2917961972623857e-07},
	} {
		if got := GELU(float32(c.x)); math.Abs(float64(got)-c.want) > 1e-6 {
			t.Errorf("GELU(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	out := make([]float32, 3)
	GeGLU(out, []float32{1, -1, 0}, []float32{2, 3, 4})
	for i, want := range []float64{2 * 0.8411919906082768, 3 * -0.15880800939172324, 0} {
		if math.Abs(float64(out[i])-want) > 1e-6 {
			t.Errorf("GeGLU[%d] = %g, want %g", i, out[i], want)
		}
	}
}
