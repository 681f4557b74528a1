package infer

import (
	"encoding/binary"
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
// Architectures with their own per-session state (StatefulArch: deepseek4's
// sliding-window ring and compressor frontier) can't resume from pages
// alone, so for them the cache stays empty and Lookup finds nothing.
type PrefixCache struct {
	off     bool // the model is a StatefulArch
	layout  KVLayout
	entries map[uint64]*prefixEntry
	clock   uint64
}

type prefixEntry struct {
	depth  int // page index in its chain
	tokens [PageTokens]int32
	page   *page
	used   uint64 // clock of the last Insert or Lookup that touched it
}

// NewPrefixCache returns an empty cache for m's pages.
func NewPrefixCache(m *Model) *PrefixCache {
	_, stateful := m.arch.(StatefulArch)
	return &PrefixCache{off: stateful, layout: m.arch.KVLayout(), entries: map[uint64]*prefixEntry{}}
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
// marked used.
func (c *PrefixCache) Insert(s *State) int {
	if c.off || s.layout != c.layout {
		return 0
	}
	c.clock++
	added := 0
	h := uint64(0)
	for i := 0; i < len(s.tokens)/PageTokens; i++ {
		toks := s.tokens[i*PageTokens : (i+1)*PageTokens]
		h = pageHash(h, toks)
		if e := c.entries[h]; e != nil {
			if !sameTokens(e.tokens[:], toks) {
				return added // a hash collision: stop the chain here
			}
			e.used = c.clock
			continue
		}
		e := &prefixEntry{depth: i, page: s.pages[i], used: c.clock}
		copy(e.tokens[:], toks)
		s.pages[i].refs.Add(1)
		c.entries[h] = e
		added++
	}
	return added
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
// token), or nil and 0 when no page matches.
func (c *PrefixCache) Lookup(m *Model, tokens []int32, limit int) (*State, int) {
	if c.off || m.arch.KVLayout() != c.layout {
		return nil, 0
	}
	if limit > len(tokens) {
		limit = len(tokens)
	}
	c.clock++
	var pages []*page
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
	}
	if len(pages) == 0 {
		return nil, 0
	}
	s := m.NewState()
	n := len(pages) * PageTokens
	if n > s.ctx {
		return nil, 0
	}
	for _, p := range pages {
		p.refs.Add(1)
	}
	s.pages = pages
	s.tokens = append([]int32(nil), tokens[:n]...)
	return s, n
}

// Pages is the number of pages indexed.
func (c *PrefixCache) Pages() int { return len(c.entries) }

// IdlePages is the number of indexed pages that no State holds.
func (c *PrefixCache) IdlePages() int {
	n := 0
	for _, e := range c.entries {
		if e.page.refs.Load() == 1 {
			n++
		}
	}
	return n
}

// Trim drops idle pages, least recently used (and deepest first among
// equals, so chains shrink from the end) until at most maxIdle remain. It
// returns how many it dropped.
func (c *PrefixCache) Trim(maxIdle int) int {
	type idle struct {
		h uint64
		e *prefixEntry
	}
	var list []idle
	for h, e := range c.entries {
		if e.page.refs.Load() == 1 {
			list = append(list, idle{h, e})
		}
	}
	if len(list) <= maxIdle {
		return 0
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].e.used != list[j].e.used {
			return list[i].e.used < list[j].e.used
		}
		return list[i].e.depth > list[j].e.depth
	})
	drop := len(list) - maxIdle
	for _, x := range list[:drop] {
		x.e.page.refs.Add(-1)
		delete(c.entries, x.h)
	}
	return drop
}

// Clear drops every entry, releasing the cache's page references.
func (c *PrefixCache) Clear() {
	for h, e := range c.entries {
		e.page.refs.Add(-1)
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

// PageBytes is the memory one KV page of this layout holds.
func (l KVLayout) PageBytes() int64 {
	per := int64(2)
	if l.Type == KVF32 {
		per = 4
	}
	return per * int64(l.pageValues())
}
