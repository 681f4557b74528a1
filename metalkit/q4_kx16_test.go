package metalkit

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// TestRepackQ4Kx16 checks that a repacked matrix dequantises to the same
// rows and multiplies to the same products as the GGUF one, for row counts
// with and without a tail past the last group of 16.
func TestRepackQ4Kx16(t *testing.T) {
	r := newRand(t, 20)
	pool := NewPool(3)
	defer pool.Close()
	for _, shape := range [][2]int{{16, 256}, {17, 512}, {33, 768}, {53, 256}, {64, 1280}, {8, 256}} {
		rows, cols := shape[0], shape[1]
		m := randMatrix(t, r, Q4_K, rows, cols)
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
				checkClose(t, fmt.Sprintf("%dx%d batch %d", rows, cols, batch), got, want, 1e-4*float64(cols/256))
			}
		}
	}
}

// randQ4KGroup makes nb super-blocks of a random Q4_K×16 group (every byte
// random, scales sane, some negative) and its 16 rows in the GGUF layout.
func randQ4KGroup(t testing.TB, nb int) (group, rows []byte) {
	r := newRand(t, uint64(30+nb))
	rb := nb * q4_KBytes
	rows = make([]byte, q4KxRows*rb)
	for i := range rows {
		rows[i] = byte(r.Uint32())
	}
	for row := 0; row < q4KxRows; row++ {
		for b := 0; b < nb; b++ {
			for _, off := range []int{0, 2} {
				d := 0.001 + 0.009*r.Float32()
				if r.IntN(4) == 0 {
					d = -d
				}
				binary.LittleEndian.PutUint16(rows[row*rb+b*q4_KBytes+off:], F32ToF16(d))
			}
		}
	}
	group = make([]byte, len(rows))
	repackQ4Kx16(group, rows, nb)
	return group, rows
}

// TestBackendQ4Kx16 checks every backend's Q4_K×16 kernels against the
// reference, and the reference against the GGUF-layout reference on the
// same rows, for odd super-block counts, columns laid out by actBuf (the
// assembly path) and scattered (the fallback).
func TestBackendQ4Kx16(t *testing.T) {
	r := newRand(t, 21)
	tol := func(nb int) float64 { return 1e-4 * 1e-6 * float64(nb) * quantCases[2].bound }
	for _, nb := range []int{1, 2, 3, 5, 8, 17} {
		group, rows := randQ4KGroup(t, nb)
		a := randAct(r, Q4_K, nb)
		var got [16]float32
		var want [4]float32
		dot16Q4_KxGo(group, a, &got)
		for row := 0; row < 16; row += 4 {
			dot4Q4_KGo(rows[row*nb*q4_KBytes:], nb*q4_KBytes, a, &want)
			checkClose(t, "Q4_Kx16 reference", got[row:row+4], want[:], 0)
		}
	}
	forEachBackend(t, func(t *testing.T, b *backend) {
		k, ref := b.formats[Q4_K].x16, goBackend.formats[Q4_K].x16
		for _, nb := range []int{1, 2, 3, 5, 8, 17} {
			group, _ := randQ4KGroup(t, nb)
			w := append(group, 1, 2, 3) // slack: a group need not end the buffer
			var ab actBuf
			cols := ab.prepare(nb*qkBlock, 8, qkBlock)
			scattered := make([]q8Act, 8)
			for c := range cols {
				quantAct(&cols[c], randVec(r, nb*qkBlock), qkBlock)
				scattered[c] = *randAct(r, Q4_K, nb)
			}
			for _, a := range [][]q8Act{cols, scattered} {
				for c := range a {
					var got, want [16]float32
					k.dot(w, &a[c], &got)
					dot16Q4_KxGo(w, &a[c], &want)
					checkClose(t, fmt.Sprintf("Q4_Kx16 nb=%d", nb), got[:], want[:], tol(nb))
				}
				var got, want [64]float32
				k.dotx4(w, a[3:7], &got, k.dot)
				dot16x4Go(w, a[3:7], &want, ref.dot)
				checkClose(t, fmt.Sprintf("Q4_Kx16 16x4 nb=%d", nb), got[:], want[:], tol(nb))
				var got8, want8 [128]float32
				k.dotx8(w, a, &got8, k.dot)
				dot16x8Go(w, a, &want8, ref.dot)
				checkClose(t, fmt.Sprintf("Q4_Kx16 16x8 nb=%d", nb), got8[:], want8[:], tol(nb))
			}
		}
	})
}
