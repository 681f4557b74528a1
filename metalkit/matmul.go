package metalkit

import "fmt"

// serialPool runs MatMul calls given a nil pool, on the caller.
var serialPool = NewPool(1)

// MatMul computes, for every batch column b in [0, batch) and row r of m,
//
//	out[b*m.Rows + r] = Σ_c m[r][c] · x[b*m.Cols + c]
//
// x is f32 activations, batch columns back to back (a decode batch of
// sessions, or a prefill chunk). For quantised m the activations are first
// quantised to 8 bits (blocks of 32 for Q8_0/Q4_0, 256 for K-quants) and the
// dots are integer dots, as llama.cpp does. Each weight row is read from
// memory once for the whole batch. Rows are split across p's workers (a nil
// p runs on the caller). Steady-state calls allocate nothing.
//
// It panics if out or x is too short or m.Type is unsupported: shapes are
// checked when a model loads, so a mismatch here is a programmer error.
func MatMul(p *Pool, out []float32, m Matrix, x []float32, batch int) {
	if batch <= 0 || m.Rows == 0 {
		return
	}
	if len(out) < batch*m.Rows || len(x) < batch*m.Cols || !supported(m.Type) || m.rowBytes() < 0 || len(m.Data) < m.Rows*m.rowBytes() {
		panic(fmt.Sprintf("metalkit: MatMul %v %dx%d batch %d: out %d, x %d, data %d",
			m.Type, m.Rows, m.Cols, batch, len(out), len(x), len(m.Data)))
	}
	if p == nil {
		p = serialPool
	}
	p.mu.Lock()
	defer p.mu.Unlock()

	t := &p.mm
	*t = matmulTask{m: m, out: out, x: x, batch: batch, rb: m.rowBytes(), k: kern, dotOut: p.dotOut, tileOut: p.tileOut, wideOut: p.wideOut, wide8Out: p.wide8Out, tile16: p.tile16}
	// Quantise the activations once for the whole call, in the weight
	// format's block size (32, or 256 for K-quants).
	if f, ok := kern.formats[m.Type]; ok {
		t.f = f
		t.acts = p.act.prepare(m.Cols, batch, m.Type.BlockSize())
	}
	if t.acts != nil {
		q := &p.quant
		*q = quantTask{acts: t.acts, x: x, cols: m.Cols, bs: m.Type.BlockSize(), threads: p.threads}
		if batch >= 2*p.threads {
			p.run(q)
		} else {
			q.threads = 1
			q.work(0)
		}
		*q = quantTask{}
	}
	// Chunks of up to 64 rows, several per worker so a busy core takes less.
	chunk := min(64, max(4, (m.Rows/(p.threads*8)+3)&^3))
	if m.layout != layoutGGUF {
		chunk = (chunk + groupRows - 1) &^ (groupRows - 1) // whole groups
	}
	t.rows.reset(m.Rows, chunk)
	p.run(t)
	*t = matmulTask{}
}

// matmulTask is one MatMul call in flight; it lives in its Pool so that a
// call allocates nothing.
type matmulTask struct {
	m        Matrix
	out, x   []float32
	batch    int
	rb       int // bytes per weight row
	k        *backend
	f        formatKernels  // the backend's kernels for m.Type, if quantised
	acts     []q8Act        // quantised activation columns, nil for float types
	dotOut   [][4]float32   // per-worker kernel results (a local would escape)
	tileOut  [][16]float32  // per-worker tile results
	wideOut  [][64]float32  // per-worker 16 × 4 tile results
	wide8Out [][128]float32 // per-worker 16 × 8 tile results
	tile16   [][256]float32 // per-worker 16 × 16 tile results
	rows     chunker
}

// matmulBatchTile is how many batch columns share one pass over a tile of
// weight rows: their quantised activations (tile·Cols bytes) should stay in
// L2 while the rows stay in L1.
const matmulBatchTile = 64

func (t *matmulTask) work(w int) {
	for {
		start, end, ok := t.rows.grab()
		if !ok {
			return
		}
		for b0 := 0; b0 < t.batch; b0 += matmulBatchTile {
			b1 := min(t.batch, b0+matmulBatchTile)
			switch {
			case t.acts == nil:
				t.floatRows(start, end, b0, b1)
			case t.m.layout != layoutGGUF:
				t.groupRows(w, start, end, b0, b1)
			default:
				t.quantRows(w, start, end, b0, b1)
			}
		}
	}
}

// quantRows does rows [start, end) × columns [b0, b1) four rows at a time.
func (t *matmulTask) quantRows(w int, start, end, b0, b1 int) {
	o := &t.dotOut[w]
	dot := t.f.dot4
	R, data := t.m.Rows, t.m.Data
	if t.f.dot4x4 != nil && b1-b0 >= 4 {
		// Prefill tiles: four rows stay in L1 while the columns stream
		// past, four at a time.
		o16 := &t.tileOut[w]
		r := start
		for ; r+4 <= end; r += 4 {
			wr := data[r*t.rb : (r+4)*t.rb]
			b := b0
			for ; b+4 <= b1; b += 4 {
				t.f.dot4x4(wr, t.rb, t.acts[b:b+4], o16, dot)
				for c := 0; c < 4; c++ {
					copy(t.out[(b+c)*R+r:(b+c)*R+r+4], o16[4*c:4*c+4])
				}
			}
			for ; b < b1; b++ {
				dot(wr, t.rb, &t.acts[b], o)
				copy(t.out[b*R+r:b*R+r+4], o[:])
			}
		}
		start = r
	}
	x4 := t.f.dot1x4
	if x4 != nil && b1-b0 >= 4 {
		// Many columns: one row at a time against four columns, so the
		// row's unpacking and scales are shared.
		for r := start; r < end; r++ {
			w := data[r*t.rb : (r+1)*t.rb]
			b := b0
			for ; b+4 <= b1; b += 4 {
				x4(w, t.acts[b:b+4], o, dot)
				for c := 0; c < 4; c++ {
					t.out[(b+c)*R+r] = o[c]
				}
			}
			for ; b < b1; b++ {
				dot(w, 0, &t.acts[b], o)
				t.out[b*R+r] = o[0]
			}
		}
		return
	}
	r := start
	for ; r+4 <= end; r += 4 {
		w := data[r*t.rb : (r+4)*t.rb]
		for b := b0; b < b1; b++ {
			dot(w, t.rb, &t.acts[b], o)
			copy(t.out[b*R+r:b*R+r+4], o[:])
		}
	}
	for ; r < end; r++ {
		w := data[r*t.rb : (r+1)*t.rb]
		for b := b0; b < b1; b++ {
			dot(w, 0, &t.acts[b], o)
			t.out[b*R+r] = o[0]
		}
	}
}

// groupRows does rows [start, end) × columns [b0, b1) of a repacked
// matrix (Q4_K×16, Q8_0×16): whole groups with the 16-row kernels, eight
// columns at a time while the group's 16 rows stay in L1, then the rows
// past the last group (GGUF layout) with quantRows. start is a multiple
// of 16.
func (t *matmulTask) groupRows(w int, start, end, b0, b1 int) {
	R := t.m.Rows
	gEnd := min(end, R/groupRows*groupRows)
	o16, o64, o128 := &t.tileOut[w], &t.wideOut[w], &t.wide8Out[w]
	k := t.f.x16
	for r := start; r+groupRows <= gEnd; r += groupRows {
		g := t.m.Data[r*t.rb : (r+groupRows)*t.rb]
		b := b0
		for ; k.dotx16 != nil && b+16 <= b1; b += 16 {
			o := &t.tile16[w]
			k.dotx16(g, t.acts[b:b+16], o, k.dot)
			for c := 0; c < 16; c++ {
				copy(t.out[(b+c)*R+r:(b+c)*R+r+groupRows], o[16*c:16*c+16])
			}
		}
		for ; b+8 <= b1; b += 8 {
			k.dotx8(g, t.acts[b:b+8], o128, k.dot)
			for c := 0; c < 8; c++ {
				copy(t.out[(b+c)*R+r:(b+c)*R+r+groupRows], o128[16*c:16*c+16])
			}
		}
		for ; b+4 <= b1; b += 4 {
			k.dotx4(g, t.acts[b:b+4], o64, k.dot)
			for c := 0; c < 4; c++ {
				copy(t.out[(b+c)*R+r:(b+c)*R+r+groupRows], o64[16*c:16*c+16])
			}
		}
		for ; b < b1; b++ {
			k.dot(g, &t.acts[b], o16)
			copy(t.out[b*R+r:b*R+r+groupRows], o16[:])
		}
	}
	if gEnd < end {
		t.quantRows(w, max(start, gEnd), end, b0, b1)
	}
}

func (t *matmulTask) floatRows(start, end, b0, b1 int) {
	R, C := t.m.Rows, t.m.Cols
	for r := start; r < end; r++ {
		w := t.m.Data[r*t.rb : (r+1)*t.rb]
		for b := b0; b < b1; b++ {
			xb := t.x[b*C : (b+1)*C]
			switch t.m.Type {
			case F32:
				t.out[b*R+r] = t.k.dot(bytesAsF32(w), xb)
			case F16:
				t.out[b*R+r] = t.k.dotF16(bytesAsU16(w), xb)
			case BF16:
				t.out[b*R+r] = t.k.dotBF16(bytesAsU16(w), xb)
			}
		}
	}
}

// quantTask quantises a batch of activation columns, split by column.
type quantTask struct {
	acts     []q8Act
	x        []float32
	cols, bs int
	threads  int
}

func (q *quantTask) work(w int) {
	n := len(q.acts)
	for b := n * w / q.threads; b < n*(w+1)/q.threads; b++ {
		quantAct(&q.acts[b], q.x[b*q.cols:(b+1)*q.cols], q.bs)
	}
}
