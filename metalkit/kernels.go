package metalkit

import "os"

// backend is one implementation of every hot kernel. goBackend is the
// reference; assembly backends (stubs_amd64.go) override what they
// accelerate and inherit the rest. The test suite runs every available
// backend against goBackend.
type backend struct {
	name string

	dot      func(a, b []float32) float32
	axpy     func(out []float32, a float32, x []float32)
	dotF16   func(a []uint16, b []float32) float32
	dotBF16  func(a []uint16, b []float32) float32
	axpyF16  func(out []float32, a float32, x []uint16)
	f16ToF32 func(out []float32, x []uint16)
	f32ToF16 func(out []uint16, x []float32)
	expSub   func(x []float32, m float32) float32
	swiglu   func(out, gate, up []float32) // len(out), len(up) >= len(gate)

	// quant32 is quantAct for 32-value blocks with corrections (a.cz
	// set); nil means quantAct's Go loop.
	quant32 func(a *q8Act, x []float32)
	// quant256 is quantAct for 256-value blocks; nil means the Go loop.
	quant256 func(a *q8Act, x []float32)

	// 4-row quantised dots: out[r] = dot(row at w[r*stride:], a), r < 4.
	q8_0 dot4Func
	q4_0 dot4Func
	q4_K dot4Func
	q6_K dot4Func
	// The 2-bit formats of deepseek4's routed experts (q2_k.go,
	// iq2_xxs.go), with activations in 256-value blocks.
	q2_K    dot4Func
	iq2_XXS dot4Func

	// One row × four columns: out[c] = dot(w, a[c]), c < 4 (batched
	// MatMul). nil means MatMul uses the 4-row kernel per column.
	q8_0x4    dot1x4Func
	q4_0x4    dot1x4Func
	q4_Kx4    dot1x4Func
	q2_Kx4    dot1x4Func
	iq2_XXSx4 dot1x4Func

	// Four rows × four columns, out[4c+r] (prefill tiles). nil means
	// MatMul uses the one-row × four-column or 4-row kernels.
	q8_0t dot4x4Func

	// Q4_K×16 (q4_kx16.go): sixteen repacked rows × one column, × four
	// and × eight columns (out[16c+r]). packQ4K says whether Repack should use the
	// layout: backends without their own kernels for it (avx2) keep the
	// GGUF rows rather than fall back to the Go loops.
	q4Kx16  dot16Func
	q4Kx16t dot16x4Func
	q4Kx16w dot16x8Func
	packQ4K bool
}

// dot4x4Func computes out[4c+r] = dot(row at w[r*stride:], a[c]) for r, c <
// 4; fallback is the 4-row kernel of the same format, for layouts it cannot
// take.
type dot4x4Func func(w []byte, stride int, a []q8Act, out *[16]float32, fallback dot4Func)

// dot4x4Go is the reference four-row × four-column kernel.
func dot4x4Go(w []byte, stride int, a []q8Act, out *[16]float32, d4 dot4Func) {
	var o [4]float32
	for c := 0; c < 4; c++ {
		d4(w, stride, &a[c], &o)
		copy(out[4*c:4*c+4], o[:])
	}
}

type dot4Func func(w []byte, stride int, a *q8Act, out *[4]float32)

// dot1x4Func computes out[c] = dot(row w, a[c]) for c < 4; fallback is the
// 4-row kernel of the same format, for layouts it cannot take.
type dot1x4Func func(w []byte, a []q8Act, out *[4]float32, fallback dot4Func)

// dot1x4Go is the reference one-row × four-column kernel.
func dot1x4Go(w []byte, a []q8Act, out *[4]float32, d4 dot4Func) {
	var o [4]float32
	for c := 0; c < 4; c++ {
		d4(w, 0, &a[c], &o)
		out[c] = o[0]
	}
}

var goBackend = backend{
	name:     "go",
	dot:      dotGo,
	axpy:     axpyGo,
	dotF16:   dotF16Go,
	dotBF16:  dotBF16Go,
	axpyF16:  axpyF16Go,
	f16ToF32: f16ToF32RowGo,
	f32ToF16: f32ToF16RowGo,
	expSub:   expSubGo,
	swiglu:   swigluGo,
	q8_0:     dot4Q8_0Go,
	q4_0:     dot4Q4_0Go,
	q4_K:     dot4Q4_KGo,
	q6_K:     dot4Q6_KGo,
	q2_K:     dot4Q2_KGo,
	iq2_XXS:  dot4IQ2_XXSGo,
	q4Kx16:   dot16Q4_KxGo,
	q4Kx16t:  dot16x4Q4_KxGo,
	q4Kx16w:  dot16x8Q4_KxGo,
	packQ4K:  true,
}

// backends lists every backend this CPU can run, reference first, fastest
// last.
var backends = append([]*backend{&goBackend}, asmBackends()...)

// kern is the backend in use: the fastest, unless METALKIT_NOASM=1 forces
// the pure-Go reference (so CI can cover both).
var kern = pickBackend()

func pickBackend() *backend {
	if os.Getenv("METALKIT_NOASM") == "1" {
		return &goBackend
	}
	// METALKIT_BACKEND=name picks one backend (for benchmarks).
	if name := os.Getenv("METALKIT_BACKEND"); name != "" {
		for _, b := range backends {
			if b.name == name {
				return b
			}
		}
	}
	return backends[len(backends)-1]
}

// Backend names the kernel implementation in use ("go", "avx2", ...).
func Backend() string { return kern.name }

// inherit fills b's nil kernels from parent.
func (b *backend) inherit(parent *backend) *backend {
	if b.dot == nil {
		b.dot = parent.dot
	}
	if b.axpy == nil {
		b.axpy = parent.axpy
	}
	if b.dotF16 == nil {
		b.dotF16 = parent.dotF16
	}
	if b.dotBF16 == nil {
		b.dotBF16 = parent.dotBF16
	}
	if b.axpyF16 == nil {
		b.axpyF16 = parent.axpyF16
	}
	if b.f16ToF32 == nil {
		b.f16ToF32 = parent.f16ToF32
	}
	if b.f32ToF16 == nil {
		b.f32ToF16 = parent.f32ToF16
	}
	if b.expSub == nil {
		b.expSub = parent.expSub
	}
	if b.swiglu == nil {
		b.swiglu = parent.swiglu
	}
	if b.quant32 == nil {
		b.quant32 = parent.quant32
	}
	if b.quant256 == nil {
		b.quant256 = parent.quant256
	}
	if b.q8_0 == nil {
		b.q8_0 = parent.q8_0
	}
	if b.q4_0 == nil {
		b.q4_0 = parent.q4_0
	}
	if b.q4_K == nil {
		b.q4_K = parent.q4_K
	}
	if b.q6_K == nil {
		b.q6_K = parent.q6_K
	}
	if b.q2_K == nil {
		b.q2_K = parent.q2_K
	}
	if b.iq2_XXS == nil {
		b.iq2_XXS = parent.iq2_XXS
	}
	if b.q8_0x4 == nil {
		b.q8_0x4 = parent.q8_0x4
	}
	if b.q4_0x4 == nil {
		b.q4_0x4 = parent.q4_0x4
	}
	if b.q4_Kx4 == nil {
		b.q4_Kx4 = parent.q4_Kx4
	}
	if b.q2_Kx4 == nil {
		b.q2_Kx4 = parent.q2_Kx4
	}
	if b.iq2_XXSx4 == nil {
		b.iq2_XXSx4 = parent.iq2_XXSx4
	}
	if b.q8_0t == nil {
		b.q8_0t = parent.q8_0t
	}
	// Kernels for the Q4_K×16 layout are inherited so that a repacked
	// matrix always computes, but packQ4K is not: a backend repacks only
	// when it has its own kernels for the layout.
	if b.q4Kx16 == nil {
		b.q4Kx16 = parent.q4Kx16
	}
	if b.q4Kx16t == nil {
		b.q4Kx16t = parent.q4Kx16t
	}
	if b.q4Kx16w == nil {
		b.q4Kx16w = parent.q4Kx16w
	}
	return b
}

func sumBytesGo(b []byte) uint64 {
	var s uint64
	for _, v := range b {
		s += uint64(v)
	}
	return s
}
