package cuda

import (
	_ "embed"
	"fmt"
	"math"
	"runtime"
	"strings"
	"unsafe"

	"reddwarf/metalkit"
)

// ptx is kernels.cu compiled by gen.sh; its header names the nvcc version.
//
//go:embed kernels.ptx
var ptx string

// ds4ptx is deepseek4.cu compiled by gen.sh: deepseek4's own kernels, a
// second module.
//
//go:embed deepseek4.ptx
var ds4ptx string

// weightKernels names each weight type's kernels in kernels.cu (matmul_X,
// matvec_X, embed_X, experts_X, experts_vec_X); a type missing here is
// refused by Upload.
var weightKernels = map[metalkit.DType]string{
	metalkit.F32: "f32", metalkit.F16: "f16", metalkit.BF16: "bf16",
	metalkit.Q8_0: "q8_0", metalkit.Q4_0: "q4_0", metalkit.Q4_K: "q4_k", metalkit.Q6_K: "q6_k",
	metalkit.Q2_K: "q2_k", metalkit.IQ2_XXS: "iq2_xxs",
}

// The device has deepseek4's ops so far (metalkit.DeepSeek4Ops).
var _ metalkit.DeepSeek4Ops = (*Device)(nil)

// Device is metalkit.Device on one NVIDIA GPU: weights, buffers and KV
// pages in its memory, every op a kernel launched on a stream of its own
// (one stream can be recorded as a CUDA graph, the default stream cannot:
// see Graph), so ops run in call order, and Read waits for them. An op
// does not wait for the GPU: its small host arrays (tokens, positions,
// page tables) and Write's values go up through pinned memory with
// asynchronous copies on the same stream (copyIn), as do uploads and
// zeroed allocations, so a forward pass queues its kernels back to back
// and the host waits once, in Read. Methods lock the calling goroutine
// to its OS thread while they run, since the driver keeps the current
// context per thread. Not safe for concurrent use.
type Device struct {
	drv    *driver
	dev    int32
	ctx    uintptr
	stream uintptr // every op's kernels and copies, in call order
	mod    uintptr
	ds4mod uintptr // deepseek4.ptx's module
	name   string
	fn     map[string]uintptr
	args   *launchArgs
	pinner runtime.Pinner
	allocs map[uint64]bool // every live allocation, freed by Close
	// The staging area: stageBytes of pinned host memory at stageHost
	// and as many of device memory at stageDev, of which the first
	// stageUsed are handed out since the GPU last drained (see reserve).
	// stageMin is the size first allocated (tests shrink it).
	stageHost                       unsafe.Pointer
	stageDev                        uint64
	stageBytes, stageUsed, stageMin uint64
	// work is device memory for attention scores, grown as needed from
	// workMin bytes (tests shrink it).
	work, workBytes, workMin uint64

	// CUDA graphs (graph.go): the recordings by key; rec, the one being
	// recorded or replayed while Graph's fn runs (nil otherwise: ops
	// launch directly); the argument area the recordings' host arrays
	// are sent to, argBytes at argDev; the sizes a recording found the
	// argument and work areas too small for; argMin, the argument area's
	// first size (tests shrink it).
	graphs           map[string]*graph
	rec              *graph
	argDev, argBytes uint64
	argMin           uint64
	needArgs         int
	needWork         uint64
	stats            map[string]*GraphStats

	// prof is the profile in progress (profile.go); nil when none.
	prof *profiler
	// ropePow caches Rope's powers by (base, dim) (ropePowers).
	ropePow map[ropeKey][]int32

	// mmaMin is the smallest batch MatMul runs on the tensor cores
	// (mmaShapes; 0: never); mmaShape, when set, is the block shape
	// used for every such batch (benchmarks compare them).
	mmaMin   int
	mmaShape string
}

// mmaTypes are the weight types with tensor-core kernels (kernels.cu's
// mmaf16): the quantised formats and F16, whose values f16 holds. F32
// and BF16 rows can exceed f16's range or precision and keep matmul.
var mmaTypes = map[metalkit.DType]bool{
	metalkit.F16: true, metalkit.Q8_0: true, metalkit.Q4_0: true, metalkit.Q4_K: true, metalkit.Q6_K: true,
	metalkit.Q2_K: true, metalkit.IQ2_XXS: true,
}

// stagedMatvecTypes are the weight types with matvec_s, the decode
// kernel that reads rows in 16-byte loads (32 units of each type are a
// whole number of 16-byte pieces); used where rows start 16-byte aligned.
var stagedMatvecTypes = map[metalkit.DType]bool{
	metalkit.F16: true, metalkit.Q8_0: true, metalkit.Q4_0: true, metalkit.Q4_K: true, metalkit.Q2_K: true,
}

// mmaShapes are mmaf16's block shapes (kernels.cu's MMA_KERNELS), by the
// largest batch each is picked for: rows × columns a block covers.
var mmaShapes = []struct {
	name       string
	maxBatch   int
	rows, cols int
}{
	{"n8", 8, 16, 8},
	{"n16", 16, 16, 16},
	{"n64", 64, 32, 64},
	{"n64l", math.MaxInt, 128, 64},
}

// defaultMMAMin is where the tensor cores take over from matmul: below
// it matmul reads the weights once for up to 8 columns, with f32 sums.
const defaultMMAMin = 8

// Staging sizes: the area starts at defaultStageBytes (a decode step of
// a 1B llama stages a few hundred bytes, so it fills about once in
// thousands of ops when nothing reads between them); Writes of more than
// stageWriteMax bytes copy synchronously instead (uploads at load time,
// where the wait does not matter and a pinned copy of them would).
const (
	defaultStageBytes = 4 << 20
	stageWriteMax     = 1 << 20
)

// launchArgs is cuLaunchKernel's argument block: params[i] points at
// slots[i], each slot holding one argument in its low bytes. It lives on
// the heap, pinned, so the driver may read it.
type launchArgs struct {
	slots  [16]uint64
	params [16]unsafe.Pointer
}

// Open returns GPU ordinal's device with the kernels loaded, or an error
// saying why there is none (no driver, no GPU, a PTX the driver cannot
// compile).
func Open(ordinal int) (*Device, error) {
	drv, err := loadDriver()
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := newDevice(drv)
	if err := drv.check("cuInit", drv.cuInit(0)); err != nil {
		return nil, err
	}
	if err := drv.check("cuDeviceGet", drv.cuDeviceGet(&d.dev, int32(ordinal))); err != nil {
		return nil, err
	}
	name := make([]byte, 256)
	if err := drv.check("cuDeviceGetName", drv.cuDeviceGetName(&name[0], int32(len(name)), d.dev)); err != nil {
		return nil, err
	}
	d.name = fmt.Sprintf("cuda:%d %s", ordinal, strings.TrimRight(string(name), "\x00"))
	if err := drv.check("cuDevicePrimaryCtxRetain", drv.cuDevicePrimaryCtxRetain(&d.ctx, d.dev)); err != nil {
		return nil, err
	}
	if err := drv.check("cuCtxSetCurrent", drv.cuCtxSetCurrent(d.ctx)); err != nil {
		return nil, err
	}
	// Every copy, fill and kernel goes on this one stream, non-blocking
	// (CU_STREAM_NON_BLOCKING): the default stream, used only by Read's
	// copy after everything has drained, neither waits for it nor makes
	// it wait.
	if err := drv.check("cuStreamCreate", drv.cuStreamCreate(&d.stream, 1)); err != nil {
		drv.cuDevicePrimaryCtxRelease(d.dev)
		return nil, err
	}
	if err := d.loadModule(&d.mod, ptx); err != nil {
		drv.cuStreamDestroy(d.stream)
		drv.cuDevicePrimaryCtxRelease(d.dev)
		return nil, err
	}
	if err := d.loadModule(&d.ds4mod, ds4ptx); err != nil {
		drv.cuModuleUnload(d.mod)
		drv.cuStreamDestroy(d.stream)
		drv.cuDevicePrimaryCtxRelease(d.dev)
		return nil, err
	}
	d.pinner.Pin(d.args)
	return d, nil
}

// loadModule loads the PTX module p into *mod and looks up every kernel
// in it now, not at its first launch: a driver that loads kernels lazily
// would otherwise load one inside a graph recording, where waiting for
// the GPU is not allowed. On error nothing stays loaded.
func (d *Device) loadModule(mod *uintptr, p string) error {
	drv := d.drv
	image := append([]byte(p), 0) // the driver reads a NUL-terminated PTX string
	if err := drv.check("cuModuleLoadData", drv.cuModuleLoadData(mod, unsafe.Pointer(&image[0]))); err != nil {
		return err
	}
	for _, name := range entries(p) {
		var f uintptr
		cname := append([]byte(name), 0)
		err := drv.check("cuModuleGetFunction "+name, drv.cuModuleGetFunction(&f, *mod, &cname[0]))
		if err == nil && d.fn[name] != 0 {
			err = fmt.Errorf("cuda: kernel %s is in two modules", name)
		}
		if err != nil {
			drv.cuModuleUnload(*mod)
			return err
		}
		d.fn[name] = f
	}
	return nil
}

// newDevice returns a Device on drv with its tables made and nothing
// asked of the driver; Open fills in the rest (context, stream, module,
// kernels) and pins args.
func newDevice(drv *driver) *Device {
	d := &Device{drv: drv, fn: map[string]uintptr{}, allocs: map[uint64]bool{}, args: &launchArgs{}, stageMin: defaultStageBytes,
		workMin: 1 << 20, graphs: map[string]*graph{}, argMin: minArgBytes, stats: map[string]*GraphStats{},
		mmaMin: defaultMMAMin, ropePow: map[ropeKey][]int32{}}
	for i := range d.args.params {
		d.args.params[i] = unsafe.Pointer(&d.args.slots[i])
	}
	return d
}

func (d *Device) Name() string { return d.name }

// entries returns the names of the kernels (.entry directives) in p.
func entries(p string) []string {
	var names []string
	for _, line := range strings.Split(p, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), ".visible .entry ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '('); i > 0 {
			names = append(names, rest[:i])
		}
	}
	return names
}

// bind makes d's context current on this goroutine's thread until the
// returned func runs. Inside Graph it is already, on a locked thread.
func (d *Device) bind() func() {
	runtime.LockOSThread()
	if d.rec == nil {
		if err := d.drv.check("cuCtxSetCurrent", d.drv.cuCtxSetCurrent(d.ctx)); err != nil {
			panic(err)
		}
	}
	return runtime.UnlockOSThread
}

// must panics on a failed launch or copy: after a successful Upload and
// Alloc, those fail only on a broken invariant or a dead GPU.
func (d *Device) must(what string, r int32) {
	if err := d.drv.check(what, r); err != nil {
		panic(err)
	}
}

// Close frees every allocation, graph, the stream and the module, and
// releases the context.
func (d *Device) Close() error {
	defer d.bind()()
	d.drain()
	d.destroyGraphs()
	for p := range d.allocs {
		d.drv.cuMemFree(p)
	}
	d.allocs = nil
	if d.stageHost != nil {
		d.drv.cuMemFreeHost(d.stageHost)
		d.stageHost = nil
	}
	d.drv.cuModuleUnload(d.ds4mod)
	d.drv.cuModuleUnload(d.mod)
	d.drv.cuStreamDestroy(d.stream)
	d.pinner.Unpin()
	return d.drv.check("cuDevicePrimaryCtxRelease", d.drv.cuDevicePrimaryCtxRelease(d.dev))
}

// alloc returns n zeroed bytes of device memory.
func (d *Device) alloc(n int) (uint64, error) {
	if d.rec != nil {
		panic("cuda: Alloc, Upload or NewKVPool inside Graph")
	}
	var p uint64
	if err := d.drv.check(fmt.Sprintf("cuMemAlloc %d bytes", n), d.drv.cuMemAlloc(&p, uint64(max(n, 1)))); err != nil {
		return 0, err
	}
	d.allocs[p] = true
	return p, d.drv.check("cuMemsetD8Async", d.drv.cuMemsetD8Async(p, 0, uint64(max(n, 1)), d.stream))
}

// buffer is a Buffer: n float32s at ptr.
type buffer struct {
	ptr uint64
	n   int
}

func (b *buffer) Len() int { return b.n }

type weights struct {
	m                     metalkit.Matrix // Data is the host copy's, kept for Matrix()
	ptr                   uint64
	rowBytes              int
	matmul, matvec, embed string // the kernels' names
	mma                   string // the tensor-core kernels' suffix (mma_SHAPE_mma); "" if none
	matvecRows            int    // rows a block of the matvec kernel does
	// A stacked expert tensor (UploadExperts): experts matrices of
	// m.Rows/experts rows; 0 for other weights. Its kernels' names.
	experts                 int
	expertsMany, expertsFew string
}

func (w *weights) Matrix() metalkit.Matrix { return w.m }

type kvPool struct {
	shape metalkit.KVShape
	ptr   uint64
	pages int
}

func (p *kvPool) Shape() metalkit.KVShape { return p.shape }

func (d *Device) Upload(m metalkit.Matrix) (metalkit.Weights, error) {
	k, ok := weightKernels[m.Type]
	if !ok || m.Repacked() {
		return nil, fmt.Errorf("cuda: upload %v %dx%d (repacked %v): %w", m.Type, m.Rows, m.Cols, m.Repacked(), metalkit.ErrUnsupported)
	}
	// The kernels read rows in units of 32 values: a float row of another
	// width (stories260K's FFN is 172 wide) is padded with zeros.
	data, rowBytes := m.Data, metalkit.RowBytes(m.Type, m.Cols)
	if m.Cols%32 != 0 {
		padded := metalkit.RowBytes(m.Type, (m.Cols+31)/32*32)
		data = make([]byte, m.Rows*padded)
		for r := 0; r < m.Rows; r++ {
			copy(data[r*padded:], m.Data[r*rowBytes:(r+1)*rowBytes])
		}
		rowBytes = padded
	}
	defer d.bind()()
	p, err := d.alloc(len(data))
	if err != nil {
		return nil, err
	}
	if len(data) > 0 {
		// From pageable memory the driver copies data out before it
		// returns; the copy to p is in stream order.
		if err := d.drv.check("cuMemcpyHtoDAsync", d.drv.cuMemcpyHtoDAsync(p, unsafe.Pointer(&data[0]), uint64(len(data)), d.stream)); err != nil {
			return nil, err
		}
	}
	w := &weights{m: m, ptr: p, rowBytes: rowBytes, matmul: "matmul_" + k, matvec: "matvec_" + k, embed: "embed_" + k,
		expertsMany: "experts_" + k, expertsFew: "experts_vec_" + k}
	if mmaTypes[m.Type] && m.Cols%32 == 0 {
		w.mma = k
	}
	w.matvecRows = 4
	if stagedMatvecTypes[m.Type] && rowBytes%16 == 0 {
		w.matvec, w.matvecRows = "matvec_s_"+k, 8 // two rows a warp
	}
	return w, nil
}

func (d *Device) Alloc(n int) (metalkit.Buffer, error) {
	defer d.bind()()
	p, err := d.alloc(4 * n)
	if err != nil {
		return nil, err
	}
	return &buffer{ptr: p, n: n}, nil
}

func (d *Device) Write(b metalkit.Buffer, off int, src []float32) {
	bb := b.(*buffer)
	if off < 0 || off+len(src) > bb.n {
		panic(fmt.Sprintf("cuda: Write [%d, %d) of %d", off, off+len(src), bb.n))
	}
	if len(src) == 0 {
		return
	}
	defer d.bind()()
	n := 4 * len(src)
	if n > stageWriteMax && d.rec == nil {
		// From pageable memory the driver copies src out before it
		// returns (in a pinned buffer of its own), and the copy to the
		// device is in stream order.
		d.must("cuMemcpyHtoDAsync", d.drv.cuMemcpyHtoDAsync(bb.ptr+uint64(4*off), unsafe.Pointer(&src[0]), uint64(n), d.stream))
		return
	}
	d.copyIn(bb.ptr+uint64(4*off), unsafe.Pointer(&src[0]), n)
}

func (d *Device) Read(dst []float32, b metalkit.Buffer, off int) error {
	bb := b.(*buffer)
	if off < 0 || off+len(dst) > bb.n {
		panic(fmt.Sprintf("cuda: Read [%d, %d) of %d", off, off+len(dst), bb.n))
	}
	if d.rec != nil {
		panic("cuda: Read inside Graph")
	}
	defer d.bind()()
	if len(dst) == 0 {
		return d.drain()
	}
	// Every op before it has finished after drain; then synchronous
	// copies into the pinned staging area, which nothing queued reads
	// any more, and from there into dst: a copy into pageable memory
	// goes through the driver's own bounce buffer at a fraction of the
	// rate (a step's logits, 128k floats of a llama-3 vocabulary, are
	// 0.5 MB, read every decode step).
	if err := d.drain(); err != nil {
		return err
	}
	src := bb.ptr + uint64(4*off)
	for done := 0; done < len(dst); {
		n := min(len(dst)-done, stageWriteMax/4)
		at := d.reserve(4 * n) // may allocate the area: before reading stageHost
		host := unsafe.Add(d.stageHost, at)
		if err := d.drv.check("cuMemcpyDtoH", d.drv.cuMemcpyDtoH(host, src+uint64(4*done), uint64(4*n))); err != nil {
			return err
		}
		copy(dst[done:done+n], unsafe.Slice((*float32)(host), n))
		d.stageUsed = 0 // the copy has ended: the area is free again
		done += n
	}
	return nil
}

// Sync waits for every op before it (benchmarks time with it).
func (d *Device) Sync() error {
	if d.rec != nil {
		panic("cuda: Sync inside Graph")
	}
	defer d.bind()()
	return d.drain()
}

// drain waits for every op and copy queued so far; then no queued work
// reads the staging area, which is emptied.
func (d *Device) drain() error {
	if err := d.drv.check("cuCtxSynchronize", d.drv.cuCtxSynchronize()); err != nil {
		return err
	}
	d.stageUsed = 0
	return nil
}

// buf is b's device buffer, checked to hold n values.
func buf(b metalkit.Buffer, n int, what string) uint64 {
	bb := b.(*buffer)
	if n > bb.n {
		panic(fmt.Sprintf("cuda: %s needs %d values, buffer has %d", what, n, bb.n))
	}
	return bb.ptr
}

func (d *Device) MatMul(out metalkit.Buffer, w metalkit.Weights, x metalkit.Buffer, batch int) {
	ww := w.(*weights)
	m := ww.m
	o, xp := buf(out, batch*m.Rows, "MatMul out"), buf(x, batch*m.Cols, "MatMul x")
	if batch == 0 || m.Rows == 0 {
		return
	}
	defer d.bind()()
	if d.prof != nil {
		d.prof.note(fmt.Sprintf("%dx%d b=%d", m.Rows, m.Cols, batch), int64(m.Rows)*int64(ww.rowBytes))
	}
	const warps = 4 // rows per block of 128 threads
	// Decode: the lean kernel for one column (whole 32-value units only).
	if batch == 1 && m.Cols%32 == 0 {
		d.launch(ww.matvec, grid((m.Rows+ww.matvecRows-1)/ww.matvecRows, 1), 32*warps, o, ww.ptr, xp, i32(m.Rows), i32(m.Cols), int64(ww.rowBytes))
		return
	}
	// Batches: the tensor cores (mmaf16), the block shape by batch size.
	if ww.mma != "" && d.mmaMin > 0 && batch >= d.mmaMin {
		for _, sh := range mmaShapes {
			if d.mmaShape == sh.name || d.mmaShape == "" && batch <= sh.maxBatch {
				d.launch("mma_"+sh.name+"_"+ww.mma, grid((m.Rows+sh.rows-1)/sh.rows, (batch+sh.cols-1)/sh.cols), 128,
					o, ww.ptr, xp, i32(m.Rows), i32(m.Cols), i32(batch), int64(ww.rowBytes))
				return
			}
		}
	}
	d.launch(ww.matmul, grid((m.Rows+warps-1)/warps, 1), 32*warps, o, ww.ptr, xp, i32(m.Rows), i32(m.Cols), i32(batch), int64(ww.rowBytes))
}

var _ metalkit.MatMulsDevice = (*Device)(nil)

// MatMuls runs up to four matrices of one type and width on one column
// (decode: Q, K and V; gate and up) as one launch of matvecs_s, each
// matrix's rows as MatMul's matvec_s computes them (the same bits); other
// cases are MatMul per matrix.
func (d *Device) MatMuls(outs []metalkit.Buffer, ws []metalkit.Weights, x metalkit.Buffer, batch int) {
	if len(outs) != len(ws) {
		panic(fmt.Sprintf("cuda: MatMuls of %d matrices into %d buffers", len(ws), len(outs)))
	}
	one := batch == 1 && len(ws) >= 2 && len(ws) <= 4
	for _, w := range ws {
		ww, w0 := w.(*weights), ws[0].(*weights)
		one = one && ww.m.Type == w0.m.Type && ww.m.Cols == w0.m.Cols && ww.rowBytes == w0.rowBytes &&
			strings.HasPrefix(ww.matvec, "matvec_s_") && ww.m.Rows > 0
	}
	if !one {
		for i, w := range ws {
			d.MatMul(outs[i], w, x, batch)
		}
		return
	}
	w0 := ws[0].(*weights)
	xp := buf(x, w0.m.Cols, "MatMuls x")
	args := []any{xp, i32(w0.m.Cols), int64(w0.rowBytes)}
	blocks, bytes, shape := 0, int64(0), ""
	for i, w := range ws {
		ww := w.(*weights)
		o := buf(outs[i], ww.m.Rows, "MatMuls out")
		args = append(args, o, ww.ptr, i32(ww.m.Rows))
		blocks += (ww.m.Rows + 7) / 8
		bytes += int64(ww.m.Rows) * int64(ww.rowBytes)
		shape += fmt.Sprintf("+%d", ww.m.Rows)
	}
	for len(args) < 15 {
		args = append(args, uint64(0), uint64(0), i32(0))
	}
	defer d.bind()()
	if d.prof != nil {
		d.prof.note(fmt.Sprintf("%sx%d b=1", shape[1:], w0.m.Cols), bytes)
	}
	d.launch("matvecs_s_"+strings.TrimPrefix(w0.matvec, "matvec_s_"), grid(blocks, 1), 128, args...)
}

// MatMulSwiGLU is one launch of matvec_swiglu_s on one column (decode)
// where gate and up have one staged type and shape: a warp reads gate's
// row r and up's row r and writes SiLU(g)·u, the bits of matvec_s twice
// and swiglu. Otherwise MatMul, MatMul, SwiGLU; tmp is then up's product.
func (d *Device) MatMulSwiGLU(out, tmp metalkit.Buffer, gate, up metalkit.Weights, x metalkit.Buffer, batch int) {
	g, u := gate.(*weights), up.(*weights)
	if g.m.Rows != u.m.Rows || g.m.Cols != u.m.Cols {
		panic(fmt.Sprintf("cuda: MatMulSwiGLU of %dx%d and %dx%d", g.m.Rows, g.m.Cols, u.m.Rows, u.m.Cols))
	}
	if batch != 1 || g.m.Type != u.m.Type || g.rowBytes != u.rowBytes || !strings.HasPrefix(g.matvec, "matvec_s_") || g.m.Rows == 0 {
		d.MatMul(out, gate, x, batch)
		d.MatMul(tmp, up, x, batch)
		d.SwiGLU(out, out, tmp, batch*g.m.Rows)
		return
	}
	o, xp := buf(out, g.m.Rows, "MatMulSwiGLU out"), buf(x, g.m.Cols, "MatMulSwiGLU x")
	defer d.bind()()
	if d.prof != nil {
		d.prof.note(fmt.Sprintf("2x%dx%d b=1", g.m.Rows, g.m.Cols), 2*int64(g.m.Rows)*int64(g.rowBytes))
	}
	d.launch("matvec_swiglu_s_"+strings.TrimPrefix(g.matvec, "matvec_s_"), grid((g.m.Rows+3)/4, 1), 128,
		o, g.ptr, u.ptr, xp, i32(g.m.Rows), i32(g.m.Cols), int64(g.rowBytes))
}

func (d *Device) Embed(out metalkit.Buffer, table metalkit.Weights, tokens []int32) {
	ww := table.(*weights)
	o := buf(out, len(tokens)*ww.m.Cols, "Embed out")
	for _, t := range tokens {
		if t < 0 || int(t) >= ww.m.Rows {
			panic(fmt.Sprintf("cuda: Embed token %d of %d", t, ww.m.Rows))
		}
	}
	if len(tokens) == 0 {
		return
	}
	defer d.bind()()
	tp := d.upload32(tokens)
	d.launch(ww.embed, grid(len(tokens), 1), 128, o, ww.ptr, tp, i32(ww.m.Cols), int64(ww.rowBytes))
}

func (d *Device) RMSNorm(out, x, w metalkit.Buffer, rows, n int, eps float32) {
	o, xp, wp := buf(out, rows*n, "RMSNorm out"), buf(x, rows*n, "RMSNorm x"), buf(w, n, "RMSNorm w")
	if rows == 0 {
		return
	}
	defer d.bind()()
	d.launch("rmsnorm", grid(rows, 1), 256, o, xp, wp, i32(n), f32(eps))
}

// AddRMSNorm is one kernel: each block adds its row's residual, keeping
// the sum in registers for the norm's sum of squares (the values and the
// order of summation of add and rmsnorm, so the same bits).
func (d *Device) AddRMSNorm(out, x, r, w metalkit.Buffer, rows, n int, eps float32) {
	o, xp := buf(out, rows*n, "AddRMSNorm out"), buf(x, rows*n, "AddRMSNorm x")
	rp, wp := buf(r, rows*n, "AddRMSNorm r"), buf(w, n, "AddRMSNorm w")
	if rows == 0 {
		return
	}
	defer d.bind()()
	d.launch("add_rmsnorm", grid(rows, 1), 256, o, xp, rp, wp, i32(n), f32(eps))
}

func (d *Device) Softmax(x metalkit.Buffer, rows, n int) {
	xp := buf(x, rows*n, "Softmax x")
	if rows == 0 {
		return
	}
	defer d.bind()()
	d.launch("softmax", grid(rows, 1), 256, xp, i32(n))
}

func (d *Device) Add(out, a, b metalkit.Buffer, n int) {
	o, ap, bp := buf(out, n, "Add out"), buf(a, n, "Add a"), buf(b, n, "Add b")
	if n == 0 {
		return
	}
	defer d.bind()()
	d.launch("add", grid((n+255)/256, 1), 256, o, ap, bp, i32(n))
}

func (d *Device) SwiGLU(out, gate, up metalkit.Buffer, n int) {
	o, g, u := buf(out, n, "SwiGLU out"), buf(gate, n, "SwiGLU gate"), buf(up, n, "SwiGLU up")
	if n == 0 {
		return
	}
	defer d.bind()()
	d.launch("swiglu", grid((n+255)/256, 1), 256, o, g, u, i32(n))
}

func (d *Device) Rope(x metalkit.Buffer, pos []int32, r metalkit.Rope) {
	xp := buf(x, len(pos)*r.Heads*r.HeadDim, "Rope x")
	if r.Factors != nil && len(r.Factors) < r.Dim/2 || r.Dim > r.HeadDim || r.Dim%2 != 0 {
		panic(fmt.Sprintf("cuda: Rope over %d of %d values with %d factors", r.Dim, r.HeadDim, len(r.Factors)))
	}
	if len(pos) == 0 || r.Heads == 0 || r.Dim == 0 {
		return // nothing rotates (and a grid may not be empty)
	}
	defer d.bind()()
	// The powers base^(−2i/dim) as RopeFactors computes them (doubles,
	// first: 8-byte aligned), the positions, then the factors' bits, in
	// one upload: a second one could grow the staging area and free the
	// first.
	half := r.Dim / 2
	arg := append(make([]int32, 0, 2*half+len(pos)+half), d.ropePowers(r.Base, r.Dim)...)
	arg = append(arg, pos...)
	for _, f := range r.Factors[:min(len(r.Factors), half)] {
		arg = append(arg, int32(math.Float32bits(f)))
	}
	pw := d.upload32(arg)
	pp := pw + uint64(8*half)
	var fp uint64
	if r.Factors != nil {
		fp = pp + uint64(4*len(pos))
	}
	neox := 0
	if r.Neox {
		neox = 1
	}
	pairs := r.Heads * r.Dim / 2
	d.launch("rope", grid(len(pos), (pairs+127)/128), 128, xp, pp, fp, i32(r.Heads), i32(r.HeadDim), i32(r.Dim), f32(r.Base), f32(r.Scale), i32(neox), pw)
}

// ropePowers returns base^(−2i/dim) for i < dim/2 as RopeFactors computes
// them, each double as two int32s (low word first), computed once per
// (base, dim): a decode step ropes twice a layer.
func (d *Device) ropePowers(base float32, dim int) []int32 {
	key := ropeKey{base, dim}
	if p, ok := d.ropePow[key]; ok {
		return p
	}
	p := make([]int32, dim/2*2)
	for i := range dim / 2 {
		bits := math.Float64bits(math.Pow(float64(base), -float64(2*i)/float64(dim)))
		p[2*i], p[2*i+1] = int32(uint32(bits)), int32(uint32(bits>>32))
	}
	d.ropePow[key] = p
	return p
}

type ropeKey struct {
	base float32
	dim  int
}

func (d *Device) NewKVPool(l metalkit.KVShape, pages int) (metalkit.KVPool, error) {
	if l.HeadDim > 256 {
		return nil, fmt.Errorf("cuda: head size %d over 256: %w", l.HeadDim, metalkit.ErrUnsupported)
	}
	defer d.bind()()
	p, err := d.alloc(2 * pages * l.PageValues())
	if err != nil {
		return nil, err
	}
	return &kvPool{shape: l, ptr: p, pages: pages}, nil
}

func (d *Device) PutKV(pool metalkit.KVPool, layer int, slots []int32, k, v metalkit.Buffer) {
	p := pool.(*kvPool)
	s := p.shape
	w := s.Heads * s.HeadDim
	kp, vp := buf(k, len(slots)*w, "PutKV k"), buf(v, len(slots)*w, "PutKV v")
	for _, sl := range slots {
		if sl < 0 || int(sl) >= p.pages*s.PageTokens || layer < 0 || layer >= s.Layers {
			panic(fmt.Sprintf("cuda: PutKV slot %d layer %d of a %d-page pool", sl, layer, p.pages))
		}
	}
	if len(slots) == 0 {
		return
	}
	defer d.bind()()
	sp := d.upload32(slots)
	d.launch("put_kv", grid(len(slots), 1), 256, p.ptr, kp, vp, sp, i32(layer), i32(s.Heads), i32(s.HeadDim), i32(s.PageTokens), int64(s.PageValues()))
}

// Copy is a device-to-device copy in stream order. Not inside Graph: the
// rows it moves change from step to step, which a recording would not see.
func (d *Device) Copy(dst metalkit.Buffer, dstOff int, src metalkit.Buffer, srcOff, n int) {
	dp, sp := buf(dst, dstOff+n, "Copy dst"), buf(src, srcOff+n, "Copy src")
	if dstOff < 0 || srcOff < 0 {
		panic(fmt.Sprintf("cuda: Copy at %d from %d", dstOff, srcOff))
	}
	if d.rec != nil {
		panic("cuda: Copy inside Graph")
	}
	if n == 0 {
		return
	}
	defer d.bind()()
	d.must("cuMemcpyDtoDAsync", d.drv.cuMemcpyDtoDAsync(dp+uint64(4*dstOff), sp+uint64(4*srcOff), uint64(4*n), d.stream))
}

// pageAt is the device address of page i of p, checked.
func (p *kvPool) pageAt(i int, what string) uint64 {
	if i < 0 || i >= p.pages {
		panic(fmt.Sprintf("cuda: %s page %d of %d", what, i, p.pages))
	}
	return p.ptr + uint64(2*i*p.shape.PageValues())
}

func (d *Device) ReadPage(dst []uint16, pool metalkit.KVPool, page, off int) error {
	p := pool.(*kvPool)
	at, n := p.pageAt(page, "ReadPage"), p.shape.PageValues()
	if off < 0 || off+len(dst) > n {
		panic(fmt.Sprintf("cuda: ReadPage [%d, %d) of a %d-value page", off, off+len(dst), n))
	}
	if d.rec != nil {
		panic("cuda: ReadPage inside Graph")
	}
	defer d.bind()()
	if err := d.drain(); err != nil || len(dst) == 0 {
		return err
	}
	return d.drv.check("cuMemcpyDtoH", d.drv.cuMemcpyDtoH(unsafe.Pointer(&dst[0]), at+uint64(2*off), uint64(2*len(dst))))
}

func (d *Device) WritePage(pool metalkit.KVPool, page int, src []uint16) {
	p := pool.(*kvPool)
	at, n := p.pageAt(page, "WritePage"), p.shape.PageValues()
	if len(src) != n {
		panic(fmt.Sprintf("cuda: WritePage from %d values, a page has %d", len(src), n))
	}
	if d.rec != nil {
		panic("cuda: WritePage inside Graph")
	}
	defer d.bind()()
	// From pageable memory the driver copies src out before it returns,
	// and the copy to the device is in stream order.
	d.must("cuMemcpyHtoDAsync", d.drv.cuMemcpyHtoDAsync(at, unsafe.Pointer(&src[0]), uint64(2*n), d.stream))
}

func (d *Device) CopyPage(pool metalkit.KVPool, dst, src int) {
	p := pool.(*kvPool)
	to, from := p.pageAt(dst, "CopyPage"), p.pageAt(src, "CopyPage")
	if d.rec != nil {
		panic("cuda: CopyPage inside Graph")
	}
	defer d.bind()()
	d.must("cuMemcpyDtoDAsync", d.drv.cuMemcpyDtoDAsync(to, from, uint64(2*p.shape.PageValues()), d.stream))
}

func (d *Device) Attention(out, q metalkit.Buffer, pool metalkit.KVPool, layer, heads int, rows []metalkit.AttnRow) {
	p := pool.(*kvPool)
	s := p.shape
	if len(rows) == 0 {
		return
	}
	if heads%s.Heads != 0 {
		panic(fmt.Sprintf("cuda: Attention %d query heads over %d KV heads", heads, s.Heads))
	}
	o, qp := buf(out, len(rows)*heads*s.HeadDim, "Attention out"), buf(q, len(rows)*heads*s.HeadDim, "Attention q")
	// One int32 array: each row's (page table offset, from, n, scores
	// offset in the work area), then the page tables.
	meta := make([]int32, 4*len(rows))
	var pages []int32
	scores := 0
	for i, r := range rows {
		if r.From < 0 || r.From > r.N || r.N > len(r.Pages)*s.PageTokens {
			panic(fmt.Sprintf("cuda: Attention row %d: [%d, %d) over %d pages", i, r.From, r.N, len(r.Pages)))
		}
		for _, pg := range r.Pages {
			if pg < 0 || int(pg) >= p.pages {
				panic(fmt.Sprintf("cuda: Attention row %d: page %d of %d", i, pg, p.pages))
			}
		}
		meta[4*i], meta[4*i+1], meta[4*i+2], meta[4*i+3] = int32(len(meta)+len(pages)), int32(r.From), int32(r.N), int32(scores)
		pages = append(pages, r.Pages...)
		scores += heads * (r.N - r.From)
	}
	for i := range rows {
		meta[4*i] -= int32(len(meta)) // offsets into pages, which follows meta
	}
	defer d.bind()()
	work := d.workspace(scores)
	mp := d.upload32(append(meta, pages...))
	// The common shapes read a page at a time, a block per KV head
	// (attn_pages); others a position a thread, a block per query head.
	name, g := "attention", grid(len(rows), heads)
	if (s.HeadDim == 64 || s.HeadDim == 128) && (s.PageTokens == 16 || s.PageTokens == 32) {
		name, g = fmt.Sprintf("attn_pages_%d_%d", s.HeadDim, s.PageTokens), grid(len(rows), s.Heads)
	}
	d.launch(name, g, 128, o, qp, p.ptr, mp+uint64(4*len(meta)), mp, work, i32(layer), i32(heads), i32(s.Heads), i32(s.HeadDim), i32(s.PageTokens), int64(s.PageValues()))
}

// upload32 copies v to device memory for the ops queued next (the
// staging area's device side) and returns where; see copyIn.
func (d *Device) upload32(v []int32) uint64 {
	return d.copyIn(0, unsafe.Pointer(&v[0]), 4*len(v))
}

// copyIn copies n bytes at src to device address dst (0: the staging
// area's device bytes that mirror the host bytes used) in stream order,
// and returns dst: into the next free bytes of the pinned staging area
// (reserve), then asynchronously from there, queued after every op before
// it and before every op after, so it returns without waiting for the GPU
// and src may be reused at once.
func (d *Device) copyIn(dst uint64, src unsafe.Pointer, n int) uint64 {
	if d.rec != nil {
		return d.stageRec(d.rec, dst, src, n)
	}
	off := d.reserve(n)
	if dst == 0 {
		dst = d.stageDev + off
	}
	host := unsafe.Add(d.stageHost, off)
	copy(unsafe.Slice((*byte)(host), n), unsafe.Slice((*byte)(src), n))
	d.must("cuMemcpyHtoDAsync", d.drv.cuMemcpyHtoDAsync(dst, host, uint64(n), d.stream))
	return dst
}

// reserve hands out the next n bytes of the staging area (host and device
// at the same offset), 256-aligned. Bytes handed out stay unused until
// the GPU has drained: a queued copy may not yet have read its host bytes,
// nor a queued kernel its device bytes. So a full area first drains (and
// one too small for n is replaced by a larger), and Read and Sync, which
// drain anyway, empty it.
func (d *Device) reserve(n int) uint64 {
	size := (uint64(n) + 255) &^ 255
	if d.stageUsed+size > d.stageBytes {
		if err := d.drain(); err != nil {
			panic(err)
		}
		if size > d.stageBytes {
			if d.stageHost != nil {
				d.drv.cuMemFreeHost(d.stageHost)
				d.stageHost = nil
				d.drv.cuMemFree(d.stageDev)
				delete(d.allocs, d.stageDev)
			}
			grow := max(size, 2*d.stageBytes, d.stageMin)
			d.must(fmt.Sprintf("cuMemAllocHost %d bytes", grow), d.drv.cuMemAllocHost(&d.stageHost, grow))
			p, err := d.alloc(int(grow))
			if err != nil {
				panic(err)
			}
			d.stageDev, d.stageBytes = p, grow
		}
	}
	off := d.stageUsed
	d.stageUsed += size
	return off
}

// workspace returns device memory for n float32s, for one op's own use
// (attention scores): ops run one after another on the stream, so each
// may use all of it. Growing it waits for the queued ops, which may use
// the old one; inside Graph, where it may not wait, a recording or replay
// that needs more is thrown away and Graph grows it before recording again.
func (d *Device) workspace(n int) uint64 {
	need := uint64(4 * max(n, 1))
	if g := d.rec; g != nil {
		if need > d.workBytes {
			d.needWork = max(d.needWork, need)
			if g.diff == "" {
				g.diff = fmt.Sprintf("attention's work area (%d bytes) is too small", d.workBytes)
			}
		}
		return d.work
	}
	if need > d.workBytes {
		if err := d.drain(); err != nil {
			panic(err)
		}
		if d.work != 0 {
			d.drv.cuMemFree(d.work)
			delete(d.allocs, d.work)
		}
		size := max(need, 2*d.workBytes, d.workMin)
		p, err := d.alloc(int(size))
		if err != nil {
			panic(err)
		}
		d.work, d.workBytes = p, size
	}
	return d.work
}

// Kernel argument kinds: a device pointer is a uint64, the rest as named.
type (
	i32 int32
	f32 float32
)

type dims struct{ x, y uint32 }

func grid(x, y int) dims { return dims{uint32(x), uint32(y)} }

// launch runs kernel name on a grid of threads-thread blocks with args, in
// kernels.cu's parameter order.
func (d *Device) launch(name string, g dims, threads int, args ...any) {
	f, ok := d.fn[name] // every kernel, since Open
	if !ok {
		panic("cuda: no kernel " + name)
	}
	for i, a := range args {
		switch v := a.(type) {
		case uint64:
			d.args.slots[i] = v
		case int64:
			d.args.slots[i] = uint64(v)
		case i32:
			d.args.slots[i] = uint64(uint32(v))
		case f32:
			d.args.slots[i] = uint64(math.Float32bits(float32(v)))
		default:
			panic(fmt.Sprintf("cuda: %s argument %d: %T", name, i, a))
		}
	}
	if r := d.rec; r != nil {
		o := op{fn: f, g: g, threads: threads, nargs: len(args)}
		copy(o.args[:], d.args.slots[:len(args)])
		d.launchRec(r, o, f, name)
		return
	}
	if d.prof != nil {
		d.launchProfiled(name, f, g, threads)
		return
	}
	d.must("cuLaunchKernel "+name, d.drv.cuLaunchKernel(f, g.x, g.y, 1, uint32(threads), 1, 1, 0, d.stream, unsafe.Pointer(&d.args.params[0]), nil))
}

// bindLaunch is launch with the context bound, for callers outside the
// ops (the bandwidth benchmark's read_sum).
func (d *Device) bindLaunch(name string, g dims, threads int, args ...any) {
	defer d.bind()()
	d.launch(name, g, threads, args...)
}
