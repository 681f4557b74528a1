//go:build !noasm

package metalkit

import "golang.org/x/sys/cpu"

// hasAMX: the CPU has AMX-TILE and AMX-INT8 (CPUID), the OS saves the tile
// configuration and data (XCR0 bits 17 and 18), and the kernel granted
// this process the tile data state. Evaluated once, at start-up.
var hasAMX = hasVNNI && cpu.X86.HasAMXTile && cpu.X86.HasAMXInt8 && cpu.X86.HasOSXSAVE &&
	xcr0()&(3<<17) == 3<<17 && requestTileState()

func xcr0() uint32 {
	eax, _ := xgetbv0()
	return eax
}

// xgetbv0 returns XCR0 (amx_amd64.s).
//
//go:noescape
func xgetbv0() (eax, edx uint32)

// q8_0Tile16x16AMX dots the sixteen rows of a Q8_0×16 group (nb blocks a
// row, at w) with sixteen columns of activations in 32-value blocks:
// column c's quants at qs + c·qsStride, its scales at d + c·sStride
// (bytes); out[16c+r]. (AMX-TILE, AMX-INT8, AVX512F; amx_amd64.s)
//
//	for c := 0; c < 16; c++ { dot16Q8_0xGo(w, column c, out[16c:16c+16]) }
//
//go:noescape
func q8_0Tile16x16AMX(w *byte, nb int, qs *int8, qsStride int, d *float32, sStride int, out *[256]float32)

// newAMXBackend is parent (avx512vnni) with the AMX tile kernels: Q8_0
// groups × sixteen columns (prefill and batches of 16 or more). It is the
// default wherever the CPU has AMX: bench/amx-check.sh passed on an AMX
// Xeon host (2026-12-07, bench/RESULTS.md: every test of every
// backend, each forced in turn; the tile kernel 15-20% faster than two
// VNNI eight-column calls). Its instructions are hand-encoded and this
// package's development machine cannot run them; the test suite runs it
// wherever the CPU can.
func newAMXBackend(parent *backend) *backend {
	b := parent.derive("amx")
	q8 := b.formats[Q8_0]
	x16 := *q8.x16
	x16.dotx16 = dot16x16Q8_0AMX
	q8.x16 = &x16
	b.formats[Q8_0] = q8
	return b
}

// dot16x16Q8_0AMX wraps q8_0Tile16x16AMX. The sixteen columns must be
// evenly spaced in memory as actBuf lays them out; otherwise they go one
// at a time to fallback.
func dot16x16Q8_0AMX(w []byte, a []q8Act, out *[256]float32, fallback dot16Func) {
	a = a[:16]
	nb := len(a[0].d)
	qsStride, sStride, ok := q8Columns(a, nb, true)
	if !ok || nb == 0 || len(w) < nb*q8xBlock {
		dot16x16Go(w, a, out, fallback)
		return
	}
	q8_0Tile16x16AMX(&w[0], nb, &a[0].qs[0], qsStride, &a[0].d[0], sStride, out)
}
