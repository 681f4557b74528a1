//go:build !cudaemu

package cuda

import "testing"

// ds4Device is the device deepseek4_test.go's op tests run on: the GPU
// (skipped without one); with the cudaemu tag, the CPU emulator.
func ds4Device(t testing.TB) *Device { return openDevice(t) }

// emulated says whether ds4Device is the emulator.
const emulated = false
