package deepseek4

import (
	"math"
)

// ds4's numerics (spec §3.3–3.5, §6): DeepSeek V4 was trained with FP8 KV
// rows and an FP4 indexer, and ds4 simulates both in float32 ("QAT round
// trips"). Options.Numerics "exact" switches these off; f16 rounding of cached
// rows follows the KV cache type instead.

// fp8Block and fp4Block are the block sizes of the two simulations.
const (
	fp8Block = 64
	fp4Block = 32
)

// pow2Ceil returns 2^ceil(log2(r)) for r > 0, exactly.
func pow2Ceil(r float32) float32 {
	f, e := math.Frexp(float64(r)) // r = f·2^e, f in [0.5, 1)
	if f == 0.5 {
		e--
	}
	return float32(math.Ldexp(1, e))
}

// roundHalfEven rounds x to the nearest integer, ties to even.
func roundHalfEven(x float64) float64 { return math.RoundToEven(x) }

// e4m3 rounds v (|v| ≤ 448) to the nearest E4M3FN value, ties to even.
// Normal values have 3 mantissa bits and exponents down to 2^-6; below that
// the step is 2^-9 (subnormals).
func e4m3(v float32) float32 {
	m := math.Abs(float64(v))
	var q float64
	if m < 1.0/64 {
		q = roundHalfEven(m*512) / 512
	} else {
		_, e := math.Frexp(m) // m in [2^(e-1), 2^e)
		step := math.Ldexp(1, e-1-3)
		q = roundHalfEven(m/step) * step
	}
	if v < 0 {
		q = -q
	}
	return float32(q)
}

// fp8RoundTrip applies ds4's KV FP8 simulation to x (a multiple of 64
// values): per 64-block, scale = 2^ceil(log2(max(amax, 1e-4)/448)), then
// x ← e4m3(clamp(x/scale, ±448))·scale.
func fp8RoundTrip(x []float32) {
	for b := 0; b+fp8Block <= len(x); b += fp8Block {
		blk := x[b : b+fp8Block]
		a := float32(1e-4)
		for _, v := range blk {
			a = max(a, float32(math.Abs(float64(v))))
		}
		s := pow2Ceil(a / 448)
		for i, v := range blk {
			blk[i] = e4m3(min(max(v/s, -448), 448)) * s
		}
	}
}

// e2m1Mids are the midpoints between the E2M1 magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}.
var (
	e2m1Vals = [8]float32{0, 0.5, 1, 1.5, 2, 3, 4, 6}
	e2m1Mids = [7]float32{0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5}
)

// e2m1 rounds v (|v| ≤ 6) to the nearest E2M1 value, ties to the even code.
func e2m1(v float32) float32 {
	m := float32(math.Abs(float64(v)))
	i := 0
	for i < 7 && m > e2m1Mids[i] {
		i++
	}
	if i < 7 && m == e2m1Mids[i] && i%2 == 1 {
		i++
	}
	if v < 0 {
		return -e2m1Vals[i]
	}
	return e2m1Vals[i]
}

// hadamard applies the orthonormal Walsh–Hadamard transform (Sylvester
// order, scaled by 1/√n) to x in place; len(x) is a power of two.
func hadamard(x []float32) {
	n := len(x)
	for h := 1; h < n; h *= 2 {
		for i := 0; i < n; i += 2 * h {
			for j := i; j < i+h; j++ {
				a, b := x[j], x[j+h]
				x[j], x[j+h] = a+b, a-b
			}
		}
	}
	s := float32(1 / math.Sqrt(float64(n)))
	for i := range x {
		x[i] *= s
	}
}

// fp4RoundTrip is ds4's indexer QAT (spec §3.4): Hadamard, then per
// 32-block scale = 2^ceil(log2(max(amax, 6·2^-126)/6)) and
// x ← e2m1(clamp(x/scale, ±6))·scale.
func fp4RoundTrip(x []float32) {
	hadamard(x)
	for b := 0; b+fp4Block <= len(x); b += fp4Block {
		blk := x[b : b+fp4Block]
		a := float32(6 * math.Ldexp(1, -126))
		for _, v := range blk {
			a = max(a, float32(math.Abs(float64(v))))
		}
		s := pow2Ceil(a / 6)
		for i, v := range blk {
			blk[i] = e2m1(min(max(v/s, -6), 6)) * s
		}
	}
}

func sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

// sqrtSoftplus is the router's score: sqrt(ln(1+e^x)), linear above 20.
func sqrtSoftplus(x float32) float32 {
	if x > 20 {
		return float32(math.Sqrt(float64(x)))
	}
	return float32(math.Sqrt(math.Log1p(math.Exp(float64(x)))))
}
