package cuda

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"reddwarf/metalkit"
)

// The tests compare each op on the GPU with metalkit's CPUDevice (and, for
// matmul, with a float64 product of the dequantised rows) on odd sizes.
// Without a usable NVIDIA driver they skip, saying so; gpu-test.sh sets
// REDDWARF_GPU=1 so that on the GPU machine a missing device fails.

// u is float32's unit roundoff.
const u = 1.0 / (1 << 24)

func openDevice(t testing.TB) *Device {
	d, err := Open(0)
	if err != nil {
		if os.Getenv("REDDWARF_GPU") == "1" {
			t.Fatalf("REDDWARF_GPU=1 but no CUDA device: %v", err)
		}
		t.Skipf("no CUDA device (%v): metalkit/cuda/gpu-test.sh runs these on a GPU machine", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func randVec(rng *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (rng.Float32()*2 - 1) * scale
	}
	return v
}

// put allocates a buffer on d holding v.
func put(t testing.TB, d metalkit.Device, v []float32) metalkit.Buffer {
	b, err := d.Alloc(len(v))
	if err != nil {
		t.Fatal(err)
	}
	d.Write(b, 0, v)
	return b
}

func get(t testing.TB, d metalkit.Device, b metalkit.Buffer, n int) []float32 {
	out := make([]float32, n)
	if err := d.Read(out, b, 0); err != nil {
		t.Fatal(err)
	}
	return out
}

func quantMatrix(t testing.TB, typ metalkit.DType, rows, cols int, w []float32) metalkit.Matrix {
	var data []byte
	var err error
	switch typ {
	case metalkit.Q2_K: // deepseek4's 2-bit formats have their own quantisers
		data = metalkit.QuantizeQ2_K(w)
	case metalkit.IQ2_XXS:
		data = metalkit.QuantizeIQ2_XXS(w)
	default:
		data, err = metalkit.Quantize(typ, w)
	}
	if err != nil {
		t.Fatal(err)
	}
	m, err := metalkit.NewMatrix(typ, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// actBlock is the block size in which CPU MatMul quantises activations to
// 8 bits for a weight type (act.go); 0 for the float types, which it
// multiplies in f32.
func actBlock(t metalkit.DType) int {
	switch t {
	case metalkit.Q8_0, metalkit.Q4_0:
		return 32
	case metalkit.Q4_K, metalkit.Q6_K, metalkit.Q2_K, metalkit.IQ2_XXS:
		return 256
	}
	return 0
}

// TestMatMul checks every weight type the device uploads, decode (batch 1:
// the matvec kernel, or matmul for a float row padded to whole units) and
// batches that are not multiples of the kernel's 8 columns.
//
// Against the float64 product of the dequantised rows the GPU's only error
// is float32 rounding: a lane sums its 8 values of a 32-value unit (a
// chain of 8 roundings), adds that to its running sum (one of every 8
// units: ceil(cols/256) more), then a 5-step shuffle tree, so
// |Δ| ≤ (8 + ceil(cols/256) + 5)·u·Σ|w·x| (the dequantised
// value d·q is the same float32 product on both sides, or one fused
// rounding more, covered by doubling the bound).
//
// Against the CPU device the activations differ too: CPU MatMul rounds x
// to 8 bits per block (step amax/127, so each x_i moves by at most
// amax/254), giving |Δ| ≤ Σ|w_i|·amax(block of i)/254 on top of the
// rounding bound. A wrong layout or scale misses these by orders of
// magnitude.
func TestMatMul(t *testing.T) {
	d := openDevice(t)
	cpu := metalkit.NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(1))
	types := []metalkit.DType{metalkit.F32, metalkit.F16, metalkit.BF16, metalkit.Q8_0, metalkit.Q4_0, metalkit.Q4_K, metalkit.Q6_K, metalkit.Q2_K, metalkit.IQ2_XXS}
	for _, typ := range types {
		for _, sh := range []struct{ rows, cols, batch int }{{37, 768, 1}, {37, 768, 13}, {130, 2304, 9}, {67, 2304, 1}, {3, 256, 17}, {11, 172, 3}, {11, 172, 1}, {5, 77, 9}} {
			if sh.cols%typ.BlockSize() != 0 {
				continue // quantised rows are whole blocks
			}
			name := fmt.Sprintf("%v/%dx%dx%d", typ, sh.rows, sh.cols, sh.batch)
			t.Run(name, func(t *testing.T) {
				m := quantMatrix(t, typ, sh.rows, sh.cols, randVec(rng, sh.rows*sh.cols, 1))
				x := randVec(rng, sh.batch*sh.cols, 2)
				gw, err := d.Upload(m)
				if err != nil {
					t.Fatal(err)
				}
				cw, _ := cpu.Upload(m)
				gout, _ := d.Alloc(sh.batch * sh.rows)
				d.MatMul(gout, gw, put(t, d, x), sh.batch)
				got := get(t, d, gout, sh.batch*sh.rows)
				cout, _ := cpu.Alloc(sh.batch * sh.rows)
				cpu.MatMul(cout, cw, put(t, cpu, x), sh.batch)
				cgot := get(t, cpu, cout, sh.batch*sh.rows)

				row := make([]float32, sh.cols)
				gamma := 2 * float64(8+(sh.cols+255)/256+5) * u
				if d.onTensorCores(gw, sh.batch) {
					gamma = mmaGamma(sh.cols)
				}
				blk := actBlock(typ)
				for r := 0; r < sh.rows; r++ {
					m.Row(r, row)
					for c := 0; c < sh.batch; c++ {
						xc := x[c*sh.cols : (c+1)*sh.cols]
						ref, abs, quant := products(row, xc, blk)
						g, cv := float64(got[c*sh.rows+r]), float64(cgot[c*sh.rows+r])
						if e := math.Abs(g - ref); e > gamma*abs {
							t.Fatalf("row %d col %d: gpu %v, float64 %v: |Δ| %.3g > %.3g", r, c, g, ref, e, gamma*abs)
						}
						if e := math.Abs(g - cv); e > quant+2*gamma*abs {
							t.Fatalf("row %d col %d: gpu %v, cpu %v: |Δ| %.3g > %.3g", r, c, g, cv, e, quant+2*gamma*abs)
						}
					}
				}
			})
		}
	}
}

// onTensorCores reports whether MatMul of w on batch columns runs mmaf16.
func (d *Device) onTensorCores(w metalkit.Weights, batch int) bool {
	return w.(*weights).mma != "" && d.mmaMin > 0 && batch >= d.mmaMin
}

// mmaGamma bounds |Δ|/Σ|w·x| for mmaf16 against the float64 product of
// the dequantised rows. Each weight and activation is rounded to f16
// (relative error ≤ 2⁻¹¹ each in f16's normal range, so a product moves
// by ≤ (2·2⁻¹¹ + 2⁻²²)·|w·x|; below it, by ≤ 2⁻²⁵ times the other
// factor, which the random inputs here make negligible); the tensor
// core adds 16 exact products into the f32 accumulator once per k16 step
// (cols/16 steps, each at most a couple of roundings of the running sum
// and the products' sum, 2u·Σ|w·x| counted per step), and the split-k
// warps' partial sums are added in three more roundings. Doubled for the
// dequantised value's own rounding (d·q may round in f32 once more on
// one side, as TestMatMul's bound allows).
func mmaGamma(cols int) float64 {
	return 2 * (2.0/2048 + 1.0/(1<<22) + 2*float64(cols/16+4)*u)
}

// products returns Σ w_i·x_i in float64, Σ|w_i·x_i|, and the bound on
// what CPU MatMul's rounding of x to 8 bits in blocks of blk moves the sum
// by: Σ_i |w_i|·amax(x's block of i)/254 (0 when blk is 0).
func products(w, x []float32, blk int) (ref, abs, quant float64) {
	for i, wv := range w {
		p := float64(wv) * float64(x[i])
		ref += p
		abs += math.Abs(p)
	}
	for b0 := 0; blk > 0 && b0 < len(w); b0 += blk {
		var amax, wsum float64
		for i := b0; i < b0+blk; i++ {
			amax = math.Max(amax, math.Abs(float64(x[i])))
			wsum += math.Abs(float64(w[i]))
		}
		quant += wsum * amax / 254
	}
	return ref, abs, quant
}

// TestCPUMatMulBound checks, on any machine, the bound TestMatMul allows
// between the GPU and the CPU: CPU MatMul stays within products' quant
// bound (plus float32 rounding) of the float64 product, for every type.
func TestCPUMatMulBound(t *testing.T) {
	cpu := metalkit.NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(6))
	for _, typ := range []metalkit.DType{metalkit.F32, metalkit.F16, metalkit.BF16, metalkit.Q8_0, metalkit.Q4_0, metalkit.Q4_K, metalkit.Q6_K, metalkit.Q2_K, metalkit.IQ2_XXS} {
		rows, cols, batch := 37, 2304, 5
		m := quantMatrix(t, typ, rows, cols, randVec(rng, rows*cols, 1))
		x := randVec(rng, batch*cols, 2)
		w, _ := cpu.Upload(m)
		out, _ := cpu.Alloc(batch * rows)
		cpu.MatMul(out, w, put(t, cpu, x), batch)
		got := get(t, cpu, out, batch*rows)
		row := make([]float32, cols)
		worst := 0.0
		for r := 0; r < rows; r++ {
			m.Row(r, row)
			for c := 0; c < batch; c++ {
				ref, abs, quant := products(row, x[c*cols:(c+1)*cols], actBlock(typ))
				bound := quant + float64(cols)*u*abs
				e := math.Abs(float64(got[c*rows+r]) - ref)
				if e > bound {
					t.Fatalf("%v row %d col %d: cpu %v, float64 %v: |Δ| %.3g > %.3g", typ, r, c, got[c*rows+r], ref, e, bound)
				}
				worst = max(worst, e/bound)
			}
		}
		t.Logf("%v: worst |Δ|/bound %.3f", typ, worst)
	}
}

// TestUploadRefuses: a repacked matrix is in a CPU-only layout, and
// UploadExperts has kernels for deepseek4's expert types only, on rows of
// whole 32-value units, split evenly; the rest is refused, not computed
// wrong. (IQ2_XXS, once refused, uploads: TestMatMul.)
func TestUploadRefuses(t *testing.T) {
	d := openDevice(t)
	q := metalkit.Repack(quantMatrix(t, metalkit.Q4_K, 32, 256, make([]float32, 32*256)))
	if _, err := d.Upload(q); err == nil && q.Repacked() {
		t.Fatal("repacked Q4_K uploaded")
	}
	if _, err := d.Upload(quantMatrix(t, metalkit.IQ2_XXS, 2, 256, make([]float32, 512))); err != nil {
		t.Fatalf("IQ2_XXS refused: %v", err)
	}
	for _, c := range []struct {
		typ           metalkit.DType
		rows, cols, n int
	}{{metalkit.Q6_K, 4, 256, 2}, {metalkit.F32, 4, 48, 2}, {metalkit.Q8_0, 6, 64, 4}, {metalkit.Q8_0, 6, 64, 0}} {
		m := quantMatrix(t, c.typ, c.rows, c.cols, make([]float32, c.rows*c.cols))
		if _, err := d.UploadExperts(m, c.n); err == nil {
			t.Errorf("%v %dx%d uploaded as %d experts", c.typ, c.rows, c.cols, c.n)
		}
	}
}

// TestEmbed: rows are dequantised with the same float32 operations as
// Matrix.Row, except that the GPU may fuse Q4_K's d·q − m into one
// rounding: within two units in the last place of the row's largest value.
func TestEmbed(t *testing.T) {
	d := openDevice(t)
	rng := rand.New(rand.NewSource(2))
	tokens := []int32{5, 0, 40, 5, 17, 40, 1}
	for _, typ := range []metalkit.DType{metalkit.F32, metalkit.F16} {
		// Padded rows: 77 values, the copy stops at the row's end.
		m := quantMatrix(t, typ, 41, 77, randVec(rng, 41*77, 1))
		w, err := d.Upload(m)
		if err != nil {
			t.Fatal(err)
		}
		out := put(t, d, make([]float32, len(tokens)*77+5))
		d.Embed(out, w, tokens)
		got := get(t, d, out, len(tokens)*77+5)
		row := make([]float32, 77)
		for i, tok := range tokens {
			m.Row(int(tok), row)
			near(t, fmt.Sprintf("%v embed 77 wide", typ), got[i*77:(i+1)*77], row, 0, 0)
		}
		near(t, "past the last row", got[len(tokens)*77:], make([]float32, 5), 0, 0)
	}
	for _, typ := range []metalkit.DType{metalkit.F32, metalkit.F16, metalkit.BF16, metalkit.Q8_0, metalkit.Q4_0, metalkit.Q4_K, metalkit.Q6_K, metalkit.Q2_K, metalkit.IQ2_XXS} {
		m := quantMatrix(t, typ, 41, 512, randVec(rng, 41*512, 1))
		w, err := d.Upload(m)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := d.Alloc(len(tokens) * 512)
		d.Embed(out, w, tokens)
		got := get(t, d, out, len(tokens)*512)
		row := make([]float32, 512)
		for i, tok := range tokens {
			m.Row(int(tok), row)
			var amax float64
			for _, v := range row {
				amax = math.Max(amax, math.Abs(float64(v)))
			}
			for j, v := range row {
				if e := math.Abs(float64(got[i*512+j] - v)); e > 4*u*amax {
					t.Fatalf("%v token %d value %d: gpu %v, Row %v", typ, tok, j, got[i*512+j], v)
				}
			}
		}
	}
}

// near reports whether got is within rel·|want| + abs of want for every
// value, naming the first that is not.
func near(t *testing.T, what string, got, want []float32, rel, abs float64) {
	t.Helper()
	for i := range want {
		if e := math.Abs(float64(got[i] - want[i])); e > rel*math.Abs(float64(want[i]))+abs || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: value %d: gpu %v, cpu %v (|Δ| %.3g)", what, i, got[i], want[i], e)
		}
	}
}

// TestFloatOps compares RMSNorm, Softmax, SwiGLU and RoPE with the CPU
// device. Tolerances: RMSNorm's sum of n squares is rounded in a different
// order (relative error ≤ n·u, halved by the square root; 2n·u allows for
// both sides); Softmax's exp differs by a few units in the last place
// between expf and the CPU's polynomial, and the sum adds n·u, so 2n·u +
// 16u; SwiGLU is one exp and a division apart, but the CPU's vector exp is
// a polynomial, so 1e-5 relative; RoPE computes the same double-precision
// angle on both sides, then a rotation the GPU may fuse, so two units in
// the last place of the pair's magnitude.
func TestFloatOps(t *testing.T) {
	d := openDevice(t)
	cpu := metalkit.NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(3))
	both := func(f func(dev metalkit.Device, bufs []metalkit.Buffer), n int, ins ...[]float32) (g, c []float32) {
		for _, dev := range []metalkit.Device{d, cpu} {
			var bufs []metalkit.Buffer
			for _, in := range ins {
				bufs = append(bufs, put(t, dev, in))
			}
			f(dev, bufs)
			r := get(t, dev, bufs[0], n)
			if dev == metalkit.Device(d) {
				g = r
			} else {
				c = r
			}
		}
		return g, c
	}

	rows, n := 3, 333
	x, w := randVec(rng, rows*n, 3), randVec(rng, n, 1)
	g, c := both(func(dev metalkit.Device, b []metalkit.Buffer) { dev.RMSNorm(b[0], b[1], b[2], rows, n, 1e-5) }, rows*n, make([]float32, rows*n), x, w)
	near(t, "RMSNorm", g, c, 2*float64(n)*u, 1e-30)

	rows, n = 5, 1001
	x = randVec(rng, rows*n, 8)
	g, c = both(func(dev metalkit.Device, b []metalkit.Buffer) { dev.Softmax(b[0], rows, n) }, rows*n, x)
	near(t, "Softmax", g, c, 2*float64(n)*u+16*u, 1e-30)

	n = 1237
	a, b := randVec(rng, n, 10), randVec(rng, n, 2)
	g, c = both(func(dev metalkit.Device, bf []metalkit.Buffer) { dev.Add(bf[0], bf[1], bf[2], n) }, n, make([]float32, n), a, b)
	near(t, "Add", g, c, 0, 0) // one rounding on both sides

	gate, up := randVec(rng, n, 10), randVec(rng, n, 2)
	g, c = both(func(dev metalkit.Device, b []metalkit.Buffer) { dev.SwiGLU(b[0], b[1], b[2], n) }, n, make([]float32, n), gate, up)
	near(t, "SwiGLU", g, c, 1e-5, 1e-30)

	pos := []int32{0, 1, 7, 511, 4095, 33000, 3}
	factors := randVec(rng, 32, 1)
	for i := range factors {
		factors[i] += 1.5
	}
	for _, r := range []metalkit.Rope{
		{Heads: 3, HeadDim: 70, Dim: 64, Base: 10000, Scale: 1},
		{Heads: 3, HeadDim: 70, Dim: 64, Base: 500000, Scale: 0.25, Neox: true},
		{Heads: 3, HeadDim: 70, Dim: 64, Base: 500000, Scale: 1, Factors: factors},
		{Heads: 3, HeadDim: 70, Dim: 64, Base: 10000, Scale: 1, Neox: true, Factors: factors},
	} {
		nv := len(pos) * r.Heads * r.HeadDim
		x := randVec(rng, nv, 4)
		g, c := both(func(dev metalkit.Device, b []metalkit.Buffer) { dev.Rope(b[0], pos, r) }, nv, x)
		near(t, fmt.Sprintf("Rope neox=%v factors=%v", r.Neox, r.Factors != nil), g, c, 0, 2*8*u*4)
	}
}

// TestAttention: sessions of 1, 17, 300, 1030 and 2100 positions (sliding window
// on one) share one call and one pool, their pages scattered, with
// grouped-query heads. q and the softmax weights are rounded to f16 on both
// sides; the scores differ by float32 rounding order, which can move a
// weight across an f16 rounding boundary: one f16 step (2^-11 of the
// weight) per weight, so |Δout| ≤ 2^-11·Σw|v| ≤ 2^-11·max|v|, doubled.
// Heads of 64 and 128 on pages of 16 or 32 run attn_pages, heads of 96
// the general kernel.
func TestAttention(t *testing.T) {
	d := openDevice(t)
	cpu := metalkit.NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(4))
	for _, shape := range []metalkit.KVShape{
		{Layers: 2, Heads: 2, HeadDim: 64, PageTokens: 32},
		{Layers: 1, Heads: 3, HeadDim: 96, PageTokens: 16},
		{Layers: 1, Heads: 2, HeadDim: 128, PageTokens: 16},
		{Layers: 2, Heads: 1, HeadDim: 64, PageTokens: 16},
	} {
		// Four query heads a KV head, five for the last shape (a second
		// pass of attn_pages with one head).
		heads := 4 * shape.Heads
		if shape.Heads == 1 {
			heads = 5
		}
		// 2,100 positions: past the 2,048 whose scores attn_pages keeps
		// in shared memory.
		lens := []int{1, 17, 300, 1030, 2100}
		rows, slots, total := pagedRows(rng, shape, lens)
		rows[2].From = 300 - 64 // a sliding window of 64
		w := shape.Heads * shape.HeadDim
		k, v := randVec(rng, len(slots)*w, 2), randVec(rng, len(slots)*w, 3)
		q := randVec(rng, len(rows)*heads*shape.HeadDim, 1)
		var outs [2][]float32
		for i, dev := range []metalkit.Device{d, cpu} {
			pool, err := dev.NewKVPool(shape, total+3)
			if err != nil {
				t.Fatal(err)
			}
			dev.PutKV(pool, shape.Layers-1, slots, put(t, dev, k), put(t, dev, v))
			out := put(t, dev, make([]float32, len(q)))
			dev.Attention(out, put(t, dev, q), pool, shape.Layers-1, heads, rows)
			outs[i] = get(t, dev, out, len(q))
		}
		near(t, fmt.Sprintf("Attention %+v", shape), outs[0], outs[1], 0, 2*3.0/2048)
	}
}

// TestQueuedOps queues many ops that stage host arrays (Embed's tokens,
// RoPE's positions, Write's values: 256 bytes to 75 KiB each), reading
// nothing until the end, with the staging area starting at 512 bytes, so
// that it fills (the device drains and the area is reused) every few ops
// and is outgrown several times: each op must see its own arrays, not a
// later op's, although none waits for the GPU. Results are compared with
// the CPU device's.
func TestQueuedOps(t *testing.T) {
	d := openDevice(t)
	d.stageMin = 512
	cpu := metalkit.NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(7))
	const rows, cols, ops = 61, 64, 40
	m := quantMatrix(t, metalkit.Q8_0, rows, cols, randVec(rng, rows*cols, 1))
	type op struct {
		tokens, pos []int32
		add         []float32
	}
	var plan []op
	for i := 0; i < ops; i++ {
		n := 1 + rng.Intn(9)
		if i == 10 || i == 25 {
			n = 150 + 150*(i/25) // Writes of 38 and 75 KiB
		}
		o := op{add: randVec(rng, n*cols, 1)}
		for j := 0; j < n; j++ {
			o.tokens = append(o.tokens, int32(rng.Intn(rows)))
			o.pos = append(o.pos, int32(rng.Intn(4096)))
		}
		plan = append(plan, o)
	}
	r := metalkit.Rope{Heads: 2, HeadDim: cols / 2, Dim: cols / 2, Base: 10000, Scale: 1}
	var outs [2][][]float32
	for i, dev := range []metalkit.Device{d, cpu} {
		w, err := dev.Upload(m)
		if err != nil {
			t.Fatal(err)
		}
		var bufs []metalkit.Buffer
		for _, o := range plan {
			n := len(o.tokens) * cols
			x, _ := dev.Alloc(n)
			y, _ := dev.Alloc(n)
			dev.Embed(x, w, o.tokens)
			dev.Rope(x, o.pos, r)
			dev.Write(y, 0, o.add)
			dev.Add(x, x, y, n)
			bufs = append(bufs, x)
		}
		for j, b := range bufs {
			outs[i] = append(outs[i], get(t, dev, b, len(plan[j].tokens)*cols))
		}
	}
	for j := range plan {
		// RoPE's tolerance of TestFloatOps (two units in the last place
		// of values of magnitude ≲ 2), then the exact add.
		near(t, fmt.Sprintf("op %d (%d tokens)", j, len(plan[j].tokens)), outs[0][j], outs[1][j], 0, 4*2*u*4)
	}
	if d.stageBytes < 300*cols*4 {
		t.Errorf("the staging area is %d bytes: the test did not outgrow it", d.stageBytes)
	}
}

// TestAddRMSNorm: the fused op gives the bits of Add then RMSNorm on the
// GPU (the same sums in the same order), x included, with out aliasing r
// as infer's residuals do; and is within RMSNorm's tolerance of the CPU
// device's.
func TestAddRMSNorm(t *testing.T) {
	d := openDevice(t)
	cpu := metalkit.NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(12))
	rows, n := 3, 333
	x, r, w := randVec(rng, rows*n, 3), randVec(rng, rows*n, 2), randVec(rng, n, 1)
	// Fused on both devices, out = r.
	var fx, fo [2][]float32
	for i, dev := range []metalkit.Device{d, cpu} {
		xb, rb, wb := put(t, dev, x), put(t, dev, r), put(t, dev, w)
		dev.AddRMSNorm(rb, xb, rb, wb, rows, n, 1e-5)
		fx[i], fo[i] = get(t, dev, xb, rows*n), get(t, dev, rb, rows*n)
	}
	// The two ops on the GPU.
	xb, rb, wb := put(t, d, x), put(t, d, r), put(t, d, w)
	d.Add(xb, xb, rb, rows*n)
	d.RMSNorm(rb, xb, wb, rows, n, 1e-5)
	sx, so := get(t, d, xb, rows*n), get(t, d, rb, rows*n)
	for i := range sx {
		if math.Float32bits(sx[i]) != math.Float32bits(fx[0][i]) || math.Float32bits(so[i]) != math.Float32bits(fo[0][i]) {
			t.Fatalf("value %d: AddRMSNorm gives x %v out %v, Add then RMSNorm x %v out %v", i, fx[0][i], fo[0][i], sx[i], so[i])
		}
	}
	near(t, "AddRMSNorm x", fx[0], fx[1], 0, 0)
	near(t, "AddRMSNorm out", fo[0], fo[1], 2*float64(n)*u, 1e-30)
}

// uploadExperts uploads m's n stacked experts to the device under test and
// to the CPU device.
func uploadExperts(t *testing.T, d, cpu metalkit.Device, m metalkit.Matrix, n int) (gw, cw metalkit.Weights) {
	t.Helper()
	gw, err := d.(metalkit.DeepSeek4Ops).UploadExperts(m, n)
	if err != nil {
		t.Fatal(err)
	}
	if cw, err = cpu.(metalkit.DeepSeek4Ops).UploadExperts(m, n); err != nil {
		t.Fatal(err)
	}
	return gw, cw
}

// matMulExpertsBoth runs MatMulExperts on the device under test (gw) and
// the CPU device (cw) and returns both outputs, n values each (past the
// last pair's, to see that nothing is written there).
func matMulExpertsBoth(t *testing.T, d, cpu metalkit.Device, gw, cw metalkit.Weights, x []float32, experts []int32, per, n int) (got, cgot []float32) {
	t.Helper()
	var outs [2][]float32
	for i, dev := range []metalkit.Device{d, cpu} {
		out := put(t, dev, make([]float32, n))
		dev.(metalkit.DeepSeek4Ops).MatMulExperts(out, []metalkit.Weights{gw, cw}[i], put(t, dev, x), experts, per)
		outs[i] = get(t, dev, out, n)
	}
	return outs[0], outs[1]
}

// expertTypes are the weight types UploadExperts has kernels for.
var expertTypes = []metalkit.DType{metalkit.F32, metalkit.F16, metalkit.Q8_0, metalkit.Q4_K, metalkit.Q2_K, metalkit.IQ2_XXS}

// TestIQ2XXSGrid (any machine): the codebook compiled into kernels.ptx is
// metalkit's, byte for byte (kernels.cu holds a copy of the table).
func TestIQ2XXSGrid(t *testing.T) {
	const decl = ".b8 iq2xxs_grid[2048] = {"
	i := strings.Index(ptx, decl)
	if i < 0 {
		t.Fatal("kernels.ptx has no 2048-byte iq2xxs_grid")
	}
	body := ptx[i+len(decl):]
	body = body[:strings.IndexByte(body, '}')]
	fields := strings.Split(body, ",")
	grid := metalkit.IQ2XXSGrid()
	if len(fields) != 2048 {
		t.Fatalf("iq2xxs_grid has %d bytes", len(fields))
	}
	for j, f := range fields {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		want := int(grid[j/8] >> (8 * (j % 8)) & 255)
		if err != nil || v != want {
			t.Fatalf("iq2xxs_grid byte %d (entry %d): %q, metalkit's %d", j, j/8, f, want)
		}
	}
}

// TestClampedSwiGLU compares the GPU with the CPU device at limits that
// clamp (gate and up reach ±10, the limit is 7) and that do not (0, −1),
// out aliasing gate. The CPU rounds exp (taken in float64) once; the GPU's
// expf is within 2 ulp (4u); then both round 1+e, the division and the
// product: |Δ| ≤ (4 + 4 + 3)·u·|out| of each other, 16u allowed.
func TestClampedSwiGLU(t *testing.T) {
	d := openDevice(t)
	cpu := metalkit.NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(15))
	const n = 1237
	gate, up := randVec(rng, n, 10), randVec(rng, n, 10)
	for _, lim := range []float32{7, 0, -1} {
		var outs [2][]float32
		for i, dev := range []metalkit.Device{d, cpu} {
			g := put(t, dev, gate)
			dev.(metalkit.DeepSeek4Ops).ClampedSwiGLU(g, g, put(t, dev, up), n, lim)
			outs[i] = get(t, dev, g, n)
		}
		near(t, fmt.Sprintf("ClampedSwiGLU limit %v", lim), outs[0], outs[1], 16*u, 1e-30)
	}
}

// TestMatMulExperts: stacked experts of every type UploadExperts takes,
// 37 rows each (odd), with routings of a few pairs (the lean kernel) and
// many (the tiled one: an expert with more than a tile of 8 pairs, one
// with none), pairs sharing x rows (gate/up, per > 1) or not (down), and
// repeated experts in any order. Each pair's row is checked as TestMatMul
// checks a column, with its bounds: the lean kernel's sums are matvec's,
// the tiled one's matmul's. The values past the last pair's stay 0.
func TestMatMulExperts(t *testing.T) {
	d := openDevice(t)
	cpu := metalkit.NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(14))
	const n, rows, cols = 7, 37, 768
	for _, typ := range expertTypes {
		m := quantMatrix(t, typ, n*rows, cols, randVec(rng, n*rows*cols, 1))
		gw, cw := uploadExperts(t, d, cpu, m, n)
		for _, c := range []struct{ pairs, per int }{{6, 6}, {12, 1}, {15, 3}, {53, 1}, {60, 4}} {
			experts := make([]int32, c.pairs)
			for i := range experts {
				e := rng.Intn(n)
				if e == 5 || i%5 == 0 {
					e = 3 // expert 5 unused, expert 3 over a tile's 8 pairs
				}
				experts[i] = int32(e)
			}
			x := randVec(rng, (c.pairs+c.per-1)/c.per*cols, 2)
			got, cgot := matMulExpertsBoth(t, d, cpu, gw, cw, x, experts, c.per, c.pairs*rows+3)
			row := make([]float32, cols)
			gamma := 2 * float64(8+(cols+255)/256+5) * u
			for i, e := range experts {
				xi := x[i/c.per*cols : (i/c.per+1)*cols]
				for r := 0; r < rows; r++ {
					m.Row(int(e)*rows+r, row)
					ref, abs, quant := products(row, xi, actBlock(typ))
					g, cv := float64(got[i*rows+r]), float64(cgot[i*rows+r])
					if err := math.Abs(g - ref); err > gamma*abs {
						t.Fatalf("%v %d pairs (%d per x row): pair %d (expert %d) row %d: gpu %v, float64 %v", typ, c.pairs, c.per, i, e, r, g, ref)
					}
					if err := math.Abs(g - cv); err > quant+2*gamma*abs {
						t.Fatalf("%v %d pairs (%d per x row): pair %d (expert %d) row %d: gpu %v, cpu %v", typ, c.pairs, c.per, i, e, r, g, cv)
					}
				}
			}
			near(t, "past the last pair", got[c.pairs*rows:], make([]float32, 3), 0, 0)
		}
	}
}

// TestMatMulMMA checks the tensor-core kernels (mmaf16) on every weight
// type they take and every block shape, forced, on sizes that are not
// multiples of a block's rows (16·k), columns (8·k) or chunk of units (4,
// 8, 16 units): against the float64 product of the dequantised rows
// within mmaGamma, against CPUDevice within the activations' 8-bit step
// as TestMatMul, and every output written (the output is poisoned with
// NaN first).
func TestMatMulMMA(t *testing.T) {
	d := openDevice(t)
	cpu := metalkit.NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(21))
	types := []metalkit.DType{metalkit.F16, metalkit.Q8_0, metalkit.Q4_0, metalkit.Q4_K, metalkit.Q6_K, metalkit.Q2_K, metalkit.IQ2_XXS}
	shapes := []struct{ rows, cols, batch int }{{37, 768, 8}, {37, 768, 13}, {130, 2304, 9}, {67, 2304, 61}, {3, 256, 17}, {131, 1280, 130}, {200, 512, 515}}
	for _, typ := range types {
		for _, sh := range shapes {
			if sh.cols%typ.BlockSize() != 0 {
				continue
			}
			m := quantMatrix(t, typ, sh.rows, sh.cols, randVec(rng, sh.rows*sh.cols, 1))
			x := randVec(rng, sh.batch*sh.cols, 2)
			gw, err := d.Upload(m)
			if err != nil {
				t.Fatal(err)
			}
			cw, _ := cpu.Upload(m)
			cout, _ := cpu.Alloc(sh.batch * sh.rows)
			cpu.MatMul(cout, cw, put(t, cpu, x), sh.batch)
			cgot := get(t, cpu, cout, sh.batch*sh.rows)
			gx := put(t, d, x)
			poison := make([]float32, sh.batch*sh.rows)
			for i := range poison {
				poison[i] = float32(math.NaN())
			}
			gout := put(t, d, poison)
			// The float64 products and bounds, once for every block shape.
			n := sh.batch * sh.rows
			refs, abss, quants := make([]float64, n), make([]float64, n), make([]float64, n)
			row := make([]float32, sh.cols)
			for r := 0; r < sh.rows; r++ {
				m.Row(r, row)
				for c := 0; c < sh.batch; c++ {
					i := c*sh.rows + r
					refs[i], abss[i], quants[i] = products(row, x[c*sh.cols:(c+1)*sh.cols], actBlock(typ))
				}
			}
			for _, shape := range []string{"", "n8", "n16", "n64", "n64l"} {
				t.Run(fmt.Sprintf("%v/%dx%dx%d/%s", typ, sh.rows, sh.cols, sh.batch, shape), func(t *testing.T) {
					d.Write(gout, 0, poison)
					d.mmaShape = shape
					d.MatMul(gout, gw, gx, sh.batch)
					d.mmaShape = ""
					got := get(t, d, gout, sh.batch*sh.rows)
					gamma, worst := mmaGamma(sh.cols), 0.0
					for r := 0; r < sh.rows; r++ {
						for c := 0; c < sh.batch; c++ {
							i := c*sh.rows + r
							ref, abs, quant := refs[i], abss[i], quants[i]
							g, cv := float64(got[i]), float64(cgot[i])
							if e := math.Abs(g - ref); !(e <= gamma*abs) {
								t.Fatalf("row %d col %d: gpu %v, float64 %v: |Δ| %.3g > %.3g", r, c, g, ref, e, gamma*abs)
							}
							if e := math.Abs(g - cv); !(e <= quant+2*gamma*abs) {
								t.Fatalf("row %d col %d: gpu %v, cpu %v: |Δ| %.3g > %.3g", r, c, g, cv, e, quant+2*gamma*abs)
							}
							worst = max(worst, math.Abs(g-ref)/(gamma*abs))
						}
					}
					if shape == "" {
						t.Logf("worst |Δ|/bound vs float64 %.3f", worst)
					}
				})
			}
		}
	}
}

// TestMatMuls: MatMuls of two to four matrices on one column (one
// matvecs_s launch) gives each matrix MatMul's bits, for every type with a
// staged matvec, on heights that are not multiples of a block's 8 rows;
// MatMulSwiGLU gives the bits of MatMul, MatMul and SwiGLU.
func TestMatMuls(t *testing.T) {
	d := openDevice(t)
	rng := rand.New(rand.NewSource(23))
	for _, typ := range []metalkit.DType{metalkit.Q8_0, metalkit.Q4_0, metalkit.Q4_K, metalkit.Q2_K, metalkit.F16} {
		const cols = 1280
		heights := []int{37, 130, 5, 64}
		var ws []metalkit.Weights
		var outs []metalkit.Buffer
		for _, rows := range heights {
			w, err := d.Upload(quantMatrix(t, typ, rows, cols, randVec(rng, rows*cols, 1)))
			if err != nil {
				t.Fatal(err)
			}
			ws, outs = append(ws, w), append(outs, put(t, d, make([]float32, rows)))
		}
		x := put(t, d, randVec(rng, cols, 2))
		for n := 2; n <= 4; n++ {
			d.MatMuls(outs[:n], ws[:n], x, 1)
			for i := 0; i < n; i++ {
				got := get(t, d, outs[i], heights[i])
				want := put(t, d, make([]float32, heights[i]))
				d.MatMul(want, ws[i], x, 1)
				if w := get(t, d, want, heights[i]); !slicesEqualBits(got, w) {
					t.Fatalf("%v, %d matrices: matrix %d differs from MatMul", typ, n, i)
				}
			}
		}
		// MatMulSwiGLU (one matvec_swiglu_s launch where staged): the
		// bits of MatMul, MatMul, SwiGLU.
		up, err := d.Upload(quantMatrix(t, typ, heights[0], cols, randVec(rng, heights[0]*cols, 1)))
		if err != nil {
			t.Fatal(err)
		}
		out, tmp := put(t, d, make([]float32, heights[0])), put(t, d, make([]float32, heights[0]))
		d.MatMulSwiGLU(out, tmp, ws[0], up, x, 1)
		want, want2 := put(t, d, make([]float32, heights[0])), put(t, d, make([]float32, heights[0]))
		d.MatMul(want, ws[0], x, 1)
		d.MatMul(want2, up, x, 1)
		d.SwiGLU(want, want, want2, heights[0])
		if !slicesEqualBits(get(t, d, out, heights[0]), get(t, d, want, heights[0])) {
			t.Fatalf("%v: MatMulSwiGLU differs from MatMul, MatMul, SwiGLU", typ)
		}
	}
}

// slicesEqualBits reports whether a and b hold the same float32 bits.
func slicesEqualBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// pagedRows gives sessions of the lengths lens their pages in a random
// order among total+3 pages (3 that nobody uses), as AttnRows, and the KV
// slots of their positions in row order, as PutKV takes them.
func pagedRows(rng *rand.Rand, shape metalkit.KVShape, lens []int) (rows []metalkit.AttnRow, slots []int32, total int) {
	for _, l := range lens {
		total += (l + shape.PageTokens - 1) / shape.PageTokens
	}
	perm := rng.Perm(total + 3)
	next := 0
	for _, l := range lens {
		r := metalkit.AttnRow{N: l}
		for p := 0; p*shape.PageTokens < l; p++ {
			r.Pages = append(r.Pages, int32(perm[next]))
			next++
		}
		for pos := 0; pos < l; pos++ {
			slots = append(slots, r.Pages[pos/shape.PageTokens]*int32(shape.PageTokens)+int32(pos%shape.PageTokens))
		}
		rows = append(rows, r)
	}
	return rows, slots, total
}
