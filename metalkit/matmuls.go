package metalkit

import "fmt"

// MatMulsDevice is a Device that multiplies several matrices by the same
// activations in one op. On a GPU a decode step's Q, K and V projections,
// or its FFN's gate and up, are a few µs of weights each, about what a
// kernel launch costs, and the small ones (K and V of a grouped-query
// model) leave most of the GPU idle: one launch over all their rows does
// better. infer asks with a type assertion and calls MatMul per matrix
// otherwise (DeviceOnly hides it, as it hides GraphDevice).
type MatMulsDevice interface {
	Device
	// MatMuls sets outs[i] as MatMul(outs[i], ws[i], x, batch) does, for
	// every i, with the same results; the matrices have one width.
	MatMuls(outs []Buffer, ws []Weights, x Buffer, batch int)
	// MatMulSwiGLU sets out = SiLU(gate·x) ⊙ (up·x), as MatMul(out, gate,
	// x, batch), MatMul(tmp, up, x, batch), SwiGLU(out, out, tmp,
	// batch·rows) do, with the same results; tmp (batch × rows values)
	// may be left as that sequence leaves it or untouched. A GPU does a
	// decode step's in one kernel.
	MatMulSwiGLU(out, tmp Buffer, gate, up Weights, x Buffer, batch int)
}

var _ MatMulsDevice = (*CPUDevice)(nil)

// MatMuls is MatMul per matrix: on the CPU each is already one parallel
// pass over its rows.
func (d *CPUDevice) MatMuls(outs []Buffer, ws []Weights, x Buffer, batch int) {
	checkMatMuls(outs, ws)
	for i, w := range ws {
		d.MatMul(outs[i], w, x, batch)
	}
}

// checkMatMuls panics unless outs and ws pair up and the matrices have one
// width (a programmer error).
func checkMatMuls(outs []Buffer, ws []Weights) {
	if len(outs) != len(ws) {
		panic(fmt.Sprintf("metalkit: MatMuls of %d matrices into %d buffers", len(ws), len(outs)))
	}
	for _, w := range ws[min(1, len(ws)):] {
		if w.Matrix().Cols != ws[0].Matrix().Cols {
			panic(fmt.Sprintf("metalkit: MatMuls of widths %d and %d", ws[0].Matrix().Cols, w.Matrix().Cols))
		}
	}
}

// MatMulSwiGLU is the two MatMuls and SwiGLU.
func (d *CPUDevice) MatMulSwiGLU(out, tmp Buffer, gate, up Weights, x Buffer, batch int) {
	checkMatMuls([]Buffer{out, tmp}, []Weights{gate, up})
	d.MatMul(out, gate, x, batch)
	d.MatMul(tmp, up, x, batch)
	d.SwiGLU(out, out, tmp, batch*gate.Matrix().Rows)
}
