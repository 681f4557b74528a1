package metalkit

import "os"

// backend is one implementation of every hot kernel: the float and
// activation kernels (vecKernels), and for each quantised weight format the
// integer dot kernels MatMul tiles with (formats). goBackend is the
// reference; an assembly backend (stubs_amd64.go) starts as a copy of the
// backend below it (derive) and replaces what it accelerates, a whole
// format at a time. The test suite runs every available backend against
// goBackend. A GPU device keeps the same shape: a table per weight format.
type backend struct {
	name string
	// optIn: run only where METALKIT_BACKEND names it, never by default
	// (a backend whose kernels have not yet been run on real hardware).
	optIn bool
	vecKernels
	formats map[DType]formatKernels
}

// vecKernels are the float and activation-quantising kernels.
type vecKernels struct {
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

	// attnScores32 and attnOut32: attention's two products over one page
	// of 32 positions of an f16 cache (attend.go).
	attnScores32 func(k []uint16, hd int, q []float32, heads int, out []float32)
	attnOut32    func(v []uint16, hd int, w []float32, heads int, mask uint32, out []float32)
	// softmax16 replaces x by its softmax rounded to f16 precision
	// (attention's weights over an f16 cache); nil means
	// softmaxInPlace's Go loops.
	softmax16 func(x []float32)
}

// formatKernels are the kernels a backend computes one weight format with,
// against activations quantised to 8 bits in the format's block size. For
// each tile of rows and columns MatMul takes the widest one there is.
type formatKernels struct {
	// dot4: four rows × one column, out[r] = dot(row at w[r*stride:], a);
	// every format has one.
	dot4 dot4Func
	// dot1x4: one row × four columns (batches); nil means dot4 per column.
	dot1x4 dot1x4Func
	// dot4x4: four rows × four columns (prefill tiles); nil means dot1x4
	// or dot4.
	dot4x4 dot4x4Func
	// x16: the kernels of the format's 16-row repacked layout (Q4_K×16,
	// q4_kx16.go; Q8_0×16, q8_0x16.go), nil where the format has none. They are kept even by a
	// backend that does not repack, so that a repacked matrix always
	// computes; repack says whether Repack should use the layout: a
	// backend without its own kernels for it keeps the GGUF rows rather
	// than fall back to the Go loops.
	x16    *x16Kernels
	repack bool
}

// x16Kernels compute a 16-row group of a repacked layout.
type x16Kernels struct {
	dot   dot16Func   // 16 rows × 1 column
	dotx4 dot16x4Func // 16 rows × 4 columns, out[16c+r]
	dotx8 dot16x8Func // 16 rows × 8 columns, out[16c+r]
	// dotx16: 16 rows × 16 columns, out[16c+r] (AMX tiles); nil means
	// dotx8.
	dotx16 func(w []byte, a []q8Act, out *[256]float32, fallback dot16Func)
}

// derive returns a copy of b named name, with its own formats table, for a
// backend that replaces some of b's kernels.
func (b *backend) derive(name string) *backend {
	d := &backend{name: name, optIn: b.optIn, vecKernels: b.vecKernels, formats: make(map[DType]formatKernels, len(b.formats))}
	for t, f := range b.formats {
		d.formats[t] = f
	}
	return d
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

// goBackend is the pure-Go reference.
var goBackend = backend{
	name: "go",
	vecKernels: vecKernels{
		dot:      dotGo,
		axpy:     axpyGo,
		dotF16:   dotF16Go,
		dotBF16:  dotBF16Go,
		axpyF16:  axpyF16Go,
		f16ToF32: f16ToF32RowGo,
		f32ToF16: f32ToF16RowGo,
		expSub:   expSubGo,
		swiglu:   swigluGo,

		attnScores32: attnScores32Go,
		attnOut32:    attnOut32Go,
	},
	formats: map[DType]formatKernels{
		Q8_0:    {dot4: dot4Q8_0Go, x16: &x16Kernels{dot: dot16Q8_0xGo, dotx4: dot16x4Go, dotx8: dot16x8Go}, repack: true},
		Q4_0:    {dot4: dot4Q4_0Go},
		Q4_K:    {dot4: dot4Q4_KGo, x16: &x16Kernels{dot: dot16Q4_KxGo, dotx4: dot16x4Go, dotx8: dot16x8Go}, repack: true},
		Q6_K:    {dot4: dot4Q6_KGo},
		Q2_K:    {dot4: dot4Q2_KGo},
		IQ2_XXS: {dot4: dot4IQ2_XXSGo},
	},
}

// backends lists every backend this CPU can run, reference first, fastest
// last; notRun names the assembly kernels this build has but this CPU
// cannot run (the test log lists them, so a run says what it did not
// cover).
var backends, notRun = listBackends()

func listBackends() ([]*backend, []string) {
	asm, notRun := asmBackends(&goBackend)
	return append([]*backend{&goBackend}, asm...), notRun
}

// kern is the backend in use: the fastest that is not opt-in, unless
// METALKIT_NOASM=1 forces the pure-Go reference (so CI can cover both) or
// METALKIT_BACKEND=name picks one (Backend says which ran).
var kern = pickBackend()

func pickBackend() *backend {
	if os.Getenv("METALKIT_NOASM") == "1" {
		return &goBackend
	}
	if name := os.Getenv("METALKIT_BACKEND"); name != "" {
		for _, b := range backends {
			if b.name == name {
				return b
			}
		}
	}
	for i := len(backends) - 1; ; i-- {
		if !backends[i].optIn {
			return backends[i]
		}
	}
}

// Backend names the kernel implementation in use ("go", "avx2", ...).
func Backend() string { return kern.name }

func sumBytesGo(b []byte) uint64 {
	var s uint64
	for _, v := range b {
		s += uint64(v)
	}
	return s
}

// xorWordsGo reads b eight bytes at a time (the Go bandwidth probe).
func xorWordsGo(b []byte) uint64 {
	var s uint64
	for len(b) >= 8 {
		s ^= uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		b = b[8:]
	}
	return s
}
