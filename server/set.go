package server

import (
	"math/rand/v2"
	"slices"
	"strconv"
)

// Set is a set value with Redis 7.0's two encodings: an "intset" (sorted
// int64s) while every member is an integer in canonical form and there are
// at most set-max-intset-entries of them, else a "hashtable": members in
// an array with an index map beside it, a delete moving the last member
// into the hole, so SPOP and SRANDMEMBER pick uniformly in O(1). Redis
// never converts a hashtable back.
type Set struct {
	ints    []int64 // intset, ascending; nil once a hashtable
	members []string
	idx     map[string]int // nil while an intset
	bytes   int64          // hashtable: sum of member lengths
	scan    scanIter       // SSCAN's order (scan.go)
}

// NewSet makes an empty set (an intset).
func NewSet() *Set { return &Set{ints: []int64{}} }

// isIntset reports the encoding.
func (s *Set) isIntset() bool { return s.idx == nil }

// Len is the number of members.
func (s *Set) Len() int {
	if s.isIntset() {
		return len(s.ints)
	}
	return len(s.members)
}

// canonicalInt parses m as an integer only when it prints back the same
// (so "01" and "+1" stay strings, as Redis's string2ll decides).
func canonicalInt(m string) (int64, bool) {
	n, ok := ParseInt([]byte(m))
	if !ok || strconv.FormatInt(n, 10) != m {
		return 0, false
	}
	return n, true
}

// Has reports membership.
func (s *Set) Has(m string) bool {
	if s.isIntset() {
		n, ok := canonicalInt(m)
		if !ok {
			return false
		}
		_, found := slices.BinarySearch(s.ints, n)
		return found
	}
	_, ok := s.idx[m]
	return ok
}

// Add inserts m and reports whether it was new; cfg's limit decides the
// encoding.
func (s *Set) Add(cfg *Config, m string) bool {
	if s.isIntset() {
		if n, ok := canonicalInt(m); ok {
			i, found := slices.BinarySearch(s.ints, n)
			if found {
				return false
			}
			if int64(len(s.ints)) < cfg.SetMaxIntsetEntries {
				s.ints = slices.Insert(s.ints, i, n)
				return true
			}
		}
		s.toHashtable()
	}
	if _, ok := s.idx[m]; ok {
		return false
	}
	s.idx[m] = len(s.members)
	s.members = append(s.members, m)
	s.bytes += int64(len(m))
	s.scan.added()
	return true
}

func (s *Set) toHashtable() {
	s.idx = make(map[string]int, len(s.ints)+1)
	s.members = make([]string, 0, len(s.ints)+1)
	for _, n := range s.ints {
		m := strconv.FormatInt(n, 10)
		s.idx[m] = len(s.members)
		s.members = append(s.members, m)
		s.bytes += int64(len(m))
	}
	s.ints = nil
}

// Remove deletes m and reports whether it was there.
func (s *Set) Remove(m string) bool {
	if s.isIntset() {
		n, ok := canonicalInt(m)
		if !ok {
			return false
		}
		i, found := slices.BinarySearch(s.ints, n)
		if found {
			s.ints = slices.Delete(s.ints, i, i+1)
		}
		return found
	}
	i, ok := s.idx[m]
	if !ok {
		return false
	}
	s.removeAt(i)
	return true
}

func (s *Set) removeAt(i int) {
	m := s.members[i]
	last := len(s.members) - 1
	delete(s.idx, m)
	if i != last {
		s.members[i] = s.members[last]
		s.idx[s.members[i]] = i
	}
	s.members[last] = ""
	s.members = s.members[:last]
	s.bytes -= int64(len(m))
}

// At returns member i (0 <= i < Len): ascending for an intset.
func (s *Set) At(i int) string {
	if s.isIntset() {
		return strconv.FormatInt(s.ints[i], 10)
	}
	return s.members[i]
}

// Random returns the index of a uniformly chosen member (Len > 0).
func (s *Set) Random() int { return rand.IntN(s.Len()) }

// RemoveAt deletes member i.
func (s *Set) RemoveAt(i int) {
	if s.isIntset() {
		s.ints = slices.Delete(s.ints, i, i+1)
		return
	}
	s.removeAt(i)
}

// Members returns every member, in the set's order.
func (s *Set) Members() []string {
	out := make([]string, s.Len())
	for i := range out {
		out[i] = s.At(i)
	}
	return out
}

// Encoding is "intset" or "hashtable".
func (s *Set) Encoding() string {
	if s.isIntset() {
		return "intset"
	}
	return "hashtable"
}

// MemoryUsage approximates Redis's: an intset is a header and 2, 4 or 8
// bytes a member (we count 8); a hashtable has buckets, a dict entry and
// an sds string a member.
func (s *Set) MemoryUsage() int64 {
	if s.isIntset() {
		return 8 + 8*int64(len(s.ints))
	}
	n := int64(len(s.members))
	return 8*int64(nextPow2(int(n))) + 32*n + s.bytes
}

// Clone returns an independent copy (COPY).
func (s *Set) Clone() Value {
	c := &Set{bytes: s.bytes}
	if s.isIntset() {
		c.ints = slices.Clone(s.ints)
		return c
	}
	c.members = slices.Clone(s.members)
	c.idx = make(map[string]int, len(s.idx))
	for k, v := range s.idx {
		c.idx[k] = v
	}
	return c
}

// Release does nothing: the garbage collector frees the arrays.
func (s *Set) Release() {}

// NewSetFrom builds a set from members (a snapshot or RESTORE); a member
// given twice is refused (a corrupt payload).
func NewSetFrom(cfg *Config, members [][]byte) (*Set, error) {
	s := NewSet()
	for _, m := range members {
		if !s.Add(cfg, string(m)) {
			return nil, errDuplicate
		}
	}
	return s, nil
}
