//go:build linux

package cuda

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"reddwarf/metalkit"
)

// A driver without a GPU, for the device's bookkeeping where no GPU is:
// what Graph records, which host arrays reach which addresses, when a
// replay is refused. Device memory is Go memory at made-up addresses;
// copies happen when the stream would run them (at once, or when a
// recorded graph is launched); a kernel "runs" by noting what it would
// read: its grid, its parameters, and for the ops' host arrays (tokens,
// positions, RoPE factors, KV slots, attention's rows and page tables)
// their contents at that moment. The GPU tests (TestGraph) check the
// arithmetic; these check that a replay hands every kernel the arrays the
// direct ops would have.
type fakeGPU struct {
	t          testing.TB
	mem        map[uint64][]byte // allocations by address
	next       uint64
	host       [][]byte // pinned host memory handed out, kept alive
	fns        map[uintptr]string
	nparams    map[string]int
	capturing  bool
	recording  []fakeAction
	graphs     map[uintptr][]fakeAction
	handles    uintptr
	seen       []string // what each kernel read, in the order it ran
	launches   int      // cuLaunchKernel calls outside a recording
	graphRuns  int      // cuGraphLaunch calls
	failInst   bool     // cuGraphInstantiateWithFlags fails
	quiet      bool     // kernels note nothing (benchmarks)
	emulate    bool     // the expert kernels compute (expertsKernel)
	copyWhileC int      // host-to-device copies issued while recording (none should be)
	events     int      // events created and not destroyed
}

// fakeAction is a recorded kernel launch (kernel != "") or device copy.
type fakeAction struct {
	kernel      string
	g           dims
	params      []uint64
	dst, src, n uint64
}

func newFakeDevice(t testing.TB) (*Device, *fakeGPU) {
	f := &fakeGPU{t: t, mem: map[uint64][]byte{}, next: 1 << 32, fns: map[uintptr]string{}, nparams: map[string]int{},
		graphs: map[uintptr][]fakeAction{}}
	drv := &driver{graphs: true}
	ok := func() int32 { return 0 }
	drv.cuCtxSetCurrent = func(uintptr) int32 { return ok() }
	drv.cuCtxSynchronize = ok
	drv.cuModuleUnload = func(uintptr) int32 { return 0 }
	drv.cuStreamDestroy = func(uintptr) int32 { return 0 }
	drv.cuDevicePrimaryCtxRelease = func(int32) int32 { return 0 }
	drv.cuGetErrorString = func(err int32, s **byte) int32 {
		msg := append([]byte("fake failure"), 0)
		*s = &msg[0]
		return 0
	}
	drv.cuMemAlloc = func(p *uint64, n uint64) int32 {
		*p = f.next
		f.mem[f.next] = make([]byte, n)
		f.next += (n + 4095) &^ 4095
		return 0
	}
	drv.cuMemFree = func(p uint64) int32 {
		delete(f.mem, p)
		return 0
	}
	drv.cuMemAllocHost = func(p *unsafe.Pointer, n uint64) int32 {
		b := make([]byte, n)
		f.host = append(f.host, b)
		*p = unsafe.Pointer(&b[0])
		return 0
	}
	drv.cuMemFreeHost = func(unsafe.Pointer) int32 { return 0 }
	drv.cuMemsetD8Async = func(p uint64, v uint8, n uint64, s uintptr) int32 {
		f.stream("cuMemsetD8Async", s)
		clear(f.at(p, n))
		return 0
	}
	drv.cuMemcpyHtoDAsync = func(dst uint64, src unsafe.Pointer, n uint64, s uintptr) int32 {
		f.stream("cuMemcpyHtoDAsync", s)
		if f.capturing {
			f.copyWhileC++
		}
		copy(f.at(dst, n), unsafe.Slice((*byte)(src), n))
		return 0
	}
	drv.cuMemcpyDtoH = func(dst unsafe.Pointer, src uint64, n uint64) int32 {
		copy(unsafe.Slice((*byte)(dst), n), f.at(src, n))
		return 0
	}
	drv.cuMemcpyDtoDAsync = func(dst, src, n uint64, s uintptr) int32 {
		f.stream("cuMemcpyDtoDAsync", s)
		f.do(fakeAction{dst: dst, src: src, n: n})
		return 0
	}
	drv.cuLaunchKernel = func(fn uintptr, gx, gy, gz, bx, by, bz, shared uint32, s uintptr, params, extra unsafe.Pointer) int32 {
		name := f.fns[fn]
		f.stream("cuLaunchKernel "+name, s)
		a := fakeAction{kernel: name, g: dims{gx, gy}}
		ps := unsafe.Slice((*unsafe.Pointer)(params), f.nparams[name])
		for _, p := range ps {
			a.params = append(a.params, *(*uint64)(p))
		}
		if !f.capturing {
			f.launches++
		}
		f.do(a)
		return 0
	}
	drv.cuStreamBeginCapture = func(s uintptr, _ int32) int32 {
		f.stream("cuStreamBeginCapture", s)
		f.capturing, f.recording = true, nil
		return 0
	}
	drv.cuStreamEndCapture = func(_ uintptr, g *uintptr) int32 {
		f.capturing = false
		f.handles++
		f.graphs[f.handles] = f.recording
		*g = f.handles
		return 0
	}
	drv.cuGraphInstantiateWithFlags = func(exec *uintptr, g uintptr, _ uint64) int32 {
		if f.failInst {
			return 999
		}
		f.handles++
		f.graphs[f.handles] = slices.Clone(f.graphs[g])
		*exec = f.handles
		return 0
	}
	drv.cuGraphLaunch = func(exec uintptr, s uintptr) int32 {
		f.stream("cuGraphLaunch", s)
		f.graphRuns++
		for _, a := range f.graphs[exec] {
			f.run(a)
		}
		return 0
	}
	drv.cuGraphExecDestroy = func(g uintptr) int32 {
		delete(f.graphs, g)
		return 0
	}
	drv.cuGraphDestroy = drv.cuGraphExecDestroy
	// Events: every timed kernel takes 1 ms.
	drv.events = true
	drv.cuEventCreate = func(e *uintptr, _ uint32) int32 {
		f.handles++
		*e = f.handles
		f.events++
		return 0
	}
	drv.cuEventRecord = func(_ uintptr, s uintptr) int32 {
		f.stream("cuEventRecord", s)
		return 0
	}
	drv.cuEventSynchronize = func(uintptr) int32 { return 0 }
	drv.cuEventElapsedTime = func(ms *float32, _, _ uintptr) int32 {
		*ms = 1
		return 0
	}
	drv.cuEventDestroy = func(uintptr) int32 {
		f.events--
		return 0
	}

	d := newDevice(drv)
	d.pinner.Pin(d.args)
	t.Cleanup(d.pinner.Unpin)
	d.name, d.stream = "fake", 1
	for i, name := range entries(ptx) {
		d.fn[name] = uintptr(i + 1)
		f.fns[uintptr(i+1)] = name
		f.nparams[name] = strings.Count(ptx, " "+name+"_param_")
	}
	return d, f
}

// stream fails the test unless s is the device's stream (1): work on
// another, or on the default stream (0), would not be in call order with
// the rest or could not be recorded.
func (f *fakeGPU) stream(what string, s uintptr) {
	if s != 1 {
		f.t.Errorf("fake GPU: %s on stream %d", what, s)
	}
}

// at returns the n bytes of device memory at p.
func (f *fakeGPU) at(p, n uint64) []byte {
	for base, b := range f.mem {
		if p >= base && p+n <= base+uint64(len(b)) {
			return b[p-base : p-base+n]
		}
	}
	f.t.Fatalf("fake GPU: %d bytes at %#x are not allocated", n, p)
	return nil
}

func (f *fakeGPU) i32s(p uint64, n int) []int32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&f.at(p, uint64(4*n))[0])), n)
}

// do runs a, or records it while the stream is recording.
func (f *fakeGPU) do(a fakeAction) {
	if f.capturing {
		f.recording = append(f.recording, a)
		return
	}
	f.run(a)
}

// run copies, or notes what a kernel reads: its parameters, with those
// that point at an op's host array replaced by the array.
func (f *fakeGPU) run(a fakeAction) {
	if a.kernel == "" {
		copy(f.at(a.dst, a.n), f.at(a.src, a.n))
		return
	}
	if f.quiet {
		return
	}
	p := slices.Clone(a.params)
	var arrays []string
	array := func(i int, v any) {
		p[i] = 0
		arrays = append(arrays, fmt.Sprint(v))
	}
	rows := int(a.g.x)
	switch {
	case strings.HasPrefix(a.kernel, "embed_"):
		array(2, f.i32s(a.params[2], rows))
	case a.kernel == "rope":
		array(1, f.i32s(a.params[1], rows))
		if a.params[2] != 0 {
			array(2, f.i32s(a.params[2], int(int32(a.params[5]))/2))
		}
		array(9, f.i32s(a.params[9], int(int32(a.params[5])))) // the powers: dim/2 doubles
	case a.kernel == "put_kv":
		array(3, f.i32s(a.params[3], rows))
	case a.kernel == "attention" || strings.HasPrefix(a.kernel, "attn_pages_"):
		meta := f.i32s(a.params[4], 4*rows)
		pt := int(int32(a.params[10]))
		var pages []int32
		for r := range rows {
			n := int(meta[4*r+2])
			pages = append(pages, f.i32s(a.params[3]+uint64(4*meta[4*r]), (n+pt-1)/pt)...)
		}
		array(4, meta)
		array(3, pages)
		if f.emulate && strings.HasPrefix(a.kernel, "attn_pages_") {
			f.attnPagesKernel(a)
		}
	case strings.HasPrefix(a.kernel, "experts_"):
		gmax := int(int32(a.params[7]))
		np := 0
		for g := range gmax {
			np += int(f.i32s(a.params[3], 3*gmax)[3*g+2])
		}
		array(3, f.i32s(a.params[3], 3*gmax+np))
		if f.emulate {
			f.expertsKernel(a)
		}
	case strings.HasPrefix(a.kernel, "mma_") && f.emulate:
		f.mmaKernel(a)
	case (strings.HasPrefix(a.kernel, "matvec_s_") || strings.HasPrefix(a.kernel, "matvecs_s_") ||
		strings.HasPrefix(a.kernel, "matvec_swiglu_s_")) && f.emulate:
		f.matvecSKernel(a)
	}
	f.seen = append(f.seen, fmt.Sprintf("%s %v %v %v", a.kernel, a.g, p, arrays))
}

func (f *fakeGPU) f32s(p uint64, n int) []float32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&f.at(p, uint64(4*n))[0])), n)
}

// expertsKernel computes what kernels.cu's experts and experts_vec do,
// reading the launch as they read it (parameters in their order, the
// groups then the pairs' indices), in float64 over the dequantised rows;
// a pair written twice, or a grid other than (row blocks of 4, gmax),
// fails the test.
func (f *fakeGPU) expertsKernel(a fakeAction) {
	name := strings.TrimPrefix(strings.TrimPrefix(a.kernel, "experts_vec_"), "experts_")
	typ, found := metalkit.DType(0), false
	for t, k := range weightKernels {
		if k == name {
			typ, found = t, true
		}
	}
	out, w, x, meta := a.params[0], a.params[1], a.params[2], a.params[3]
	rows, cols, per, gmax := int(int32(a.params[4])), int(int32(a.params[5])), int(int32(a.params[6])), int(int32(a.params[7]))
	rowBytes := int(a.params[8])
	if !found || int(a.g.x) != (rows+3)/4 || int(a.g.y) != gmax {
		f.t.Errorf("fake GPU: %s (type found %v) on grid %v for %d rows, %d groups", a.kernel, found, a.g, rows, gmax)
		return
	}
	groups := f.i32s(meta, 3*gmax)
	done := map[int32]bool{}
	row := make([]float32, cols)
	for g := range gmax {
		e, start, n := int(groups[3*g]), int(groups[3*g+1]), int(groups[3*g+2])
		for _, i := range f.i32s(meta+uint64(4*(3*gmax+start)), n) {
			if done[i] {
				f.t.Errorf("fake GPU: %s writes pair %d twice", a.kernel, i)
			}
			done[i] = true
			xi := f.f32s(x+uint64(4*(int(i)/per*cols)), cols)
			o := f.f32s(out+uint64(4*int(i)*rows), rows)
			for r := range rows {
				m, err := metalkit.NewMatrix(typ, 1, cols, f.at(w+uint64((e*rows+r)*rowBytes), uint64(rowBytes)))
				if err != nil {
					f.t.Fatal(err)
				}
				m.Row(0, row)
				var sum float64
				for j, v := range row {
					sum += float64(v) * float64(xi[j])
				}
				o[r] = float32(sum)
			}
		}
	}
}

// TestMatMulExpertsFake: MatMulExperts' host side, on the fake GPU whose
// expert kernels compute in Go as kernels.cu's read their launch
// (expertsKernel): for every expert type, routings with repeated, unused
// and out-of-order experts, pairs sharing x rows or not, few (the lean
// kernel, up to expertsFewMax) and many (the tiled one), each pair's row
// agrees with CPUDevice.MatMulExperts within TestCPUMatMulBound's bound
// (the CPU's 8-bit activations and float32 sums against a float64 sum),
// and the values past the last pair's stay 0. The GPU tests
// (TestMatMulExperts) check the kernels' arithmetic.
func TestMatMulExpertsFake(t *testing.T) {
	d, f := newFakeDevice(t)
	f.emulate = true
	cpu := metalkit.NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(16))
	const n, rows, cols = 5, 9, 512
	for _, typ := range expertTypes {
		m := quantMatrix(t, typ, n*rows, cols, randVec(rng, n*rows*cols, 1))
		gw, cw := uploadExperts(t, d, cpu, m, n)
		for _, c := range []struct{ pairs, per int }{{4, 4}, {16, 2}, {17, 1}, {40, 8}} {
			experts := make([]int32, c.pairs)
			for i := range experts {
				e := rng.Intn(n)
				if e == 1 {
					e = 4 // expert 1 unused
				}
				experts[i] = int32(e)
			}
			x := randVec(rng, (c.pairs+c.per-1)/c.per*cols, 2)
			f.seen = nil
			gout, cout := matMulExpertsBoth(t, d, cpu, gw, cw, x, experts, c.per, c.pairs*rows+2)
			want := "experts_" + weightKernels[typ]
			if c.pairs <= expertsFewMax {
				want = "experts_vec_" + weightKernels[typ]
			}
			if len(f.seen) != 1 || !strings.HasPrefix(f.seen[0], want+" ") {
				t.Fatalf("%v %d pairs: kernels %q, want one %s", typ, c.pairs, f.seen, want)
			}
			row := make([]float32, cols)
			for i, e := range experts {
				xi := x[i/c.per*cols : (i/c.per+1)*cols]
				for r := range rows {
					m.Row(int(e)*rows+r, row)
					ref, abs, quant := products(row, xi, actBlock(typ))
					got, cv := float64(gout[i*rows+r]), float64(cout[i*rows+r])
					if math.Abs(got-ref) > u*math.Abs(ref) || math.Abs(got-cv) > quant+float64(cols)*u*abs {
						t.Fatalf("%v %d pairs (%d per x row): pair %d (expert %d) row %d: fake gpu %v, float64 %v, cpu %v", typ, c.pairs, c.per, i, e, r, got, ref, cv)
					}
				}
			}
			near(t, "past the last pair", gout[c.pairs*rows:], make([]float32, 2), 0, 0)
		}
	}
}

// TestGraphFake runs TestGraph's kind of step on the fake GPU: each step
// directly, then through Graph on the same buffers, and requires every
// kernel to read the same (parameters, host arrays) both ways; a replay
// must launch no kernel itself, only the recorded graph, after one copy of
// the step's arrays, and copy nothing from the host while recording. The
// batch changes, the experts' routing changes every step (replays, not
// recordings), page tables outgrow their room, and the argument and work
// areas start too small, as in TestGraph. Then a driver whose graphs fail
// to instantiate: the ops run directly, logged, with the same reads.
func TestGraphFake(t *testing.T) {
	d, f := newFakeDevice(t)
	d.argMin, d.workMin = 256, 64
	rng := rand.New(rand.NewSource(13))
	const cols, vocab, pageTokens, heads = 64, 50, 4, 4
	shape := metalkit.KVShape{Layers: 2, Heads: 2, HeadDim: cols / 2, PageTokens: pageTokens}
	emb, err := d.Upload(quantMatrix(t, metalkit.Q8_0, vocab, cols, randVec(rng, vocab*cols, 1)))
	if err != nil {
		t.Fatal(err)
	}
	wo, err := d.Upload(quantMatrix(t, metalkit.Q8_0, 48, 2*cols, randVec(rng, 48*2*cols, 1)))
	if err != nil {
		t.Fatal(err)
	}
	// 4 experts of 16 rows; each token picks 2, differently every step.
	exps, err := d.UploadExperts(quantMatrix(t, metalkit.Q8_0, 4*16, 2*cols, randVec(rng, 4*16*2*cols, 1)), 4)
	if err != nil {
		t.Fatal(err)
	}
	var bufs [5]metalkit.Buffer
	for i := range bufs {
		bufs[i] = put(t, d, make([]float32, 3*2*cols))
	}
	x, y, q, att, out := bufs[0], bufs[1], bufs[2], bufs[3], bufs[4]
	pool, err := d.NewKVPool(shape, 160)
	if err != nil {
		t.Fatal(err)
	}
	rope := metalkit.Rope{Heads: shape.Heads, HeadDim: shape.HeadDim, Dim: shape.HeadDim / 2, Base: 10000, Scale: 1,
		Factors: []float32{1, 2, 3, 4, 5, 6, 7, 8}}
	ops := func(tokens, pos []int32, add []float32, layer int, picks []int32) {
		rows := len(tokens)
		d.Embed(x, emb, tokens)
		d.Write(y, 0, add)
		d.Add(x, x, y, rows*cols)
		d.Rope(x, pos, rope)
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
		d.PutKV(pool, layer, slots, x, x)
		d.Attention(att, q, pool, layer, heads, ar)
		d.AddRMSNorm(out, x, y, y, rows, cols, 1e-5)
		d.MatMul(out, wo, att, rows)
		d.MatMulExperts(q, exps, out, picks, 2)
	}
	step := func(stepNo int, fail bool) {
		rows := 2
		if stepNo >= 15 && stepNo < 25 {
			rows = 3
		}
		tokens, pos := make([]int32, rows), make([]int32, rows)
		for r := range rows {
			tokens[r] = int32(rng.Intn(vocab))
			pos[r] = int32(stepNo*3 + r)
		}
		add := randVec(rng, rows*cols, 1)
		picks := make([]int32, 2*rows)
		for i := range picks {
			picks[i] = int32(rng.Intn(4))
		}
		layer := stepNo % 2
		key := fmt.Sprintf("step %d", layer)
		launches, runs, copies := f.launches, f.graphRuns, f.copyWhileC
		f.seen = nil
		d.Graph(key, func() { ops(tokens, pos, add, layer, picks) })
		viaGraph := f.seen
		graphLaunches, kernelLaunches := f.graphRuns-runs, f.launches-launches
		f.seen = nil
		ops(tokens, pos, add, layer, picks)
		direct := f.seen
		if !slices.Equal(viaGraph, direct) {
			t.Fatalf("step %d (%d rows): through Graph the kernels read\n%s\ndirectly\n%s", stepNo, rows, strings.Join(viaGraph, "\n"), strings.Join(direct, "\n"))
		}
		if f.copyWhileC != copies {
			t.Errorf("step %d: %d host-to-device copies while recording", stepNo, f.copyWhileC-copies)
		}
		switch {
		case fail && (graphLaunches != 0 || kernelLaunches != len(direct)):
			t.Errorf("step %d: instantiation fails, yet %d graph launches and %d kernels launched of %d", stepNo, graphLaunches, kernelLaunches, len(direct))
		case !fail && (graphLaunches != 1 || kernelLaunches != 0):
			t.Errorf("step %d: %d graph launches and %d kernels launched directly; want 1 and 0", stepNo, graphLaunches, kernelLaunches)
		}
	}
	for i := range 40 {
		step(i, false)
	}
	st0, st1 := d.GraphStats("step 0"), d.GraphStats("step 1")
	t.Logf("step 0: %+v, step 1: %+v; argument area %d bytes, work area %d", st0, st1, d.argBytes, d.workBytes)
	if st0.Direct+st1.Direct != 0 || st0.Replays+st1.Replays < 10 || st0.Records+st1.Records < 6 {
		t.Errorf("want none direct, at least 10 replays and 6 recordings (2 keys, 2 batch changes each)")
	}

	// Graphs that cannot be instantiated: every call runs its ops.
	d2, f2 := newFakeDevice(t)
	d, f = d2, f2
	f.failInst = true
	emb, _ = d.Upload(quantMatrix(t, metalkit.Q8_0, vocab, cols, randVec(rng, vocab*cols, 1)))
	wo, _ = d.Upload(quantMatrix(t, metalkit.Q8_0, 48, 2*cols, randVec(rng, 48*2*cols, 1)))
	exps, _ = d.UploadExperts(quantMatrix(t, metalkit.Q8_0, 4*16, 2*cols, randVec(rng, 4*16*2*cols, 1)), 4)
	for i := range bufs {
		bufs[i] = put(t, d, make([]float32, 3*2*cols))
	}
	x, y, q, att, out = bufs[0], bufs[1], bufs[2], bufs[3], bufs[4]
	pool, _ = d.NewKVPool(shape, 160)
	for i := range 4 {
		step(i, true)
	}
	if st := d.GraphStats("step 0"); st.Direct != 2 || st.Records+st.Replays != 0 {
		t.Errorf("with graphs that fail, key step 0: %+v; want 2 direct", st)
	}

	// A Read inside Graph panics and leaves the stream out of recording.
	func() {
		defer func() { recover() }()
		d.Graph("bad", func() { d.Read(make([]float32, 1), x, 0) })
	}()
	if f.capturing || d.rec != nil {
		t.Errorf("after a panic inside Graph: recording %v, rec %v", f.capturing, d.rec)
	}
	if v := get(t, d, y, 1)[0]; math.IsNaN(float64(v)) {
		t.Errorf("Read after the panic: %v", v)
	}
}

// BenchmarkGraphHost is the host's side of a 1B llama's decode step (the
// ops of infer's seam llama: 16 layers, 32/8 heads of 64, FFN 8192, a
// 1024-position page table) on the fake GPU, whose calls cost nothing:
// directly, that is the ops' own bookkeeping without the 4-7 µs a real
// launch costs; through Graph, what a replay costs the host besides its
// one copy and one launch.
func BenchmarkGraphHost(b *testing.B) {
	d, f := newFakeDevice(b)
	f.quiet = true
	const dim, layers, heads, kvHeads, hd, ffn, pageTokens = 2048, 16, 32, 8, 64, 8192, 16
	rng := rand.New(rand.NewSource(1))
	up := func(rows, cols int) metalkit.Weights {
		w, err := d.Upload(quantMatrix(b, metalkit.Q8_0, rows, cols, randVec(rng, rows*cols, 1)))
		if err != nil {
			b.Fatal(err)
		}
		return w
	}
	wq, wkv, wUp, wDown, emb := up(dim, dim), up(kvHeads*hd, dim), up(ffn, dim), up(dim, ffn), up(64, dim)
	buf := func(n int) metalkit.Buffer {
		x, err := d.Alloc(n)
		if err != nil {
			b.Fatal(err)
		}
		return x
	}
	x, xb, q, k, v, att, hb, hb2, norm := buf(dim), buf(dim), buf(dim), buf(kvHeads*hd), buf(kvHeads*hd), buf(dim), buf(ffn), buf(ffn), buf(dim)
	pool, err := d.NewKVPool(metalkit.KVShape{Layers: layers, Heads: kvHeads, HeadDim: hd, PageTokens: pageTokens}, 1024/pageTokens)
	if err != nil {
		b.Fatal(err)
	}
	pages := make([]int32, 1024/pageTokens)
	for i := range pages {
		pages[i] = int32(len(pages) - 1 - i)
	}
	rq := metalkit.Rope{Heads: heads, HeadDim: hd, Dim: hd, Base: 500000, Scale: 1}
	rk := rq
	rk.Heads = kvHeads
	step := func(pos int) {
		p := []int32{int32(pos)}
		slot := []int32{pages[pos/pageTokens]*pageTokens + int32(pos%pageTokens)}
		row := []metalkit.AttnRow{{Pages: pages, N: pos + 1}}
		d.Embed(x, emb, []int32{int32(pos % 64)})
		d.RMSNorm(xb, x, norm, 1, dim, 1e-5)
		for l := range layers {
			d.MatMul(q, wq, xb, 1)
			d.MatMul(k, wkv, xb, 1)
			d.MatMul(v, wkv, xb, 1)
			d.Rope(q, p, rq)
			d.Rope(k, p, rk)
			d.PutKV(pool, l, slot, k, v)
			d.Attention(att, q, pool, l, heads, row)
			d.MatMul(xb, wq, att, 1)
			d.Add(x, x, xb, dim)
			d.RMSNorm(xb, x, norm, 1, dim, 1e-5)
			d.MatMul(hb, wUp, xb, 1)
			d.MatMul(hb2, wUp, xb, 1)
			d.SwiGLU(hb, hb, hb2, ffn)
			d.MatMul(xb, wDown, hb, 1)
			d.Add(x, x, xb, dim)
			d.RMSNorm(xb, x, norm, 1, dim, 1e-5)
		}
		d.MatMul(hb, wUp, xb, 1)
	}
	b.Run("direct", func(b *testing.B) {
		f.launches = 0
		for i := range b.N {
			step(i % 1000)
			if i%64 == 63 {
				d.Sync() // empties the staging area, as each step's Read does
			}
		}
		b.ReportMetric(float64(f.launches)/float64(b.N), "launches/step")
	})
	b.Run("graph", func(b *testing.B) {
		f.launches = 0
		for i := range b.N {
			d.Graph("decode", func() { step(i % 1000) })
			if i%64 == 63 {
				d.Sync()
			}
		}
		b.ReportMetric(float64(f.launches)/float64(b.N), "launches/step")
	})
	if st := d.GraphStats("decode"); st.Direct != 0 || st.Records != 1 {
		b.Fatalf("graph stats %+v: want one recording, the rest replays", st)
	}
}

// TestPagesAndCopyFake: the ops that move KV pages between the host and
// the pool (WritePage, ReadPage), within the pool (CopyPage) and rows
// between buffers (Copy) reach the bytes they name, on the fake driver
// (its copies are the driver's calls, made in stream order), and refuse
// to run inside Graph, where a recording would keep their rows.
func TestPagesAndCopyFake(t *testing.T) {
	d, _ := newFakeDevice(t)
	shape := metalkit.KVShape{Layers: 2, Heads: 2, HeadDim: 4, PageTokens: 8}
	pool, err := d.NewKVPool(shape, 3)
	if err != nil {
		t.Fatal(err)
	}
	n := shape.PageValues()
	src := make([]uint16, n)
	for i := range src {
		src[i] = uint16(i*7 + 1)
	}
	d.WritePage(pool, 1, src)
	d.CopyPage(pool, 2, 1)
	for _, pg := range []int{0, 1, 2} {
		got := make([]uint16, n)
		if err := d.ReadPage(got, pool, pg, 0); err != nil {
			t.Fatal(err)
		}
		want := src
		if pg == 0 {
			want = make([]uint16, n)
		}
		if !slices.Equal(got, want) {
			t.Errorf("page %d: %v, want %v", pg, got[:8], want[:8])
		}
	}
	part := make([]uint16, 5)
	if err := d.ReadPage(part, pool, 2, 100); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(part, src[100:105]) {
		t.Errorf("values [100, 105) of page 2: %v, want %v", part, src[100:105])
	}
	b, err := d.Alloc(12)
	if err != nil {
		t.Fatal(err)
	}
	d.Write(b, 0, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	d.Copy(b, 1, b, 8, 3)
	got := make([]float32, 12)
	if err := d.Read(got, b, 0); err != nil {
		t.Fatal(err)
	}
	if want := []float32{0, 8, 9, 10, 4, 5, 6, 7, 8, 9, 10, 11}; !slices.Equal(got, want) {
		t.Errorf("after Copy: %v, want %v", got, want)
	}
	for name, op := range map[string]func(){
		"Copy":      func() { d.Copy(b, 0, b, 4, 4) },
		"CopyPage":  func() { d.CopyPage(pool, 0, 1) },
		"WritePage": func() { d.WritePage(pool, 0, src) },
		"ReadPage":  func() { d.ReadPage(src, pool, 0, 0) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "inside Graph") {
					t.Errorf("%s inside Graph: panic %v, want one saying so", name, r)
				}
			}()
			d.Graph("pages "+name, op)
		}()
	}
}

// TestProfileFake: while profiling, Graph runs its ops directly and every
// kernel is timed between two events (1 ms each on the fake GPU), by
// kernel and, for matmuls, shape with the weight bytes; StopProfile
// destroys the events, and afterwards Graph records again.
func TestProfileFake(t *testing.T) {
	d, f := newFakeDevice(t)
	rng := rand.New(rand.NewSource(3))
	w, err := d.Upload(quantMatrix(t, metalkit.Q8_0, 48, 64, randVec(rng, 48*64, 1)))
	if err != nil {
		t.Fatal(err)
	}
	x, y := put(t, d, randVec(rng, 3*64, 1)), put(t, d, make([]float32, 3*48))
	step := func() {
		d.Graph("step", func() {
			d.MatMul(y, w, x, 1)
			d.MatMul(y, w, x, 3)
			d.Add(x, x, x, 64)
			d.Add(x, x, x, 64)
		})
	}
	if err := d.StartProfile(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		step()
	}
	times, err := d.StopProfile()
	if err != nil {
		t.Fatal(err)
	}
	if st := d.GraphStats("step"); st.Direct != 3 || st.Records != 0 || f.graphRuns != 0 {
		t.Errorf("while profiling: %+v, %d graph launches; want 3 direct, none recorded", st, f.graphRuns)
	}
	want := map[string]KernelTime{
		"add":                   {Kernel: "add", Launches: 6, Seconds: 6e-3},
		"matvec_q8_0 48x64 b=1": {Kernel: "matvec_q8_0", Shape: "48x64 b=1", Launches: 3, Seconds: 3e-3, WeightBytes: 3 * 48 * 68},
		"matmul_q8_0 48x64 b=3": {Kernel: "matmul_q8_0", Shape: "48x64 b=3", Launches: 3, Seconds: 3e-3, WeightBytes: 3 * 48 * 68},
	}
	if len(times) != len(want) {
		t.Fatalf("profile %+v, want %d kernels", times, len(want))
	}
	for _, kt := range times {
		key := kt.Kernel
		if kt.Shape != "" {
			key += " " + kt.Shape
		}
		wk, ok := want[key]
		if !ok || kt.Launches != wk.Launches || kt.WeightBytes != wk.WeightBytes || math.Abs(kt.Seconds-wk.Seconds) > 1e-9 {
			t.Errorf("profile %+v, want %+v", kt, wk)
		}
	}
	if times[0].Kernel != "add" {
		t.Errorf("profile not longest first: %+v", times)
	}
	if f.events != 0 {
		t.Errorf("%d events left after StopProfile", f.events)
	}
	var sb strings.Builder
	WriteProfile(&sb, times, 3)
	if !strings.Contains(sb.String(), "total") || !strings.Contains(sb.String(), "matvec_q8_0") {
		t.Errorf("table:\n%s", sb.String())
	}
	step()
	if st := d.GraphStats("step"); st.Records != 1 {
		t.Errorf("after the profile: %+v, want the step recorded", st)
	}
}

// TestMatMulPicksKernelFake: MatMul runs one column on matvec, batches
// under defaultMMAMin on matmul, and larger ones on the tensor cores with
// the block shape for the batch (grid: row blocks × column blocks);
// F32 weights never go to the tensor cores.
func TestMatMulPicksKernelFake(t *testing.T) {
	d, f := newFakeDevice(t)
	rng := rand.New(rand.NewSource(4))
	const rows, cols = 300, 64
	q, err := d.Upload(quantMatrix(t, metalkit.Q8_0, rows, cols, randVec(rng, rows*cols, 1)))
	if err != nil {
		t.Fatal(err)
	}
	fl, err := d.Upload(quantMatrix(t, metalkit.F32, rows, cols, randVec(rng, rows*cols, 1)))
	if err != nil {
		t.Fatal(err)
	}
	x, out := put(t, d, make([]float32, 200*cols)), put(t, d, make([]float32, 200*rows))
	for _, c := range []struct {
		w     metalkit.Weights
		batch int
		want  string
	}{
		{q, 1, "matvec_q8_0 {75 1}"},
		{q, 7, "matmul_q8_0 {75 1}"},
		{q, 8, "mma_n8_q8_0 {19 1}"},
		{q, 9, "mma_n16_q8_0 {19 1}"},
		{q, 17, "mma_n64_q8_0 {10 1}"},
		{q, 65, "mma_n64l_q8_0 {3 2}"},
		{q, 200, "mma_n64l_q8_0 {3 4}"},
		{fl, 9, "matmul_f32 {75 1}"},
	} {
		f.seen = nil
		d.MatMul(out, c.w, x, c.batch)
		if len(f.seen) != 1 || !strings.HasPrefix(f.seen[0], c.want+" ") {
			t.Errorf("batch %d: launched %q, want %s", c.batch, f.seen, c.want)
		}
	}
}

// TestReadChunksFake: Read copies through the pinned staging area in
// pieces of stageWriteMax bytes; a read of several pieces, at an offset,
// returns the buffer's values, and leaves the area empty.
func TestReadChunksFake(t *testing.T) {
	d, _ := newFakeDevice(t)
	rng := rand.New(rand.NewSource(8))
	n := stageWriteMax/4*2 + 1001
	v := randVec(rng, n+7, 1)
	b := put(t, d, v)
	got := make([]float32, n)
	if err := d.Read(got, b, 7); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, v[7:]) {
		t.Fatal("Read in pieces differs from what was written")
	}
	if d.stageUsed != 0 {
		t.Errorf("staging area holds %d bytes after Read", d.stageUsed)
	}
}

// TestMatMulsFake: MatMuls of up to four matrices of one staged type and
// width on one column is one matvecs_s launch over all their row blocks,
// the unused matrix slots zero; anything else is MatMul per matrix.
func TestMatMulsFake(t *testing.T) {
	d, f := newFakeDevice(t)
	rng := rand.New(rand.NewSource(5))
	up := func(typ metalkit.DType, rows, cols int) metalkit.Weights {
		w, err := d.Upload(quantMatrix(t, typ, rows, cols, randVec(rng, rows*cols, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	q, k, v := up(metalkit.Q8_0, 64, 256), up(metalkit.Q8_0, 17, 256), up(metalkit.Q8_0, 16, 256)
	other := up(metalkit.Q4_K, 16, 256)
	x := put(t, d, make([]float32, 9*256))
	outs := []metalkit.Buffer{put(t, d, make([]float32, 9*64)), put(t, d, make([]float32, 9*17)), put(t, d, make([]float32, 9*16))}
	f.seen = nil
	d.MatMuls(outs, []metalkit.Weights{q, k, v}, x, 1)
	if len(f.seen) != 1 || !strings.HasPrefix(f.seen[0], "matvecs_s_q8_0 {13 1} ") {
		t.Fatalf("Q, K, V on one column: launched %q, want one matvecs_s_q8_0 over 8+3+2 blocks", f.seen)
	}
	for _, c := range []struct {
		ws    []metalkit.Weights
		batch int
	}{{[]metalkit.Weights{q, k, v}, 2}, {[]metalkit.Weights{q, other}, 1}} {
		f.seen = nil
		d.MatMuls(outs[:len(c.ws)], c.ws, x, c.batch)
		if len(f.seen) != len(c.ws) {
			t.Errorf("%d matrices, batch %d: launched %q, want one launch each", len(c.ws), c.batch, f.seen)
		}
	}
}

// mmaKernel computes an mma_SHAPE_TYPE launch as kernels.cu's mmaf16 does,
// step by step: each lane's A fragments from its rows' dequantised values
// 8t..8t+7 of each unit, the block's f16 staging of x with its padded
// stride, the B fragments read back from it, mma.sync m16n8k16 on the
// fragments as the PTX ISA lays them out (A: a0 row g, k 2t..2t+1; a1
// row g+8; a2, a3 k+8; B: b0 k 2t..2t+1 of column g, b1 k+8; C: c0, c1
// row g, columns 2t, 2t+1; c2, c3 row g+8), the split-k warps' sums
// through the shared-memory layout, and the stores. So the index
// arithmetic is checked here; the GPU test checks the hardware agrees.
func (f *fakeGPU) mmaKernel(a fakeAction) {
	parts := strings.SplitN(strings.TrimPrefix(a.kernel, "mma_"), "_", 2)
	shapes := map[string][3]int{"n8": {1, 1, 4}, "n16": {1, 2, 4}, "n64": {1, 8, 2}, "n64l": {2, 8, 1}}
	sh, ok := shapes[parts[0]]
	typ, found := metalkit.DType(0), false
	for t, k := range weightKernels {
		if k == parts[1] {
			typ, found = t, true
		}
	}
	if !ok || !found {
		f.t.Fatalf("fake GPU: no emulation of %s", a.kernel)
	}
	MT, NT, KW := sh[0], sh[1], sh[2]
	RG, KC := 4/KW, 4*KW
	BM, BN, S := 16*MT*RG, 8*NT, 32*KC+32
	out, wp, xp := a.params[0], a.params[1], a.params[2]
	rows, cols, batch, rowBytes := int(int32(a.params[3])), int(int32(a.params[4])), int(int32(a.params[5])), int(a.params[6])
	units := cols / 32
	m, err := metalkit.NewMatrix(typ, rows, cols, f.at(wp, uint64(rows*rowBytes)))
	if err != nil {
		f.t.Fatal(err)
	}
	w := make([]float32, rows*cols)
	for r := range rows {
		m.Row(r, w[r*cols:(r+1)*cols])
	}
	x, o := f.f32s(xp, batch*cols), f.f32s(out, batch*rows)
	h2 := func(lo, hi float32) uint32 { return uint32(metalkit.F32ToF16(lo)) | uint32(metalkit.F32ToF16(hi))<<16 }
	half := func(v uint32, i int) float64 { return float64(metalkit.F16ToF32(uint16(v >> (16 * i)))) }
	// mma is one warp's mma16816: c[lane] += A·B from the lanes' fragments.
	mma := func(c [][4]float32, av [][4]uint32, b0, b1 []uint32) {
		var A [16][16]float64
		var B [16][8]float64
		for lane := range 32 {
			g, t := lane/4, lane%4
			for i := range 2 {
				A[g][2*t+i], A[g+8][2*t+i] = half(av[lane][0], i), half(av[lane][1], i)
				A[g][2*t+8+i], A[g+8][2*t+8+i] = half(av[lane][2], i), half(av[lane][3], i)
				B[2*t+i][g], B[2*t+8+i][g] = half(b0[lane], i), half(b1[lane], i)
			}
		}
		for lane := range 32 {
			g, t := lane/4, lane%4
			for i := range 4 {
				mr, nc := g+8*(i>>1), 2*t+(i&1)
				var sum float64
				for k := range 16 {
					sum += A[mr][k] * B[k][nc]
				}
				c[lane][i] += float32(sum)
			}
		}
	}
	for bx := 0; bx < int(a.g.x); bx++ {
		for by := 0; by < int(a.g.y); by++ {
			// acc[warp][mt][nt][lane]
			acc := make([][][][][4]float32, 4)
			for wi := range acc {
				acc[wi] = make([][][][4]float32, MT)
				for mt := range MT {
					acc[wi][mt] = make([][][4]float32, NT)
					for nt := range NT {
						acc[wi][mt][nt] = make([][4]float32, 32)
					}
				}
			}
			sm := make([]uint16, BN*S)
			for c0 := 0; c0 < units; c0 += KC {
				// A fragments: frag[warp][uu][mt][step][lane]
				frag := make([][][][][][4]uint32, 4)
				for warp := range 4 {
					rg, ks := warp%RG, warp/RG
					m0 := bx*BM + 16*MT*rg
					frag[warp] = make([][][][][4]uint32, 4)
					for uu := range 4 {
						u := c0 + 4*ks + uu
						frag[warp][uu] = make([][][][4]uint32, MT)
						for mt := range MT {
							frag[warp][uu][mt] = [][][4]uint32{make([][4]uint32, 32), make([][4]uint32, 32)}
							for lane := range 32 {
								g, t := lane/4, lane%4
								for h := range 2 {
									r := min(m0+16*mt+8*h+g, rows-1)
									var v [8]float32
									if u < units {
										copy(v[:], w[r*cols+32*u+8*t:])
									}
									frag[warp][uu][mt][0][lane][h], frag[warp][uu][mt][0][lane][2+h] = h2(v[0], v[1]), h2(v[2], v[3])
									frag[warp][uu][mt][1][lane][h], frag[warp][uu][mt][1][lane][2+h] = h2(v[4], v[5]), h2(v[6], v[7])
								}
							}
						}
					}
				}
				for i := 0; i < BN*KC*4; i++ {
					col, piece := i/(KC*4), i%(KC*4)
					n, u := by*BN+col, c0+piece/4
					for k := range 8 {
						var v uint16
						if n < batch && u < units {
							v = metalkit.F32ToF16(x[n*cols+32*c0+8*piece+k])
						}
						sm[col*S+8*piece+k] = v
					}
				}
				for warp := range 4 {
					ks := warp / RG
					for uu := range 4 {
						for nt := range NT {
							b := make([][4]uint32, 32)
							for lane := range 32 {
								g, t := lane/4, lane%4
								at := (8*nt+g)*S + 32*(4*ks+uu) + 8*t
								for j := range 4 {
									b[lane][j] = uint32(sm[at+2*j]) | uint32(sm[at+2*j+1])<<16
								}
							}
							bx0, by0, bz, bw := make([]uint32, 32), make([]uint32, 32), make([]uint32, 32), make([]uint32, 32)
							for lane := range 32 {
								bx0[lane], by0[lane], bz[lane], bw[lane] = b[lane][0], b[lane][1], b[lane][2], b[lane][3]
							}
							for mt := range MT {
								mma(acc[warp][mt][nt], frag[warp][uu][mt][0], bx0, by0)
								mma(acc[warp][mt][nt], frag[warp][uu][mt][1], bz, bw)
							}
						}
					}
				}
			}
			if KW > 1 {
				per := MT * NT * 4
				red := make([]float32, (KW-1)*RG*32*per)
				for warp := range 4 {
					rg, ks := warp%RG, warp/RG
					if ks == 0 {
						continue
					}
					base := ((ks-1)*RG + rg) * 32 * per
					for mt := range MT {
						for nt := range NT {
							for i := range 4 {
								for lane := range 32 {
									red[base+((mt*NT+nt)*4+i)*32+lane] = acc[warp][mt][nt][lane][i]
								}
							}
						}
					}
				}
				for warp := range RG {
					for k := 1; k < KW; k++ {
						base := ((k-1)*RG + warp) * 32 * per
						for mt := range MT {
							for nt := range NT {
								for i := range 4 {
									for lane := range 32 {
										acc[warp][mt][nt][lane][i] += red[base+((mt*NT+nt)*4+i)*32+lane]
									}
								}
							}
						}
					}
				}
			}
			for warp := range RG { // ks == 0
				m0 := bx*BM + 16*MT*warp
				for mt := range MT {
					for nt := range NT {
						for lane := range 32 {
							g, t := lane/4, lane%4
							for i := range 4 {
								mr, n := m0+16*mt+g+8*(i>>1), by*BN+8*nt+2*t+(i&1)
								if mr < rows && n < batch {
									o[n*rows+mr] = acc[warp][mt][nt][lane][i]
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestMatMulMMAFake runs the tensor-core path's emulation (mmaKernel) on
// every block shape, on sizes off the tiles, against the float64 product
// of the dequantised rows within mmaGamma, every output written.
func TestMatMulMMAFake(t *testing.T) {
	d, f := newFakeDevice(t)
	f.emulate = true
	rng := rand.New(rand.NewSource(31))
	for _, c := range []struct {
		typ               metalkit.DType
		rows, cols, batch int
	}{{metalkit.Q8_0, 37, 160, 9}, {metalkit.Q4_K, 21, 512, 19}, {metalkit.Q8_0, 130, 96, 70}, {metalkit.F16, 5, 64, 8}} {
		m := quantMatrix(t, c.typ, c.rows, c.cols, randVec(rng, c.rows*c.cols, 1))
		x := randVec(rng, c.batch*c.cols, 2)
		gw, err := d.Upload(m)
		if err != nil {
			t.Fatal(err)
		}
		gx := put(t, d, x)
		row := make([]float32, c.cols)
		for _, shape := range []string{"n8", "n16", "n64", "n64l"} {
			poison := make([]float32, c.batch*c.rows)
			for i := range poison {
				poison[i] = float32(math.NaN())
			}
			out := put(t, d, poison)
			d.mmaShape = shape
			d.MatMul(out, gw, gx, c.batch)
			d.mmaShape = ""
			got := get(t, d, out, c.batch*c.rows)
			for r := range c.rows {
				m.Row(r, row)
				for col := range c.batch {
					ref, abs, _ := products(row, x[col*c.cols:(col+1)*c.cols], 0)
					if e := math.Abs(float64(got[col*c.rows+r]) - ref); !(e <= mmaGamma(c.cols)*abs) {
						t.Fatalf("%v %dx%dx%d %s: row %d col %d: %v, float64 %v", c.typ, c.rows, c.cols, c.batch, shape, r, col, got[col*c.rows+r], ref)
					}
				}
			}
		}
	}
}

// attnPagesKernel computes an attn_pages_HD_PT launch as kernels.cu does,
// lane by lane: the 16-byte pieces each lane reads of a K or V page, the
// shuffles that add the lanes' sums (butterflies over the lane bits the
// kernel names), the softmax a warp a head, the warps' partial outputs.
func (f *fakeGPU) attnPagesKernel(a fakeAction) {
	var HD, PT int
	if _, err := fmt.Sscanf(strings.TrimPrefix(a.kernel, "attn_pages_"), "%d_%d", &HD, &PT); err != nil {
		f.t.Fatal(err)
	}
	P8, QG := PT/8, 4
	NJ, JS := HD*P8/32, 32/P8
	outp, qp, pool, pagesp, metap, scratch := a.params[0], a.params[1], a.params[2], a.params[3], a.params[4], a.params[5]
	layer, heads, kvHeads := int(int32(a.params[6])), int(int32(a.params[7])), int(int32(a.params[8]))
	pageValues := int(a.params[11])
	f16 := func(i int) float32 { // pool value i
		b := f.at(pool+uint64(2*i), 2)
		return metalkit.F16ToF32(uint16(b[0]) | uint16(b[1])<<8)
	}
	round := func(v float32) float32 { return metalkit.F16ToF32(metalkit.F32ToF16(v)) }
	// butterfly adds v[lane^o] for each o, as __shfl_xor_sync steps do.
	butterfly := func(v []float32, os []int) {
		for _, o := range os {
			w := slices.Clone(v)
			for l := range 32 {
				v[l] = w[l] + w[l^o]
			}
		}
	}
	var scoreSteps, vSteps []int
	for o := P8; o < 32; o <<= 1 {
		scoreSteps = append(scoreSteps, o)
	}
	for o := 1; o < P8; o <<= 1 {
		vSteps = append(vSteps, o)
	}
	for row := 0; row < int(a.g.x); row++ {
		meta := f.i32s(metap+uint64(16*row), 4)
		from, n := int(meta[1]), int(meta[2])
		length := n - from
		pt := func(p int) int { return int(f.i32s(pagesp+uint64(4*(int(meta[0])+p)), 1)[0]) }
		for g := 0; g < int(a.g.y); g++ {
			qpk := heads / kvHeads
			sc := func(h int) []float32 {
				return f.f32s(scratch+uint64(4*(int(meta[3])+(g*qpk+h)*length)), length)
			}
			scale := float32(1 / math.Sqrt(float64(HD)))
			kOff, vOff := (layer*2*kvHeads+g)*HD*PT, ((layer*2+1)*kvHeads+g)*HD*PT
			p0, p1 := from/PT, (n-1)/PT
			if length <= 0 {
				p1 = p0 - 1
			}
			for h0 := 0; h0 < qpk; h0 += QG {
				nh := min(QG, qpk-h0)
				qs := make([][]float32, QG)
				for hh := range QG {
					qs[hh] = make([]float32, HD)
					if hh < nh {
						qv := f.f32s(qp+uint64(4*((row*heads+g*qpk+h0+hh)*HD)), HD)
						for j := range HD {
							qs[hh][j] = round(qv[j]) * scale
						}
					}
				}
				for warp := range 4 {
					for p := p0 + warp; p <= p1; p += 4 {
						s := make([][]float32, QG*8) // [hh*8+i][lane]
						for i := range s {
							s[i] = make([]float32, 32)
						}
						for k := range NJ {
							for lane := range 32 {
								piece, j := lane+32*k, lane/P8+JS*k
								for hh := range QG {
									for i := range 8 {
										s[hh*8+i][lane] += qs[hh][j] * f16(pt(p)*pageValues+kOff+8*piece+i)
									}
								}
							}
						}
						for i := range s {
							butterfly(s[i], scoreSteps)
						}
						for lane := range P8 {
							for hh := range nh {
								for i := range 8 {
									if t := p*PT + 8*lane + i; t >= from && t < n {
										sc(h0 + hh)[t-from] = s[hh*8+i][lane]
									}
								}
							}
						}
					}
				}
				for hh := range nh {
					v := sc(h0 + hh)
					m := float32(math.Inf(-1))
					for _, x := range v {
						m = max(m, x)
					}
					var sum float32
					for t := range v {
						v[t] = float32(math.Exp(float64(v[t] - m)))
						sum += v[t]
					}
					for t := range v {
						v[t] = round(v[t] * (1 / sum))
					}
				}
				red := make([][]float32, 4*QG) // [warp*QG+hh][j]
				for warp := range 4 {
					acc := make([][]float32, QG*NJ) // [hh*NJ+k][lane]
					for i := range acc {
						acc[i] = make([]float32, 32)
					}
					for p := p0 + warp; p <= p1; p += 4 {
						for lane := range 32 {
							for hh := range nh {
								for i := range 8 {
									t := p*PT + 8*(lane%P8) + i
									if t < from || t >= n {
										continue
									}
									w := sc(h0 + hh)[t-from]
									for k := range NJ {
										acc[hh*NJ+k][lane] += w * f16(pt(p)*pageValues+vOff+8*(lane+32*k)+i)
									}
								}
							}
						}
					}
					for hh := range QG {
						red[warp*QG+hh] = make([]float32, HD)
						for k := range NJ {
							butterfly(acc[hh*NJ+k], vSteps)
							for lane := 0; lane < 32; lane += P8 {
								red[warp*QG+hh][lane/P8+JS*k] = acc[hh*NJ+k][lane]
							}
						}
					}
				}
				for hh := range nh {
					o := f.f32s(outp+uint64(4*((row*heads+g*qpk+h0+hh)*HD)), HD)
					for j := range HD {
						o[j] = red[hh][j] + red[QG+hh][j] + red[2*QG+hh][j] + red[3*QG+hh][j]
					}
				}
			}
		}
	}
}

// TestAttentionFake runs attn_pages' emulation (attnPagesKernel) against
// CPUDevice's Attention on TestAttention's rows (1, 17, 300 and 1,030
// positions, a sliding window, pages scattered) for heads of 64 and 128 on
// pages of 16 and 32 and groups of four and five query heads, with its
// bound; the pages are CPUDevice's, copied over.
func TestAttentionFake(t *testing.T) {
	d, f := newFakeDevice(t)
	f.emulate = true
	cpu := metalkit.NewCPUDevice(nil)
	rng := rand.New(rand.NewSource(4))
	for _, c := range []struct {
		shape metalkit.KVShape
		heads int
	}{
		{metalkit.KVShape{Layers: 2, Heads: 2, HeadDim: 64, PageTokens: 32}, 8},
		{metalkit.KVShape{Layers: 1, Heads: 2, HeadDim: 128, PageTokens: 16}, 8},
		{metalkit.KVShape{Layers: 2, Heads: 1, HeadDim: 64, PageTokens: 16}, 5},
	} {
		shape := c.shape
		lens := []int{1, 17, 300, 1030}
		rows, slots, total := pagedRows(rng, shape, lens)
		rows[2].From = 300 - 64
		w := shape.Heads * shape.HeadDim
		k, v := randVec(rng, len(slots)*w, 2), randVec(rng, len(slots)*w, 3)
		q := randVec(rng, len(rows)*c.heads*shape.HeadDim, 1)
		cpool, err := cpu.NewKVPool(shape, total+3)
		if err != nil {
			t.Fatal(err)
		}
		cpu.PutKV(cpool, shape.Layers-1, slots, put(t, cpu, k), put(t, cpu, v))
		cout := put(t, cpu, make([]float32, len(q)))
		cpu.Attention(cout, put(t, cpu, q), cpool, shape.Layers-1, c.heads, rows)
		want := get(t, cpu, cout, len(q))
		gpool, err := d.NewKVPool(shape, total+3)
		if err != nil {
			t.Fatal(err)
		}
		page := make([]uint16, shape.PageValues())
		for i := range total + 3 {
			if err := cpu.ReadPage(page, cpool, i, 0); err != nil {
				t.Fatal(err)
			}
			d.WritePage(gpool, i, page)
		}
		gout := put(t, d, make([]float32, len(q)))
		d.Attention(gout, put(t, d, q), gpool, shape.Layers-1, c.heads, rows)
		near(t, fmt.Sprintf("attn_pages %+v", shape), get(t, d, gout, len(q)), want, 0, 2*3.0/2048)
	}
}

// matvecSKernel computes a matvec_s_TYPE or matvecs_s_TYPE launch as
// kernels.cu does: blocks over each matrix's rows, 8 a block (two a
// warp), each row staged 32 units at a time from the 16-byte pieces a
// lane loads (the next chunk's loaded before this one's arithmetic, a
// piece past the row left as it was), and the staged chunk's units
// dequantised as deq8 reads them.
func (f *fakeGPU) matvecSKernel(a fakeAction) {
	multi, swiglu := strings.HasPrefix(a.kernel, "matvecs_s_"), strings.HasPrefix(a.kernel, "matvec_swiglu_s_")
	name := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(a.kernel, "matvecs_s_"), "matvec_s_"), "matvec_swiglu_s_")
	typ, found := metalkit.DType(0), false
	for t, k := range weightKernels {
		if k == name {
			typ, found = t, true
		}
	}
	if !found {
		f.t.Fatalf("fake GPU: no emulation of %s", a.kernel)
	}
	type mat struct {
		out, w uint64
		rows   int
	}
	var mats []mat
	var x uint64
	var cols, rowBytes int
	var up uint64
	if swiglu { // out, gate, up, x, rows, cols, rowBytes
		mats = []mat{{a.params[0], a.params[1], int(int32(a.params[4]))}}
		up, x, cols, rowBytes = a.params[2], a.params[3], int(int32(a.params[5])), int(a.params[6])
	} else if multi {
		x, cols, rowBytes = a.params[0], int(int32(a.params[1])), int(a.params[2])
		for i := range 4 {
			mats = append(mats, mat{a.params[3+3*i], a.params[4+3*i], int(int32(a.params[5+3*i]))})
		}
	} else {
		mats = []mat{{a.params[0], a.params[1], int(int32(a.params[3]))}}
		x, cols, rowBytes = a.params[2], int(int32(a.params[4])), int(a.params[5])
	}
	unitBytes := metalkit.RowBytes(typ, 256) / 8
	cb := 32 * unitBytes
	np, units := cb/16, cols/32
	chunks, rowPieces := (units+31)/32, rowBytes/16
	xs := f.f32s(x, cols)
	// rowSum is row r of the matrix at w times x, as a warp stages and
	// sums it.
	rowSum := func(w uint64, r int) float32 {
		row := f.at(w+uint64(r*rowBytes), uint64(rowBytes))
		stage := make([]byte, cb) // the buffer's pieces as the lanes hold them
		var sum float32
		for c := range chunks {
			for k := range np {
				if at := c*np + k; at < rowPieces {
					copy(stage[16*k:16*k+16], row[16*at:])
				}
			}
			left := min(32, units-32*c)
			mc, err := metalkit.NewMatrix(typ, 1, 32*left, stage[:left*unitBytes])
			if err != nil {
				f.t.Fatal(err)
			}
			v := make([]float32, 32*left)
			mc.Row(0, v)
			for i, wv := range v {
				sum += wv * xs[32*32*c+i]
			}
		}
		return sum
	}
	if swiglu {
		m := mats[0]
		if int(a.g.x) != (m.rows+3)/4 {
			f.t.Errorf("fake GPU: %s on %d blocks for %d rows", a.kernel, a.g.x, m.rows)
		}
		o := f.f32s(m.out, m.rows)
		for r := range m.rows {
			g, u := rowSum(m.w, r), rowSum(up, r)
			o[r] = g / (1 + float32(math.Exp(float64(-g)))) * u
		}
		return
	}
	b := 0
	for _, m := range mats {
		nb := (m.rows + 7) / 8
		for blk := range nb {
			if b+blk >= int(a.g.x) {
				f.t.Fatalf("fake GPU: %s: block %d of a %d-block grid", a.kernel, b+blk, a.g.x)
			}
			for warp := range 4 {
				r0 := (blk*4 + warp) * 2
				if r0 >= m.rows {
					continue
				}
				for j := range min(2, m.rows-r0) {
					f.f32s(m.out, m.rows)[r0+j] = rowSum(m.w, r0+j)
				}
			}
		}
		b += nb
	}
	if b != int(a.g.x) {
		f.t.Errorf("fake GPU: %s: %d blocks needed, grid of %d", a.kernel, b, a.g.x)
	}
}

// TestMatVecSFake runs matvec_s's and matvecs_s's emulation on rows whose
// last chunk is partial (40 and 72 units) and heights off the blocks'
// 8 rows, against the float64 product.
func TestMatVecSFake(t *testing.T) {
	d, f := newFakeDevice(t)
	f.emulate = true
	rng := rand.New(rand.NewSource(17))
	for _, typ := range []metalkit.DType{metalkit.Q8_0, metalkit.Q4_K, metalkit.Q4_0, metalkit.F16} {
		for _, cols := range []int{1280, 2304} {
			heights := []int{37, 9, 64}
			var ws []metalkit.Weights
			var ms []metalkit.Matrix
			var outs []metalkit.Buffer
			for _, rows := range heights {
				m := quantMatrix(t, typ, rows, cols, randVec(rng, rows*cols, 1))
				w, err := d.Upload(m)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(w.(*weights).matvec, "matvec_s_") {
					t.Fatalf("%v %d wide: matvec %s", typ, cols, w.(*weights).matvec)
				}
				ws, ms, outs = append(ws, w), append(ms, m), append(outs, put(t, d, make([]float32, rows)))
			}
			x := randVec(rng, cols, 2)
			gx := put(t, d, x)
			check := func(what string, i int) {
				got := get(t, d, outs[i], heights[i])
				row := make([]float32, cols)
				for r := range heights[i] {
					ms[i].Row(r, row)
					ref, abs, _ := products(row, x, 0)
					if e := math.Abs(float64(got[r]) - ref); !(e <= float64(cols)*u*abs) {
						t.Fatalf("%v %d wide, %s, matrix %d row %d: %v, float64 %v", typ, cols, what, i, r, got[r], ref)
					}
				}
			}
			d.MatMul(outs[0], ws[0], gx, 1)
			check("MatMul", 0)
			d.MatMuls(outs, ws, gx, 1)
			for i := range ws {
				check("MatMuls", i)
			}
			// Gate and up: SwiGLU of the two rows' products.
			up := quantMatrix(t, typ, heights[0], cols, randVec(rng, heights[0]*cols, 1))
			gu, err := d.Upload(up)
			if err != nil {
				t.Fatal(err)
			}
			out := put(t, d, make([]float32, heights[0]))
			f.seen = nil
			d.MatMulSwiGLU(out, nil, ws[0], gu, gx, 1)
			if len(f.seen) != 1 || !strings.HasPrefix(f.seen[0], "matvec_swiglu_s_") {
				t.Fatalf("MatMulSwiGLU launched %q", f.seen)
			}
			got := get(t, d, out, heights[0])
			row := make([]float32, cols)
			for r := range heights[0] {
				ms[0].Row(r, row)
				g, gabs, _ := products(row, x, 0)
				up.Row(r, row)
				uv, uabs, _ := products(row, x, 0)
				want := g / (1 + math.Exp(-g)) * uv
				// Each product within cols·u of its float64 value; SiLU's
				// slope is at most 1.1.
				if e := math.Abs(float64(got[r]) - want); !(e <= 2*float64(cols)*u*(1.1*gabs*math.Abs(uv)+math.Abs(g)*uabs)+1e-6) {
					t.Fatalf("%v %d wide: MatMulSwiGLU row %d: %v, float64 %v", typ, cols, r, got[r], want)
				}
			}
		}
	}
}
