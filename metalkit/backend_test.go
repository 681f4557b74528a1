package metalkit

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestMain ends the run with what it did not cover: the assembly kernels
// this build has but this CPU cannot run, so a green run on a CPU without
// them is not read as a test of them.
func TestMain(m *testing.M) {
	code := m.Run()
	fmt.Println(coverageNote())
	os.Exit(code)
}

// coverageNote names the backends that ran and the kernels that did not.
func coverageNote() string {
	var names []string
	for _, b := range backends {
		names = append(names, b.name)
	}
	note := "metalkit: backends tested: " + strings.Join(names, ", ") + "; in use: " + kern.name
	if len(notRun) == 0 {
		return note + "; every assembly kernel ran"
	}
	return note + "; NOT exercised on this CPU: " + strings.Join(notRun, "; ")
}

// TestBackendCoverage logs coverageNote (go test -v shows it), and fails
// if the list of backends disagrees with what the CPU reports.
func TestBackendCoverage(t *testing.T) {
	t.Log(coverageNote())
	if backends[0] != &goBackend || len(backends)+len(notRun) < 2 {
		t.Fatalf("backends %d, not run %q: every build has the reference and says what else it ran or skipped", len(backends), notRun)
	}
}

// The tests here run every backend this CPU supports (see backends) against
// the pure-Go reference, on random inputs with odd lengths and row counts.

var oddLens = []int{0, 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257, 1000}

func forEachBackend(t *testing.T, f func(t *testing.T, b *backend)) {
	for _, b := range backends[1:] {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
	if len(backends) == 1 {
		t.Log("no assembly backends on this CPU/build")
	}
}

func TestBackendFloat(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		r := newRand(t, 10)
		for _, n := range oddLens {
			x, y := randVec(r, n), randVec(r, n)
			tol := 1e-5 * float64(n+1)
			if got, want := b.dot(x, y), dotGo(x, y); math.Abs(float64(got-want)) > tol {
				t.Fatalf("dot n=%d: %g want %g", n, got, want)
			}
			o1, o2 := randVec(r, n), make([]float32, n)
			copy(o2, o1)
			b.axpy(o1, 0.75, x)
			axpyGo(o2, 0.75, x)
			checkClose(t, "axpy", o1, o2, 1e-6)

			h := make([]uint16, n)
			f32ToF16RowGo(h, x)
			if got, want := b.dotF16(h, y), dotF16Go(h, y); math.Abs(float64(got-want)) > tol {
				t.Fatalf("dotF16 n=%d: %g want %g", n, got, want)
			}
			if got, want := b.dotBF16(h, y), dotBF16Go(h, y); math.Abs(float64(got-want)) > tol*100 {
				t.Fatalf("dotBF16 n=%d: %g want %g", n, got, want)
			}
			copy(o2, o1)
			b.axpyF16(o1, -1.5, h)
			axpyF16Go(o2, -1.5, h)
			checkClose(t, "axpyF16", o1, o2, 1e-6)
		}
	})
}

func TestBackendF16Convert(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		all := make([]uint16, 1<<16)
		for i := range all {
			all[i] = uint16(i)
		}
		got, want := make([]float32, len(all)), make([]float32, len(all))
		b.f16ToF32(got, all)
		f16ToF32RowGo(want, all)
		for i := range all {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("f16ToF32(%#04x) = %#08x want %#08x", i, math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
		r := newRand(t, 11)
		for _, n := range append(oddLens, 1<<16) {
			x := make([]float32, n)
			for i := range x {
				switch i % 4 {
				case 0:
					x[i] = math.Float32frombits(r.Uint32()) // every pattern: NaN, inf, subnormal
				case 1:
					x[i] = float32(r.NormFloat64() * 1e-5)
				default:
					x[i] = float32(r.NormFloat64() * 100)
				}
			}
			g, w := make([]uint16, n), make([]uint16, n)
			b.f32ToF16(g, x)
			f32ToF16RowGo(w, x)
			for i := range x {
				if g[i] != w[i] && !(isNaN16(g[i]) && isNaN16(w[i])) {
					t.Fatalf("f32ToF16(%#08x) = %#04x want %#04x", math.Float32bits(x[i]), g[i], w[i])
				}
			}
		}
	})
}

// quantCase describes one quantised dot kernel for the cross-check.
type quantCase struct {
	typ       DType
	pick      func(b *backend) dot4Func
	scaleOffs []int // byte offsets of f16 scales within a block
	bound     float64
}

var quantCases = []quantCase{
	{Q8_0, func(b *backend) dot4Func { return b.formats[Q8_0].dot4 }, []int{0}, 32 * 128 * 127},
	{Q4_0, func(b *backend) dot4Func { return b.formats[Q4_0].dot4 }, []int{0}, 32 * 8 * 127},
	{Q4_K, func(b *backend) dot4Func { return b.formats[Q4_K].dot4 }, []int{0, 2}, 256 * 127 * 63 * 16},
	{Q6_K, func(b *backend) dot4Func { return b.formats[Q6_K].dot4 }, []int{208}, 256 * 32 * 127 * 128},
}

// randAct makes a random activation column of nb blocks of the type's size.
func randAct(r *rand.Rand, typ DType, nb int) *q8Act {
	bs := typ.BlockSize()
	a := &q8Act{qs: make([]int8, nb*bs), d: make([]float32, nb)}
	for i := range a.qs {
		a.qs[i] = int8(r.IntN(255) - 127)
	}
	for i := range a.d {
		a.d[i] = 0.001 + 0.009*r.Float32()
	}
	if bs == 32 {
		a.cz = make([]int32, nb)
		for b := range a.cz {
			for _, v := range a.qs[32*b : 32*b+32] {
				a.cz[b] -= 16 * int32(v)
			}
		}
	}
	if bs == qkBlock {
		a.bs16, a.bs32 = make([]int16, 16*nb), make([]int16, 8*nb)
		for s := range a.bs16 {
			for _, v := range a.qs[16*s : 16*s+16] {
				a.bs16[s] += int16(v)
			}
		}
		for k := range a.bs32 {
			a.bs32[k] = a.bs16[2*k] + a.bs16[2*k+1]
		}
	}
	return a
}

func TestBackendQuantDots(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		r := newRand(t, 12)
		for _, qc := range quantCases {
			for _, nb := range []int{1, 2, 3, 5, 8, 17} {
				rb := RowBytes(qc.typ, nb*qc.typ.BlockSize())
				w := make([]byte, 4*rb+7) // slack: rows need not end the buffer
				for i := range w {
					w[i] = byte(r.Uint32())
				}
				for row := 0; row < 4; row++ {
					for blk := 0; blk < nb; blk++ {
						for _, off := range qc.scaleOffs {
							d := 0.001 + 0.009*r.Float32()
							if r.IntN(4) == 0 {
								d = -d
							}
							binary.LittleEndian.PutUint16(w[row*rb+blk*qc.typ.BlockBytes()+off:], F32ToF16(d))
						}
					}
				}
				a := randAct(r, qc.typ, nb)
				noCz := *a // Q8_0 columns without corrections take the fallback
				noCz.cz = nil
				tol := 1e-4 * 1e-6 * float64(nb) * qc.bound
				for _, stride := range []int{rb, 0} {
					for _, a := range []*q8Act{a, &noCz} {
						var got, want [4]float32
						qc.pick(b)(w, stride, a, &got)
						qc.pick(&goBackend)(w, stride, a, &want)
						checkClose(t, qc.typ.String(), got[:], want[:], tol)
					}
				}
			}
		}
	})
}

func isNaN16(h uint16) bool { return h&0x7c00 == 0x7c00 && h&0x3ff != 0 }

func TestBackendQuantDots1x4(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		r := newRand(t, 13)
		for _, qc := range quantCases[:3] {
			x4 := b.formats[qc.typ].dot1x4
			if x4 == nil {
				continue
			}
			bs := qc.typ.BlockSize()
			for _, nb := range []int{1, 2, 3, 5, 8, 17} {
				rb := RowBytes(qc.typ, nb*bs)
				w := make([]byte, rb)
				for i := range w {
					w[i] = byte(r.Uint32())
				}
				for blk := 0; blk < nb; blk++ {
					for _, off := range qc.scaleOffs {
						binary.LittleEndian.PutUint16(w[blk*qc.typ.BlockBytes()+off:], F32ToF16(0.001+0.009*r.Float32()))
					}
				}
				// Contiguous columns, as MatMul lays them out, and scattered ones.
				var ab actBuf
				cols := ab.prepare(nb*bs, 4, bs)
				scattered := make([]q8Act, 4)
				for c := range cols {
					quantAct(&cols[c], randVec(r, nb*bs), bs)
					scattered[c] = *randAct(r, qc.typ, nb)
				}
				tol := 1e-4 * 1e-6 * float64(nb) * qc.bound
				for _, a := range [][]q8Act{cols, scattered} {
					var got, want [4]float32
					x4(w, a, &got, qc.pick(b))
					dot1x4Go(w, a, &want, qc.pick(&goBackend))
					checkClose(t, qc.typ.String()+"x4", got[:], want[:], tol)
				}
			}
		}
	})
}

// TestBackendQuantTiles checks the four-row × four-column kernels against
// the reference, with columns laid out by actBuf (the assembly path) and
// scattered (the fallback), odd block counts and a repeated row (stride 0).
func TestBackendQuantTiles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		tile := b.formats[Q8_0].dot4x4
		if tile == nil {
			t.Skip("no tile kernel")
		}
		r := newRand(t, 14)
		qc := quantCases[0]
		for _, nb := range []int{1, 2, 3, 5, 8, 17, 64} {
			rb := RowBytes(Q8_0, nb*32)
			w := make([]byte, 4*rb+5)
			for i := range w {
				w[i] = byte(r.Uint32())
			}
			for row := 0; row < 4; row++ {
				for blk := 0; blk < nb; blk++ {
					binary.LittleEndian.PutUint16(w[row*rb+blk*q8_0Bytes:], F32ToF16(0.001+0.009*r.Float32()))
				}
			}
			var ab actBuf
			cols := ab.prepare(nb*32, 4, 32)
			scattered := make([]q8Act, 4)
			for c := range cols {
				x := randVec(r, nb*32)
				quantAct(&cols[c], x, 32)
				scattered[c] = *randAct(r, Q8_0, nb)
			}
			tol := 1e-4 * 1e-6 * float64(nb) * qc.bound
			for _, a := range [][]q8Act{cols, scattered} {
				for _, stride := range []int{rb, 0} {
					var got, want [16]float32
					tile(w, stride, a, &got, b.formats[Q8_0].dot4)
					dot4x4Go(w, stride, a, &want, dot4Q8_0Go)
					checkClose(t, "Q8_0 4x4", got[:], want[:], tol)
				}
			}
		}
	})
}

func TestBackendExpSub(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		r := newRand(t, 15)
		for _, n := range append(oddLens, 4097) {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 20)
			}
			m := float32(0)
			for _, v := range x {
				m = max(m, v)
			}
			got, want := append([]float32(nil), x...), append([]float32(nil), x...)
			gs, ws := b.expSub(got, m), expSubGo(want, m)
			for i := range x {
				exact := math.Exp(math.Max(float64(x[i]-m), -87))
				if d := math.Abs(float64(got[i]) - exact); d > 1e-6*exact {
					t.Fatalf("n=%d: e^(%g) = %g want %g", n, x[i]-m, got[i], exact)
				}
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-6*float64(want[i]) {
					t.Fatalf("n=%d: e^(%g) = %g, reference %g", n, x[i]-m, got[i], want[i])
				}
			}
			if math.Abs(float64(gs-ws)) > 1e-5*float64(ws)+1e-30 {
				t.Fatalf("n=%d: sum %g want %g", n, gs, ws)
			}
		}
	})
}

func TestBackendSwiGLU(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		r := newRand(t, 17)
		for _, n := range append(oddLens, 4097) {
			gate, up := make([]float32, n), randVec(r, n)
			for i := range gate {
				gate[i] = float32(r.NormFloat64() * 8)
				if i%37 == 5 {
					gate[i] = float32(r.NormFloat64() * 200) // past e^±88
				}
			}
			got, want := make([]float32, n+1), make([]float32, n+1)
			got[n], want[n] = 7, 7 // past the end: untouched
			b.swiglu(got, gate, up)
			swigluGo(want, gate, up)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 2e-6*math.Abs(float64(want[i]))+1e-30 {
					t.Fatalf("n=%d: SwiGLU(%g, %g) = %g want %g", n, gate[i], up[i], got[i], want[i])
				}
			}
		}
	})
}

func TestBackendQuantAct(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		if b.quant32 == nil && b.quant256 == nil {
			t.Skip("no quantiser")
		}
		r := newRand(t, 16)
		for _, nb := range []int{1, 2, 3, 17, 64} {
			if b.quant32 == nil {
				break
			}
			x := randVec(r, nb*32)
			for i := 0; i < 32; i++ { // an all-zero block
				x[i] = 0
			}
			if nb > 1 {
				x[40] = -x[41] // sign symmetry
			}
			var g, w actBuf
			got, want := &g.prepare(nb*32, 1, 32)[0], &w.prepare(nb*32, 1, 32)[0]
			b.quant32(got, x)
			quantActGo(want, x, 32)
			for i := range want.qs {
				if got.qs[i] != want.qs[i] {
					t.Fatalf("nb=%d: qs[%d] = %d want %d", nb, i, got.qs[i], want.qs[i])
				}
			}
			for i := range want.d {
				if got.d[i] != want.d[i] || got.cz[i] != want.cz[i] {
					t.Fatalf("nb=%d block %d: d %g cz %d, want %g %d", nb, i, got.d[i], got.cz[i], want.d[i], want.cz[i])
				}
			}
		}
		if b.quant256 == nil {
			return
		}
		for _, nb := range []int{1, 2, 5} { // 256-value super-blocks
			if b.quant256 == nil {
				break
			}
			x := randVec(r, nb*qkBlock)
			for i := 0; i < qkBlock; i++ {
				x[i] *= 1e-3
			}
			if nb > 1 {
				clear(x[qkBlock : 2*qkBlock])
			}
			var g, w actBuf
			got, want := &g.prepare(nb*qkBlock, 1, qkBlock)[0], &w.prepare(nb*qkBlock, 1, qkBlock)[0]
			b.quant256(got, x)
			quantActGo(want, x, qkBlock)
			if !slices.Equal(got.qs, want.qs) || !slices.Equal(got.d, want.d) ||
				!slices.Equal(got.bs16, want.bs16) || !slices.Equal(got.bs32, want.bs32) {
				t.Fatalf("nb=%d: 256-value blocks differ from quantActGo", nb)
			}
		}
	})
}

// TestReadPatterns: every loop of the bandwidth probe reads every byte (its
// result is the xor of the buffer's 8-byte words, whatever the length), so
// the probe cannot report a rate for bytes it skipped.
func TestReadPatterns(t *testing.T) {
	r := newRand(t, 18)
	for _, n := range []int{8, 256, 264, 512, 4096 + 8, 1 << 16} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := xorWordsGo(b)
		for _, p := range readPatterns()[1:] { // [0] is the byte sum
			if got := p.read(b); got != want {
				t.Fatalf("%s over %d bytes: %#x, want %#x", p.name, n, got, want)
			}
		}
	}
	if len(readPatterns()) < 2 {
		t.Fatal("the probe needs more than one read loop")
	}
}

// TestBackendAttnPage32: each backend's page kernels against the Go loops,
// on head sizes the ZMM kernels take (multiples of 16) and ones they hand
// back (4, 12 for the scores; 12, 40 for the values), one to five heads,
// and masks that cut a page at either end; masked-off slots of V hold Inf
// and NaN, which must add nothing.
func TestBackendAttnPage32(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		r := newRand(t, 31)
		for _, hd := range []int{4, 12, 16, 40, 64, 128} {
			for _, heads := range []int{1, 3, 4, 5} {
				k, v := make([]uint16, attnPage*hd), make([]uint16, attnPage*hd)
				for i := range k {
					k[i], v[i] = F32ToF16(float32(r.NormFloat64())), F32ToF16(float32(r.NormFloat64()))
				}
				q := randVec(r, heads*hd)
				got, want := make([]float32, attnPage*heads), make([]float32, attnPage*heads)
				b.attnScores32(k, hd, q, heads, got)
				attnScores32Go(k, hd, q, heads, want)
				checkClose(t, fmt.Sprintf("scores hd %d heads %d", hd, heads), got, want, 1e-5*math.Sqrt(float64(hd)))
				for _, m := range []struct{ off, cnt int }{{0, 32}, {0, 1}, {5, 20}, {31, 1}, {16, 16}} {
					mask := uint32((uint64(1)<<m.cnt - 1) << m.off)
					vv := append([]uint16(nil), v...)
					for i := range vv {
						if t := i % attnPage; mask>>t&1 == 0 {
							vv[i] = 0x7c00 | uint16(i&1)<<9 // Inf, NaN
						}
					}
					w := make([]float32, attnPage*heads)
					for i := range w {
						if mask>>(i%attnPage)&1 != 0 {
							w[i] = float32(r.Float64())
						}
					}
					out0 := randVec(r, heads*hd)
					got, want := append([]float32(nil), out0...), append([]float32(nil), out0...)
					b.attnOut32(vv, hd, w, heads, mask, got)
					attnOut32Go(vv, hd, w, heads, mask, want)
					checkClose(t, fmt.Sprintf("values hd %d heads %d mask %#x", hd, heads, mask), got, want, 1e-5*float64(m.cnt))
				}
			}
		}
	})
}

// TestBackendSoftmax16: each backend's rounded softmax against the Go
// loop, on odd lengths (the ZMM loops' masked tails) and spread scores.
// The weights are f16-rounded, so one exponential a float32 rounding away
// can move a weight by one f16 step: the bound is that step.
func TestBackendSoftmax16(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		if b.softmax16 == nil {
			t.Skip("no softmax16 kernel")
		}
		r := newRand(t, 33)
		for _, n := range append(oddLens, 4097) {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 4)
			}
			got, want := append([]float32(nil), x...), append([]float32(nil), x...)
			b.softmax16(got)
			softmax16Go(want)

			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > float64(want[i])/1024+1e-30 {
					t.Fatalf("n=%d: weight %d = %g, want %g", n, i, got[i], want[i])
				}
				if r := roundF16Fast(got[i]); r != got[i] {
					t.Fatalf("n=%d: weight %d = %g not f16-rounded", n, i, got[i])
				}
			}
		}
	})
}

// softmax16Go is softmaxInPlace(x, true) with Go's exponential.
func softmax16Go(x []float32) {
	if len(x) == 0 {
		return
	}
	mx := slices.Max(x)
	inv := 1 / expSubGo(x, mx)
	for i := range x {
		x[i] = roundF16Fast(x[i] * inv)
	}
}
