package metalkit

import (
	"math/rand"
	"slices"
	"testing"
)

// TestCPUMatMuls: MatMuls gives each matrix MatMul's result, bit for bit,
// for matrices of different heights and types sharing a width.
func TestCPUMatMuls(t *testing.T) {
	d := NewCPUDevice(nil)
	defer d.Close()
	rng := rand.New(rand.NewSource(9))
	const cols, batch = 256, 3
	vec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	var ws []Weights
	var outs, wants []Buffer
	for _, c := range []struct {
		typ  DType
		rows int
	}{{Q8_0, 37}, {Q4_K, 5}, {F32, 64}} {
		data, err := Quantize(c.typ, vec(c.rows*cols))
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMatrix(c.typ, c.rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		w, err := d.Upload(m)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := d.Alloc(batch * c.rows)
		want, _ := d.Alloc(batch * c.rows)
		ws, outs, wants = append(ws, w), append(outs, o), append(wants, want)
	}
	x, _ := d.Alloc(batch * cols)
	d.Write(x, 0, vec(batch*cols))
	d.MatMuls(outs, ws, x, batch)
	for i, w := range ws {
		d.MatMul(wants[i], w, x, batch)
		n := batch * w.Matrix().Rows
		got, want := make([]float32, n), make([]float32, n)
		d.Read(got, outs[i], 0)
		d.Read(want, wants[i], 0)
		if !slices.Equal(got, want) {
			t.Errorf("matrix %d (%v): MatMuls differs from MatMul", i, w.Matrix().Type)
		}
	}
}

// TestCPUMatMulSwiGLU: MatMulSwiGLU gives MatMul, MatMul, SwiGLU's bits.
func TestCPUMatMulSwiGLU(t *testing.T) {
	d := NewCPUDevice(nil)
	defer d.Close()
	rng := rand.New(rand.NewSource(10))
	const rows, cols, batch = 40, 256, 2
	vec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	up := func() Weights {
		data, err := Quantize(Q8_0, vec(rows*cols))
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMatrix(Q8_0, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		w, err := d.Upload(m)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	gate, upw := up(), up()
	x, _ := d.Alloc(batch * cols)
	d.Write(x, 0, vec(batch*cols))
	out, tmp, want, want2 := make4(t, d, batch*rows)
	d.MatMulSwiGLU(out, tmp, gate, upw, x, batch)
	d.MatMul(want, gate, x, batch)
	d.MatMul(want2, upw, x, batch)
	d.SwiGLU(want, want, want2, batch*rows)
	got, exp := make([]float32, batch*rows), make([]float32, batch*rows)
	d.Read(got, out, 0)
	d.Read(exp, want, 0)
	if !slices.Equal(got, exp) {
		t.Error("MatMulSwiGLU differs from MatMul, MatMul, SwiGLU")
	}
}

func make4(t *testing.T, d Device, n int) (a, b, c, e Buffer) {
	var bs [4]Buffer
	for i := range bs {
		var err error
		if bs[i], err = d.Alloc(n); err != nil {
			t.Fatal(err)
		}
	}
	return bs[0], bs[1], bs[2], bs[3]
}
