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
