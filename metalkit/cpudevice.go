package metalkit

import (
	"fmt"
	"math"
)

// CPUDevice is Device over this package's kernels: buffers are Go slices,
// weights are the GGUF bytes repacked (Repack), matmuls split over a Pool.
// It is the reference the GPU devices are tested against, and a HostDevice.
// Close leaves the pool running: it belongs to whoever made it.
type CPUDevice struct {
	pool *Pool
}

// NewCPUDevice returns the CPU device running its matmuls on p (nil: the
// caller's goroutine).
func NewCPUDevice(p *Pool) *CPUDevice { return &CPUDevice{pool: p} }

type cpuBuffer []float32

func (b cpuBuffer) Len() int { return len(b) }

type cpuWeights struct{ m Matrix }

func (w cpuWeights) Matrix() Matrix { return w.m }

// cpuKV holds the pool's pages back to back, as f16.
type cpuKV struct {
	shape KVShape
	data  []uint16
}

func (p *cpuKV) Shape() KVShape { return p.shape }

func (d *CPUDevice) Name() string { return "cpu" }

// MatMulHost implements HostDevice.
func (d *CPUDevice) MatMulHost(out []float32, m Matrix, x []float32, batch int) {
	MatMul(d.pool, out, m, x, batch)
}

// Parallel implements HostDevice.
func (d *CPUDevice) Parallel(n int, fn func(start, end int)) { d.pool.Parallel(n, fn) }

// Threads implements HostDevice.
func (d *CPUDevice) Threads() int { return d.pool.Threads() }

func (d *CPUDevice) Close() error { return nil }

func (d *CPUDevice) Upload(m Matrix) (Weights, error) {
	if m.Repacked() {
		return nil, fmt.Errorf("metalkit: upload %v %dx%d: already repacked: %w", m.Type, m.Rows, m.Cols, ErrUnsupported)
	}
	return cpuWeights{Repack(m)}, nil
}

func (d *CPUDevice) Alloc(n int) (Buffer, error) { return make(cpuBuffer, n), nil }

func (d *CPUDevice) Write(b Buffer, off int, src []float32) { copy(cpuBuf(b)[off:off+len(src)], src) }

func (d *CPUDevice) Read(dst []float32, b Buffer, off int) error {
	copy(dst, cpuBuf(b)[off:off+len(dst)])
	return nil
}

func (d *CPUDevice) MatMul(out Buffer, w Weights, x Buffer, batch int) {
	m := w.(cpuWeights).m
	MatMul(d.pool, cpuBuf(out)[:batch*m.Rows], m, cpuBuf(x)[:batch*m.Cols], batch)
}

func (d *CPUDevice) Embed(out Buffer, table Weights, tokens []int32) {
	m, o := table.(cpuWeights).m, cpuBuf(out)
	for i, t := range tokens {
		m.Row(int(t), o[i*m.Cols:(i+1)*m.Cols])
	}
}

func (d *CPUDevice) RMSNorm(out, x, w Buffer, rows, n int, eps float32) {
	o, xs, ws := cpuBuf(out), cpuBuf(x), cpuBuf(w)
	for r := 0; r < rows; r++ {
		RMSNorm(o[r*n:(r+1)*n], xs[r*n:(r+1)*n], ws[:n], eps)
	}
}

func (d *CPUDevice) Rope(x Buffer, pos []int32, r Rope) {
	xs, w := cpuBuf(x), r.Heads*r.HeadDim
	for i, p := range pos {
		RopeFactors(xs[i*w:(i+1)*w], int(p), r)
	}
}

func (d *CPUDevice) Softmax(x Buffer, rows, n int) {
	xs := cpuBuf(x)
	for r := 0; r < rows; r++ {
		Softmax(xs[r*n : (r+1)*n])
	}
}

func (d *CPUDevice) Add(out, a, b Buffer, n int) {
	Add(cpuBuf(out)[:n], cpuBuf(a)[:n], cpuBuf(b)[:n])
}

// AddRMSNorm is the two ops: on the CPU they are one pass each anyway.
func (d *CPUDevice) AddRMSNorm(out, x, r, w Buffer, rows, n int, eps float32) {
	d.Add(x, x, r, rows*n)
	d.RMSNorm(out, x, w, rows, n, eps)
}

func (d *CPUDevice) SwiGLU(out, gate, up Buffer, n int) {
	SwiGLU(cpuBuf(out)[:n], cpuBuf(gate)[:n], cpuBuf(up)[:n])
}

func (d *CPUDevice) Copy(dst Buffer, dstOff int, src Buffer, srcOff, n int) {
	copy(cpuBuf(dst)[dstOff:dstOff+n], cpuBuf(src)[srcOff:srcOff+n])
}

func (d *CPUDevice) NewKVPool(l KVShape, pages int) (KVPool, error) {
	return &cpuKV{shape: l, data: make([]uint16, pages*l.PageValues())}, nil
}

func (d *CPUDevice) PutKV(pool KVPool, layer int, slots []int32, k, v Buffer) {
	p := pool.(*cpuKV)
	s, ks, vs := p.shape, cpuBuf(k), cpuBuf(v)
	w := s.Heads * s.HeadDim
	for i, slot := range slots {
		for kind, src := range [2][]float32{ks[i*w : (i+1)*w], vs[i*w : (i+1)*w]} {
			for h := 0; h < s.Heads; h++ {
				for j := 0; j < s.HeadDim; j++ {
					p.data[s.kvIndex(int(slot), layer, kind, h, j)] = F32ToF16(src[h*s.HeadDim+j])
				}
			}
		}
	}
}

func (d *CPUDevice) ReadPage(dst []uint16, pool KVPool, page, off int) error {
	copy(dst, pool.(*cpuKV).page(page)[off:off+len(dst)])
	return nil
}

func (d *CPUDevice) WritePage(pool KVPool, page int, src []uint16) {
	copy(pool.(*cpuKV).page(page), src)
}

func (d *CPUDevice) CopyPage(pool KVPool, dst, src int) {
	p := pool.(*cpuKV)
	copy(p.page(dst), p.page(src))
}

// page is the values of page i.
func (p *cpuKV) page(i int) []uint16 {
	n := p.shape.PageValues()
	return p.data[i*n : (i+1)*n]
}

// kvIndex is the index in a pool's values of value j of head h's K (kind 0)
// or V row at layer for slot (page·PageTokens + position in page).
func (s KVShape) kvIndex(slot, layer, kind, h, j int) int {
	page, t := slot/s.PageTokens, slot%s.PageTokens
	return page*s.PageValues() + (((layer*2+kind)*s.Heads+h)*s.HeadDim+j)*s.PageTokens + t
}

// Attention is the plain loop of AttnRow's formula, one query head at a
// time (infer's attendGroup is the fast CPU path; this is the reference).
func (d *CPUDevice) Attention(out, q Buffer, pool KVPool, layer, heads int, rows []AttnRow) {
	p := pool.(*cpuKV)
	s, qs, os := p.shape, cpuBuf(q), cpuBuf(out)
	hd, group := s.HeadDim, heads/s.Heads
	scale := float32(1 / math.Sqrt(float64(hd)))
	var scores []float32
	for i, r := range rows {
		slot := func(t int) int { return int(r.Pages[t/s.PageTokens])*s.PageTokens + t%s.PageTokens }
		scores = append(scores[:0], make([]float32, r.N-r.From)...)
		for h := 0; h < heads; h++ {
			g := h / group
			qh := qs[(i*heads+h)*hd : (i*heads+h+1)*hd]
			for t := r.From; t < r.N; t++ {
				var sum float32
				for j, v := range qh {
					sum += roundF16(v) * scale * F16ToF32(p.data[s.kvIndex(slot(t), layer, 0, g, j)])
				}
				scores[t-r.From] = sum
			}
			Softmax(scores)
			oh := os[(i*heads+h)*hd : (i*heads+h+1)*hd]
			clear(oh)
			for t := r.From; t < r.N; t++ {
				w := roundF16(scores[t-r.From])
				for j := range oh {
					oh[j] += w * F16ToF32(p.data[s.kvIndex(slot(t), layer, 1, g, j)])
				}
			}
		}
	}
}

func roundF16(x float32) float32 { return F16ToF32(F32ToF16(x)) }

// RopeFactors rotates x (r.Heads heads of r.HeadDim values) at position
// pos as Rope describes; with no factors it is RopeNorm or RopeNeox.
func RopeFactors(x []float32, pos int, r Rope) {
	for i := 0; i < r.Dim; i += 2 {
		theta := float64(pos) * float64(r.Scale) * math.Pow(float64(r.Base), -float64(i)/float64(r.Dim))
		if r.Factors != nil {
			theta /= float64(r.Factors[i/2])
		}
		sn, cs := math.Sincos(theta)
		c, s := float32(cs), float32(sn)
		for h := 0; h < r.Heads; h++ {
			a, b := h*r.HeadDim+i, h*r.HeadDim+i+1
			if r.Neox {
				a, b = h*r.HeadDim+i/2, h*r.HeadDim+i/2+r.Dim/2
			}
			x0, x1 := x[a], x[b]
			x[a] = x0*c - x1*s
			x[b] = x0*s + x1*c
		}
	}
}

// cpuBuf is b's slice; a buffer from another device is a programmer error.
func cpuBuf(b Buffer) []float32 { return b.(cpuBuffer) }

// RoundF16Row rounds every value of x to binary16 and back, in place (f16
// cache rows; deepseek4's spec §3.5).
func RoundF16Row(x []float32) {
	for i, v := range x {
		x[i] = F16ToF32(F32ToF16(v))
	}
}

// RopeTail rotates the last 2·len(freq) values of x (adjacent pairs, GPT-J
// layout) by the angle pos·freq[k], formed in float32 as transformers
// forms it (deepseek4); sign −1 rotates backwards.
func RopeTail(x []float32, freq []float32, pos int, sign float32) {
	off := len(x) - 2*len(freq)
	p := float32(pos)
	for k, f := range freq {
		th := f * p
		sn, cs := math.Sincos(float64(th))
		s, c := float32(sn)*sign, float32(cs)
		a, b := x[off+2*k], x[off+2*k+1]
		x[off+2*k] = a*c - b*s
		x[off+2*k+1] = a*s + b*c
	}
}

// RMSNormExact sets out = x / sqrt(mean(x²) + eps) · w with the sum of
// squares in float64 (deepseek4's reference numerics; RMSNorm is the fast
// one); w nil means no weight.
func RMSNormExact(out, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	inv := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	for i, v := range x {
		out[i] = v * inv
	}
	if w != nil {
		for i := range out {
			out[i] *= w[i]
		}
	}
}

// ClampedSwiGLU implements DeepSeek4Ops with deepseek4's scalar loop
// (SiLU, not the vector SwiGLU kernel, so its bits).
func (d *CPUDevice) ClampedSwiGLU(out, gate, up Buffer, n int, limit float32) {
	o, g, u := cpuBuf(out)[:n], cpuBuf(gate)[:n], cpuBuf(up)[:n]
	for i := range o {
		gv, uv := g[i], u[i]
		if limit > 0 {
			gv = min(gv, limit)
			uv = min(max(uv, -limit), limit)
		}
		o[i] = SiLU(gv) * uv
	}
}

// cpuExperts is a stacked expert tensor: m as uploaded, and each expert's
// rows as a matrix of its own, repacked as Upload would.
type cpuExperts struct {
	m   Matrix
	per []Matrix
}

func (w cpuExperts) Matrix() Matrix { return w.m }

// UploadExperts implements DeepSeek4Ops.
func (d *CPUDevice) UploadExperts(m Matrix, n int) (Weights, error) {
	if m.Repacked() || n <= 0 || m.Rows%n != 0 {
		return nil, fmt.Errorf("metalkit: upload %d experts of %v %dx%d (repacked %v): %w", n, m.Type, m.Rows, m.Cols, m.Repacked(), ErrUnsupported)
	}
	rows, rb := m.Rows/n, m.rowBytes()
	w := cpuExperts{m: m, per: make([]Matrix, n)}
	for e := range w.per {
		sub, err := NewMatrix(m.Type, rows, m.Cols, m.Data[e*rows*rb:(e+1)*rows*rb:(e+1)*rows*rb])
		if err != nil {
			return nil, err
		}
		w.per[e] = Repack(sub)
	}
	return w, nil
}

// MatMulExperts implements DeepSeek4Ops with MatMul: each expert's pairs
// are gathered into one batch, so its weights are read once, and the
// results scattered back to the pairs' rows.
func (d *CPUDevice) MatMulExperts(out Buffer, w Weights, x Buffer, experts []int32, per int) {
	ew := w.(cpuExperts)
	o, xs := cpuBuf(out), cpuBuf(x)
	rows, cols := ew.m.Rows/len(ew.per), ew.m.Cols
	if per < 1 || len(o) < len(experts)*rows || len(xs) < (len(experts)+per-1)/per*cols {
		panic(fmt.Sprintf("metalkit: MatMulExperts of %d pairs, %d per x row: out %d, x %d values", len(experts), per, len(o), len(xs)))
	}
	pairs := make([][]int, len(ew.per))
	for i, e := range experts {
		if e < 0 || int(e) >= len(ew.per) {
			panic(fmt.Sprintf("metalkit: MatMulExperts pair %d: expert %d of %d", i, e, len(ew.per)))
		}
		pairs[e] = append(pairs[e], i)
	}
	var xg, og []float32
	for e, ps := range pairs {
		if len(ps) == 0 {
			continue
		}
		xg, og = xg[:0], append(og[:0], make([]float32, len(ps)*rows)...)
		for _, i := range ps {
			xg = append(xg, xs[i/per*cols:(i/per+1)*cols]...)
		}
		MatMul(d.pool, og, ew.per[e], xg, len(ps))
		for j, i := range ps {
			copy(o[i*rows:(i+1)*rows], og[j*rows:(j+1)*rows])
		}
	}
}
