package infer

import "reddwarf/metalkit"

// Paged grouped-query attention over a State's KV pages, shared by
// architectures with llama-style per-layer K/V rows. The kernel is
// metalkit.AttendGroup (the CPU device's host-memory attention); this
// file only says where a State's pages and a head's blocks are.

// hostPages is a State's pages as metalkit.HostKVPages (one pointer: it
// goes into the interface without an allocation).
type hostPages struct{ s *State }

func (h hostPages) KVPage(pi int) (f16 []uint16, f32 []float32) {
	p := h.s.pages[pi]
	return p.f16, p.f32
}

// newAttnScratch is a worker's scratch for attendGroup.
func newAttnScratch(group, hd, maxLen int) *metalkit.AttnScratch {
	return metalkit.NewAttnScratch(group, hd, maxLen, PageTokens)
}

// attendGroup computes attention for the group query heads that share KV
// head g, at layer li over positions [from, n) of s (from > 0 for a
// sliding-window layer); q and out hold group × hd values. See
// metalkit.AttendGroup.
func attendGroup(s *State, li, g, hd, group, from, n int, q, out []float32, sc *metalkit.AttnScratch) {
	l := s.layout
	kv := metalkit.HostKVHead{K: l.blockOffset(li, 0, g), V: l.blockOffset(li, 1, g), Len: l.blockValues(),
		PageTokens: PageTokens, F16: l.Type == KVF16}
	metalkit.AttendGroup(hostPages{s}, kv, hd, group, from, n, q, out, sc)
}
