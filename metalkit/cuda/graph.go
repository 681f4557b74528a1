package cuda

import (
	"errors"
	"fmt"
	"log"
	"runtime"
	"unsafe"
)

// CUDA graphs: metalkit.GraphDevice. A decode step of a 1B llama is 259
// kernels, and launching one through purego costs the host 4-7 µs, more
// than most of those kernels run; recorded once as a graph, a step is one
// cuGraphLaunch.
//
// A graph's kernels keep the parameters they were recorded with, so
// nothing that changes from step to step may be a parameter. The ops'
// host arrays (tokens, positions, KV slots, attention's row table and
// page tables) already reach their kernels through device memory; inside
// Graph they go to fixed offsets of one argument area (Device.argDev)
// instead of the staging area, their host image is kept with the graph,
// and one asynchronous copy sends it before each launch. Lengths that
// vary (a row's N, its pages) are read by the kernels from that area;
// what sets a grid (rows, heads, tokens) is part of the recording.
//
// A replay does not trust its key: fn runs again with every op checked
// against the recording (kernel, grid, every parameter: buffers, sizes,
// the argument area's and the work area's addresses) and every host
// array against the room recorded for it. Any difference records fn
// anew, so a replay launches exactly the kernels the ops would have.

// GraphStats counts what Device.Graph did with one key.
type GraphStats struct {
	Records int // calls that recorded fn as a new graph (and launched it)
	Replays int // calls that launched a recorded graph
	Direct  int // calls whose ops ran directly: no graph support, or recording failed
}

// GraphStats says how often Graph recorded, replayed and ran directly
// with key.
func (d *Device) GraphStats(key string) GraphStats {
	if s := d.stats[key]; s != nil {
		return *s
	}
	return GraphStats{}
}

// CUstreamCaptureMode: only this thread's calls are checked for ones that
// would break the recording (Graph keeps its goroutine on one thread).
const captureThreadLocal = 1

// minArgBytes is the argument area's first size: a 1B llama's decode step
// sends ~6 KB (16 layers × RoPE ×2, PutKV, Attention).
const minArgBytes = 64 << 10

// graph is one recording of a Graph call's ops.
type graph struct {
	exec   uintptr // the instantiated graph
	ops    []op    // every launch and copy, in order
	spans  []span  // every host array, in order
	args   []byte  // the host arrays' image, sent to Device.argDev before each launch
	direct bool    // recording failed: Graph runs fn directly

	// Set while fn runs: recording (else replaying), the replay's
	// position in ops and spans, why the ops cannot use this recording
	// ("" while they can), and a driver error met while recording.
	recording  bool
	nop, nspan int
	diff       string
	err        error
}

// op is one recorded kernel launch, or a device-to-device copy (fn 0,
// args dst, src, bytes): comparable, so a replay checks each op with ==.
type op struct {
	fn      uintptr
	g       dims
	threads int
	nargs   int
	args    [16]uint64
}

// span is where a host array goes in the argument area: off, with room
// for cap bytes.
type span struct{ off, cap int }

// Graph runs fn's ops as one CUDA graph; see metalkit.GraphDevice.
func (d *Device) Graph(key string, fn func()) {
	if d.rec != nil {
		panic("cuda: Graph inside Graph")
	}
	// One thread for the whole call: the recording checks this thread's
	// calls, and the ops inside skip binding the context each.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d.must("cuCtxSetCurrent", d.drv.cuCtxSetCurrent(d.ctx))
	stats := d.stats[key]
	if stats == nil {
		stats = &GraphStats{}
		d.stats[key] = stats
	}
	g := d.graphs[key]
	switch {
	case d.prof != nil: // a profile times each kernel: no graph
		stats.Direct++
		fn()
		return
	case g != nil && g.direct:
		stats.Direct++
		fn()
		return
	case g != nil:
		if d.replay(g, fn) {
			stats.Replays++
			return
		}
		d.drv.cuGraphExecDestroy(g.exec) // freed once a launch in flight ends
		delete(d.graphs, key)
	}
	g, err := d.record(fn)
	if err != nil {
		log.Printf("cuda: %s: graph %q not recorded (%v): its ops run one by one", d.name, key, err)
		d.graphs[key] = &graph{direct: true}
		stats.Direct++
		fn()
		return
	}
	d.graphs[key] = g
	stats.Records++
	d.launchGraph(g)
}

// replay runs fn checking its ops against g's and, if they match, launches
// g with their host arrays; false means they differ and nothing ran.
func (d *Device) replay(g *graph, fn func()) bool {
	g.nop, g.nspan, g.diff = 0, 0, ""
	d.rec = g
	defer func() { d.rec = nil }()
	fn()
	d.rec = nil
	if g.diff == "" && (g.nop != len(g.ops) || g.nspan != len(g.spans)) {
		g.diff = fmt.Sprintf("%d ops and %d arrays, recorded %d and %d", g.nop, g.nspan, len(g.ops), len(g.spans))
	}
	if g.diff != "" {
		return false
	}
	d.launchGraph(g)
	return true
}

// launchGraph sends g's host arrays to the argument area and launches g,
// both on the stream, after every op before.
func (d *Device) launchGraph(g *graph) {
	if len(g.args) > 0 {
		d.copyIn(d.argDev, unsafe.Pointer(&g.args[0]), len(g.args))
	}
	d.must("cuGraphLaunch", d.drv.cuGraphLaunch(g.exec, d.stream))
}

// record records fn's ops as a graph. A recording that outgrows the
// argument or the work area is thrown away, the area grown (which waits
// for the GPU, not allowed while recording) and fn recorded again.
func (d *Device) record(fn func()) (*graph, error) {
	if !d.drv.graphs {
		return nil, errors.New("the driver has no CUDA graph API")
	}
	var diff string
	for try := 0; try < 3; try++ {
		if err := d.growForGraph(); err != nil {
			return nil, err
		}
		g := &graph{recording: true}
		exec, err := d.capture(g, fn)
		if err != nil {
			return nil, err
		}
		if g.diff == "" {
			g.exec, g.recording = exec, false
			return g, nil
		}
		diff = g.diff
	}
	return nil, errors.New(diff)
}

// capture runs fn with the stream recording into g and instantiates what
// it recorded; exec is 0 when g.diff says the recording is unusable.
func (d *Device) capture(g *graph, fn func()) (exec uintptr, err error) {
	if err := d.drv.check("cuStreamBeginCapture", d.drv.cuStreamBeginCapture(d.stream, captureThreadLocal)); err != nil {
		return 0, err
	}
	d.rec = g
	ended := false
	defer func() {
		d.rec = nil
		if !ended { // fn panicked: end the recording, so the stream stays usable
			var cg uintptr
			if d.drv.cuStreamEndCapture(d.stream, &cg) == 0 && cg != 0 {
				d.drv.cuGraphDestroy(cg)
			}
		}
	}()
	fn()
	var cg uintptr
	r := d.drv.cuStreamEndCapture(d.stream, &cg)
	ended = true
	if g.err != nil {
		if r == 0 && cg != 0 {
			d.drv.cuGraphDestroy(cg)
		}
		return 0, g.err
	}
	if err := d.drv.check("cuStreamEndCapture", r); err != nil {
		return 0, err
	}
	defer d.drv.cuGraphDestroy(cg) // the instantiated graph does not need it
	if g.diff != "" {
		return 0, nil
	}
	if err := d.drv.check("cuGraphInstantiateWithFlags", d.drv.cuGraphInstantiateWithFlags(&exec, cg, 0)); err != nil {
		return 0, err
	}
	return exec, nil
}

// growForGraph grows the argument and work areas to what a recording
// asked for (and the argument area to minArgBytes at first), after the
// GPU has drained: queued graphs and ops may read the old ones. A graph
// recorded with an old area is recorded again at its next replay, whose
// parameters then differ.
func (d *Device) growForGraph() error {
	if d.needWork > d.workBytes {
		d.workspace(int(d.needWork / 4))
	}
	need := max(uint64(d.needArgs), d.argMin)
	if need <= d.argBytes {
		return nil
	}
	if err := d.drain(); err != nil {
		return err
	}
	size := max(need, 2*d.argBytes)
	if d.argDev != 0 {
		d.drv.cuMemFree(d.argDev)
		delete(d.allocs, d.argDev)
		d.argDev, d.argBytes = 0, 0
	}
	p, err := d.alloc(int(size))
	if err != nil {
		return err
	}
	d.argDev, d.argBytes = p, size
	return nil
}

// launchRec is launch inside Graph: the launch is recorded (and captured
// by the stream) or checked against the recording.
func (d *Device) launchRec(g *graph, o op, f uintptr, name string) {
	if !g.recording {
		g.check(o, name)
		return
	}
	g.ops = append(g.ops, o)
	if g.diff != "" || g.err != nil {
		return // a recording already thrown away: no need to capture more
	}
	r := d.drv.cuLaunchKernel(f, o.g.x, o.g.y, 1, uint32(o.threads), 1, 1, 0, d.stream, unsafe.Pointer(&d.args.params[0]), nil)
	if r != 0 {
		g.err = d.drv.check("cuLaunchKernel "+name+" while recording", r)
	}
}

// stageRec is copyIn inside Graph: n bytes at src go into the graph's
// image of the argument area, and (dst not 0) a copy from there to dst
// is recorded. It returns where the kernels find the bytes.
func (d *Device) stageRec(g *graph, dst uint64, src unsafe.Pointer, n int) uint64 {
	var s span
	if g.recording {
		// Room for half as much again: a page table that grows by a
		// few pages still fits the recording.
		s = span{off: (len(g.args) + 15) &^ 15, cap: max((n+n/2+15)&^15, 64)}
		g.args = append(g.args, make([]byte, s.off+s.cap-len(g.args))...)
		g.spans = append(g.spans, s)
		if uint64(s.off+s.cap) > d.argBytes {
			d.needArgs = max(d.needArgs, s.off+s.cap) // the last one is the most: what the next try needs
			if g.diff == "" {
				g.diff = fmt.Sprintf("the argument area (%d bytes) is too small", d.argBytes)
			}
		}
	} else {
		if g.diff != "" {
			return d.argDev
		}
		if g.nspan >= len(g.spans) || n > g.spans[g.nspan].cap {
			g.diff = fmt.Sprintf("host array %d of %d bytes has no room in the recording", g.nspan, n)
			return d.argDev
		}
		s = g.spans[g.nspan]
		g.nspan++
	}
	copy(g.args[s.off:s.off+n], unsafe.Slice((*byte)(src), n))
	addr := d.argDev + uint64(s.off)
	if dst == 0 {
		return addr
	}
	o := op{nargs: 3, args: [16]uint64{dst, addr, uint64(n)}}
	if !g.recording {
		g.check(o, "Write")
		return dst
	}
	g.ops = append(g.ops, o)
	if g.diff == "" && g.err == nil {
		if r := d.drv.cuMemcpyDtoDAsync(dst, addr, uint64(n), d.stream); r != 0 {
			g.err = d.drv.check("cuMemcpyDtoDAsync while recording", r)
		}
	}
	return dst
}

// check compares a replay's next op with the recording's.
func (g *graph) check(o op, name string) {
	if g.diff != "" {
		return
	}
	if g.nop >= len(g.ops) || g.ops[g.nop] != o {
		g.diff = fmt.Sprintf("op %d (%s) differs from the recording", g.nop, name)
		return
	}
	g.nop++
}

// destroyGraphs frees every recording (Close).
func (d *Device) destroyGraphs() {
	for key, g := range d.graphs {
		if g.exec != 0 {
			d.drv.cuGraphExecDestroy(g.exec)
		}
		delete(d.graphs, key)
	}
}
