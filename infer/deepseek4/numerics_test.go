package deepseek4

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"

	"reddwarf/infer"
	"reddwarf/metalkit"
)

// The probe (tools/dsv4-ref/make_tiny.py --probe, on transformers 5.17.0 /
// torch 2.11.0): the reference's FP8 (torch float8_e4m3fn), FP4 + Hadamard
// and f16 rounding helpers applied to fixed test vectors, and the raw K=V
// rows of the first tokens of sequence 1 before and after them.
func loadProbe(t *testing.T) func(name string) ([]float32, []int) {
	t.Helper()
	js, err := os.ReadFile("testdata/deepseek4-probe.json")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile("testdata/deepseek4-probe.bin")
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Arrays []struct {
			Name   string `json:"name"`
			Shape  []int  `json:"shape"`
			Offset int    `json:"offset"`
		} `json:"arrays"`
	}
	if err := json.Unmarshal(js, &idx); err != nil {
		t.Fatal(err)
	}
	return func(name string) ([]float32, []int) {
		for _, a := range idx.Arrays {
			if a.Name == name {
				n := 1
				for _, d := range a.Shape {
					n *= d
				}
				out := make([]float32, n)
				for i := range out {
					out[i] = math.Float32frombits(binary.LittleEndian.Uint32(bin[a.Offset+4*i:]))
				}
				return out, a.Shape
			}
		}
		t.Fatalf("probe array %s missing", name)
		return nil, nil
	}
}

// TestRoundTripsMatchReference: reddwarf's FP8, FP4 and f16 round trips
// give the reference's values bit for bit on 256 rows spanning nine decades,
// zeros, subnormals and exact rounding midpoints. One exception, allowed:
// where the exact Hadamard output is 0 (row 1, a linear ramp) the
// reference's matrix product leaves float noise (up to 4e-6 in a row of ±16) that
// FP4 keeps, while the butterflies give exact zeros.
func TestRoundTripsMatchReference(t *testing.T) {
	get := loadProbe(t)
	for _, tc := range []struct {
		name string
		fn   func([]float32)
	}{{"fp8", fp8RoundTrip}, {"fp4", fp4RoundTrip}, {"f16", metalkit.RoundF16Row}} {
		in, shape := get(tc.name + "/in")
		want, _ := get(tc.name + "/out")
		w := shape[1]
		bad, noise := 0, 0
		for r := 0; r < shape[0]; r++ {
			row := append([]float32(nil), in[r*w:(r+1)*w]...)
			var amax float64
			for _, v := range row {
				amax = math.Max(amax, math.Abs(float64(v)))
			}
			tc.fn(row)
			for i, v := range row {
				ref := want[r*w+i]
				if math.Float32bits(v) == math.Float32bits(ref) || v == 0 && ref == 0 {
					continue
				}
				if tc.name == "fp4" && v == 0 && math.Abs(float64(ref)) <= 1e-6*amax {
					noise++
					continue
				}
				if bad < 5 {
					t.Errorf("%s row %d [%d]: %g (input %g), reference %g", tc.name, r, i, v, in[r*w+i], ref)
				}
				bad++
			}
		}
		t.Logf("%s: %d values, %d differ, %d Hadamard-noise zeros", tc.name, len(in), bad, noise)
		if bad > 0 {
			t.Errorf("%s: %d of %d values differ", tc.name, bad, len(in))
		}
	}
}

// TestRawRowsMatchReference: the cached raw rows of the first three
// tokens of sequence 1 (after RoPE, FP8 and f16 rounding) at every layer.
// The reference's own rows are reproduced exactly by fp8RoundTrip+metalkit.RoundF16Row
// from its unrounded rows. reddwarf's rows (from its own float32 forward
// pass) agree within an f16 step (1e-3) up to the first layer where a value
// lies within float32 noise of an FP8 rounding midpoint: there (layer 3,
// −0.10547212, 3e-5 relative from the midpoint −0.10546875) the two round
// to neighbouring FP8 values, and later layers inherit the difference. That
// is why TestNumericsReference compares ds4 numerics statistically.
func TestRawRowsMatchReference(t *testing.T) {
	get := loadProbe(t)
	ref := loadRef(t)
	m := openTiny(t, "ds4", "f16")
	s := m.NewState()
	if err := m.Step([]infer.Seq{{State: s, Tokens: ref.Sequences[1].Tokens[:3]}}); err != nil {
		t.Fatal(err)
	}
	st := s.Ext().(*state)
	c := &m.Arch().(*model).cfg
	W, nope := c.HeadDim, c.HeadDim-c.RopeDim
	flipped := false
	for li := range st.layers {
		pre, _ := get("rows/pre" + itoa(li))
		post, _ := get("rows/post" + itoa(li))
		var d float64
		var far []int
		for p := 0; p < 3; p++ {
			mine := append([]float32(nil), pre[p*W:(p+1)*W]...)
			fp8RoundTrip(mine[:nope])
			metalkit.RoundF16Row(mine)
			got := st.layers[li].ring[p*W : (p+1)*W]
			for i := range got {
				if mine[i] != post[p*W+i] {
					t.Fatalf("layer %d pos %d [%d]: FP8+f16 of the reference's row %g, reference %g", li, p, i, mine[i], post[p*W+i])
				}
				e := math.Abs(float64(got[i] - post[p*W+i]))
				d = math.Max(d, e)
				if e > 1e-3 {
					far = append(far, p*W+i)
				}
			}
		}
		t.Logf("layer %d: max |Δ| vs reference rows %.3g", li, d)
		if len(far) > 0 && !flipped {
			flipped = true
			for _, k := range far {
				if k%W >= nope || nearFP8Midpoint(pre[k], pre[k/W*W:k/W*W+nope]) > 1e-4 {
					t.Errorf("layer %d element %d: %g differs from the reference %g, and the reference's %g is not at an FP8 midpoint", li, k, st.layers[li].ring[k], post[k], pre[k])
				}
			}
		}
	}
}

// nearFP8Midpoint is the relative distance of v from the nearest E4M3
// rounding midpoint, with the block scale of row (v's 64-block).
func nearFP8Midpoint(v float32, row []float32) float64 {
	var best float64 = 1
	for b := 0; b+metalkit.FP8Block <= len(row); b += metalkit.FP8Block {
		blk := row[b : b+metalkit.FP8Block]
		found := false
		for _, x := range blk {
			if x == v {
				found = true
			}
		}
		if !found {
			continue
		}
		a := float32(1e-4)
		for _, x := range blk {
			a = max(a, float32(math.Abs(float64(x))))
		}
		sc := float64(pow2Ceil(a / 448))
		m := math.Abs(float64(v)) / sc
		step := 1.0 / 512
		if m >= 1.0/64 {
			_, e := math.Frexp(m)
			step = math.Ldexp(1, e-4)
		}
		f := m/step - math.Floor(m/step)
		best = math.Min(best, math.Abs(f-0.5)*step/m)
	}
	return best
}
