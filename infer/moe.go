package infer

import (
	"fmt"

	"reddwarf/metalkit"
)

// moeFFN is a mixture-of-experts feed-forward block as qwen3moe has it: a
// router scores the experts for each token, the `used` most probable ones
// (softmax over all experts) run their SwiGLU FFN on it, and the output is
// their sum weighted by those probabilities, renormalised to sum to 1 (as
// llama.cpp's build_moe_ffn with norm_w).
type moeFFN struct {
	router metalkit.Matrix   // ffn_gate_inp.weight  (experts × dim)
	gate   []metalkit.Matrix // ffn_gate_exps.weight (per expert ffn × dim)
	up     []metalkit.Matrix // ffn_up_exps.weight   (per expert ffn × dim)
	down   []metalkit.Matrix // ffn_down_exps.weight (per expert dim × ffn)
	used   int               // experts per token (expert_used_count)
}

// loadMoE loads block p's router and expert tensors: experts experts of
// ffn × dim (GGUF dims [dim, ffn, experts], down [ffn, dim, experts]).
func (ld *tensorLoader) moe(p string, dim, ffn, experts, used int) *moeFFN {
	if experts <= 0 || used <= 0 || used > experts || ffn <= 0 {
		if ld.err == nil {
			ld.err = fmt.Errorf("%s: %d experts, %d used, expert FFN %d: not a valid MoE shape", ld.arch, experts, used, ffn)
		}
		return nil
	}
	e := &moeFFN{used: used}
	ld.matrix(&e.router, p+"ffn_gate_inp.weight", experts, dim)
	e.gate, e.up, e.down = make([]metalkit.Matrix, experts), make([]metalkit.Matrix, experts), make([]metalkit.Matrix, experts)
	for _, t := range []struct {
		name       string
		dst        []metalkit.Matrix
		rows, cols int
	}{
		{"ffn_gate_exps.weight", e.gate, ffn, dim},
		{"ffn_up_exps.weight", e.up, ffn, dim},
		{"ffn_down_exps.weight", e.down, dim, ffn},
	} {
		dst, rows := make([]*metalkit.Matrix, experts), make([]int, experts)
		for i := range dst {
			dst[i], rows[i] = &t.dst[i], t.rows
		}
		ld.split(dst, p+t.name, []uint64{uint64(t.cols), uint64(t.rows), uint64(experts)}, rows, t.cols)
	}
	return e
}

// moeScratch is moeFFN.addTo's per-step memory.
type moeScratch struct {
	probs []float32 // router probabilities     (T × experts)
	sel   []int     // chosen experts           (T × used)
	wt    []float32 // their weights            (T × used)
	rows  []int     // rows routed to one expert
	rw    []float32 // and their weights
	in    []float32 // those rows of the input  (n × dim)
	g, u  []float32 // gate, up                 (n × ffn)
	out   []float32 // expert output            (n × dim)
}

// addTo adds the block's output for the T rows of xn (T × dim) to x.
// Each expert runs once, over all the rows routed to it.
func (e *moeFFN) addTo(dev metalkit.HostDevice, x, xn []float32, T int, sc *moeScratch) {
	E, dim, ffn, K := len(e.gate), e.router.Cols, e.gate[0].Rows, e.used

	// Route: softmax over the experts, keep the K most probable,
	// renormalise their probabilities.
	sc.probs = grow(sc.probs, T*E)
	dev.MatMulHost(sc.probs, e.router, xn, T)
	if cap(sc.sel) < T*K {
		sc.sel = make([]int, T*K)
	}
	sc.sel, sc.wt = sc.sel[:T*K], grow(sc.wt, T*K)
	for t := 0; t < T; t++ {
		p := sc.probs[t*E : (t+1)*E]
		metalkit.Softmax(p)
		sel, wt := sc.sel[t*K:(t+1)*K], sc.wt[t*K:(t+1)*K]
		topK(p, sel)
		var sum float32
		for j, ex := range sel {
			wt[j] = p[ex]
			sum += wt[j]
		}
		metalkit.Scale(wt, 1/max(sum, 6.103515625e-5)) // llama.cpp's clamp: f16's smallest normal
	}

	// Experts: gather the rows, x_t += w_t · Wdown · (SiLU(Wgate·in) ⊙ Wup·in).
	for ex := 0; ex < E; ex++ {
		sc.rows, sc.rw = sc.rows[:0], sc.rw[:0]
		for i, s := range sc.sel {
			if s == ex {
				sc.rows, sc.rw = append(sc.rows, i/K), append(sc.rw, sc.wt[i])
			}
		}
		n := len(sc.rows)
		if n == 0 {
			continue
		}
		sc.in, sc.out = grow(sc.in, n*dim), grow(sc.out, n*dim)
		sc.g, sc.u = grow(sc.g, n*ffn), grow(sc.u, n*ffn)
		for i, t := range sc.rows {
			copy(sc.in[i*dim:(i+1)*dim], xn[t*dim:(t+1)*dim])
		}
		dev.MatMulHost(sc.g, e.gate[ex], sc.in, n)
		dev.MatMulHost(sc.u, e.up[ex], sc.in, n)
		metalkit.SwiGLU(sc.g, sc.g, sc.u)
		dev.MatMulHost(sc.out, e.down[ex], sc.g, n)
		for i, t := range sc.rows {
			metalkit.Axpy(x[t*dim:(t+1)*dim], sc.rw[i], sc.out[i*dim:(i+1)*dim])
		}
	}
}

// topK sets sel to the indices of the len(sel) largest values of p, largest
// first (the lower index first among equals).
func topK(p []float32, sel []int) {
	for j := range sel {
		best := -1
		for i, v := range p {
			if best >= 0 && v <= p[best] || taken(sel[:j], i) {
				continue
			}
			best = i
		}
		sel[j] = best
	}
}

func taken(sel []int, i int) bool {
	for _, s := range sel {
		if s == i {
			return true
		}
	}
	return false
}
