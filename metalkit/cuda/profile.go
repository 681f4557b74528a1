package cuda

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unsafe"
)

// Profiling: where a step's GPU time goes, kernel by kernel (issue 15:
// a decode step of a 1B llama takes ~2 ms where its weights alone take
// ~0.75 ms at the matvec's bandwidth). Between StartProfile and
// StopProfile every kernel launch is bracketed by two CUDA events on the
// stream, and Graph runs its ops directly (a graph's kernels cannot be
// timed one by one), so the times are each kernel's own on the GPU,
// without the launch gaps a graph removes: their sum beside a graph
// step's time says what the gaps cost. Host-to-device copies of the ops'
// small arrays and Copy are not timed. Off (the default), a launch pays
// one nil check.

// KernelTime is the GPU time of one kernel at one shape over a profile.
type KernelTime struct {
	Kernel      string  // the kernel's name in kernels.cu
	Shape       string  // weight kernels: "rows×cols b=batch"; "" for the rest
	Launches    int     // launches timed
	Seconds     float64 // GPU time summed over the launches
	WeightBytes int64   // weight bytes the launches read (weight kernels), else 0
}

// profiler is the state of a profile: launches whose events are not read
// yet, events to reuse, and the sums so far by kernel and shape.
type profiler struct {
	pending []profLaunch
	free    []uintptr
	created []uintptr
	times   map[string]*KernelTime
	// Set by a weight op for its next launch (note), cleared by it.
	shape string
	bytes int64
}

type profLaunch struct {
	key        string
	start, end uintptr
}

// profileFlushAt is how many launches' events are kept before they are
// read (which waits for the GPU): a decode step is ~260 launches.
const profileFlushAt = 2048

// StartProfile starts timing every kernel launch (see above). It fails
// where the driver has no events, and inside Graph.
func (d *Device) StartProfile() error {
	if d.rec != nil {
		panic("cuda: StartProfile inside Graph")
	}
	if !d.drv.events {
		return errors.New("cuda: the driver has no event API: no profile")
	}
	if d.prof == nil {
		d.prof = &profiler{times: map[string]*KernelTime{}}
	}
	return nil
}

// StopProfile waits for the GPU, stops timing and returns the kernels'
// times since StartProfile, the longest first.
func (d *Device) StopProfile() ([]KernelTime, error) {
	p := d.prof
	if p == nil {
		return nil, errors.New("cuda: StopProfile without StartProfile")
	}
	defer d.bind()()
	err := d.profileFlush()
	for _, e := range p.created {
		d.drv.cuEventDestroy(e)
	}
	d.prof = nil
	var out []KernelTime
	for _, kt := range p.times {
		out = append(out, *kt)
	}
	slices.SortFunc(out, func(a, b KernelTime) int {
		if a.Seconds != b.Seconds {
			if a.Seconds > b.Seconds {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Kernel+a.Shape, b.Kernel+b.Shape)
	})
	return out, err
}

// note tells the profiler the shape and weight bytes of the next launch.
func (p *profiler) note(shape string, bytes int64) { p.shape, p.bytes = shape, bytes }

// event returns an unused event, created if none is free.
func (d *Device) profileEvent() uintptr {
	p := d.prof
	if n := len(p.free); n > 0 {
		e := p.free[n-1]
		p.free = p.free[:n-1]
		return e
	}
	var e uintptr
	d.must("cuEventCreate", d.drv.cuEventCreate(&e, 0)) // CU_EVENT_DEFAULT: timed
	p.created = append(p.created, e)
	return e
}

// launchProfiled is launch while profiling: the kernel between two
// events, its time read at the next flush.
func (d *Device) launchProfiled(name string, f uintptr, g dims, threads int) {
	p := d.prof
	key := name
	if p.shape != "" {
		key += " " + p.shape
	}
	kt := p.times[key]
	if kt == nil {
		kt = &KernelTime{Kernel: name, Shape: p.shape}
		p.times[key] = kt
	}
	kt.WeightBytes += p.bytes
	p.shape, p.bytes = "", 0
	start, end := d.profileEvent(), d.profileEvent()
	d.must("cuEventRecord", d.drv.cuEventRecord(start, d.stream))
	d.must("cuLaunchKernel "+name, d.drv.cuLaunchKernel(f, g.x, g.y, 1, uint32(threads), 1, 1, 0, d.stream, unsafe.Pointer(&d.args.params[0]), nil))
	d.must("cuEventRecord", d.drv.cuEventRecord(end, d.stream))
	p.pending = append(p.pending, profLaunch{key: key, start: start, end: end})
	if len(p.pending) >= profileFlushAt {
		if err := d.profileFlush(); err != nil {
			panic(err)
		}
	}
}

// profileFlush waits for the pending launches' last event and adds their
// times to the sums.
func (d *Device) profileFlush() error {
	p := d.prof
	if len(p.pending) == 0 {
		return nil
	}
	last := p.pending[len(p.pending)-1].end
	if err := d.drv.check("cuEventSynchronize", d.drv.cuEventSynchronize(last)); err != nil {
		return err
	}
	for _, l := range p.pending {
		var ms float32
		if err := d.drv.check("cuEventElapsedTime", d.drv.cuEventElapsedTime(&ms, l.start, l.end)); err != nil {
			return err
		}
		kt := p.times[l.key]
		kt.Launches++
		kt.Seconds += float64(ms) / 1e3
		p.free = append(p.free, l.start, l.end)
	}
	p.pending = p.pending[:0]
	return nil
}

// WriteProfile writes times as a table, per step of steps: each kernel
// and shape with its launches, GPU µs, share of the total, and GB/s of
// weights for the weight kernels; then the total.
func WriteProfile(w io.Writer, times []KernelTime, steps int) {
	steps = max(steps, 1)
	var total float64
	launches := 0
	for _, kt := range times {
		total += kt.Seconds
		launches += kt.Launches
	}
	fmt.Fprintf(w, "%-22s %-20s %9s %10s %6s %8s\n", "kernel", "shape", "launches", "µs/step", "%", "GB/s")
	for _, kt := range times {
		gbs := ""
		if kt.WeightBytes > 0 && kt.Seconds > 0 {
			gbs = fmt.Sprintf("%.0f", float64(kt.WeightBytes)/kt.Seconds/1e9)
		}
		fmt.Fprintf(w, "%-22s %-20s %9.1f %10.1f %6.1f %8s\n", kt.Kernel, kt.Shape, float64(kt.Launches)/float64(steps),
			kt.Seconds/float64(steps)*1e6, 100*kt.Seconds/max(total, 1e-30), gbs)
	}
	fmt.Fprintf(w, "%-22s %-20s %9.1f %10.1f\n", "total", "", float64(launches)/float64(steps), total/float64(steps)*1e6)
}
