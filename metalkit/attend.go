package metalkit

import "math"

// AttnScratch is one worker's scratch for AttendGroup.
type AttnScratch struct {
	scores []float32 // group × n: scores, then weights
	block  []float32 // one head's K or V block of a page, as f32 (hd × PageTokens)
	q      []float32 // the group's queries, rounded for f16 (group × hd)
	page   []float32 // one page's scores or weights (group × attnPage)
	q16    []uint16  // the group's queries as f16 (group × hd)
}

// NewAttnScratch returns scratch for groups of group heads of hd values
// over up to maxLen positions in pages of pageTokens.
func NewAttnScratch(group, hd, maxLen, pageTokens int) *AttnScratch {
	return &AttnScratch{
		scores: make([]float32, group*maxLen),
		block:  make([]float32, pageTokens*hd),
		q:      make([]float32, group*hd),
		page:   make([]float32, group*attnPage),
		q16:    make([]uint16, group*hd),
	}
}

// HostKVPages is a session's KV pages in host memory as AttendGroup reads
// them: page pi's values, f16 or f32 (the other nil), in KVShape's layout.
type HostKVPages interface {
	KVPage(pi int) (f16 []uint16, f32 []float32)
}

// HostKVHead says where AttendGroup finds one KV head's K and V blocks of
// one layer in every page (offsets K and V, Len = HeadDim·PageTokens
// values), and whether the pages hold f16.
type HostKVHead struct {
	K, V, Len, PageTokens int
	F16                   bool
}

// AttendGroup computes attention on the host for the group query heads
// that share the KV head kv describes, over positions [from, n) of pages
// (from > 0 for a sliding-window layer); it is the CPU's fast path for
// Device.Attention's formula (CPUDevice.Attention is the plain reference):
//
//	out_h = Σ_t softmax_t(q_h · k_t / sqrt(hd)) · v_t
//
// q and out hold group × hd values (heads back to back). A page stores each
// head's block transposed (value i of every position together), so both
// products run along positions: the scores of a page are Σ_i q_h[i]·K[i][·]
// (hd axpys of PageTokens values) and out_h[i] is W_h · V[i][·] (hd dots).
// Each block is read, and converted from f16, once for the whole group.
//
// With an f16 cache the products are f16 products, as in llama.cpp: q and the
// softmax weights are rounded to f16 before they meet K and V, so both
// engines compute the same numbers (the difference in log-probs stays
// far below 1e-2; see TestLlamaCppReference).
func AttendGroup(pages HostKVPages, kv HostKVHead, hd, group, from, n int, q, out []float32, sc *AttnScratch) {
	f16, pt := kv.F16, kv.PageTokens
	scale := float32(1 / math.Sqrt(float64(hd)))
	qs := sc.q[:group*hd]
	copy(qs, q[:group*hd])
	if f16 {
		q16 := sc.q16[:group*hd]
		F32ToF16Row(q16, qs)
		F16ToF32Row(qs, q16)
	}
	for i := range qs {
		qs[i] *= scale // scaling q scales every score
	}
	if f16 && pt == attnPage && hd%16 == 0 {
		attendPages32(pages, kv, hd, group, from, n, qs, out, sc)
		return
	}
	m := n - from // positions attended; score t of head h is scores[h*m+t-from]
	scores := sc.scores[:group*m]

	// block returns page pi's K (kind 0) or V (kind 1) block of head g as
	// f32: hd rows of PageTokens values (slots outside [from, n) unused).
	block := func(pi, kind int) []float32 {
		p16, p32 := pages.KVPage(pi)
		o := kv.K
		if kind == 1 {
			o = kv.V
		}
		if !f16 {
			return p32[o : o+kv.Len]
		}
		F16ToF32Row(sc.block, p16[o:o+kv.Len])
		return sc.block
	}

	// Scores, page by page: scores[h*m+t-from] = Σ_i qs_h[i] · K[i][t]
	// for the page's positions t in [lo, hi), slots [off, off+cnt).
	for pi := from / pt; pi*pt < n; pi++ {
		lo, hi := max(from, pi*pt), min(n, (pi+1)*pt)
		off, cnt := lo-pi*pt, hi-lo
		kb := block(pi, 0)
		for h := 0; h < group; h++ {
			sh := scores[h*m+lo-from : h*m+hi-from]
			clear(sh)
			for i, qv := range qs[h*hd : (h+1)*hd] {
				Axpy(sh, qv, kb[i*pt+off:i*pt+off+cnt])
			}
		}
	}
	// Softmax per head, into weights.
	for h := 0; h < group; h++ {
		softmaxInPlace(scores[h*m:(h+1)*m], f16)
	}
	// Output: out_h[i] = Σ_t w_h[t] · V[i][t].
	clear(out[:group*hd])
	for pi := from / pt; pi*pt < n; pi++ {
		lo, hi := max(from, pi*pt), min(n, (pi+1)*pt)
		off, cnt := lo-pi*pt, hi-lo
		vb := block(pi, 1)
		for h := 0; h < group; h++ {
			wh := scores[h*m+lo-from : h*m+hi-from]
			oh := out[h*hd : (h+1)*hd]
			for i := range oh {
				oh[i] += Dot(wh, vb[i*pt+off:i*pt+off+cnt])
			}
		}
	}
}

// attnPage is the page size, in positions, of the page kernels
// (attnScores32, attnOut32): infer's PageTokens.
const attnPage = 32

// attendPages32 is AttendGroup for an f16 cache in pages of attnPage
// positions and heads of a multiple of 16 values, a page at a time
// through the backend's page kernels: one call computes a page's scores
// for every head of the group, one adds its weighted values to out. The
// scaled queries are qs.
func attendPages32(pages HostKVPages, kv HostKVHead, hd, group, from, n int, qs, out []float32, sc *AttnScratch) {
	m := n - from // positions attended; score t of head h is scores[h*m+t-from]
	scores := sc.scores[:group*m]
	page := sc.page[:group*attnPage]
	for pi := from / attnPage; pi*attnPage < n; pi++ {
		lo, hi := max(from, pi*attnPage), min(n, (pi+1)*attnPage)
		off := lo - pi*attnPage
		p16, _ := pages.KVPage(pi)
		kern.attnScores32(p16[kv.K:kv.K+kv.Len], hd, qs, group, page)
		for h := 0; h < group; h++ {
			copy(scores[h*m+lo-from:h*m+hi-from], page[h*attnPage+off:])
		}
	}
	for h := 0; h < group; h++ {
		softmaxInPlace(scores[h*m:(h+1)*m], true)
	}
	clear(out[:group*hd])
	for pi := from / attnPage; pi*attnPage < n; pi++ {
		lo, hi := max(from, pi*attnPage), min(n, (pi+1)*attnPage)
		off, cnt := lo-pi*attnPage, hi-lo
		p16, _ := pages.KVPage(pi)
		clear(page)
		for h := 0; h < group; h++ {
			copy(page[h*attnPage+off:], scores[h*m+lo-from:h*m+hi-from])
		}
		mask := uint32((uint64(1)<<cnt - 1) << off)
		kern.attnOut32(p16[kv.V:kv.V+kv.Len], hd, page, group, mask, out)
	}
}

// attnScores32Go sets out[32h+t] = Σ_i q[hd·h+i]·K[i][t] for heads h <
// heads and the 32 positions t of a page's K block k (hd rows of 32
// values, f16).
func attnScores32Go(k []uint16, hd int, q []float32, heads int, out []float32) {
	for h := 0; h < heads; h++ {
		o := out[h*attnPage : (h+1)*attnPage]
		clear(o)
		for i, qv := range q[h*hd : (h+1)*hd] {
			for t, x := range k[i*attnPage : (i+1)*attnPage] {
				o[t] += qv * F16ToF32(x)
			}
		}
	}
}

// attnOut32Go adds out[hd·h+i] += Σ_t w[32h+t]·V[i][t] for heads h <
// heads, over the positions t of a page's V block v whose bit is set in
// mask (the others may hold anything).
func attnOut32Go(v []uint16, hd int, w []float32, heads int, mask uint32, out []float32) {
	for h := 0; h < heads; h++ {
		wh := w[h*attnPage : (h+1)*attnPage]
		for i := 0; i < hd; i++ {
			var s float32
			for t, x := range v[i*attnPage : (i+1)*attnPage] {
				if mask>>t&1 != 0 {
					s += wh[t] * F16ToF32(x)
				}
			}
			out[h*hd+i] += s
		}
	}
}

// softmaxInPlace replaces x by its softmax; with round16 the weights are
// rounded to f16 precision (see roundF16Fast).
func softmaxInPlace(x []float32, round16 bool) {
	if round16 && kern.softmax16 != nil {
		kern.softmax16(x)
		return
	}
	mx := x[0]
	for _, v := range x[1:] {
		mx = max(mx, v)
	}
	inv := 1 / ExpSub(x, mx)
	if !round16 {
		for i := range x {
			x[i] *= inv
		}
		return
	}
	for i := range x {
		x[i] = roundF16Fast(x[i] * inv)
	}
}

// roundF16Fast rounds x to the nearest value with f16's 11-bit significand
// (ties to even), by rounding the float32 mantissa. It equals
// F16ToF32(F32ToF16(x)) for x in f16's normal range; below it (|x| < 2^-14)
// it keeps more precision than f16 would, which for softmax weights
// (0 ≤ x ≤ 1) only affects weights too small to matter.
func roundF16Fast(x float32) float32 {
	b := math.Float32bits(x)
	b += 0x0fff + (b>>13)&1
	return math.Float32frombits(b &^ 0x1fff)
}
