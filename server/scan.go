package server

import (
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Cursor iteration over one big collection (HSCAN, SSCAN, ZSCAN of a
// hashtable or skiplist encoding), with the guarantee SCAN gives over
// the keyspace (db.go): every element present from the first call to the
// last is returned at least once, whatever is added or removed between
// calls; an element added meanwhile may or may not be.
//
// The cursor is a hash: elements are visited in the order of xxhash64 of
// their name, an order that never changes while an element exists. The
// collections keep no such order as they change (an index beside the
// map would tax every HSET), so a scan builds it when it needs it: a
// scanIndex, the names sorted by hash as of when it was built, kept on
// the collection. A call finds its cursor in the index by binary search
// and returns the next count names still in the collection. The index is
// rebuilt at a cursor-0 call once an insert made it stale (so a new
// iteration sees every element present at its start), never mid-way:
// an element present for a whole iteration is in every index built
// during it, in the same place. It is dropped when an iteration ends, so
// it costs memory only while a scan is under way.

// scanIndex is a collection's names in hash order.
type scanIndex struct {
	hashes []uint64 // ascending
	names  []string // names[i] has hashes[i]
	adds   uint64   // the collection's insert count when built
}

// scanIter is the state a collection keeps for scans: its insert count
// and its index, nil between iterations.
type scanIter struct {
	adds uint64
	ix   *scanIndex
}

// added records an insert: an index built before it is stale for a new
// iteration.
func (it *scanIter) added() { it.adds++ }

// scan visits from cursor the next count names that has still reports
// (more when names share a hash, so a cursor never splits them) and
// returns the next cursor, 0 at the end. names lists every current name;
// it is called only to build the index.
func (it *scanIter) scan(cursor uint64, count int, names func() []string, has func(string) bool, fn func(name string)) uint64 {
	if it.ix == nil || cursor == 0 && it.ix.adds != it.adds {
		it.ix = buildScanIndex(names(), it.adds)
	}
	ix := it.ix
	i, _ := slices.BinarySearch(ix.hashes, cursor)
	visited := 0
	for ; i < len(ix.hashes); i++ {
		if visited >= count && ix.hashes[i] != ix.hashes[i-1] {
			return ix.hashes[i]
		}
		visited++
		if has(ix.names[i]) {
			fn(ix.names[i])
		}
	}
	it.ix = nil // the iteration is over: the memory goes back
	return 0
}

func buildScanIndex(names []string, adds uint64) *scanIndex {
	type entry struct {
		h uint64
		n string
	}
	es := make([]entry, len(names))
	for i, n := range names {
		es[i] = entry{xxhash.Sum64String(n), n}
	}
	slices.SortFunc(es, func(a, b entry) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return 0
	})
	ix := &scanIndex{hashes: make([]uint64, len(es)), names: make([]string, len(es)), adds: adds}
	for i, e := range es {
		ix.hashes[i], ix.names[i] = e.h, e.n
	}
	return ix
}

// Scan is HSCAN's iteration: a listpack answers every field at once with
// cursor 0, as Redis does for its compact encodings; a hashtable visits
// about count fields from cursor and returns the next cursor.
func (h *Hash) Scan(cursor uint64, count int, fn func(field string, val []byte)) uint64 {
	if h.idx == nil {
		h.Each(func(f string, v []byte) bool { fn(f, v); return true })
		return 0
	}
	return h.scan.scan(cursor, count, func() []string { return h.fields },
		func(f string) bool { _, ok := h.idx[f]; return ok },
		func(f string) { fn(f, h.vals[h.idx[f]]) })
}

// Scan is SSCAN's iteration, as Hash.Scan's (an intset answers at once).
func (s *Set) Scan(cursor uint64, count int, fn func(member string)) uint64 {
	if s.isIntset() {
		for i := range s.ints {
			fn(s.At(i))
		}
		return 0
	}
	return s.scan.scan(cursor, count, func() []string { return s.members },
		func(m string) bool { _, ok := s.idx[m]; return ok }, fn)
}

// Scan is ZSCAN's iteration, as Hash.Scan's (a listpack answers at once).
func (z *ZSet) Scan(cursor uint64, count int, fn func(e ZEntry)) uint64 {
	if z.dict == nil {
		z.Each(0, func(e ZEntry) bool { fn(e); return true })
		return 0
	}
	return z.scan.scan(cursor, count, func() []string {
		out := make([]string, 0, z.n)
		for m := range z.dict {
			out = append(out, m)
		}
		return out
	}, func(m string) bool { _, ok := z.dict[m]; return ok },
		func(m string) { fn(ZEntry{m, z.dict[m]}) })
}
