package metalkit

import (
	"math"
	"math/rand"
	"testing"
)

func TestRopeFactorsMatchesRope(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	x := make([]float32, 3*10)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	for _, neox := range []bool{false, true} {
		a, b := append([]float32(nil), x...), append([]float32(nil), x...)
		r := Rope{Heads: 3, HeadDim: 10, Dim: 8, Base: 10000, Scale: 0.5, Neox: neox}
		RopeFactors(a, 37, r)
		if neox {
			RopeNeox(b, 3, 10, 8, 37, 10000, 0.5)
		} else {
			RopeNorm(b, 3, 10, 8, 37, 10000, 0.5)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("neox %v: value %d: %v, rope kernel %v", neox, i, a[i], b[i])
			}
		}
		// Factors of 2 halve every angle: the same as Scale/2.
		r.Factors = []float32{2, 2, 2, 2}
		c, e := append([]float32(nil), x...), append([]float32(nil), x...)
		RopeFactors(c, 37, r)
		r.Factors, r.Scale = nil, 0.25
		RopeFactors(e, 37, r)
		for i := range c {
			if math.Abs(float64(c[i]-e[i])) > 1e-6 {
				t.Fatalf("neox %v factors: value %d: %v, halved scale %v", neox, i, c[i], e[i])
			}
		}
	}
}

// TestCPUDeviceAttention checks the reference attention on cases with a
// known answer: equal keys weigh every position alike, so each head's output
// is the mean of its V rows; a key far ahead of the others takes all the
// weight, so the output is that position's V row. Two sessions of different
// lengths share the call and the pool, with pages out of order.
func TestCPUDeviceAttention(t *testing.T) {
	d := NewCPUDevice(nil)
	s := KVShape{Layers: 2, Heads: 2, HeadDim: 4, PageTokens: 4}
	pool, _ := d.NewKVPool(s, 5)
	heads, w := 4, s.Heads*s.HeadDim
	// Session A: pages 3, 0 (6 positions); session B: pages 4, 1, 2 (9).
	sessions := []struct {
		pages []int32
		n     int
		hot   int // position whose key is large
	}{{[]int32{3, 0}, 6, 4}, {[]int32{4, 1, 2}, 9, 2}}
	vrow := func(sess, pos, j int) float32 { return float32(sess*100 + pos*4 + j) }
	for si, ss := range sessions {
		for pos := 0; pos < ss.n; pos++ {
			k, v := make(cpuBuffer, w), make(cpuBuffer, w)
			for j := range k {
				k[j] = 1
				if pos == ss.hot {
					k[j] = 16
				}
				v[j] = vrow(si, pos, j%s.HeadDim)
			}
			slot := ss.pages[pos/s.PageTokens]*int32(s.PageTokens) + int32(pos%s.PageTokens)
			d.PutKV(pool, 1, []int32{slot}, k, v)
		}
	}
	q := make(cpuBuffer, 2*heads*s.HeadDim)
	for i := range q {
		q[i] = 4
	}
	out := make(cpuBuffer, len(q))
	rows := []AttnRow{{Pages: sessions[0].pages, N: 6}, {Pages: sessions[1].pages, From: 3, N: 9}}
	d.Attention(out, q, pool, 1, heads, rows)
	// With q = 4 and k = 16 the hot score exceeds the others by 24: its
	// weight is 1 to f16 precision.
	for i, r := range rows {
		for h := 0; h < heads; h++ {
			for j := 0; j < s.HeadDim; j++ {
				want := vrow(i, sessions[i].hot, j)
				if r.From > sessions[i].hot {
					want = 0
					for pos := r.From; pos < r.N; pos++ {
						want += vrow(i, pos, j)
					}
					want /= float32(r.N - r.From)
				}
				if got := out[(i*heads+h)*s.HeadDim+j]; math.Abs(float64(got-want)) > 0.01*math.Abs(float64(want))+1e-3 {
					t.Errorf("row %d head %d value %d: %v, want %v", i, h, j, got, want)
				}
			}
		}
	}
}

// poolPages is a cpuKV pool's pages in one session's order, as
// HostKVPages.
type poolPages struct {
	p     *cpuKV
	pages []int32
}

func (pp poolPages) KVPage(pi int) ([]uint16, []float32) {
	n := pp.p.shape.PageValues()
	o := int(pp.pages[pi]) * n
	return pp.p.data[o : o+n], nil
}

// TestAttendGroupMatchesDevice: AttendGroup (the CPU's fast attention,
// infer's) agrees with CPUDevice.Attention (the plain loop of the formula)
// on random rows, odd head sizes, GQA groups and a window that starts
// inside a page. They differ only in summation order and in how a softmax
// weight below f16's normal range rounds, so the bound is a few float32
// roundings of the output's magnitude.
func TestAttendGroupMatchesDevice(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, c := range []struct{ kvHeads, group, hd, n, from, pt int }{{1, 1, 4, 5, 0, 8}, {2, 3, 7, 37, 0, 8}, {3, 2, 20, 70, 33, 8},
		// pages of 32 with heads of a multiple of 16: the page kernels
		{2, 4, 64, 80, 0, 32}, {1, 3, 16, 70, 33, 32}, {2, 1, 32, 32, 0, 32}, {1, 2, 48, 97, 64, 32}} {
		d := NewCPUDevice(nil)
		pt := c.pt
		s := KVShape{Layers: 2, Heads: c.kvHeads, HeadDim: c.hd, PageTokens: pt}
		npages := (c.n + pt - 1) / pt
		pool, _ := d.NewKVPool(s, npages+1)
		pages := rng.Perm(npages + 1)[:npages]
		order := make([]int32, npages)
		for i, p := range pages {
			order[i] = int32(p)
		}
		w := c.kvHeads * c.hd
		for pos := 0; pos < c.n; pos++ {
			k, v := make(cpuBuffer, w), make(cpuBuffer, w)
			for j := range k {
				k[j], v[j] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			d.PutKV(pool, 1, []int32{order[pos/pt]*int32(pt) + int32(pos%pt)}, k, v)
		}
		heads := c.kvHeads * c.group
		q := make(cpuBuffer, heads*c.hd)
		for i := range q {
			q[i] = float32(rng.NormFloat64())
		}
		want := make(cpuBuffer, len(q))
		d.Attention(want, q, pool, 1, heads, []AttnRow{{Pages: order, From: c.from, N: c.n}})
		sc := NewAttnScratch(c.group, c.hd, c.n, pt)
		got := make([]float32, len(q))
		for g := 0; g < c.kvHeads; g++ {
			kv := HostKVHead{K: s.kvIndex(0, 1, 0, g, 0), V: s.kvIndex(0, 1, 1, g, 0), Len: c.hd * pt, PageTokens: pt, F16: true}
			sl := q[g*c.group*c.hd : (g+1)*c.group*c.hd]
			AttendGroup(poolPages{pool.(*cpuKV), order}, kv, c.hd, c.group, c.from, c.n, sl, got[g*c.group*c.hd:(g+1)*c.group*c.hd], sc)
		}
		for i := range got {
			if e := math.Abs(float64(got[i] - want[i])); e > 1e-5 || got[i] != got[i] {
				t.Errorf("%+v: value %d: AttendGroup %v, Device.Attention %v", c, i, got[i], want[i])
			}
		}
	}
}

// CPUDevice has deepseek4's ops.
var _ DeepSeek4Ops = (*CPUDevice)(nil)

// TestCPUDeviceClampedSwiGLU: with a limit, gate is capped above and up
// clamped both ways before silu(gate)·up; a limit ≤ 0 clamps nothing. Each
// value is deepseek4's scalar formula, to the bit; out may be gate.
func TestCPUDeviceClampedSwiGLU(t *testing.T) {
	d := NewCPUDevice(nil)
	gate := []float32{-20, -3, -0.5, 0, 0.5, 6.5, 7, 30, 1e4}
	up := []float32{9, -9, 0.25, 3, -7.5, 7, -100, 2, -1}
	for _, lim := range []float32{7, 0, -1} {
		g, u := append(cpuBuffer(nil), gate...), append(cpuBuffer(nil), up...)
		d.ClampedSwiGLU(g, g, u, len(g), lim)
		for i := range gate {
			gv, uv := gate[i], up[i]
			if lim > 0 {
				gv, uv = min(gv, lim), min(max(uv, -lim), lim)
			}
			if want := SiLU(gv) * uv; math.Float32bits(g[i]) != math.Float32bits(want) {
				t.Errorf("limit %v value %d: %v, want %v", lim, i, g[i], want)
			}
		}
	}
	// Two values worked by hand at limit 7: gate 30 counts as 7, up −100
	// as −7.
	g, u := cpuBuffer{30, 1}, cpuBuffer{2, -100}
	d.ClampedSwiGLU(g, g, u, 2, 7)
	if want := []float32{SiLU(7) * 2, SiLU(1) * -7}; g[0] != want[0] || g[1] != want[1] {
		t.Errorf("clamped: %v, want %v", g, want)
	}
}

// TestCPUDeviceMatMulExperts: every pair's row equals the product of its
// expert's rows (the stacked tensor sliced by hand) with its x row, for
// gate/up-style pairs (K per x row) and down-style ones (one x row each),
// experts repeated, unused and out of order, over the weight types
// deepseek4's experts come in. The reference is MatMul with one column,
// the device's a batch of the expert's pairs: the same activation
// quantisation and integer dots, so they differ only by float32 rounding
// of the sums: within 2·cols·u·Σ|w·x|.
func TestCPUDeviceMatMulExperts(t *testing.T) {
	d := NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(9))
	const n, rows, cols = 5, 32, 512
	for _, typ := range []DType{IQ2_XXS, Q2_K, Q4_K, Q8_0, F16, F32} {
		vals := make([]float32, n*rows*cols)
		for i := range vals {
			vals[i] = rng.Float32()*2 - 1
		}
		var data []byte
		switch typ {
		case IQ2_XXS:
			data = QuantizeIQ2_XXS(vals)
		case Q2_K:
			data = QuantizeQ2_K(vals)
		default:
			var err error
			if data, err = Quantize(typ, vals); err != nil {
				t.Fatal(err)
			}
		}
		m, err := NewMatrix(typ, n*rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		w, err := d.UploadExperts(m, n)
		if err != nil {
			t.Fatal(err)
		}
		rb := RowBytes(typ, cols)
		for _, per := range []int{3, 1} {
			experts := []int32{4, 0, 4, 2, 2, 2, 0, 4, 1, 4, 4, 0}
			x := make(cpuBuffer, (len(experts)+per-1)/per*cols)
			for i := range x {
				x[i] = (rng.Float32()*2 - 1) * 2
			}
			out := make(cpuBuffer, len(experts)*rows)
			d.MatMulExperts(out, w, x, experts, per)
			row, ref := make([]float32, cols), make([]float32, rows)
			for i, e := range experts {
				sub, _ := NewMatrix(typ, rows, cols, m.Data[int(e)*rows*rb:(int(e)+1)*rows*rb])
				xi := x[i/per*cols : (i/per+1)*cols]
				MatMul(nil, ref, sub, xi, 1)
				for r := 0; r < rows; r++ {
					sub.Row(r, row)
					var abs float64
					for j, v := range row {
						abs += math.Abs(float64(v) * float64(xi[j]))
					}
					got := out[i*rows+r]
					if e := math.Abs(float64(got - ref[r])); e > 2*cols*abs/(1<<24) {
						t.Fatalf("%v per %d pair %d (expert %d) row %d: %v, MatMul %v", typ, per, i, experts[i], r, got, ref[r])
					}
				}
			}
		}
	}
	if _, err := d.UploadExperts(Matrix{Type: F32, Rows: 10, Cols: 32, Data: make([]byte, 10*32*4)}, 3); err == nil {
		t.Error("10 rows uploaded as 3 experts")
	}
}
