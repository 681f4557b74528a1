package cuda

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"reddwarf/metalkit"
)

var _ metalkit.GraphDevice = (*Device)(nil)

// TestEntries: every kernel device.go launches is among the PTX's entries,
// which Open looks up (a name missing there panics at its first launch).
func TestEntries(t *testing.T) {
	names := entries(ptx)
	want := []string{"rmsnorm", "softmax", "add", "swiglu", "clamped_swiglu", "rope", "put_kv", "attention", "read_sum"}
	for _, k := range weightKernels {
		want = append(want, "matmul_"+k, "matvec_"+k, "embed_"+k)
	}
	for _, typ := range expertTypes {
		want = append(want, "experts_"+weightKernels[typ], "experts_vec_"+weightKernels[typ])
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("kernel %s is not among kernels.ptx's %d entries", w, len(names))
		}
	}
	if n := strings.Count(ptx, ".entry "); len(names) != n {
		t.Errorf("entries found %d kernels, the PTX has %d .entry lines", len(names), n)
	}
}

// graphStep is one step of TestGraph's op sequence, whose host arrays
// (tokens, positions, a Write, KV slots, attention rows) change every
// step, on one set of buffers.
type graphStep struct {
	x, y, q, att, out metalkit.Buffer
	pool              metalkit.KVPool
}

// TestGraph runs 40 steps of an op sequence that uses every op with a
// host array, directly on one set of buffers and through Graph on
// another, in lockstep, and requires the same bits: a replay launches
// the same kernels on the same values, so any difference is a replay
// that used a stale array or a stale buffer. Along the way the batch
// changes (2 rows, then 3, then 2 again: the ops differ from the
// recording, which is recorded anew), the page tables grow past the room
// recorded for them, the argument area starts at 256 bytes and the work
// area at 64 (both outgrown inside a recording, so Graph grows them and
// records again). It also checks that a Read inside Graph panics and
// leaves the device usable.
func TestGraph(t *testing.T) {
	d := openDevice(t)
	d.argMin, d.workMin = 256, 64
	rng := rand.New(rand.NewSource(11))
	const cols, vocab, pageTokens, pages, heads = 64, 50, 4, 160, 4
	shape := metalkit.KVShape{Layers: 2, Heads: 2, HeadDim: cols / 2, PageTokens: pageTokens}
	emb, err := d.Upload(quantMatrix(t, metalkit.Q8_0, vocab, cols, randVec(rng, vocab*cols, 1)))
	if err != nil {
		t.Fatal(err)
	}
	wo, err := d.Upload(quantMatrix(t, metalkit.Q8_0, 48, 2*cols, randVec(rng, 48*2*cols, 1)))
	if err != nil {
		t.Fatal(err)
	}
	newStep := func() *graphStep {
		s := &graphStep{}
		for _, b := range []*metalkit.Buffer{&s.x, &s.y, &s.q, &s.att, &s.out} {
			*b = put(t, d, make([]float32, 3*2*cols))
		}
		if s.pool, err = d.NewKVPool(shape, pages); err != nil {
			t.Fatal(err)
		}
		return s
	}
	factors := randVec(rng, shape.HeadDim/4, 0.5)
	for i := range factors {
		factors[i] += 1
	}
	rope := metalkit.Rope{Heads: shape.Heads, HeadDim: shape.HeadDim, Dim: shape.HeadDim / 2, Base: 10000, Scale: 1, Factors: factors}
	// ops is the step: rows sessions at positions pos, each session
	// r's pages in a table of its own (pages r, r+3, r+6, ...).
	ops := func(s *graphStep, tokens, pos []int32, add, q []float32, layer int) {
		rows := len(tokens)
		d.Embed(s.x, emb, tokens)
		d.Write(s.y, 0, add)
		d.Add(s.x, s.x, s.y, rows*cols)
		d.Rope(s.x, pos, rope)
		slots := make([]int32, rows)
		var ar []metalkit.AttnRow
		for r := range rows {
			var table []int32
			for p := 0; p*pageTokens <= int(pos[r]); p++ {
				table = append(table, int32(r+3*p))
			}
			slots[r] = table[pos[r]/pageTokens]*pageTokens + pos[r]%pageTokens
			ar = append(ar, metalkit.AttnRow{Pages: table, From: max(0, int(pos[r])-40), N: int(pos[r]) + 1})
		}
		d.PutKV(s.pool, layer, slots, s.x, s.x)
		d.Write(s.q, 0, q) // heads·HeadDim values a row
		d.Add(s.q, s.q, s.x, rows*cols)
		d.Attention(s.att, s.q, s.pool, layer, heads, ar)
		d.MatMul(s.out, wo, s.att, rows)
	}
	direct, graphed := newStep(), newStep()
	batches := map[int]bool{}
	for step := range 40 {
		rows := 2
		if step >= 15 && step < 25 {
			rows = 3
		}
		batches[rows] = true
		tokens, pos := make([]int32, rows), make([]int32, rows)
		for r := range rows {
			tokens[r] = int32(rng.Intn(vocab))
			pos[r] = int32(step*3 + r) // up to 119: 30 pages a table
		}
		add, q := randVec(rng, rows*cols, 1), randVec(rng, rows*heads*shape.HeadDim, 1)
		layer := step % 2
		// Graph first: the work area's growth happens inside it.
		d.Graph(fmt.Sprintf("step %d", layer), func() { ops(graphed, tokens, pos, add, q, layer) })
		ops(direct, tokens, pos, add, q, layer)
		for _, b := range []struct {
			name string
			a, g metalkit.Buffer
			n    int
		}{{"x", direct.x, graphed.x, rows * cols}, {"att", direct.att, graphed.att, rows * 2 * cols}, {"out", direct.out, graphed.out, rows * 48}} {
			a, g := get(t, d, b.a, b.n), get(t, d, b.g, b.n)
			for i := range a {
				if math.Float32bits(a[i]) != math.Float32bits(g[i]) {
					t.Fatalf("step %d (%d rows): %s[%d] through Graph %v, directly %v", step, rows, b.name, i, g[i], a[i])
				}
			}
		}
	}
	st0, st1 := d.GraphStats("step 0"), d.GraphStats("step 1")
	st := GraphStats{Records: st0.Records + st1.Records, Replays: st0.Replays + st1.Replays, Direct: st0.Direct + st1.Direct}
	t.Logf("graph stats %+v; argument area %d bytes, work area %d", st, d.argBytes, d.workBytes)
	if st.Direct != 0 || st.Records+st.Replays != 40 || st.Records < 6 || st.Replays < 10 {
		t.Errorf("40 steps under two keys, two batch changes: %+v; want none direct, at least 6 recorded and 10 replayed", st)
	}
	if d.argBytes <= 256 || d.workBytes <= 64 {
		t.Errorf("argument area %d bytes, work area %d: the test did not outgrow them", d.argBytes, d.workBytes)
	}

	// A Read inside Graph is a programmer error: it panics, and the
	// recording it broke must not break the device.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Read inside Graph did not panic")
			}
		}()
		d.Graph("bad", func() {
			d.Add(direct.y, direct.y, direct.y, cols)
			d.Read(make([]float32, 1), direct.y, 0)
		})
	}()
	a := put(t, d, []float32{1, 2, 3})
	d.Add(a, a, a, 3)
	if got := get(t, d, a, 3); !slices.Equal(got, []float32{2, 4, 6}) {
		t.Errorf("after the panic, Add gave %v", got)
	}
}
