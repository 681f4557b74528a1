//go:build !linux

package cuda

import (
	"errors"
	"unsafe"
)

// driver is declared on every GOOS so the device compiles everywhere; only
// Linux has an NVIDIA driver to bind (driver_linux.go).
type driver struct {
	cuCtxSetCurrent           func(ctx uintptr) int32
	cuCtxSynchronize          func() int32
	cuModuleUnload            func(mod uintptr) int32
	cuModuleGetFunction       func(f *uintptr, mod uintptr, name *byte) int32
	cuDevicePrimaryCtxRelease func(dev int32) int32
	cuMemAlloc                func(p *uint64, size uint64) int32
	cuMemFree                 func(p uint64) int32
	cuMemsetD8                func(p uint64, v uint8, n uint64) int32
	cuMemcpyHtoD              func(dst uint64, src unsafe.Pointer, n uint64) int32
	cuMemcpyDtoH              func(dst unsafe.Pointer, src uint64, n uint64) int32
	cuMemcpyHtoDAsync         func(dst uint64, src unsafe.Pointer, n uint64, stream uintptr) int32
	cuMemAllocHost            func(p *unsafe.Pointer, size uint64) int32
	cuMemFreeHost             func(p unsafe.Pointer) int32
	cuLaunchKernel            func(f uintptr, gx, gy, gz, bx, by, bz, shared uint32, stream uintptr, params, extra unsafe.Pointer) int32
	cuInit                    func(flags uint32) int32
	cuDeviceGet               func(dev *int32, ordinal int32) int32
	cuDeviceGetName           func(name *byte, n int32, dev int32) int32
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) int32
	cuModuleLoadData          func(mod *uintptr, image unsafe.Pointer) int32
	cuStreamCreate            func(s *uintptr, flags uint32) int32
	cuStreamDestroy           func(s uintptr) int32
	cuMemcpyDtoDAsync         func(dst, src uint64, n uint64, stream uintptr) int32
	cuMemsetD8Async           func(p uint64, v uint8, n uint64, stream uintptr) int32

	graphs                      bool
	cuStreamBeginCapture        func(s uintptr, mode int32) int32
	cuStreamEndCapture          func(s uintptr, g *uintptr) int32
	cuGraphInstantiateWithFlags func(exec *uintptr, g uintptr, flags uint64) int32
	cuGraphLaunch               func(exec uintptr, s uintptr) int32
	cuGraphExecDestroy          func(exec uintptr) int32
	cuGraphDestroy              func(g uintptr) int32

	events             bool
	cuEventCreate      func(e *uintptr, flags uint32) int32
	cuEventRecord      func(e uintptr, s uintptr) int32
	cuEventSynchronize func(e uintptr) int32
	cuEventElapsedTime func(ms *float32, start, end uintptr) int32
	cuEventDestroy     func(e uintptr) int32
}

func loadDriver() (*driver, error) {
	return nil, errors.New("cuda: the NVIDIA driver is only used on Linux")
}

func (d *driver) check(what string, r int32) error {
	if r == 0 {
		return nil
	}
	return errors.New("cuda: " + what + " failed")
}
