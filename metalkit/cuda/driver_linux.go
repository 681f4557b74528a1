package cuda

import (
	"fmt"
	"unsafe"

	"github.com/ebitengine/purego"
)

// driver is the part of the CUDA driver API (libcuda.so.1, installed with
// the NVIDIA driver) the device calls, bound at run time with purego: no
// cgo, so `go build` needs no CUDA headers or C compiler, and a machine
// without the driver still builds and runs everything else. Each function
// returns a CUresult (0 is CUDA_SUCCESS).
type driver struct {
	cuInit                    func(flags uint32) int32
	cuDeviceGet               func(dev *int32, ordinal int32) int32
	cuDeviceGetName           func(name *byte, n int32, dev int32) int32
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) int32
	cuDevicePrimaryCtxRelease func(dev int32) int32
	cuCtxSetCurrent           func(ctx uintptr) int32
	cuCtxSynchronize          func() int32
	cuModuleLoadData          func(mod *uintptr, image unsafe.Pointer) int32
	cuModuleUnload            func(mod uintptr) int32
	cuModuleGetFunction       func(f *uintptr, mod uintptr, name *byte) int32
	cuMemAlloc                func(p *uint64, size uint64) int32
	cuMemFree                 func(p uint64) int32
	cuMemsetD8                func(p uint64, v uint8, n uint64) int32
	cuMemcpyHtoD              func(dst uint64, src unsafe.Pointer, n uint64) int32
	cuMemcpyDtoH              func(dst unsafe.Pointer, src uint64, n uint64) int32
	cuMemcpyHtoDAsync         func(dst uint64, src unsafe.Pointer, n uint64, stream uintptr) int32
	cuMemAllocHost            func(p *unsafe.Pointer, size uint64) int32
	cuMemFreeHost             func(p unsafe.Pointer) int32
	cuLaunchKernel            func(f uintptr, gx, gy, gz, bx, by, bz, shared uint32, stream uintptr, params, extra unsafe.Pointer) int32
	cuGetErrorString          func(err int32, s **byte) int32
	cuStreamCreate            func(s *uintptr, flags uint32) int32
	cuStreamDestroy           func(s uintptr) int32
	cuMemcpyDtoDAsync         func(dst, src uint64, n uint64, stream uintptr) int32
	cuMemsetD8Async           func(p uint64, v uint8, n uint64, stream uintptr) int32

	// CUDA graphs (a decode step as one launch; see graph.go), bound when
	// the driver has them (CUDA 11.4 and later): graphs is false
	// otherwise, and Device.Graph runs its ops directly.
	graphs                      bool
	cuStreamBeginCapture        func(s uintptr, mode int32) int32
	cuStreamEndCapture          func(s uintptr, g *uintptr) int32
	cuGraphInstantiateWithFlags func(exec *uintptr, g uintptr, flags uint64) int32
	cuGraphLaunch               func(exec uintptr, s uintptr) int32
	cuGraphExecDestroy          func(exec uintptr) int32
	cuGraphDestroy              func(g uintptr) int32

	// CUDA events, for Device.StartProfile's per-kernel times; bound
	// when the driver has them (events is false otherwise, and
	// StartProfile fails).
	events             bool
	cuEventCreate      func(e *uintptr, flags uint32) int32
	cuEventRecord      func(e uintptr, s uintptr) int32
	cuEventSynchronize func(e uintptr) int32
	cuEventElapsedTime func(ms *float32, start, end uintptr) int32
	cuEventDestroy     func(e uintptr) int32
}

// libNames are where the driver library is looked for, in order.
var libNames = []string{"libcuda.so.1", "libcuda.so"}

// loadDriver opens the driver library and binds every function; an error
// means no usable NVIDIA driver on this machine.
func loadDriver() (*driver, error) {
	var lib uintptr
	var err error
	for _, name := range libNames {
		if lib, err = purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cuda: no driver library: %w", err)
	}
	d := &driver{}
	for _, f := range []struct {
		fn   any
		name string
	}{
		{&d.cuInit, "cuInit"},
		{&d.cuDeviceGet, "cuDeviceGet"},
		{&d.cuDeviceGetName, "cuDeviceGetName"},
		{&d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
		{&d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
		{&d.cuCtxSetCurrent, "cuCtxSetCurrent"},
		{&d.cuCtxSynchronize, "cuCtxSynchronize"},
		{&d.cuModuleLoadData, "cuModuleLoadData"},
		{&d.cuModuleUnload, "cuModuleUnload"},
		{&d.cuModuleGetFunction, "cuModuleGetFunction"},
		{&d.cuMemAlloc, "cuMemAlloc_v2"},
		{&d.cuMemFree, "cuMemFree_v2"},
		{&d.cuMemsetD8, "cuMemsetD8_v2"},
		{&d.cuMemcpyHtoD, "cuMemcpyHtoD_v2"},
		{&d.cuMemcpyDtoH, "cuMemcpyDtoH_v2"},
		{&d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"},
		{&d.cuMemAllocHost, "cuMemAllocHost_v2"},
		{&d.cuMemFreeHost, "cuMemFreeHost"},
		{&d.cuLaunchKernel, "cuLaunchKernel"},
		{&d.cuGetErrorString, "cuGetErrorString"},
		{&d.cuStreamCreate, "cuStreamCreate"},
		{&d.cuStreamDestroy, "cuStreamDestroy_v2"},
		{&d.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"},
		{&d.cuMemsetD8Async, "cuMemsetD8Async"},
	} {
		sym, err := purego.Dlsym(lib, f.name)
		if err != nil {
			return nil, fmt.Errorf("cuda: driver has no %s: %w", f.name, err)
		}
		purego.RegisterFunc(f.fn, sym)
	}
	d.graphs = true
	for _, f := range []struct {
		fn   any
		name string
	}{
		{&d.cuStreamBeginCapture, "cuStreamBeginCapture_v2"},
		{&d.cuStreamEndCapture, "cuStreamEndCapture"},
		{&d.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags"},
		{&d.cuGraphLaunch, "cuGraphLaunch"},
		{&d.cuGraphExecDestroy, "cuGraphExecDestroy"},
		{&d.cuGraphDestroy, "cuGraphDestroy"},
	} {
		sym, err := purego.Dlsym(lib, f.name)
		if err != nil {
			d.graphs = false
			break
		}
		purego.RegisterFunc(f.fn, sym)
	}
	d.events = true
	for _, f := range []struct {
		fn   any
		name string
	}{
		{&d.cuEventCreate, "cuEventCreate"},
		{&d.cuEventRecord, "cuEventRecord"},
		{&d.cuEventSynchronize, "cuEventSynchronize"},
		{&d.cuEventElapsedTime, "cuEventElapsedTime"},
		{&d.cuEventDestroy, "cuEventDestroy_v2"},
	} {
		sym, err := purego.Dlsym(lib, f.name)
		if err != nil {
			d.events = false
			break
		}
		purego.RegisterFunc(f.fn, sym)
	}
	return d, nil
}

// check turns a CUresult into an error naming the call.
func (d *driver) check(what string, r int32) error {
	if r == 0 {
		return nil
	}
	var s *byte
	msg := "unknown error"
	if d.cuGetErrorString(r, &s) == 0 && s != nil {
		msg = cString(s)
	}
	return fmt.Errorf("cuda: %s: %s (CUresult %d)", what, msg, r)
}

// cString copies a NUL-terminated C string.
func cString(p *byte) string {
	var b []byte
	for ; *p != 0; p = (*byte)(unsafe.Add(unsafe.Pointer(p), 1)) {
		b = append(b, *p)
	}
	return string(b)
}
