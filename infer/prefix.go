package infer

import (
	"encoding/binary"
	"slices"
	"sort"

	"github.com/cespare/xxhash/v2"
)

// PrefixCache indexes full KV pages by a chained hash of their tokens, so a
// session whose tokens start like any earlier one reuses those pages instead
// of computing them again, across keys.
//
// The hash of page i is xxhash64(hash of page i-1 ‖ page i's tokens as u32
// little-endian), with 0 before the first page: equal hashes mean equal
// token prefixes (the entry also keeps its tokens, so a collision is never
// taken for a match). A page's K/V rows depend on every token before it,
// which the chain covers.
//
// The cache holds one reference on each page it indexes. Only full pages are
// indexed, and a State writes a page only while it is its sole holder, so an
// indexed page never changes. A page whose only holder is the cache is idle;
// Trim drops idle pages, least recently used first. Not safe for concurrent
// use (the server's loop goroutine owns it).
//
// Architectures with their own per-session state (ResumableArchState:
// deepseek4's sliding-window ring and compressor frontiers) can't resume
// from pages alone. For them each Insert also keeps the whole states the
// state offers (Snapshots: deepseek4's restore points, the last page
// boundary a prefill chunk crossed, and its current length), each on the
// entry of the last full page before it with the
// tokens past that page; Lookup resumes from the longest snapshot whose
// tokens prefix the lookup's. A snapshot's memory counts, in pages of the
// layout's PageBytes, among the idle pages Trim bounds: the cache alone
// holds it (a session resumed from it holds a copy).
type PrefixCache struct {
	stateful bool // the model is a StatefulArch: resume from snapshots
	layout   KVLayout
	entries  map[uint64]*prefixEntry
	clock    uint64
}

type prefixEntry struct {
	depth  int // page index in its chain
	tokens [PageTokens]int32
	page   *page
	used   uint64 // clock of the last Insert or Lookup that touched it
	snaps  []*prefixSnap
}

// prefixSnap is a state after n tokens: the entry's pages, then tail.
type prefixSnap struct {
	n      int
	tail   []int32 // tokens [(depth+1)·PageTokens, n)
	state  ArchState
	weight int // its memory in pages (at least 1)
	used   uint64
}

// NewPrefixCache returns an empty cache for m's pages.
func NewPrefixCache(m *Model) *PrefixCache {
	_, stateful := m.arch.(StatefulArch)
	return &PrefixCache{stateful: stateful, layout: m.arch.KVLayout(), entries: map[uint64]*prefixEntry{}}
}

// pageHash chains parent with one page's tokens.
func pageHash(parent uint64, toks []int32) uint64 {
	var buf [8 + 4*PageTokens]byte
	binary.LittleEndian.PutUint64(buf[:8], parent)
	for i, t := range toks {
		binary.LittleEndian.PutUint32(buf[8+4*i:], uint32(t))
	}
	return xxhash.Sum64(buf[:8+4*len(toks)])
}

// Insert indexes every full page of s that is not indexed yet and returns
// how many it added. Pages already indexed (under the same tokens) are
// marked used. For a stateful model it also keeps s's snapshots.
func (c *PrefixCache) Insert(s *State) int {
	if s.layout != c.layout {
		return 0
	}
	var snaps []ArchSnapshot
	if c.stateful {
		r, ok := s.ext.(ResumableArchState)
		if !ok {
			return 0
		}
		snaps = r.Snapshots()
	}
	c.clock++
	added := 0
	h := uint64(0)
	for i := 0; i < len(s.tokens)/PageTokens; i++ {
		toks := s.tokens[i*PageTokens : (i+1)*PageTokens]
		h = pageHash(h, toks)
		e := c.entries[h]
		switch {
		case e == nil:
			e = &prefixEntry{depth: i, page: s.pages[i]}
			copy(e.tokens[:], toks)
			s.pages[i].refs.Add(1)
			c.entries[h] = e
			added++
		case !sameTokens(e.tokens[:], toks):
			return added // a hash collision: stop the chain here
		}
		e.used = c.clock
		for len(snaps) > 0 && snaps[0].N < (i+1)*PageTokens {
			snaps = snaps[1:] // before the first page: not kept
		}
		for len(snaps) > 0 && snaps[0].N < (i+2)*PageTokens {
			c.keepSnapshot(e, s.tokens[(i+1)*PageTokens:snaps[0].N], snaps[0])
			snaps = snaps[1:]
		}
	}
	return added
}

// keepSnapshot adds sn to e unless e has one for the same tokens. A
// snapshot past the page needs no page rows of its tail: only a layout
// without paged rows (deepseek4's) can have a tail.
func (c *PrefixCache) keepSnapshot(e *prefixEntry, tail []int32, sn ArchSnapshot) {
	if len(tail) > 0 && c.layout.Layers > 0 {
		return
	}
	for _, p := range e.snaps {
		if sameTokens(p.tail, tail) {
			p.used = c.clock
			return
		}
	}
	w := int(max(1, (sn.State.Bytes()+c.layout.PageBytes()-1)/max(1, c.layout.PageBytes())))
	e.snaps = append(e.snaps, &prefixSnap{n: sn.N, tail: slices.Clone(tail), state: sn.State, weight: w, used: c.clock})
}

func sameTokens(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Lookup finds the longest chain of indexed pages that is a prefix of
// tokens and covers at most limit tokens. It returns a new State of m
// holding those pages and their tokens (no logits: feed it at least one more
// token), or nil and 0 when no page matches. For a stateful model the State
// resumes from the longest snapshot within the chain and the limit instead
// (its tokens may end inside a page).
func (c *PrefixCache) Lookup(m *Model, tokens []int32, limit int) (*State, int) {
	if m.arch.KVLayout() != c.layout {
		return nil, 0
	}
	if limit > len(tokens) {
		limit = len(tokens)
	}
	c.clock++
	var pages []*page
	var best *prefixSnap
	h := uint64(0)
	for i := 0; (i+1)*PageTokens <= limit; i++ {
		toks := tokens[i*PageTokens : (i+1)*PageTokens]
		h = pageHash(h, toks)
		e := c.entries[h]
		if e == nil || !sameTokens(e.tokens[:], toks) {
			break
		}
		e.used = c.clock
		pages = append(pages, e.page)
		for _, sn := range e.snaps {
			end := (i+1)*PageTokens + len(sn.tail)
			if end <= limit && (best == nil || sn.n > best.n) && sameTokens(sn.tail, tokens[(i+1)*PageTokens:end]) {
				best = sn
			}
		}
	}
	n := len(pages) * PageTokens
	if c.stateful {
		if best == nil {
			return nil, 0
		}
		best.used = c.clock
		n = best.n
		pages = pages[:n/PageTokens]
	}
	if n == 0 || n > m.ctx {
		return nil, 0
	}
	s := &State{layout: m.arch.KVLayout(), vocab: m.vocab, ctx: m.ctx, kv: m.kv}
	for _, p := range pages {
		p.refs.Add(1)
	}
	s.pages = pages
	if best != nil {
		s.ext = best.state.Clone()
		for len(s.pages)*PageTokens < n {
			s.pages = append(s.pages, newPage(s.layout)) // the tail's: no rows in this layout
		}
	}
	s.tokens = append([]int32(nil), tokens[:n]...)
	return s, n
}

// Pages is the number of pages indexed.
func (c *PrefixCache) Pages() int { return len(c.entries) }

// IdlePages is the number of indexed pages that no State holds, plus the
// snapshots' weight in pages.
func (c *PrefixCache) IdlePages() int {
	n := 0
	for _, e := range c.entries {
		if e.page.refs.Load() == 1 {
			n++
		}
		for _, sn := range e.snaps {
			n += sn.weight
		}
	}
	return n
}

// Trim drops idle pages (with their snapshots) and snapshots, least
// recently used first (and deepest first among equals, so chains shrink
// from the end), until at most maxIdle pages' worth remain (IdlePages). It
// returns how many pages' worth it dropped.
func (c *PrefixCache) Trim(maxIdle int) int {
	type idle struct {
		h      uint64
		e      *prefixEntry
		sn     *prefixSnap // nil: the entry's page
		used   uint64
		weight int
	}
	var list []idle
	total := 0
	for h, e := range c.entries {
		if e.page.refs.Load() == 1 {
			list = append(list, idle{h: h, e: e, used: e.used, weight: 1})
			total++
		}
		for _, sn := range e.snaps {
			list = append(list, idle{h: h, e: e, sn: sn, used: sn.used, weight: sn.weight})
			total += sn.weight
		}
	}
	if total <= maxIdle {
		return 0
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].used != list[j].used {
			return list[i].used < list[j].used
		}
		if list[i].e.depth != list[j].e.depth {
			return list[i].e.depth > list[j].e.depth
		}
		return list[i].sn != nil && list[j].sn == nil // a snapshot before its page
	})
	dropped := 0
	for _, x := range list {
		if total-dropped <= maxIdle {
			break
		}
		if c.entries[x.h] != x.e {
			continue // the entry went already
		}
		if x.sn != nil {
			if i := slices.Index(x.e.snaps, x.sn); i >= 0 {
				x.e.snaps = slices.Delete(x.e.snaps, i, i+1)
				dropped += x.weight
			}
			continue
		}
		for _, sn := range x.e.snaps {
			dropped += sn.weight
		}
		x.e.page.unref()
		delete(c.entries, x.h)
		dropped++
	}
	return dropped
}

// SnapshotBytes is the memory of the snapshots the cache keeps (stateful
// models; 0 otherwise).
func (c *PrefixCache) SnapshotBytes() int64 {
	var b int64
	for _, e := range c.entries {
		for _, sn := range e.snaps {
			b += sn.state.Bytes()
		}
	}
	return b
}

// Clear drops every entry, releasing the cache's page references.
func (c *PrefixCache) Clear() {
	for h, e := range c.entries {
		e.page.unref()
		delete(c.entries, h)
	}
}

// PageRef identifies one KV page, for accounting (count a page shared by
// several States once) and tests (watch its reference count).
type PageRef struct{ p *page }

// Refs is how many States (and caches) hold the page; 0 once all let go.
func (r PageRef) Refs() int32 { return r.p.refs.Load() }

// PageRefs appends a reference to each of the state's pages to dst.
func (s *State) PageRefs(dst []PageRef) []PageRef {
	for _, p := range s.pages {
		dst = append(dst, PageRef{p})
	}
	return dst
}

// CachedPageRefs appends a reference to each page the cache indexes.
func (c *PrefixCache) CachedPageRefs(dst []PageRef) []PageRef {
	for _, e := range c.entries {
		dst = append(dst, PageRef{e.page})
	}
	return dst
}

// PageBytes is the memory one page of PageTokens positions takes: its K/V
// rows, plus what an architecture's own state grows by over as many
// positions (StateBytes).
func (l KVLayout) PageBytes() int64 {
	per := int64(2)
	if l.Type == KVF32 {
		per = 4
	}
	return per*int64(l.pageValues()) + l.StateBytes
}
