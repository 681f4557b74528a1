package server

import (
	"math/rand/v2"
	"sort"
)

// ZSet is a sorted set: members ordered by (score, member bytes). Redis
// 7.0 keeps a small one (at most zset-max-listpack-entries members, none
// longer than zset-max-listpack-value) as a "listpack", searched linearly,
// and a bigger one as a "skiplist" with a member → score dict. Here both
// are a list of sorted blocks (one block while a listpack); the skiplist
// form adds the dict. Rank and index operations walk the block lengths:
// O(n / zBlock) plus a binary search.
type ZSet struct {
	blocks [][]ZEntry
	n      int
	dict   map[string]float64 // nil while a listpack
	bytes  int64              // sum of member lengths
	scan   scanIter           // ZSCAN's order (scan.go)
}

// ZEntry is one member and its score.
type ZEntry struct {
	Member string
	Score  float64
}

// zBlock is the largest block before it splits in two.
const zBlock = 256

func zless(a, b ZEntry) bool {
	return a.Score < b.Score || (a.Score == b.Score && a.Member < b.Member)
}

// NewZSet makes an empty sorted set (a listpack).
func NewZSet() *ZSet { return &ZSet{} }

// Len is the number of members.
func (z *ZSet) Len() int { return z.n }

// Score returns a member's score.
func (z *ZSet) Score(m string) (float64, bool) {
	if z.dict != nil {
		s, ok := z.dict[m]
		return s, ok
	}
	for _, b := range z.blocks {
		for _, e := range b {
			if e.Member == m {
				return e.Score, true
			}
		}
	}
	return 0, false
}

// blockFor returns the index of the block where e belongs.
func (z *ZSet) blockFor(e ZEntry) int {
	i := sort.Search(len(z.blocks), func(i int) bool {
		b := z.blocks[i]
		return !zless(b[len(b)-1], e)
	})
	if i == len(z.blocks) {
		i--
	}
	return i
}

func (z *ZSet) insert(e ZEntry) {
	if len(z.blocks) == 0 {
		z.blocks = [][]ZEntry{{e}}
		z.n++
		return
	}
	bi := z.blockFor(e)
	b := z.blocks[bi]
	j := sort.Search(len(b), func(j int) bool { return !zless(b[j], e) })
	b = append(b, ZEntry{})
	copy(b[j+1:], b[j:])
	b[j] = e
	z.blocks[bi] = b
	z.n++
	if len(b) > zBlock {
		half := append([]ZEntry(nil), b[len(b)/2:]...)
		z.blocks[bi] = b[: len(b)/2 : len(b)/2]
		z.blocks = append(z.blocks, nil)
		copy(z.blocks[bi+2:], z.blocks[bi+1:])
		z.blocks[bi+1] = half
	}
}

func (z *ZSet) remove(e ZEntry) {
	bi := z.blockFor(e)
	b := z.blocks[bi]
	j := sort.Search(len(b), func(j int) bool { return !zless(b[j], e) })
	if j >= len(b) || b[j] != e {
		panic("server: zset entry missing from its blocks") // dict and blocks disagree: a bug
	}
	copy(b[j:], b[j+1:])
	b = b[:len(b)-1]
	if len(b) == 0 {
		z.blocks = append(z.blocks[:bi], z.blocks[bi+1:]...)
	} else {
		z.blocks[bi] = b
	}
	z.n--
}

// Add sets m's score to s and reports whether m is new; cfg's limits
// decide the encoding.
func (z *ZSet) Add(cfg *Config, m string, s float64) bool {
	old, exists := z.Score(m)
	if exists {
		if old != s {
			z.remove(ZEntry{m, old})
			z.insert(ZEntry{m, s})
			if z.dict != nil {
				z.dict[m] = s
			}
		}
		return false
	}
	z.insert(ZEntry{m, s})
	z.bytes += int64(len(m))
	z.scan.added()
	if z.dict != nil {
		z.dict[m] = s
	} else if int64(z.n) > cfg.ZSetMaxListpackEntries || int64(len(m)) > cfg.ZSetMaxListpackValue {
		z.dict = make(map[string]float64, z.n)
		z.Each(0, func(e ZEntry) bool { z.dict[e.Member] = e.Score; return true })
	}
	return true
}

// Remove deletes m and reports whether it was there.
func (z *ZSet) Remove(m string) bool {
	s, ok := z.Score(m)
	if !ok {
		return false
	}
	z.remove(ZEntry{m, s})
	if z.dict != nil {
		delete(z.dict, m)
	}
	z.bytes -= int64(len(m))
	return true
}

// Rank is m's 0-based index in ascending order.
func (z *ZSet) Rank(m string) (int, bool) {
	s, ok := z.Score(m)
	if !ok {
		return 0, false
	}
	return z.CountBelow(ZEntry{m, s}), true
}

// CountBelow is the number of entries ordered before e.
func (z *ZSet) CountBelow(e ZEntry) int {
	r := 0
	for _, b := range z.blocks {
		if !zless(b[len(b)-1], e) {
			return r + sort.Search(len(b), func(j int) bool { return !zless(b[j], e) })
		}
		r += len(b)
	}
	return r
}

// FirstAtLeast is the index of the first entry whose score is >= min (or
// > min when excl), Len when none.
func (z *ZSet) FirstAtLeast(min float64, excl bool) int {
	r := 0
	ok := func(e ZEntry) bool {
		if excl {
			return e.Score > min
		}
		return e.Score >= min
	}
	for _, b := range z.blocks {
		if ok(b[len(b)-1]) {
			return r + sort.Search(len(b), func(j int) bool { return ok(b[j]) })
		}
		r += len(b)
	}
	return r
}

// FirstLexAtLeast is the index of the first member >= m (> m with excl),
// for sets whose members all share one score (BYLEX).
func (z *ZSet) FirstLexAtLeast(m string, excl bool) int {
	r := 0
	ok := func(e ZEntry) bool {
		if excl {
			return e.Member > m
		}
		return e.Member >= m
	}
	for _, b := range z.blocks {
		if ok(b[len(b)-1]) {
			return r + sort.Search(len(b), func(j int) bool { return ok(b[j]) })
		}
		r += len(b)
	}
	return r
}

// Each calls fn for the entries from index start on, ascending, until fn
// returns false.
func (z *ZSet) Each(start int, fn func(e ZEntry) bool) {
	for _, b := range z.blocks {
		if start >= len(b) {
			start -= len(b)
			continue
		}
		for _, e := range b[start:] {
			if !fn(e) {
				return
			}
		}
		start = 0
	}
}

// EachRev calls fn for the entries from index start down to 0.
func (z *ZSet) EachRev(start int, fn func(e ZEntry) bool) {
	if start >= z.n {
		start = z.n - 1
	}
	base := z.n
	for bi := len(z.blocks) - 1; bi >= 0; bi-- {
		b := z.blocks[bi]
		base -= len(b)
		if start < base {
			continue
		}
		for j := start - base; j >= 0; j-- {
			if !fn(b[j]) {
				return
			}
		}
		start = base - 1
	}
}

// At returns the entry at index i, 0 <= i < Len.
func (z *ZSet) At(i int) ZEntry {
	for _, b := range z.blocks {
		if i < len(b) {
			return b[i]
		}
		i -= len(b)
	}
	panic("server: zset index out of range")
}

// Random returns the index of a uniformly chosen entry (Len > 0).
func (z *ZSet) Random() int { return rand.IntN(z.n) }

// Entries returns every entry ascending.
func (z *ZSet) Entries() []ZEntry {
	out := make([]ZEntry, 0, z.n)
	z.Each(0, func(e ZEntry) bool { out = append(out, e); return true })
	return out
}

// Encoding is "listpack" or "skiplist".
func (z *ZSet) Encoding() string {
	if z.dict == nil {
		return "listpack"
	}
	return "skiplist"
}

// MemoryUsage approximates Redis's: a listpack of member and score
// entries, or a skiplist node (about 40 bytes plus levels) and a dict
// entry per member.
func (z *ZSet) MemoryUsage() int64 {
	n := int64(z.n)
	if z.dict == nil {
		return 7 + z.bytes + 12*n
	}
	return 8*int64(nextPow2(z.n)) + 80*n + z.bytes
}

// Clone returns an independent copy (COPY).
func (z *ZSet) Clone() Value {
	c := &ZSet{n: z.n, bytes: z.bytes}
	for _, b := range z.blocks {
		c.blocks = append(c.blocks, append([]ZEntry(nil), b...))
	}
	if z.dict != nil {
		c.dict = make(map[string]float64, len(z.dict))
		for k, v := range z.dict {
			c.dict[k] = v
		}
	}
	return c
}

// Release does nothing: the garbage collector frees the blocks.
func (z *ZSet) Release() {}

// NewZSetFrom builds a sorted set from entries (a snapshot, RESTORE, or a
// STORE command's result), its encoding from cfg; a member given twice is
// refused.
func NewZSetFrom(cfg *Config, entries []ZEntry) (*ZSet, error) {
	z := NewZSet()
	for _, e := range entries {
		if !z.Add(cfg, e.Member, e.Score) {
			return nil, errDuplicate
		}
	}
	return z, nil
}
