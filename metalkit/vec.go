package metalkit

import "math"

// RMSNorm sets out = x / sqrt(mean(x²) + eps) · weight, elementwise over
// len(x). out may alias x.
func RMSNorm(out, x, weight []float32, eps float32) {
	n := len(x)
	out, weight = out[:n], weight[:n]
	ss := Dot(x, x)
	inv := float32(1 / math.Sqrt(float64(ss/float32(n)+eps)))
	for i, v := range x {
		out[i] = v * inv * weight[i]
	}
}

// Softmax replaces x by exp(x-max)/Σexp(x-max), in place.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	mx := x[0]
	for _, v := range x[1:] {
		if v > mx {
			mx = v
		}
	}
	Scale(x, 1/ExpSub(x, mx))
}

// ExpSub sets x[i] = e^(x[i]−m) and returns Σ x[i]: softmax's numerators
// and denominator, with m the maximum of x. Relative error about 2e-7 for
// x[i]−m in [−87, 0]; below −87 the result is e^−87 (as good as 0 beside
// the maximum's 1), and above 0 it is only meant to be close.
func ExpSub(x []float32, m float32) float32 { return kern.expSub(x, m) }

// expSubGo is the reference ExpSub: v = max(x−m, −87) = n·ln2 + r with n
// an integer and |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial, times
// 2^n.
func expSubGo(x []float32, m float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375 // ln2 split so n·ln2hi is exact
		ln2lo = -2.12194440e-4
	)
	var sum float32
	for i, v := range x {
		v = max(v-m, -87)
		n := float32(math.RoundToEven(float64(v * log2e)))
		r := v - n*ln2hi - n*ln2lo
		p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
		e := p * math.Float32frombits(uint32(int32(n)+127)<<23)
		x[i] = e
		sum += e
	}
	return sum
}

// SiLU is x·sigmoid(x).
func SiLU(x float32) float32 {
	return x / (1 + float32(math.Exp(float64(-x))))
}

// SwiGLU sets out[i] = SiLU(gate[i])·up[i] over len(gate). out may alias
// either input.
func SwiGLU(out, gate, up []float32) {
	out, up = out[:len(gate)], up[:len(gate)]
	if kern.swiglu != nil {
		kern.swiglu(out, gate, up)
		return
	}
	swigluGo(out, gate, up)
}

// GELU is the tanh approximation of x·Φ(x) that Gemma uses
// (gelu_pytorch_tanh): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func GELU(x float32) float32 {
	const sqrt2OverPi = 0.7978845608028654
	return 0.5 * x * (1 + float32(math.Tanh(float64(sqrt2OverPi*x*(1+0.044715*x*x)))))
}

// GeGLU sets out[i] = GELU(gate[i])·up[i] over len(gate). out may alias
// either input.
func GeGLU(out, gate, up []float32) {
	out, up = out[:len(gate)], up[:len(gate)]
	for i, g := range gate {
		out[i] = GELU(g) * up[i]
	}
}

// swigluGo is the reference SwiGLU.
func swigluGo(out, gate, up []float32) {
	out, up = out[:len(gate)], up[:len(gate)]
	for i, g := range gate {
		out[i] = SiLU(g) * up[i]
	}
}

// Add sets out[i] = a[i] + b[i] over len(a). out may alias a or b.
func Add(out, a, b []float32) {
	out, b = out[:len(a)], b[:len(a)]
	for i, v := range a {
		out[i] = v + b[i]
	}
}

// Scale multiplies x by s in place.
func Scale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// Dot returns Σ a[i]·b[i] over len(a); b must be at least as long.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	return kern.dot(a, b)
}

// Axpy does out[i] += a·x[i] over len(x); out must be at least as long.
func Axpy(out []float32, a float32, x []float32) {
	out = out[:len(x)]
	kern.axpy(out, a, x)
}

func dotGo(a, b []float32) float32 {
	var s float32
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func axpyGo(out []float32, a float32, x []float32) {
	for i, v := range x {
		out[i] += a * v
	}
}

// RopeNorm applies rotary position embedding in place to x, nHeads heads of
// headDim values each, rotating adjacent pairs (2i, 2i+1) of the first ropeDim
// values of each head by θ_i = pos·freqScale·freqBase^(-2i/ropeDim)
// (llama.cpp's "normal" mode, used by llama GGUFs).
func RopeNorm(x []float32, nHeads, headDim, ropeDim, pos int, freqBase, freqScale float32) {
	for i := 0; i < ropeDim; i += 2 {
		c, s := ropeAngle(i, ropeDim, pos, freqBase, freqScale)
		for h := 0; h < nHeads; h++ {
			p := x[h*headDim+i : h*headDim+i+2]
			x0, x1 := p[0], p[1]
			p[0] = x0*c - x1*s
			p[1] = x0*s + x1*c
		}
	}
}

// RopeNeox is RopeNorm rotating the pairs (i, i+ropeDim/2) instead
// (GPT-NeoX mode, used by Qwen-style GGUFs).
func RopeNeox(x []float32, nHeads, headDim, ropeDim, pos int, freqBase, freqScale float32) {
	half := ropeDim / 2
	for i := 0; i < half; i++ {
		c, s := ropeAngle(2*i, ropeDim, pos, freqBase, freqScale)
		for h := 0; h < nHeads; h++ {
			o := h*headDim + i
			x0, x1 := x[o], x[o+half]
			x[o] = x0*c - x1*s
			x[o+half] = x0*s + x1*c
		}
	}
}

// ropeAngle returns cos and sin of pos·freqScale·base^(-i2/ropeDim).
func ropeAngle(i2, ropeDim, pos int, base, scale float32) (float32, float32) {
	theta := float64(pos) * float64(scale) * math.Pow(float64(base), -float64(i2)/float64(ropeDim))
	s, c := math.Sincos(theta)
	return float32(c), float32(s)
}
