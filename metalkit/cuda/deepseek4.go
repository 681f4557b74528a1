package cuda

import (
	"fmt"

	"reddwarf/metalkit"
)

// deepseek4's ops (metalkit.DeepSeek4Ops): clamped SwiGLU and the grouped
// expert matmul. doc.go says what the deepseek4 device forward still
// needs.

func (d *Device) ClampedSwiGLU(out, gate, up metalkit.Buffer, n int, limit float32) {
	o, g, u := buf(out, n, "ClampedSwiGLU out"), buf(gate, n, "ClampedSwiGLU gate"), buf(up, n, "ClampedSwiGLU up")
	if n == 0 {
		return
	}
	defer d.bind()()
	d.launch("clamped_swiglu", grid((n+255)/256, 1), 256, o, g, u, i32(n), f32(limit))
}

// UploadExperts uploads the stacked tensor as one matrix (expert e's row r
// is its row e·R + r): the expert kernels index it by expert. They exist
// for the types deepseek4's expert tensors come in (IQ2_XXS, Q2_K, Q4_K,
// Q8_0, F16, F32), on rows of whole 32-value units (every quantised
// type's are; deepseek4's float experts are thousands wide); other
// tensors are refused.
func (d *Device) UploadExperts(m metalkit.Matrix, n int) (metalkit.Weights, error) {
	_, ok := d.fn["experts_"+weightKernels[m.Type]]
	if !ok || n <= 0 || m.Rows%n != 0 || m.Cols%32 != 0 {
		return nil, fmt.Errorf("cuda: upload %d experts of %v %dx%d: %w", n, m.Type, m.Rows, m.Cols, metalkit.ErrUnsupported)
	}
	w, err := d.Upload(m)
	if err != nil {
		return nil, err
	}
	w.(*weights).experts = n
	return w, nil
}

// expertsFewMax is the most pairs MatMulExperts gives the lean kernel
// (experts_vec: matvec's loop once per pair), above which it takes the one
// that reads an expert's rows once per eight of its pairs (experts). Up to
// two tokens' picks are mostly one pair per expert, where the lean kernel's
// few registers hide the loads' latency better. Chosen from the shape
// alone, so that a recorded decode step keeps its kernel. Not yet tuned on
// a GPU.
const expertsFewMax = 16

// MatMulExperts groups the pairs by expert on the host and launches one
// kernel over (row block, group): its host array is the groups (expert,
// start, count) then the pairs' indices in group order. It has
// min(pairs, experts) groups whatever the routing, unused ones empty, so
// that its length and the grid depend on the shape only and a recorded
// step replays with new routing.
func (d *Device) MatMulExperts(out metalkit.Buffer, w metalkit.Weights, x metalkit.Buffer, experts []int32, per int) {
	ww := w.(*weights)
	if ww.experts == 0 {
		panic("cuda: MatMulExperts on weights not from UploadExperts")
	}
	if per < 1 {
		panic(fmt.Sprintf("cuda: MatMulExperts with %d pairs per x row", per))
	}
	rows, cols, np := ww.m.Rows/ww.experts, ww.m.Cols, len(experts)
	o, xp := buf(out, np*rows, "MatMulExperts out"), buf(x, (np+per-1)/per*cols, "MatMulExperts x")
	count := make([]int32, ww.experts)
	for i, e := range experts {
		if e < 0 || int(e) >= ww.experts {
			panic(fmt.Sprintf("cuda: MatMulExperts pair %d: expert %d of %d", i, e, ww.experts))
		}
		count[e]++
	}
	if np == 0 || rows == 0 {
		return
	}
	gmax := min(np, ww.experts)
	meta := make([]int32, 3*gmax+np)
	start := make([]int32, ww.experts) // then: where each expert's next pair goes
	g, at := 0, int32(0)
	for e, c := range count {
		if c == 0 {
			continue
		}
		meta[3*g], meta[3*g+1], meta[3*g+2] = int32(e), at, c
		start[e] = at
		g++
		at += c
	}
	for i, e := range experts {
		meta[3*gmax+int(start[e])] = int32(i)
		start[e]++
	}
	defer d.bind()()
	mp := d.upload32(meta)
	kernel := ww.expertsMany
	if np <= expertsFewMax {
		kernel = ww.expertsFew
	}
	const warps = 4 // rows per block of 128 threads
	d.launch(kernel, grid((rows+warps-1)/warps, gmax), 32*warps, o, ww.ptr, xp, mp, i32(rows), i32(cols), i32(per), i32(gmax), int64(ww.rowBytes))
}
