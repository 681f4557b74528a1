package metalkit

import (
	"fmt"
	"strings"
	"testing"
)

// Benchmarks report GB/s of weight bytes (b.SetBytes), to compare with
// BenchmarkBandwidth, the memory roofline of this machine measured with the
// same SIMD loads.

var benchMatrices = map[string]Matrix{}

// benchTypes names the benchmarks' matrix types; "x16" is the type
// repacked into groups of 16 rows.
var benchTypes = map[string]DType{"Q8_0": Q8_0, "Q8_0x16": Q8_0, "Q4_0": Q4_0, "Q4_K": Q4_K, "Q4_Kx16": Q4_K,
	"Q6_K": Q6_K, "F16": F16, "BF16": BF16, "F32": F32}

func benchMatrix(b *testing.B, typ DType, rows, cols int) Matrix {
	key := fmt.Sprint(typ, rows, cols)
	if m, ok := benchMatrices[key]; ok {
		return m
	}
	r := newRand(b, 7)
	m := randMatrix(b, r, typ, rows, cols)
	benchMatrices[key] = m
	return m
}

// BenchmarkMatMul: "Q4_Kx16" and "Q8_0x16" are Q4_K and Q8_0 repacked
// (repack), as llama loads them where the backend has the kernels.
func BenchmarkMatMul(b *testing.B) {
	pool := NewPool(0)
	defer pool.Close()
	for _, name := range []string{"Q8_0", "Q8_0x16", "Q4_0", "Q4_K", "Q4_Kx16", "Q6_K", "F16", "BF16", "F32"} {
		typ := benchTypes[name]
		for _, shape := range [][2]int{{2048, 2048}, {8192, 2048}} {
			for _, batch := range []int{1, 32, 128} {
				name := fmt.Sprintf("%v/%dx%d/b%d", name, shape[0], shape[1], batch)
				b.Run(name, func(b *testing.B) {
					m := benchMatrix(b, typ, shape[0], shape[1])
					if strings.Contains(name, "x16/") {
						m = repack(m)
					}
					x := randVec(newRand(b, 8), shape[1]*batch)
					out := make([]float32, shape[0]*batch)
					b.SetBytes(int64(len(m.Data)))
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						MatMul(pool, out, m, x, batch)
					}
				})
			}
		}
	}
}

// BenchmarkBandwidth sums a 256 MB buffer on every pool thread: the memory
// roofline for MatMul at batch 1.
func BenchmarkBandwidth(b *testing.B) {
	buf := make([]byte, 256<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for _, threads := range []int{1, 0} {
		pool := NewPool(threads)
		b.Run(fmt.Sprintf("threads=%d", pool.Threads()), func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			sums := make([]uint64, len(buf)>>20)
			for i := 0; i < b.N; i++ {
				pool.Parallel(len(sums), func(s, e int) {
					sums[s] = sumBytes(buf[s<<20 : e<<20])
				})
			}
		})
		pool.Close()
	}
}

func BenchmarkDot(b *testing.B) {
	x, y := randVec(newRand(b, 9), 4096), randVec(newRand(b, 10), 4096)
	b.SetBytes(2 * 4 * 4096)
	for i := 0; i < b.N; i++ {
		Dot(x, y)
	}
}

func BenchmarkDotF16(b *testing.B) {
	x, y := randVec(newRand(b, 9), 4096), randVec(newRand(b, 10), 4096)
	h := make([]uint16, len(x))
	F32ToF16Row(h, x)
	b.SetBytes(2 * 4096)
	for i := 0; i < b.N; i++ {
		DotF16(h, y)
	}
}

// BenchmarkMatMulCold is BenchmarkMatMul at batch 1 with the weights
// cycling through a 256 MB buffer (copies of one matrix), so every call
// reads them from DRAM rather than the last-level cache, as a model far
// larger than the cache does. Compare with BenchmarkBandwidth.
func BenchmarkMatMulCold(b *testing.B) {
	pool := NewPool(0)
	defer pool.Close()
	for _, name := range []string{"Q8_0", "Q8_0x16", "Q4_0", "Q4_K", "Q4_Kx16", "Q6_K", "F16"} {
		typ := benchTypes[name]
		for _, shape := range [][2]int{{2048, 2048}, {8192, 2048}} {
			b.Run(fmt.Sprintf("%v/%dx%d/b1", name, shape[0], shape[1]), func(b *testing.B) {
				m := benchMatrix(b, typ, shape[0], shape[1])
				if strings.HasSuffix(name, "x16") {
					m = repack(m)
				}
				copies := max(2, (256<<20)/len(m.Data))
				big := make([]byte, copies*len(m.Data))
				ms := make([]Matrix, copies)
				for i := range ms {
					copy(big[i*len(m.Data):], m.Data)
					ms[i] = m
					ms[i].Data = big[i*len(m.Data) : (i+1)*len(m.Data)]
				}
				x := randVec(newRand(b, 8), shape[1])
				out := make([]float32, shape[0])
				b.SetBytes(int64(len(m.Data)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					MatMul(pool, out, ms[i%copies], x, 1)
				}
			})
		}
	}
}

// BenchmarkQuantKernels times each backend's quantised kernels on one
// thread with weights in L2 (64 rows × 2048 columns), to compare kernels
// without the memory system or the pool: b1 is the four-row kernel on one
// column, b4 the prefill path on four columns (the tile kernel where the
// backend has one).
func BenchmarkQuantKernels(b *testing.B) {
	const rows, cols = 64, 2048
	for _, qc := range quantCases {
		m := benchMatrix(b, qc.typ, rows, cols)
		bs := qc.typ.BlockSize()
		var ab actBuf
		acts := ab.prepare(cols, 4, bs)
		x := randVec(newRand(b, 8), 4*cols)
		for c := range acts {
			quantAct(&acts[c], x[c*cols:(c+1)*cols], bs)
		}
		rb := m.rowBytes()
		for _, be := range backends {
			d4 := qc.pick(be)
			b.Run(fmt.Sprintf("%v/b1/%s", qc.typ, be.name), func(b *testing.B) {
				var o [4]float32
				b.SetBytes(int64(len(m.Data)))
				for i := 0; i < b.N; i++ {
					for r := 0; r < rows; r += 4 {
						d4(m.Data[r*rb:(r+4)*rb], rb, &acts[0], &o)
					}
				}
			})
			b.Run(fmt.Sprintf("%v/b4/%s", qc.typ, be.name), func(b *testing.B) {
				var o [4]float32
				var o16 [16]float32
				b.SetBytes(int64(len(m.Data)))
				for i := 0; i < b.N; i++ {
					for r := 0; r < rows; r += 4 {
						w := m.Data[r*rb : (r+4)*rb]
						if tile := be.formats[qc.typ].dot4x4; tile != nil {
							tile(w, rb, acts, &o16, d4)
							continue
						}
						if x4 := be.formats[qc.typ].dot1x4; x4 != nil {
							for k := 0; k < 4; k++ {
								x4(w[k*rb:(k+1)*rb], acts, &o, d4)
							}
							continue
						}
						for c := range acts {
							d4(w, rb, &acts[c], &o)
						}
					}
				}
			})
		}
	}
}

// BenchmarkQ4Kx16 is BenchmarkQuantKernels for the repacked Q4_K×16 layout
// (same matrix size): b1 the 16-row kernel on one column, b4 the 16 × 4
// tile, b8 the 16 × 8 tile (its bytes do twice b4's work). Compare with
// Q4_K/b1 and Q4_K/b4 there.
func BenchmarkQ4Kx16(b *testing.B) {
	const rows, cols = 64, 2048
	m := repack(benchMatrix(b, Q4_K, rows, cols))
	var ab actBuf
	acts := ab.prepare(cols, 8, qkBlock)
	x := randVec(newRand(b, 8), 8*cols)
	for c := range acts {
		quantAct(&acts[c], x[c*cols:(c+1)*cols], qkBlock)
	}
	gb := q4KxRows * m.rowBytes()
	for _, be := range backends {
		k := be.formats[Q4_K].x16
		b.Run("b1/"+be.name, func(b *testing.B) {
			var o [16]float32
			b.SetBytes(int64(len(m.Data)))
			for i := 0; i < b.N; i++ {
				for g := 0; g < rows/q4KxRows; g++ {
					k.dot(m.Data[g*gb:(g+1)*gb], &acts[0], &o)
				}
			}
		})
		b.Run("b4/"+be.name, func(b *testing.B) {
			var o [64]float32
			b.SetBytes(int64(len(m.Data)))
			for i := 0; i < b.N; i++ {
				for g := 0; g < rows/q4KxRows; g++ {
					k.dotx4(m.Data[g*gb:(g+1)*gb], acts[:4], &o, k.dot)
				}
			}
		})
		b.Run("b8/"+be.name, func(b *testing.B) {
			var o [128]float32
			b.SetBytes(int64(len(m.Data)))
			for i := 0; i < b.N; i++ {
				for g := 0; g < rows/q4KxRows; g++ {
					k.dotx8(m.Data[g*gb:(g+1)*gb], acts, &o, k.dot)
				}
			}
		})
	}
}

// BenchmarkQ8_0x16 is BenchmarkQuantKernels for the repacked Q8_0×16
// layout (same matrix size), per backend: b1 the one-column kernel, b8 the
// eight-column one, b16 the 16 × 16 tile where the backend has one (amx)
// or two eight-column calls. Compare with Q8_0/b1 and Q8_0/b4 there.
func BenchmarkQ8_0x16(b *testing.B) {
	const rows, cols = 64, 2048
	m := repack(benchMatrix(b, Q8_0, rows, cols))
	var ab actBuf
	acts := ab.prepare(cols, 16, 32)
	x := randVec(newRand(b, 8), 16*cols)
	for c := range acts {
		quantAct(&acts[c], x[c*cols:(c+1)*cols], 32)
	}
	gb := groupRows * m.rowBytes()
	for _, be := range backends {
		k := be.formats[Q8_0].x16
		b.Run("b1/"+be.name, func(b *testing.B) {
			var o [16]float32
			b.SetBytes(int64(len(m.Data)))
			for i := 0; i < b.N; i++ {
				for g := 0; g < rows/groupRows; g++ {
					k.dot(m.Data[g*gb:(g+1)*gb], &acts[0], &o)
				}
			}
		})
		b.Run("b8/"+be.name, func(b *testing.B) {
			var o [128]float32
			b.SetBytes(int64(len(m.Data)))
			for i := 0; i < b.N; i++ {
				for g := 0; g < rows/groupRows; g++ {
					k.dotx8(m.Data[g*gb:(g+1)*gb], acts[:8], &o, k.dot)
				}
			}
		})
		b.Run("b16/"+be.name, func(b *testing.B) {
			var o [256]float32
			var o8 [128]float32
			b.SetBytes(int64(len(m.Data)))
			for i := 0; i < b.N; i++ {
				for g := 0; g < rows/groupRows; g++ {
					w := m.Data[g*gb : (g+1)*gb]
					if k.dotx16 != nil {
						k.dotx16(w, acts, &o, k.dot)
						continue
					}
					k.dotx8(w, acts[:8], &o8, k.dot)
					k.dotx8(w, acts[8:], &o8, k.dot)
				}
			}
		})
	}
}
