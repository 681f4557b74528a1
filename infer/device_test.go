package infer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"reddwarf/metalkit"
	"reddwarf/metalkit/cuda"
)

// deviceLlama is llama's forward written against metalkit.Device, one
// token of one session per call: the check that the seam carries a whole
// model (llama.Forward moves onto the device in the same shape). Its
// weights are the model's, uploaded; its KV cache is a device pool of
// pages in infer's page layout. With graphs, a step runs through
// metalkit.GraphDevice.Graph where the device has it (a CUDA graph: one
// launch a step) under key, and directly otherwise; with fused, each
// residual and the norm after it are one op (AddRMSNorm).
type deviceLlama struct {
	d                   metalkit.Device
	c                   llamaConfig
	graphs, fused       bool
	key                 string
	embed, output       metalkit.Weights
	outNorm             metalkit.Buffer
	layers              []deviceLayer
	pool                metalkit.KVPool
	x, xb, q, k, v, att metalkit.Buffer
	hb, hb2, logits     metalkit.Buffer
	pages               []int32
}

type deviceLayer struct {
	attnNorm, ffnNorm               metalkit.Buffer
	wq, wk, wv, wo, wGate, wUp, wDn metalkit.Weights
}

func newDeviceLlama(t *testing.T, d metalkit.Device, m *llama, ctx int) *deviceLlama {
	c := m.cfg
	must := func(w metalkit.Weights, err error) metalkit.Weights {
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	buf := func(n int) metalkit.Buffer {
		b, err := d.Alloc(n)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	vec := func(v []float32) metalkit.Buffer {
		b := buf(len(v))
		d.Write(b, 0, v)
		return b
	}
	g := &deviceLlama{d: d, c: c,
		embed: must(d.Upload(m.w.embed)), output: must(d.Upload(m.w.output)), outNorm: vec(m.w.outNorm)}
	for _, l := range m.w.layers {
		g.layers = append(g.layers, deviceLayer{attnNorm: vec(l.attnNorm), ffnNorm: vec(l.ffnNorm),
			wq: must(d.Upload(l.wq)), wk: must(d.Upload(l.wk)), wv: must(d.Upload(l.wv)), wo: must(d.Upload(l.wo)),
			wGate: must(d.Upload(l.wGate)), wUp: must(d.Upload(l.wUp)), wDn: must(d.Upload(l.wDown))})
	}
	g.allocState(t, ctx)
	return g
}

// twin returns a deviceLlama with g's weights and its own activations and
// KV pages (and graph key), with or without graphs and fused ops: paths
// side by side on one device.
func (g *deviceLlama) twin(t *testing.T, graphs, fused bool) *deviceLlama {
	h := *g
	h.graphs, h.fused = graphs, fused
	h.key = fmt.Sprintf("decode/1 fused=%v %p", fused, &h)
	h.allocState(t, len(g.pages)*PageTokens)
	return &h
}

// allocState allocates the activations and a KV pool of ctx positions.
func (g *deviceLlama) allocState(t *testing.T, ctx int) {
	d, c := g.d, &g.c
	buf := func(n int) metalkit.Buffer {
		b, err := d.Alloc(n)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	g.x, g.xb, g.q, g.k = buf(c.Dim), buf(c.Dim), buf(c.Heads*c.HeadDim), buf(c.KVHeads*c.HeadDim)
	g.v, g.att, g.hb, g.hb2, g.logits = buf(c.KVHeads*c.HeadDim), buf(c.Heads*c.HeadDim), buf(c.FFN), buf(c.FFN), buf(c.Vocab)
	npages := (ctx + PageTokens - 1) / PageTokens
	var err error
	g.pool, err = d.NewKVPool(metalkit.KVShape{Layers: c.Layers, Heads: c.KVHeads, HeadDim: c.HeadDim, PageTokens: PageTokens}, npages)
	if err != nil {
		t.Fatal(err)
	}
	g.pages = nil
	for i := npages - 1; i >= 0; i-- { // pages in reverse: the page table matters
		g.pages = append(g.pages, int32(i))
	}
}

// forward feeds token at pos and leaves the next token's logits in g.logits.
func (g *deviceLlama) forward(token int32, pos int) {
	if gd, ok := g.d.(metalkit.GraphDevice); ok && g.graphs {
		// The step's shape (one token of one session) is the same
		// every call; the device checks that the ops are too.
		gd.Graph(g.key, func() { g.step(token, pos) })
		return
	}
	g.step(token, pos)
}

// step is forward's ops.
func (g *deviceLlama) step(token int32, pos int) {
	d, c := g.d, &g.c
	rope := metalkit.Rope{HeadDim: c.HeadDim, Dim: c.RopeDim, Base: c.RopeBase, Scale: c.RopeScale, Neox: c.RopeNeox}
	qr, kr := rope, rope
	qr.Heads, kr.Heads = c.Heads, c.KVHeads
	p := []int32{int32(pos)}
	slot := []int32{g.pages[pos/PageTokens]*PageTokens + int32(pos%PageTokens)}
	row := []metalkit.AttnRow{{Pages: g.pages, N: pos + 1}}

	// Each block's norm is taken where the residual before it is added
	// (addNorm), so xb holds n(x) at the top of every layer.
	d.Embed(g.x, g.embed, []int32{token})
	d.RMSNorm(g.xb, g.x, g.layers[0].attnNorm, 1, c.Dim, c.Eps)
	for li, l := range g.layers {
		// Attention block: x += Wo · attention(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x)).
		d.MatMul(g.q, l.wq, g.xb, 1)
		d.MatMul(g.k, l.wk, g.xb, 1)
		d.MatMul(g.v, l.wv, g.xb, 1)
		d.Rope(g.q, p, qr)
		d.Rope(g.k, p, kr)
		d.PutKV(g.pool, li, slot, g.k, g.v)
		d.Attention(g.att, g.q, g.pool, li, c.Heads, row)
		d.MatMul(g.xb, l.wo, g.att, 1)
		g.addNorm(l.ffnNorm)
		// Feed-forward block: x += Wdown · (SiLU(Wgate·n(x)) ⊙ Wup·n(x)).
		d.MatMul(g.hb, l.wGate, g.xb, 1)
		d.MatMul(g.hb2, l.wUp, g.xb, 1)
		d.SwiGLU(g.hb, g.hb, g.hb2, c.FFN)
		d.MatMul(g.xb, l.wDn, g.hb, 1)
		next := g.outNorm
		if li+1 < len(g.layers) {
			next = g.layers[li+1].attnNorm
		}
		g.addNorm(next)
	}
	d.MatMul(g.logits, g.output, g.xb, 1)
}

// addNorm adds the residual xb to x and leaves n(x) with weights w in xb:
// Add then RMSNorm, or AddRMSNorm (one op) with fused.
func (g *deviceLlama) addNorm(w metalkit.Buffer) {
	d, c := g.d, &g.c
	if g.fused {
		d.AddRMSNorm(g.xb, g.x, g.xb, w, 1, c.Dim, c.Eps)
		return
	}
	d.Add(g.x, g.x, g.xb, c.Dim)
	d.RMSNorm(g.xb, g.x, w, 1, c.Dim, c.Eps)
}

// TestDeviceStoriesGreedy: stories260K run through the Device ops, greedy
// from BOS, reproduces the published sample byte for byte (as
// TestStoriesGreedyGolden does for llama.Forward), on the CPU device
// everywhere and on the CUDA device where one is usable (gpu-test.sh runs
// it there with REDDWARF_GPU=1, which makes a missing GPU a failure); and
// every next-token log-prob of llama.cpp's reference prompts is within
// 1e-2 of llama.cpp's, the bound TestLlamaCppReference holds llama.Forward
// to: issue 15's two criteria for stories260K.
//
// Each greedy step's logits are also compared with llama.Forward's, to
// catch a kernel that composes wrongly (that gives differences of order
// 1): within 5e-2. The engines differ in every op's order of summation and
// fused multiply-adds, and a softmax weight rounded to f16 lands one step
// (2^-11 near 0.5) apart when the scores differ in their last bits; the
// KV cache carries that on, so the difference grows with the steps: the
// CPU device's reference attention stays under 0.0041 over the 256 steps,
// the CUDA device reached 0.0122 at step 241 on an H100 (2026-12-07).
//
// Two twins with their own KV pages run every step through Graph beside
// it (lockstep), one with the same ops, one with each residual and the
// norm after it as one op (AddRMSNorm): their logits must be within the
// same 5e-2 of the direct path's (a graph replays the same kernels on the
// same values, and AddRMSNorm computes Add's and RMSNorm's values, so
// they should be equal; a stale position, slot or page table would not
// be close), and on the CUDA device every step but the first must have
// been a replay.
func TestDeviceStoriesGreedy(t *testing.T) {
	want, err := os.ReadFile("testdata/stories260K-greedy256.txt")
	if err != nil {
		t.Fatal(err)
	}
	want = bytes.TrimSuffix(want, []byte("\n"))
	raw, err := os.ReadFile("testdata/llamacpp-stories260K.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref llamacppRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	devices := map[string]func() (metalkit.Device, error){
		"cpu":  func() (metalkit.Device, error) { return metalkit.NewCPUDevice(nil), nil },
		"cuda": func() (metalkit.Device, error) { return cuda.Open(0) },
	}
	for _, name := range []string{"cpu", "cuda"} {
		t.Run(name, func(t *testing.T) {
			d, err := devices[name]()
			if err != nil {
				if os.Getenv("REDDWARF_GPU") == "1" {
					t.Fatalf("REDDWARF_GPU=1 but no device: %v", err)
				}
				t.Skipf("no %s device (%v): metalkit/cuda/gpu-test.sh runs this on a GPU machine", name, err)
			}
			defer d.Close()
			m := openStories(t, "f16", 1)
			g := newDeviceLlama(t, d, m.arch.(*llama), 256)
			logits := make([]float32, g.c.Vocab)
			twins := []*graphTwin{newGraphTwin(t, g, false), newGraphTwin(t, g, true)}

			// llama.cpp's log-probs at every position of its prompts.
			lp := make([]float64, g.c.Vocab)
			worstRef := 0.0
			for pi, p := range ref.Prompts {
				for i, tok := range p.Tokens {
					g.forward(tok, i)
					if err := d.Read(logits, g.logits, 0); err != nil {
						t.Fatal(err)
					}
					for _, tw := range twins {
						tw.step(t, tok, i, logits, 5e-2)
					}
					LogSoftmax(lp, logits)
					for j, w := range p.Logprobs[i] {
						if w == nil {
							continue
						}
						e := math.Abs(lp[j] - *w)
						if e > 1e-2 || lp[j] != lp[j] {
							t.Fatalf("prompt %d position %d token %d: log-prob %.5f, llama.cpp %.5f", pi, i, j, lp[j], *w)
						}
						worstRef = max(worstRef, e)
					}
				}
			}

			// Greedy from BOS (the KV pages are simply overwritten).
			s := m.NewState()
			var got []byte
			var worst float64
			worstAt := 0
			tok := int32(1) // BOS
			for step := 0; step < 256; step++ {
				g.forward(tok, step)
				if err := d.Read(logits, g.logits, 0); err != nil {
					t.Fatal(err)
				}
				for _, tw := range twins {
					tw.step(t, tok, step, logits, 5e-2)
				}
				if err := m.Step([]Seq{{s, []int32{tok}}}); err != nil {
					t.Fatal(err)
				}
				for i, v := range s.Logits() {
					e := float64(v - logits[i])
					if math.Abs(e) > worst {
						worst, worstAt = math.Abs(e), step
					}
					if math.Abs(e) > 5e-2 || logits[i] != logits[i] {
						t.Fatalf("step %d logit %d: device %v, llama.Forward %v", step, i, logits[i], v)
					}
				}
				next := Argmax(logits)
				if next == 1 {
					break
				}
				got = append(got, piece(m, tok, next)...)
				tok = next
			}
			t.Logf("%s: log-probs vs llama.cpp max |Δ| %.2g; greedy: max |Δ logit| vs llama.Forward %.2g (step %d)", d.Name(), worstRef, worst, worstAt)
			for _, tw := range twins {
				tw.done(t)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("greedy text differs\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

// graphTwin runs a twin of a deviceLlama through Graph in lockstep with it
// (each step after the direct one, at the same position with the same
// token), comparing the logits. A twin whose logits differ is reported
// (t.Errorf) and stepped no more, so that the other paths still run.
type graphTwin struct {
	g      *deviceLlama
	name   string
	logits []float32
	steps  int
	worst  float64
	failed bool
	before cuda.GraphStats
}

func newGraphTwin(t *testing.T, direct *deviceLlama, fused bool) *graphTwin {
	tw := &graphTwin{g: direct.twin(t, true, fused), name: "graph path", logits: make([]float32, direct.c.Vocab)}
	if fused {
		tw.name = "graph path with AddRMSNorm"
	}
	tw.mark()
	return tw
}

// mark starts the count of steps that done checks.
func (tw *graphTwin) mark() {
	tw.steps = 0
	if c, ok := tw.g.d.(*cuda.Device); ok {
		tw.before = c.GraphStats(tw.g.key)
	}
}

// step runs the twin's step and fails it unless its logits are within tol
// of want (the direct path's) and its next token is want's.
func (tw *graphTwin) step(t *testing.T, tok int32, pos int, want []float32, tol float64) {
	t.Helper()
	if tw.failed {
		return
	}
	tw.g.forward(tok, pos)
	if err := tw.g.d.Read(tw.logits, tw.g.logits, 0); err != nil {
		t.Fatal(err)
	}
	tw.steps++
	for i, v := range tw.logits {
		e := math.Abs(float64(v - want[i]))
		if e > tol || v != v {
			t.Errorf("%s: position %d logit %d: %v, direct %v", tw.name, pos, i, v, want[i])
			tw.failed = true
			return
		}
		tw.worst = max(tw.worst, e)
	}
	if a, b := Argmax(tw.logits), Argmax(want); a != b {
		t.Errorf("%s: position %d: next token %d, direct %d", tw.name, pos, a, b)
		tw.failed = true
	}
}

// done reports the largest difference and, on the CUDA device, fails
// unless the steps ran as graph replays: none run directly (a device
// that cannot record would pass the comparison by running the same ops
// directly), all but the first two at most replayed (one shape of step
// needs one recording).
func (tw *graphTwin) done(t *testing.T) {
	t.Helper()
	if tw.failed {
		return
	}
	c, ok := tw.g.d.(*cuda.Device)
	if !ok {
		t.Logf("%s: %d steps on %s (no graphs: the ops ran directly): max |Δ logit| vs direct %.3g", tw.name, tw.steps, tw.g.d.Name(), tw.worst)
		return
	}
	st := c.GraphStats(tw.g.key)
	rec, rep, dir := st.Records-tw.before.Records, st.Replays-tw.before.Replays, st.Direct-tw.before.Direct
	t.Logf("%s: %d steps as CUDA graphs on %s: %d recorded, %d replayed, %d direct; max |Δ logit| vs direct %.3g", tw.name, tw.steps, c.Name(), rec, rep, dir, tw.worst)
	if dir != 0 || rec+rep != tw.steps || rep < tw.steps-2 {
		t.Errorf("%s: %d recorded, %d replayed, %d direct of %d steps; want at least %d replayed, none direct", tw.name, rec, rep, dir, tw.steps, tw.steps-2)
	}
}

// TestDeviceLlamaSpeed measures the seam's llama forward (deviceLlama: one
// token of one session per call, every op through metalkit.Device) on the
// GGUF file REDDWARF_GPU_MODEL names, on the CUDA device: decode tok/s over
// 128 steps, each step reading the logits back and choosing the next token
// as a server would, with the ops launched one by one, as a CUDA graph a
// step (Graph), and as a graph with each residual and the norm after it
// as one op (AddRMSNorm), alternately twice, and 128 steps queued without
// reading (with graphs, the GPU's time a step). Then it runs 64 greedy
// steps on the GPU's three paths and Model.Step (the CPU path, which
// rounds activations to 8 bits per block where the GPU keeps f32) and
// fails if a logit differs by more than 0.5 (a broken kernel gives O(1)
// differences) between the direct path and any other, or if a graph
// path's next token differs from the direct path's. Where the GPU's and the CPU's greedy tokens part is
// reported, not failed: a random-weight synth model's logits are nearly
// flat, so the two paths' different activation rounding can flip a near
// tie at any step (issue 15 asks for 64 identical steps; this says how
// far they got). bench/gpu-seam.sh sets REDDWARF_GPU_MODEL; without it
// this skips.
func TestDeviceLlamaSpeed(t *testing.T) {
	path := os.Getenv("REDDWARF_GPU_MODEL")
	if path == "" {
		t.Skip("REDDWARF_GPU_MODEL is not set: bench/gpu-seam.sh runs this on a GPU machine")
	}
	var d metalkit.Device = metalkit.NewCPUDevice(nil) // REDDWARF_GPU_MODEL_CPU=1: check this test itself anywhere
	if os.Getenv("REDDWARF_GPU_MODEL_CPU") != "1" {
		c, err := cuda.Open(0)
		if err != nil {
			t.Fatalf("no CUDA device: %v", err)
		}
		d = c
	}
	defer d.Close()
	m, err := Open(path, Options{KVType: "f16", Ctx: 1024, keepGGUF: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	lm, ok := m.arch.(*llama)
	if !ok {
		t.Fatalf("%s: not a llama-family model", path)
	}
	g := newDeviceLlama(t, d, lm, 1024)
	logits := make([]float32, g.c.Vocab)
	graph, fused := newGraphTwin(t, g, false), newGraphTwin(t, g, true)

	// Decode speed: 128 steps from position 0, logits read back each
	// step, each path twice, alternately.
	decode := func(g *deviceLlama) float64 {
		start := time.Now()
		tok := int32(1)
		for step := 0; step < 128; step++ {
			g.forward(tok, step)
			if err := d.Read(logits, g.logits, 0); err != nil {
				t.Fatal(err)
			}
			tok = Argmax(logits)
		}
		return time.Since(start).Seconds()
	}
	graphWhat := "a CUDA graph a step"
	if _, ok := d.(metalkit.GraphDevice); !ok {
		graphWhat = "no graphs on this device: launched one by one"
	}
	paths := []struct {
		g    *deviceLlama
		what string
	}{{g, "ops launched one by one"}, {graph.g, graphWhat}, {fused.g, graphWhat + ", AddRMSNorm"}}
	for _, p := range paths { // warm up: first launches, work area, the graph's recording
		for step := 0; step < 4; step++ {
			p.g.forward(1, step)
		}
		if err := d.Read(logits, p.g.logits, 0); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		for _, p := range paths {
			sec := decode(p.g)
			t.Logf("%s on %s: decode %.1f tok/s (%.3f ms/token, 128 tokens, batch 1, %s)", path, d.Name(), 128/sec, sec/128*1e3, p.what)
		}
	}

	// Where the time goes: 128 steps queued without reading the logits
	// (the same token each step), so that with graphs the host runs ahead
	// and the time is the GPU's, and without them it is the launches'.
	if c, ok := d.(*cuda.Device); ok {
		for _, p := range paths {
			start := time.Now()
			for step := 0; step < 128; step++ {
				p.g.forward(1, step)
			}
			if err := c.Sync(); err != nil {
				t.Fatal(err)
			}
			sec := time.Since(start).Seconds()
			t.Logf("%s on %s: %.3f ms a step queued without reading the logits (128 steps, %s)", path, d.Name(), sec/128*1e3, p.what)
		}
	}

	// Greedy steps on the three paths (after the speeds, which are
	// reported even if a comparison fails; the KV pages are simply
	// overwritten from position 0).
	graph.mark()
	fused.mark()
	s := m.NewState()
	tok, parted, worst := int32(1), -1, 0.0
	for step := 0; step < 64; step++ {
		g.forward(tok, step)
		if err := d.Read(logits, g.logits, 0); err != nil {
			t.Fatal(err)
		}
		graph.step(t, tok, step, logits, 0.5)
		fused.step(t, tok, step, logits, 0.5)
		if err := m.Step([]Seq{{s, []int32{tok}}}); err != nil {
			t.Fatal(err)
		}
		for i, v := range s.Logits() {
			e := math.Abs(float64(v - logits[i]))
			if e > 0.5 || logits[i] != logits[i] {
				t.Fatalf("step %d logit %d: GPU %v, CPU %v", step, i, logits[i], v)
			}
			worst = max(worst, e)
		}
		next, cpuNext := Argmax(logits), Argmax(s.Logits())
		if next != cpuNext && parted < 0 {
			parted = step
		}
		tok = cpuNext
	}
	t.Logf("%s: 64 greedy steps, max |Δ logit| GPU vs CPU %.3g, tokens part at step %d (-1: never)", path, worst, parted)
	graph.done(t)
	fused.done(t)
}
