package server

import "math/rand/v2"

// Hash is a hash value. Like Redis it has two encodings: while it has at
// most hash-max-listpack-entries fields, none longer than
// hash-max-listpack-value bytes, it is a "listpack": fields in insertion
// order, found by a linear scan, which is what HGETALL's order and OBJECT
// ENCODING show. Past either limit it becomes a "hashtable" for good (Redis
// never converts back): an index map beside the same arrays, and a delete
// moves the last field into the hole so random picks stay O(1).
type Hash struct {
	fields []string
	vals   [][]byte
	idx    map[string]int // nil while a listpack
	bytes  int64          // sum of field and value lengths, for MEMORY USAGE
	scan   scanIter       // HSCAN's order (scan.go)
}

// NewHash makes an empty hash (a listpack).
func NewHash() *Hash { return &Hash{} }

// Len is the number of fields.
func (h *Hash) Len() int { return len(h.fields) }

func (h *Hash) find(field string) int {
	if h.idx != nil {
		if i, ok := h.idx[field]; ok {
			return i
		}
		return -1
	}
	for i, f := range h.fields {
		if f == field {
			return i
		}
	}
	return -1
}

// Get returns a field's value (owned by the hash: don't modify it).
func (h *Hash) Get(field string) ([]byte, bool) {
	if i := h.find(field); i >= 0 {
		return h.vals[i], true
	}
	return nil, false
}

// findBytes is find for a field still in the request's bytes: the
// conversions in a map index and a comparison allocate nothing.
func (h *Hash) findBytes(field []byte) int {
	if h.idx != nil {
		if i, ok := h.idx[string(field)]; ok {
			return i
		}
		return -1
	}
	for i, f := range h.fields {
		if f == string(field) {
			return i
		}
	}
	return -1
}

// Set stores field = val (val is copied) and reports whether the field is
// new. cfg's limits decide the encoding.
func (h *Hash) Set(cfg *Config, field string, val []byte) bool {
	if i := h.find(field); i >= 0 {
		h.replace(cfg, i, val)
		return false
	}
	h.insert(cfg, field, val)
	return true
}

// SetBytes is Set for a field in the request's bytes (HSET): the field's
// string is made only when the field is new.
func (h *Hash) SetBytes(cfg *Config, field, val []byte) bool {
	if i := h.findBytes(field); i >= 0 {
		h.replace(cfg, i, val)
		return false
	}
	h.insert(cfg, string(field), val)
	return true
}

// replace sets field i's value to a copy of val.
func (h *Hash) replace(cfg *Config, i int, val []byte) {
	v := append([]byte(nil), val...)
	h.bytes += int64(len(v) - len(h.vals[i]))
	h.vals[i] = v
	h.convertIfBig(cfg, len(h.fields[i]), len(v))
}

// insert adds a new field with a copy of val.
func (h *Hash) insert(cfg *Config, field string, val []byte) {
	v := append([]byte(nil), val...)
	h.fields = append(h.fields, field)
	h.vals = append(h.vals, v)
	h.scan.added()
	h.bytes += int64(len(field) + len(v))
	if h.idx != nil {
		h.idx[field] = len(h.fields) - 1
	}
	h.convertIfBig(cfg, len(field), len(v))
}

// convertIfBig turns a listpack into a hashtable past the config's limits.
func (h *Hash) convertIfBig(cfg *Config, flen, vlen int) {
	if h.idx != nil {
		return
	}
	if int64(len(h.fields)) > cfg.HashMaxListpackEntries || int64(flen) > cfg.HashMaxListpackValue || int64(vlen) > cfg.HashMaxListpackValue {
		h.idx = make(map[string]int, len(h.fields))
		for i, f := range h.fields {
			h.idx[f] = i
		}
	}
}

// Delete removes a field; it reports whether it was there.
func (h *Hash) Delete(field string) bool {
	i := h.find(field)
	if i < 0 {
		return false
	}
	h.bytes -= int64(len(field) + len(h.vals[i]))
	last := len(h.fields) - 1
	if h.idx == nil {
		// A listpack keeps its order.
		copy(h.fields[i:], h.fields[i+1:])
		copy(h.vals[i:], h.vals[i+1:])
	} else {
		delete(h.idx, field)
		if i != last {
			h.fields[i], h.vals[i] = h.fields[last], h.vals[last]
			h.idx[h.fields[i]] = i
		}
	}
	h.fields[last], h.vals[last] = "", nil
	h.fields, h.vals = h.fields[:last], h.vals[:last]
	return true
}

// Each calls fn for every field in the hash's order until fn returns false.
func (h *Hash) Each(fn func(field string, val []byte) bool) {
	for i, f := range h.fields {
		if !fn(f, h.vals[i]) {
			return
		}
	}
}

// At returns the i-th field and value in the hash's order, 0 <= i < Len.
func (h *Hash) At(i int) (string, []byte) { return h.fields[i], h.vals[i] }

// Random returns the index of a uniformly chosen field (Len > 0).
func (h *Hash) Random() int { return rand.IntN(len(h.fields)) }

// Encoding is "listpack" or "hashtable", as OBJECT ENCODING prints.
func (h *Hash) Encoding() string {
	if h.idx == nil {
		return "listpack"
	}
	return "hashtable"
}

// MemoryUsage approximates what Redis allocates for the value: a listpack
// is one buffer of entries with a byte or two of header and back-length
// each; a hashtable has buckets, a dict entry and two sds strings a field.
func (h *Hash) MemoryUsage() int64 {
	n := int64(len(h.fields))
	if h.idx == nil {
		return 7 + h.bytes + 4*n
	}
	return 8*int64(nextPow2(int(n))) + 56*n + h.bytes
}

// Clone returns an independent copy (COPY).
func (h *Hash) Clone() Value {
	c := &Hash{fields: append([]string(nil), h.fields...), vals: make([][]byte, len(h.vals)), bytes: h.bytes}
	for i, v := range h.vals {
		c.vals[i] = append([]byte(nil), v...)
	}
	if h.idx != nil {
		c.idx = make(map[string]int, len(h.idx))
		for k, v := range h.idx {
			c.idx[k] = v
		}
	}
	return c
}

// Release does nothing: the garbage collector frees the arrays.
func (h *Hash) Release() {}

func nextPow2(n int) int {
	p := 4
	for p < n {
		p <<= 1
	}
	return p
}

// Pairs returns field, value, field, value... in the hash's order (for
// persistence; the values are the hash's own).
func (h *Hash) Pairs() [][]byte {
	out := make([][]byte, 0, 2*len(h.fields))
	for i, f := range h.fields {
		out = append(out, []byte(f), h.vals[i])
	}
	return out
}

// NewHashFrom builds a hash from field, value pairs (a loaded snapshot or
// RESTORE), its encoding chosen from cfg's limits. A field given twice is
// refused: it can only come from a corrupt payload.
func NewHashFrom(cfg *Config, pairs [][]byte) (*Hash, error) {
	h := NewHash()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !h.Set(cfg, string(pairs[i]), pairs[i+1]) {
			return nil, errDuplicate
		}
	}
	return h, nil
}
