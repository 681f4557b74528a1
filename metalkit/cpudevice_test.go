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
	for _, c := range []struct{ kvHeads, group, hd, n, from int }{{1, 1, 4, 5, 0}, {2, 3, 7, 37, 0}, {3, 2, 20, 70, 33}} {
		d := NewCPUDevice(nil)
		s := KVShape{Layers: 2, Heads: c.kvHeads, HeadDim: c.hd, PageTokens: 8}
		npages := (c.n + 7) / 8
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
			d.PutKV(pool, 1, []int32{order[pos/8]*8 + int32(pos%8)}, k, v)
		}
		heads := c.kvHeads * c.group
		q := make(cpuBuffer, heads*c.hd)
		for i := range q {
			q[i] = float32(rng.NormFloat64())
		}
		want := make(cpuBuffer, len(q))
		d.Attention(want, q, pool, 1, heads, []AttnRow{{Pages: order, From: c.from, N: c.n}})
		sc := NewAttnScratch(c.group, c.hd, c.n, 8)
		got := make([]float32, len(q))
		for g := 0; g < c.kvHeads; g++ {
			kv := HostKVHead{K: s.kvIndex(0, 1, 0, g, 0), V: s.kvIndex(0, 1, 1, g, 0), Len: c.hd * 8, PageTokens: 8, F16: true}
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
