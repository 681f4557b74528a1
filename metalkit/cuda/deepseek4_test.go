package cuda

import (
	"math"
	"math/rand"
	"testing"

	"reddwarf/metalkit"
)

// deepseek4's ops (deepseek4.cu) against metalkit's CPU device, on odd
// sizes. Most of them do the CPU's operations in the CPU's order, and are
// held to its bits or to a unit or two of rounding where a float64
// function's last bit (exp, sin, a float64 sum in another order) may round
// the other way; each test says which and why. They skip without a GPU;
// with the cudaemu tag they run on the CPU emulator of package emu
// (deepseek4_emu_test.go).

// both runs op on the GPU d and on the CPU device over the same buffers
// (vals[i] put on each; nil gives a nil Buffer) and returns every buffer
// read back from each.
func both(t *testing.T, d *Device, vals [][]float32, op func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer)) (gpu, cpu [][]float32) {
	t.Helper()
	var outs [2][][]float32
	for k, dev := range []metalkit.DeepSeek4Ops{d, metalkit.NewCPUDevice(nil)} {
		bufs := make([]metalkit.Buffer, len(vals))
		for i, v := range vals {
			if v != nil {
				bufs[i] = put(t, dev, v)
			}
		}
		op(dev, bufs)
		outs[k] = make([][]float32, len(vals))
		for i, v := range vals {
			if v != nil {
				outs[k][i] = get(t, dev, bufs[i], len(v))
			}
		}
	}
	return outs[0], outs[1]
}

// same fails unless got and want are bit for bit equal.
func same(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: value %d: gpu %v, cpu %v", what, i, got[i], want[i])
		}
	}
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// TestRMSNormF64: the sum of squares is float64 on both sides, in another
// order here, so the scale 1/sqrt(mean+eps), rounded to float32, can
// differ by one unit (2u relative) where the float64 sums fall on either
// side of a rounding boundary; the products after it are the same
// operations. Bound: 2u for the scale, u for each of the two products.
func TestRMSNormF64(t *testing.T) {
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(41))
	for _, c := range []struct{ rows, n int }{{1, 4096}, {3, 517}, {7, 64}} {
		x, w := randVec(rng, c.rows*c.n, 3), randVec(rng, c.n, 2)
		for _, weighted := range []bool{true, false} {
			ww := w
			if !weighted {
				ww = nil
			}
			g, cp := both(t, d, [][]float32{make([]float32, c.rows*c.n), x, ww}, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
				dev.RMSNormF64(b[0], b[1], b[2], c.rows, c.n, 1e-6)
			})
			near(t, "RMSNormF64", g[0], cp[0], 4*u, 0)
		}
	}
}

// TestHCPre: thread 0 computes the weights in the CPU's order with
// float64 sigmoids (a unit at most where exp's last float64 bit rounds the
// other way: pre and post within 2u). The comb softmax uses metalkit's
// ExpSub polynomial, which the CPU may run as an assembly kernel with its
// own rounding (relative error 2e-7 each side); a Sinkhorn iteration's
// normalisations keep relative errors about where they are and add a few
// u: 1e-5 relative is ten times the sum over 20 iterations. The collapse
// x = Σ pre_s·X_s is the CPU's Axpy order, which may fuse its
// multiply-adds: |Δ| ≤ (hc+2)·u·Σ|pre_s·X_s| plus pre's 2u.
func TestHCPre(t *testing.T) {
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(42))
	const hc, sinkhorn = 4, 20
	for _, c := range []struct{ rows, dim int }{{1, 4096}, {5, 333}} {
		mix := (2 + hc) * hc
		X := randVec(rng, c.rows*hc*c.dim, 2)
		mixes := randVec(rng, c.rows*mix, 3)
		coef := randVec(rng, 3+mix, 1)
		g, cp := both(t, d, [][]float32{make([]float32, c.rows*c.dim), make([]float32, c.rows*(hc+hc*hc)), X, mixes, coef},
			func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
				dev.HCPre(b[0], b[1], b[2], b[3], b[4], c.rows, hc, c.dim, sinkhorn, 1e-6)
			})
		for r := 0; r < c.rows; r++ {
			pc, cpc := g[1][r*(hc+hc*hc):(r+1)*(hc+hc*hc)], cp[1][r*(hc+hc*hc):(r+1)*(hc+hc*hc)]
			near(t, "HCPre post", pc[:hc], cpc[:hc], 2*u, 0)
			near(t, "HCPre comb", pc[hc:], cpc[hc:], 1e-5, 0)
		}
		near(t, "HCPre x", g[0], cp[0], 0, (hc+4)*u*float64(hc)*1.01*maxAbs(X))

		// The output head's form: no post or comb, one scale.
		mixes = randVec(rng, c.rows*hc, 3)
		coef = randVec(rng, 1+hc, 1)
		g, cp = both(t, d, [][]float32{make([]float32, c.rows*c.dim), X, mixes, coef}, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
			dev.HCPre(b[0], nil, b[1], b[2], b[3], c.rows, hc, c.dim, sinkhorn, 1e-6)
		})
		near(t, "HCPre head x", g[0], cp[0], 0, (hc+4)*u*float64(hc)*1.01*maxAbs(X))
	}
}

// TestHCPost: the CPU's order of products and sums; its Axpy may fuse a
// multiply-add (one rounding fewer per term): |Δ| ≤ (hc+1)·u·(|post·y| +
// Σ|comb·X|).
func TestHCPost(t *testing.T) {
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(43))
	const hc = 4
	for _, c := range []struct{ rows, dim int }{{1, 4096}, {3, 301}} {
		X, y := randVec(rng, c.rows*hc*c.dim, 2), randVec(rng, c.rows*c.dim, 2)
		pc := randVec(rng, c.rows*(hc+hc*hc), 1)
		g, cp := both(t, d, [][]float32{X, y, pc}, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
			dev.HCPost(b[0], b[1], b[2], c.rows, hc, c.dim)
		})
		near(t, "HCPost", g[0], cp[0], 0, (hc+1)*u*(2+hc*2))
	}
}

// TestRopeTail: the same float32 angle and float64 sin/cos (a unit where
// the last float64 bit rounds the other way), then the CPU's products and
// sums: |Δ| ≤ 4u·(|a|+|b|).
func TestRopeTail(t *testing.T) {
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(44))
	for _, c := range []struct{ heads, width, pairs int }{{64, 512, 32}, {3, 128, 32}, {5, 70, 7}} {
		pos := []int32{0, 1, 4095, 123457}
		x := randVec(rng, len(pos)*c.heads*c.width, 2)
		freq := make([]float32, c.pairs)
		for k := range freq {
			freq[k] = float32(1 / math.Pow(10000, float64(2*k)/float64(2*c.pairs)))
		}
		for _, sign := range []float32{1, -1} {
			g, cp := both(t, d, [][]float32{x, freq}, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
				dev.RopeTail(b[0], b[1], pos, c.heads, c.width, c.pairs, sign)
			})
			near(t, "RopeTail", g[0], cp[0], 0, 4*u*4)
		}
	}
}

// TestRoundTrip: FP8, FP4 (with its Hadamard, whose butterflies run in
// the CPU's order) and f16 are the CPU's operations, each exactly
// rounded: the same bits. The values span decades, and include exact
// zeros and a block of tiny ones (FP8's floor on the scale).
func TestRoundTrip(t *testing.T) {
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(45))
	const rows, stride = 5, 600
	x := make([]float32, rows*stride)
	for i := range x {
		x[i] = (rng.Float32()*2 - 1) * float32(math.Pow(10, float64(rng.Intn(9)-4)))
		if i%97 == 0 {
			x[i] = 0
		}
		if i >= 64 && i < 128 {
			x[i] *= 1e-6
		}
	}
	for _, c := range []struct {
		f metalkit.RoundFormat
		n int
	}{{metalkit.RoundFP8, 448}, {metalkit.RoundFP4, 128}, {metalkit.RoundFP4, 512}, {metalkit.RoundF16, 599}} {
		g, cp := both(t, d, [][]float32{x}, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
			dev.RoundTrip(b[0], rows, stride, c.n, c.f)
		})
		same(t, "RoundTrip", g[0], cp[0])
	}
}

// TestRoute: biased top-k with ties (equal logits give equal keys on both
// sides, since the score is the same float64 function of the same value),
// plain top-k, and hash routing. The ids must agree exactly; the weights
// are the CPU's operations on scores that may differ by a unit where
// float64 log1p/exp round the other way: 8u.
func TestRoute(t *testing.T) {
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(46))
	const rows, experts, k = 5, 256, 6
	logits := randVec(rng, rows*experts, 8)
	for i := 0; i < rows*experts; i += 7 {
		logits[i] = logits[i/3] // ties
	}
	logits[3] = 25 // the linear branch
	bias := randVec(rng, experts, 0.5)
	hash := make([]int32, rows*k)
	for i := range hash {
		hash[i] = int32(rng.Intn(experts))
	}
	for _, c := range []struct {
		bias bool
		hash []int32
	}{{true, nil}, {false, nil}, {false, hash}} {
		bb := bias
		if !c.bias {
			bb = nil
		}
		g, cp := both(t, d, [][]float32{make([]float32, rows*k), make([]float32, rows*k), logits, bb}, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
			dev.Route(b[0], b[1], b[2], b[3], c.hash, rows, experts, k, 1.5)
		})
		same(t, "Route ids", g[0], cp[0])
		near(t, "Route weights", g[1], cp[1], 8*u, 0)
	}
}

// TestMatMulExpertsBy: the pairs grouped on the device give the host
// grouping's array, so the same kernel computes the same bits as
// MatMulExperts with the ids from the host.
func TestMatMulExpertsBy(t *testing.T) {
	if emulated {
		t.Skip("the expert kernels are kernels.cu's: not emulated")
	}
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(47))
	const n, rows, cols = 9, 37, 512
	m := quantMatrix(t, metalkit.Q8_0, n*rows, cols, randVec(rng, n*rows*cols, 1))
	w, err := d.UploadExperts(m, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ pairs, per int }{{6, 6}, {13, 1}, {60, 6}} {
		experts := make([]int32, c.pairs)
		ids := make([]float32, c.pairs)
		for i := range experts {
			experts[i] = int32(rng.Intn(n - 1)) // the last expert unused
			ids[i] = float32(experts[i])
		}
		x := put(t, d, randVec(rng, (c.pairs+c.per-1)/c.per*cols, 2))
		want, got := put(t, d, make([]float32, c.pairs*rows)), put(t, d, make([]float32, c.pairs*rows))
		d.MatMulExperts(want, w, x, experts, c.per)
		d.MatMulExpertsBy(got, w, x, put(t, d, ids), c.pairs, c.per)
		same(t, "MatMulExpertsBy", get(t, d, got, c.pairs*rows), get(t, d, want, c.pairs*rows))
	}
}

// TestScaleRowsCombine: one product per value; sums in the CPU's order
// (ascending expert, equal experts in pair order): the same bits.
func TestScaleRowsCombine(t *testing.T) {
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(48))
	const rows, k, n = 3, 6, 1029
	x, s := randVec(rng, rows*n, 3), randVec(rng, rows, 2)
	g, cp := both(t, d, [][]float32{x, s}, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
		dev.ScaleRows(b[0], b[1], rows, n)
	})
	same(t, "ScaleRows", g[0], cp[0])
	ids := []float32{5, 3, 9, 3, 0, 7, 1, 1, 1, 1, 1, 1, 200, 100, 150, 2, 250, 0}
	parts, base := randVec(rng, rows*k*n, 1), randVec(rng, rows*n, 1)
	for _, withBase := range []bool{true, false} {
		bb := base
		if !withBase {
			bb = nil
		}
		g, cp = both(t, d, [][]float32{make([]float32, rows*n), bb, parts, ids}, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
			dev.Combine(b[0], b[1], b[2], b[3], rows, k, n)
		})
		same(t, "Combine", g[0], cp[0])
	}
}

// TestCompress feeds both compressors' kinds (ratio 4 with FP4 rows of
// 128, ratio 128 with FP8 on 448 of 512 values and f16) through single
// rows and prefill chunks starting inside windows (a chunk's windows are
// pooled in parallel, then its frontier set), then single rows, as decode
// does. The frontier is copies and one sum each: the same bits. The pooling is the CPU's operations in its
// order (float64 exp), the norm's float64 sum in another order: a pooled
// value may differ by a unit or two before the rounding steps, which then
// agree except where a value sits on a rounding boundary, where the two
// land one FP8/FP4/f16 step apart. So: values within 8u, except at most
// 1 in 200 of them (each within its format's step, 2^-2 relative for FP4
// at the scale of its block).
func TestCompress(t *testing.T) {
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(49))
	for _, c := range []struct {
		ratio, width, roundN int
		round                metalkit.RoundFormat
		f16                  bool
		chunk, total         int
	}{{4, 128, 128, metalkit.RoundFP4, true, 37, 45}, {128, 512, 448, metalkit.RoundFP8, true, 300, 390}, {4, 96, 0, 0, false, 9, 13}} {
		cw, slots := c.width, c.ratio
		if c.ratio == 4 {
			cw, slots = 2*c.width, 8
		}
		kv, gate := randVec(rng, c.total*cw, 2), randVec(rng, c.total*cw, 3)
		ape, norm := randVec(rng, c.ratio*cw, 1), randVec(rng, c.width, 1)
		freq := make([]float32, 32)
		for k := range freq {
			freq[k] = float32(1 / math.Pow(160000, float64(k)/32))
		}
		score := make([]float32, slots*cw)
		for i := range score {
			score[i] = -1e30
		}
		vals := [][]float32{make([]float32, c.total/c.ratio*c.width), make([]float32, slots*cw), score, kv, gate, ape, norm, freq}
		g, cp := both(t, d, vals, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
			st := metalkit.CompressState{Rows: b[0], KV: b[1], Score: b[2]}
			cm := metalkit.Compressor{Ratio: c.ratio, Width: c.width, RopePairs: 32, RoundN: c.roundN, Round: c.round, F16: c.f16,
				APE: b[5], Norm: b[6], Freq: b[7], Eps: 1e-6}
			// Single rows and chunks (first, n): chunks starting inside
			// a window, the second after windows the first completed.
			a := c.chunk / 2
			for _, r := range [][2]int{{0, 1}, {1, 1}, {2, 1}, {3, a - 3}, {a, 1}, {a + 1, 1}, {a + 2, c.chunk - a - 2}} {
				dev.Compress(st, cm, b[3], b[4], r[0], r[1], r[0])
			}
			for p := c.chunk; p < c.total; p++ {
				dev.Compress(st, cm, b[3], b[4], p, 1, p)
			}
		})
		same(t, "Compress frontier", g[1], cp[1])
		same(t, "Compress scores", g[2], cp[2])
		off := 0
		for i := range cp[0] {
			e := math.Abs(float64(g[0][i] - cp[0][i]))
			if e > 8*u*math.Abs(float64(cp[0][i])) {
				off++
				if e > 0.25*maxAbs(cp[0][i/32*32:i/32*32+32]) {
					t.Fatalf("Compress ratio %d: value %d: gpu %v, cpu %v", c.ratio, i, g[0][i], cp[0][i])
				}
			}
		}
		if off*200 > len(cp[0]) {
			t.Fatalf("Compress ratio %d: %d of %d values differ", c.ratio, off, len(cp[0]))
		}
		t.Logf("ratio %d: %d rows, %d of %d values one rounding step apart", c.ratio, c.total/c.ratio, off, len(cp[0]))
	}
}

// TestRingPut: copies.
func TestRingPut(t *testing.T) {
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(50))
	const window, width = 128, 96
	ring, kv := randVec(rng, window*width, 1), randVec(rng, 300*width, 1)
	for _, c := range []struct{ first, n, start int }{{0, 1, 7}, {2, 3, 130}, {5, 290, 1000}} {
		g, cp := both(t, d, [][]float32{ring, kv}, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
			dev.RingPut(b[0], b[1], c.first, c.n, c.start, window, width)
		})
		same(t, "RingPut", g[0], cp[0])
	}
}

// TestIndexerTopK on small integers and a power-of-two scale, so that
// every score is exact in any order of summation and both sides see the
// same scores, with many ties: the selections must be equal, ties to the
// lower row. Rows whose position has at most k compressed rows get them
// all, then −1s.
func TestIndexerTopK(t *testing.T) {
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(51))
	const heads, width, k = 5, 128, 40
	ints := func(n, r int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.Intn(2*r+1) - r)
		}
		return v
	}
	for _, c := range []struct{ first, n, start int }{{0, 1, 400}, {1, 6, 155}, {0, 70, 100}} {
		T := c.first + c.n
		nc := (c.start + c.n) / 4
		iq, iw, idx := ints(T*heads*width, 2), ints(T*heads, 3), ints(nc*width, 1)
		g, cp := both(t, d, [][]float32{make([]float32, T*k), iq, iw, idx}, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
			dev.IndexerTopK(b[0], b[1], b[2], b[3], c.first, c.n, c.start, heads, width, k, 1.0/16)
		})
		same(t, "IndexerTopK", g[0][c.first*k:], cp[0][c.first*k:])
	}
}

// TestAttendSink: the GPU's online softmax over eight warps' shares of the
// rows against the CPU's two passes. A logit z = q·k/√W differs by at
// most W·u·Σ|q_i·k_i|/√W (dot products in another order, either side's
// sums possibly fused); each weight e^(z−max)/den then by about twice
// that relatively plus a few u for the exps and rescalings; the output,
// a convex combination of rows plus the sink's share, by that times
// max|v|, with 2× margin.
func TestAttendSink(t *testing.T) {
	d := ds4Device(t)
	rng := rand.New(rand.NewSource(52))
	const heads, width, window, k = 5, 128, 16, 8
	for _, c := range []struct{ ratio, first, n, start int }{{0, 0, 1, 3}, {0, 0, 1, 200}, {128, 1, 3, 700}, {4, 0, 20, 90}, {4, 0, 1, 40}} {
		T := c.first + c.n
		ncomp := (c.start + c.n) / 4
		q, kv := randVec(rng, T*heads*width, 1), randVec(rng, T*width, 1)
		ring, comp := randVec(rng, window*width, 1), randVec(rng, max(ncomp, 1)*width, 1)
		sel := make([]float32, T*k)
		for r := range T {
			pos := c.start + r - c.first
			nc := (pos + 1) / 4
			for i := range k {
				sel[r*k+i] = -1
				if i < nc {
					sel[r*k+i] = float32(i * nc / k)
				}
			}
		}
		sinks := randVec(rng, heads, 2)
		g, cp := both(t, d, [][]float32{make([]float32, T*heads*width), q, kv, ring, comp, sel, sinks}, func(dev metalkit.DeepSeek4Ops, b []metalkit.Buffer) {
			a := metalkit.SinkAttention{Heads: heads, Width: width, Window: window, Ratio: c.ratio, TopK: k, Sinks: b[6]}
			dev.AttendSink(b[0], b[1], b[2], b[3], b[4], b[5], c.first, c.n, c.start, a)
		})
		// Σ|q_i·k_i| ≤ W·max|q|·max|k| = W here.
		dz := float64(width) * u * float64(width) / math.Sqrt(width)
		tol := 2 * (2*dz + 16*u)
		near(t, "AttendSink", g[0][c.first*heads*width:], cp[0][c.first*heads*width:], 0, tol)
	}
}
