//go:build cudaemu && linux

package cuda

import (
	"strings"
	"testing"
	"unsafe"

	"reddwarf/infer"
	_ "reddwarf/infer/deepseek4"
	"reddwarf/metalkit/cuda/emu"
)

// With the cudaemu tag deepseek4_test.go's op tests run on a Device whose
// driver is host memory and whose deepseek4.cu kernels run in package
// emu (a thread per CUDA thread); TestMatMulExpertsBy, whose expert
// kernels are kernels.cu's, skips. Two more tests run the deepseek4
// device forward here: on the emulated device with no kernel computing
// (the Go side of every op: sizes, spans, work areas) and on the fake
// driver (a decode step records once and replays).

func ds4Device(t testing.TB) *Device { return openEmuDevice(t, true) }

const emulated = true

// openEmuDevice returns a Device on host memory; run false makes every
// kernel launch do nothing.
func openEmuDevice(t testing.TB, run bool) *Device {
	keep := map[uint64][]byte{} // allocations by address, alive
	drv := &driver{}
	drv.cuCtxSetCurrent = func(uintptr) int32 { return 0 }
	drv.cuCtxSynchronize = func() int32 { return 0 }
	drv.cuModuleUnload = func(uintptr) int32 { return 0 }
	drv.cuStreamDestroy = func(uintptr) int32 { return 0 }
	drv.cuDevicePrimaryCtxRelease = func(int32) int32 { return 0 }
	drv.cuGetErrorString = func(err int32, s **byte) int32 {
		msg := append([]byte("emulated failure"), 0)
		*s = &msg[0]
		return 0
	}
	// mem is the n bytes at device address p: a host address, inside
	// one of the allocations.
	mem := func(p uint64, n uint64) []byte {
		for base, b := range keep {
			if p >= base && p+n <= base+uint64(len(b)) {
				return b[p-base : p-base+n]
			}
		}
		t.Fatalf("emulator: %d bytes at %#x are not allocated", n, p)
		return nil
	}
	alloc := func(n uint64) []byte {
		b := make([]byte, n+64)
		keep[uint64(uintptr(unsafe.Pointer(&b[0])))] = b
		return b
	}
	drv.cuMemAlloc = func(p *uint64, n uint64) int32 {
		*p = uint64(uintptr(unsafe.Pointer(&alloc(n)[0])))
		return 0
	}
	drv.cuMemFree = func(p uint64) int32 {
		delete(keep, p)
		return 0
	}
	drv.cuMemAllocHost = func(p *unsafe.Pointer, n uint64) int32 {
		*p = unsafe.Pointer(&alloc(n)[0])
		return 0
	}
	drv.cuMemFreeHost = func(unsafe.Pointer) int32 { return 0 }
	drv.cuMemsetD8Async = func(p uint64, v uint8, n uint64, s uintptr) int32 {
		b := mem(p, n)
		for i := range b {
			b[i] = v
		}
		return 0
	}
	drv.cuMemsetD8 = func(p uint64, v uint8, n uint64) int32 { return drv.cuMemsetD8Async(p, v, n, 0) }
	drv.cuMemcpyHtoDAsync = func(dst uint64, src unsafe.Pointer, n uint64, s uintptr) int32 {
		copy(mem(dst, n), unsafe.Slice((*byte)(src), n))
		return 0
	}
	drv.cuMemcpyHtoD = func(dst uint64, src unsafe.Pointer, n uint64) int32 { return drv.cuMemcpyHtoDAsync(dst, src, n, 0) }
	drv.cuMemcpyDtoH = func(dst unsafe.Pointer, src uint64, n uint64) int32 {
		copy(unsafe.Slice((*byte)(dst), n), mem(src, n))
		return 0
	}
	drv.cuMemcpyDtoDAsync = func(dst, src, n uint64, s uintptr) int32 {
		copy(mem(dst, n), mem(src, n))
		return 0
	}
	names := map[uintptr]string{}
	drv.cuLaunchKernel = func(fn uintptr, gx, gy, gz, bx, by, bz, shared uint32, s uintptr, params, extra unsafe.Pointer) int32 {
		if !run {
			return 0
		}
		slots := make([]uint64, len(launchArgs{}.slots))
		for i, p := range unsafe.Slice((*unsafe.Pointer)(params), len(slots)) {
			slots[i] = *(*uint64)(p)
		}
		if !emu.Launch(names[fn], gx, gy, bx, slots) {
			t.Fatalf("emulator: no kernel %s", names[fn])
		}
		return 0
	}
	d := newDevice(drv)
	d.name = "emulated"
	for i, name := range append(entries(ds4ptx), entries(ptx)...) {
		d.fn[name] = uintptr(i + 1)
		names[uintptr(i+1)] = name
	}
	d.pinner.Pin(d.args)
	t.Cleanup(d.pinner.Unpin)
	return d
}

// TestEmuDeepSeek4Forward runs the deepseek4 device forward on the
// emulated device with no kernel computing: prefill beside another
// session's, batched decode, a fork and a rollback, both numerics.
func TestEmuDeepSeek4Forward(t *testing.T) {
	d := openEmuDevice(t, false)
	for _, num := range []string{"ds4", "exact"} {
		m, err := infer.Open("../../models/deepseek4-tiny.gguf", infer.Options{Device: d, Numerics: num, CheckpointInterval: 16})
		if err != nil {
			t.Fatal(err)
		}
		a, b := m.NewState(), m.NewState()
		toks := make([]int32, 40)
		for i := range toks {
			toks[i] = int32(i * 7 % 256)
		}
		if err := m.Step([]infer.Seq{{State: a, Tokens: toks}, {State: b, Tokens: toks[:9]}}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 12; i++ {
			if err := m.Step([]infer.Seq{{State: a, Tokens: []int32{int32(i)}}, {State: b, Tokens: []int32{int32(i + 1)}}}); err != nil {
				t.Fatal(err)
			}
		}
		c := a.Clone()
		if err := a.Truncate(a.Len() - 5); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if err := m.Step([]infer.Seq{{State: a, Tokens: []int32{3}}, {State: c, Tokens: []int32{4}}}); err != nil {
				t.Fatal(err)
			}
		}
		m.Close()
	}
}

// TestFakeDeepSeek4Graph: on the fake driver, a deepseek4 decode step is
// recorded once and replayed after, as its positions move across
// compressor windows (the kernels read them from device memory).
func TestFakeDeepSeek4Graph(t *testing.T) {
	d, f := newFakeDevice(t)
	f.quiet = true
	base := len(entries(ptx))
	for i, name := range entries(ds4ptx) {
		d.fn[name] = uintptr(base + i + 1)
		f.fns[uintptr(base+i+1)] = name
		f.nparams[name] = strings.Count(ds4ptx, " "+name+"_param_")
	}
	m, err := infer.Open("../../models/deepseek4-tiny.gguf", infer.Options{Device: d})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := m.NewState()
	if err := m.Step([]infer.Seq{{State: s, Tokens: []int32{1, 2, 3, 4, 5, 6, 7, 8, 9}}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		if err := m.Step([]infer.Seq{{State: s, Tokens: []int32{int32(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	for k, st := range d.stats {
		t.Logf("%s: %+v", k, *st)
		if st.Records != 1 || st.Replays != 39 {
			t.Errorf("%s: %+v, want 1 recording and 39 replays", k, *st)
		}
	}
}
