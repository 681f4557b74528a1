package infer

import (
	"math"
	"math/rand"
	"testing"
)

// TestArgmaxMatchesLoop: Argmax's four running maxima give the plain
// loop's index on every length up to 13 and longer, with ties, NaNs, ±Inf
// and all-NaN or all −Inf inputs.
func TestArgmaxMatchesLoop(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	special := []float32{float32(math.NaN()), float32(math.Inf(-1)), float32(math.Inf(1)), 0, 1, 1, -1}
	for trial := 0; trial < 20000; trial++ {
		n := rng.Intn(14)
		if trial%10 == 0 {
			n = 100 + rng.Intn(1000)
		}
		x := make([]float32, n)
		for i := range x {
			switch r := rng.Intn(10); {
			case r < 3:
				x[i] = special[rng.Intn(len(special))]
			case trial%7 == 0:
				x[i] = float32(math.NaN())
			case trial%11 == 0:
				x[i] = float32(math.Inf(-1))
			default:
				x[i] = float32(rng.Intn(5)) // ties
			}
		}
		if got, want := Argmax(x), argmaxLoop(x); got != want {
			t.Fatalf("%v: Argmax %d, loop %d", x, got, want)
		}
	}
}

func BenchmarkArgmax(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	x := make([]float32, 128256) // a llama-3 vocabulary
	for i := range x {
		x[i] = rng.Float32()
	}
	b.Run("four", func(b *testing.B) {
		for b.Loop() {
			Argmax(x)
		}
	})
	b.Run("loop", func(b *testing.B) {
		for b.Loop() {
			argmaxLoop(x)
		}
	})
}
