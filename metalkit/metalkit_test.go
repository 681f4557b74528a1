package metalkit

import (
	"math"
	"math/rand/v2"
	"testing"
)

// newRand returns a generator with a fixed, printed seed.
func newRand(t testing.TB, seed uint64) *rand.Rand {
	t.Helper()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func TestF16RoundTripAll(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		back := F32ToF16(f)
		if f != f { // NaN stays NaN
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x -> %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, back)
		}
	}
}

func TestF32ToF16Nearest(t *testing.T) {
	r := newRand(t, 1)
	for i := 0; i < 200000; i++ {
		f := float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(44)-30)))
		h := F32ToF16(f)
		got := float64(F16ToF32(h))
		err := math.Abs(got - float64(f))
		for _, nb := range []uint16{h - 1, h + 1} {
			if nb&0x7c00 == 0x7c00 {
				continue
			}
			if e := math.Abs(float64(F16ToF32(nb)) - float64(f)); e < err || (e == err && h&1 == 1) {
				t.Fatalf("F32ToF16(%g) = %#04x (%g), neighbour %#04x is nearer/even", f, h, got, nb)
			}
		}
	}
	if F32ToF16(1e6) != 0x7c00 || F32ToF16(-1e6) != 0xfc00 || F32ToF16(65520) != 0x7c00 || F32ToF16(65519) != 0x7bff {
		t.Fatal("overflow handling")
	}
	if F16ToF32(1) != float32(math.Ldexp(1, -24)) || F32ToF16(float32(math.Ldexp(1, -25))) != 0 || F32ToF16(float32(math.Ldexp(1.5, -25))) != 1 {
		t.Fatal("subnormal handling")
	}
}

func TestBF16(t *testing.T) {
	if BF16ToF32(0x3f80) != 1 || BF16ToF32(F32ToBF16(-2.5)) != -2.5 {
		t.Fatal("bf16")
	}
}

var quantTypes = []DType{F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K}

// relTol is the relative RMS error a quantiser may make on Gaussian data.
func relTol(t DType) float64 {
	switch t {
	case F32:
		return 1e-7
	case F16:
		return 1e-3
	case BF16:
		return 5e-3
	case Q8_0:
		return 0.01
	case Q6_K:
		return 0.04
	case Q4_0, Q4_K:
		return 0.15
	}
	return 0
}

func TestQuantizeRoundTrip(t *testing.T) {
	r := newRand(t, 2)
	for _, typ := range quantTypes {
		const rows, cols = 3, 512
		src := randVec(r, rows*cols)
		data, err := Quantize(typ, src)
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMatrix(typ, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, cols)
		var se, ss float64
		for i := 0; i < rows; i++ {
			m.Row(i, got)
			for j, v := range got {
				d := float64(v - src[i*cols+j])
				se += d * d
				ss += float64(src[i*cols+j]) * float64(src[i*cols+j])
			}
		}
		if rel := math.Sqrt(se / ss); rel > relTol(typ) {
			t.Errorf("%v: relative RMS error %.4f > %.4f", typ, rel, relTol(typ))
		}
	}
	if _, err := Quantize(Q8_0, make([]float32, 33)); err == nil {
		t.Error("Quantize accepted a partial block")
	}
	if _, err := NewMatrix(Q4_K, 2, 256, make([]byte, 100)); err == nil {
		t.Error("NewMatrix accepted a short buffer")
	}
}

// TestQuantizeZeros checks all-zero and constant blocks decode exactly.
func TestQuantizeZeros(t *testing.T) {
	for _, typ := range quantTypes {
		src := make([]float32, 256)
		data, _ := Quantize(typ, src)
		got := make([]float32, 256)
		dequantRow(typ, data, got)
		for i, v := range got {
			if v != 0 {
				t.Fatalf("%v: zero input decodes to %g at %d", typ, v, i)
			}
		}
	}
}

// TestMatMul checks MatMul on every type against the dequantised weights
// times f32 activations, for odd row counts and several batch sizes.
func TestMatMul(t *testing.T) {
	r := newRand(t, 3)
	pool := NewPool(3)
	defer pool.Close()
	for _, typ := range quantTypes {
		// {13, 1056, 9}: an odd number of 32-value blocks per row, so the
		// ZMM kernels' lone last block, with tiles and leftover columns.
		for _, shape := range [][3]int{{1, 256, 1}, {7, 512, 3}, {33, 768, 5}, {64, 256, 70}, {13, 1056, 9}} {
			rows, cols, batch := shape[0], shape[1], shape[2]
			if cols%typ.BlockSize() != 0 {
				continue
			}
			m := randMatrix(t, r, typ, rows, cols)
			x := randVec(r, cols*batch)
			want := refMatMul(m, x, batch)
			for _, p := range []*Pool{nil, pool} {
				got := make([]float32, rows*batch)
				MatMul(p, got, m, x, batch)
				checkClose(t, typ.String(), got, want, matTol(typ, cols))
			}
		}
	}
}

func matTol(t DType, cols int) float64 {
	switch t {
	case F32, F16, BF16:
		return 1e-4 * math.Sqrt(float64(cols))
	}
	// 8-bit activations: error ~ |w|·|x|/127 per term.
	return 0.05 * math.Sqrt(float64(cols))
}

func randMatrix(t testing.TB, r *rand.Rand, typ DType, rows, cols int) Matrix {
	data, err := Quantize(typ, randVec(r, rows*cols))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMatrix(typ, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func refMatMul(m Matrix, x []float32, batch int) []float32 {
	out := make([]float32, m.Rows*batch)
	row := make([]float32, m.Cols)
	for i := 0; i < m.Rows; i++ {
		m.Row(i, row)
		for b := 0; b < batch; b++ {
			var s float64
			for c, w := range row {
				s += float64(w) * float64(x[b*m.Cols+c])
			}
			out[b*m.Rows+i] = float32(s)
		}
	}
	return out
}

func checkClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol) {
			t.Fatalf("%s: [%d] = %g, want %g (tolerance %g)", what, i, got[i], want[i], tol)
		}
	}
}

func TestMatMulNoAlloc(t *testing.T) {
	r := newRand(t, 4)
	pool := NewPool(2)
	defer pool.Close()
	var ms []Matrix
	for _, typ := range quantTypes {
		ms = append(ms, randMatrix(t, r, typ, 64, 512))
	}
	ms = append(ms, repack(randMatrix(t, r, Q4_K, 67, 512))) // Q4_K×16 and a tail
	for _, m := range ms {
		typ := m.Type
		x := randVec(r, 512*13)
		out := make([]float32, m.Rows*13)
		for _, batch := range []int{1, 4, 9, 13} { // decode, one tile, tiles and leftovers
			MatMul(pool, out, m, x, batch)
			if n := testing.AllocsPerRun(20, func() { MatMul(pool, out, m, x, batch) }); n != 0 {
				t.Errorf("%v batch %d: %v allocations per MatMul", typ, batch, n)
			}
		}
	}
}

func TestParallel(t *testing.T) {
	for _, threads := range []int{1, 2, 5} {
		p := NewPool(threads)
		for _, n := range []int{1, 2, 3, 7, 100} {
			hits := make([]int, n)
			p.Parallel(n, func(s, e int) {
				for i := s; i < e; i++ {
					hits[i]++
				}
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("threads %d n %d: index %d run %d times", threads, n, i, h)
				}
			}
		}
		p.Close()
		p.Close()
	}
}

func TestFloatKernels(t *testing.T) {
	x := []float32{1, 2, 3, 4}
	out := make([]float32, 4)
	RMSNorm(out, x, []float32{1, 1, 1, 2}, 0)
	rms := float32(math.Sqrt(7.5))
	checkClose(t, "rmsnorm", out, []float32{1 / rms, 2 / rms, 3 / rms, 8 / rms}, 1e-6)
	s := []float32{1, 2, 3}
	Softmax(s)
	e := []float64{math.Exp(-2), math.Exp(-1), 1}
	sum := e[0] + e[1] + e[2]
	checkClose(t, "softmax", s, []float32{float32(e[0] / sum), float32(e[1] / sum), float32(e[2] / sum)}, 1e-6)
	if d := SiLU(1) - float32(1/(1+math.Exp(-1))); math.Abs(float64(d)) > 1e-6 {
		t.Error("silu")
	}
	SwiGLU(out, []float32{0, 1, 0, 0}, []float32{5, 2, 5, 5})
	checkClose(t, "swiglu", out, []float32{0, 2 * SiLU(1), 0, 0}, 1e-6)
	Add(out, x, x)
	Scale(out, 0.5)
	checkClose(t, "add/scale", out, x, 0)
}

func TestRope(t *testing.T) {
	const heads, hd, rd, pos = 2, 8, 6, 5
	base, scale := float32(10000), float32(0.5)
	r := newRand(t, 5)
	x := randVec(r, heads*hd)
	norm := append([]float32(nil), x...)
	neox := append([]float32(nil), x...)
	RopeNorm(norm, heads, hd, rd, pos, base, scale)
	RopeNeox(neox, heads, hd, rd, pos, base, scale)
	for h := 0; h < heads; h++ {
		for i := 0; i < rd/2; i++ {
			th := float64(pos) * float64(scale) * math.Pow(float64(base), -float64(2*i)/rd)
			c, s := math.Cos(th), math.Sin(th)
			rot := func(a, b float32) (float32, float32) {
				return float32(float64(a)*c - float64(b)*s), float32(float64(a)*s + float64(b)*c)
			}
			a, b := rot(x[h*hd+2*i], x[h*hd+2*i+1])
			checkClose(t, "ropenorm", norm[h*hd+2*i:h*hd+2*i+2], []float32{a, b}, 1e-5)
			a, b = rot(x[h*hd+i], x[h*hd+i+rd/2])
			checkClose(t, "ropeneox", []float32{neox[h*hd+i], neox[h*hd+i+rd/2]}, []float32{a, b}, 1e-5)
		}
		checkClose(t, "rope tail", norm[h*hd+rd:h*hd+hd], x[h*hd+rd:h*hd+hd], 0)
		checkClose(t, "rope tail", neox[h*hd+rd:h*hd+hd], x[h*hd+rd:h*hd+hd], 0)
	}
}
