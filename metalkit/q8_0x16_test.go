package metalkit

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"
)

// TestRepackQ8_0x16 checks that a repacked Q8_0 matrix dequantises to the
// same rows and multiplies to the same products as the GGUF one, for row
// counts with and without a tail past the last group of 16 and odd and
// even block counts, on every batch size MatMul tiles differently.
func TestRepackQ8_0x16(t *testing.T) {
	r := newRand(t, 40)
	pool := NewPool(3)
	defer pool.Close()
	for _, shape := range [][2]int{{16, 32}, {17, 64}, {33, 96}, {53, 32}, {64, 1280}, {8, 64}, {48, 2048}} {
		rows, cols := shape[0], shape[1]
		m := randMatrix(t, r, Q8_0, rows, cols)
		p := repack(m)
		if p.Repacked() != (rows >= 16) || len(p.Data) != len(m.Data) {
			t.Fatalf("%dx%d: repacked %v, %d bytes of %d", rows, cols, p.Repacked(), len(p.Data), len(m.Data))
		}
		got, want := make([]float32, cols), make([]float32, cols)
		for i := 0; i < rows; i++ {
			p.Row(i, got)
			m.Row(i, want)
			checkClose(t, fmt.Sprintf("%dx%d row %d", rows, cols, i), got, want, 0)
		}
		for _, batch := range []int{1, 2, 4, 5, 8, 9, 13, 70} {
			x := randVec(r, cols*batch)
			want := make([]float32, rows*batch)
			MatMul(nil, want, m, x, batch)
			for _, pl := range []*Pool{nil, pool} {
				got := make([]float32, rows*batch)
				MatMul(pl, got, p, x, batch)
				checkClose(t, fmt.Sprintf("%dx%d batch %d", rows, cols, batch), got, want, 2e-5*float64(cols))
			}
		}
	}
}

// randQ8Group makes a random Q8_0×16 group of nb blocks a row (every byte
// random, scales sane, some negative) and its 16 rows in the GGUF layout.
func randQ8Group(t testing.TB, nb int) (group, rows []byte) {
	r := newRand(t, uint64(50+nb))
	rb := nb * q8_0Bytes
	rows = make([]byte, q8xRows*rb)
	for i := range rows {
		rows[i] = byte(r.Uint32())
	}
	for b := 0; b < q8xRows*nb; b++ {
		d := 0.001 + 0.009*r.Float32()
		if r.IntN(4) == 0 {
			d = -d
		}
		binary.LittleEndian.PutUint16(rows[b*q8_0Bytes:], F32ToF16(d))
	}
	group = make([]byte, len(rows))
	repackQ8_0x16(group, rows, nb)
	return group, rows
}

// TestBackendQ8_0x16 checks the reference Q8_0×16 kernel against the GGUF
// reference on the same rows, then every backend's Q8_0×16 kernels against
// it, for odd block counts, columns laid out by actBuf (the assembly path)
// and scattered (the fallback), the 16 × 16 tile where a backend has one
// (amx), and extreme values (−128 weights, ±127
// activations) that the sign flip must survive.
func TestBackendQ8_0x16(t *testing.T) {
	r := newRand(t, 41)
	tol := func(nb int) float64 { return 1e-4 * 1e-6 * float64(nb) * quantCases[0].bound }
	for _, nb := range []int{1, 2, 3, 5, 8, 17} {
		group, rows := randQ8Group(t, nb)
		a := randAct(r, Q8_0, nb)
		var got [16]float32
		var want [4]float32
		dot16Q8_0xGo(group, a, &got)
		for row := 0; row < 16; row += 4 {
			dot4Q8_0Go(rows[row*nb*q8_0Bytes:], nb*q8_0Bytes, a, &want)
			checkClose(t, "Q8_0x16 reference", got[row:row+4], want[:], 0)
		}
	}
	forEachBackend(t, func(t *testing.T, b *backend) {
		k, ref := b.formats[Q8_0].x16, goBackend.formats[Q8_0].x16
		for _, nb := range []int{1, 2, 3, 5, 8, 17, 64} {
			group, rows := randQ8Group(t, nb)
			if nb == 3 { // extremes: every weight −128 in one row, 127 in another
				for blk := 0; blk < nb; blk++ {
					for i := 2; i < q8_0Bytes; i++ {
						rows[blk*q8_0Bytes+i] = 0x80
						rows[nb*q8_0Bytes+blk*q8_0Bytes+i] = 0x7f
					}
				}
				repackQ8_0x16(group, rows, nb)
			}
			w := append(group, 1, 2, 3) // slack: a group need not end the buffer
			var ab actBuf
			cols := ab.prepare(nb*32, 16, 32)
			scattered := make([]q8Act, 16)
			for c := range cols {
				x := randVec(r, nb*32)
				if c == 2 {
					for i := range x {
						x[i] = float32(1 - 2*(i&1)) // ±127 after quantising
					}
				}
				quantAct(&cols[c], x, 32)
				scattered[c] = *randAct(r, Q8_0, nb)
			}
			for _, a := range [][]q8Act{cols, scattered} {
				for c := range a {
					var got, want [16]float32
					k.dot(w, &a[c], &got)
					ref.dot(w, &a[c], &want)
					checkClose(t, fmt.Sprintf("Q8_0x16 nb=%d col %d", nb, c), got[:], want[:], tol(nb))
				}
				var got, want [64]float32
				k.dotx4(w, a[3:7], &got, k.dot)
				dot16x4Go(w, a[3:7], &want, ref.dot)
				checkClose(t, fmt.Sprintf("Q8_0x16 16x4 nb=%d", nb), got[:], want[:], tol(nb))
				var got8, want8 [128]float32
				k.dotx8(w, a, &got8, k.dot)
				dot16x8Go(w, a, &want8, ref.dot)
				checkClose(t, fmt.Sprintf("Q8_0x16 16x8 nb=%d", nb), got8[:], want8[:], tol(nb))
				if k.dotx16 != nil {
					var got16, want16 [256]float32
					k.dotx16(w, a, &got16, k.dot)
					dot16x16Go(w, a, &want16, ref.dot)
					checkClose(t, fmt.Sprintf("Q8_0x16 16x16 nb=%d", nb), got16[:], want16[:], tol(nb))
				}
			}
		}
	})
}

// TestBackendX16TilesExact: within a backend, the 4-, 8- and 16-column
// kernels of a repacked format give each (row, column) the same float bits
// as the one-column kernel. MatMul picks the tile by how many columns a
// call has, so a prefill chunk and the same tokens one by one, or a session
// decoding alone and in a batch, go through different tiles: they must not
// round differently (infer's exactness tests compare exactly that).
func TestBackendX16TilesExact(t *testing.T) {
	r := newRand(t, 43)
	forEachBackend(t, func(t *testing.T, b *backend) {
		for _, f := range []struct {
			typ   DType
			bs    int
			group func(testing.TB, int) ([]byte, []byte)
		}{{Q8_0, 32, randQ8Group}, {Q4_K, qkBlock, randQ4KGroup}} {
			k := b.formats[f.typ].x16
			for _, nb := range []int{1, 3, 8, 17} {
				w, _ := f.group(t, nb)
				var ab actBuf
				a := ab.prepare(nb*f.bs, 16, f.bs)
				for c := range a {
					quantAct(&a[c], randVec(r, nb*f.bs), f.bs)
				}
				var one [16][16]float32
				for c := range a {
					k.dot(w, &a[c], &one[c])
				}
				same := func(name string, got []float32, col0 int) {
					for i, v := range got {
						if want := one[col0+i/16][i%16]; math.Float32bits(v) != math.Float32bits(want) {
							t.Fatalf("%v nb=%d %s: column %d row %d = %g, one-column kernel %g", f.typ, nb, name, col0+i/16, i%16, v, want)
						}
					}
				}
				var o4 [64]float32
				k.dotx4(w, a[4:8], &o4, k.dot)
				same("16x4", o4[:], 4)
				var o8 [128]float32
				k.dotx8(w, a[8:16], &o8, k.dot)
				same("16x8", o8[:], 8)
				if k.dotx16 != nil {
					var o16 [256]float32
					k.dotx16(w, a, &o16, k.dot)
					same("16x16", o16[:], 0)
				}
			}
		}
	})
}
