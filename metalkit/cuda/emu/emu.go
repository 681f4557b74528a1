//go:build cudaemu

// Package emu runs deepseek4.cu's kernels on the CPU, for checking their
// logic where there is no GPU: emu.cc compiles deepseek4.cu as C++ with a
// thread per CUDA thread, std::barrier for __syncthreads and for a warp's
// shuffles, float operations as written (no fused multiply-adds, as
// __fmul_rn and __fadd_rn), the C library's exp, sin and cos in place of
// CUDA's. Built only with the cudaemu tag (it needs cgo and a C++20
// compiler): `go test -tags cudaemu ./metalkit/cuda` runs
// deepseek4_test.go's op tests on it (a few minutes on two cores: a
// thread per CUDA thread is slow).
package emu

// #cgo CXXFLAGS: -std=c++20 -O1 -I${SRCDIR}/inc -Wno-unused-function
// #cgo LDFLAGS: -lstdc++ -lpthread -lm
// #include <stdint.h>
// #include <stdlib.h>
// int emu_launch(const char *name, unsigned gx, unsigned gy, unsigned bx, const uint64_t *slots);
import "C"

import "unsafe"

// Launch runs kernel name on a (gx, gy) grid of bx-thread blocks with its
// parameters in slots (cuLaunchKernel's: each in the low bytes of a
// uint64, pointers being host addresses), one block after another; false
// if the emulator has no such kernel (kernels.cu's).
func Launch(name string, gx, gy, bx uint32, slots []uint64) bool {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return C.emu_launch(cn, C.uint(gx), C.uint(gy), C.uint(bx), (*C.uint64_t)(unsafe.Pointer(&slots[0]))) == 0
}
