package deepseek4

import "reddwarf/metalkit"

// ds4's numerics (spec §3.3–3.5, §6): DeepSeek V4 was trained with FP8 KV
// rows and an FP4 indexer, and ds4 simulates both in float32 ("QAT round
// trips"). Options.Numerics "exact" switches these off; f16 rounding of cached
// rows follows the KV cache type instead. The kernels live in metalkit
// (deepseek4.go), which the CPU device's DeepSeek4Ops share.

// fp8RoundTrip applies ds4's KV FP8 simulation to x (a multiple of 64
// values): per 64-block, scale = 2^ceil(log2(max(amax, 1e-4)/448)), then
// x ← e4m3(clamp(x/scale, ±448))·scale.
func fp8RoundTrip(x []float32) { metalkit.FP8RoundTrip(x) }

// fp4RoundTrip is ds4's indexer QAT (spec §3.4): Hadamard, then per
// 32-block scale = 2^ceil(log2(max(amax, 6·2^-126)/6)) and
// x ← e2m1(clamp(x/scale, ±6))·scale.
func fp4RoundTrip(x []float32) { metalkit.FP4RoundTrip(x) }

// e4m3 rounds v (|v| ≤ 448) to the nearest E4M3FN value, ties to even.
func e4m3(v float32) float32 { return metalkit.RoundE4M3(v) }

// pow2Ceil returns 2^ceil(log2(r)) for r > 0, exactly.
func pow2Ceil(r float32) float32 { return metalkit.Pow2Ceil(r) }

func sigmoid(x float32) float32 { return metalkit.Sigmoid(x) }

// sqrtSoftplus is the router's score: sqrt(ln(1+e^x)), linear above 20.
func sqrtSoftplus(x float32) float32 { return metalkit.SqrtSoftplus(x) }
