package server

// List is a list value: a ring buffer of elements, so pushes and pops at
// either end are O(1) and LINDEX/LSET are O(1) too. Redis 7.0 reports every
// list as "quicklist" (its listpack encoding for lists came in 7.2), and
// so does OBJECT ENCODING here.
type List struct {
	buf   [][]byte // ring; len(buf) is 0 or a power of two
	head  int      // index of the first element in buf
	n     int
	bytes int64 // sum of element lengths, for MEMORY USAGE
}

// NewList makes an empty list.
func NewList() *List { return &List{} }

// Len is the number of elements.
func (l *List) Len() int { return l.n }

func (l *List) slot(i int) int { return (l.head + i) & (len(l.buf) - 1) }

func (l *List) grow() {
	if l.n < len(l.buf) {
		return
	}
	nb := make([][]byte, max(8, 2*len(l.buf)))
	for i := 0; i < l.n; i++ {
		nb[i] = l.buf[l.slot(i)]
	}
	l.buf, l.head = nb, 0
}

// PushLeft adds a copy of v at the head.
func (l *List) PushLeft(v []byte) {
	l.grow()
	l.head = (l.head - 1) & (len(l.buf) - 1)
	l.buf[l.head] = append([]byte(nil), v...)
	l.n++
	l.bytes += int64(len(v))
}

// PushRight adds a copy of v at the tail.
func (l *List) PushRight(v []byte) {
	l.grow()
	l.buf[l.slot(l.n)] = append([]byte(nil), v...)
	l.n++
	l.bytes += int64(len(v))
}

// PopLeft removes and returns the head (Len > 0).
func (l *List) PopLeft() []byte {
	v := l.buf[l.head]
	l.buf[l.head] = nil
	l.head = (l.head + 1) & (len(l.buf) - 1)
	l.n--
	l.bytes -= int64(len(v))
	return v
}

// PopRight removes and returns the tail (Len > 0).
func (l *List) PopRight() []byte {
	i := l.slot(l.n - 1)
	v := l.buf[i]
	l.buf[i] = nil
	l.n--
	l.bytes -= int64(len(v))
	return v
}

// Index returns element i, 0 <= i < Len (the list's own bytes).
func (l *List) Index(i int) []byte { return l.buf[l.slot(i)] }

// Set replaces element i with a copy of v.
func (l *List) Set(i int, v []byte) {
	s := l.slot(i)
	l.bytes += int64(len(v) - len(l.buf[s]))
	l.buf[s] = append([]byte(nil), v...)
}

// Items returns the elements head first (the list's own bytes).
func (l *List) Items() [][]byte {
	out := make([][]byte, l.n)
	for i := range out {
		out[i] = l.buf[l.slot(i)]
	}
	return out
}

// Replace makes items (owned by the list from now on) its elements.
func (l *List) Replace(items [][]byte) {
	size := 8
	for size < len(items) {
		size *= 2
	}
	l.buf = make([][]byte, size)
	copy(l.buf, items)
	l.head, l.n, l.bytes = 0, len(items), 0
	for _, it := range items {
		l.bytes += int64(len(it))
	}
}

// Insert puts a copy of v before element i (i == Len appends).
func (l *List) Insert(i int, v []byte) {
	items := l.Items()
	items = append(items, nil)
	copy(items[i+1:], items[i:])
	items[i] = append([]byte(nil), v...)
	l.Replace(items)
}

// Encoding is what OBJECT ENCODING prints for a Redis 7.0 list.
func (l *List) Encoding() string { return "quicklist" }

// MemoryUsage approximates Redis's quicklist: a header, a node per 8 KB
// listpack, and a listpack entry (a few bytes of header) per element.
func (l *List) MemoryUsage() int64 {
	nodes := l.bytes/8192 + 1
	return 40 + nodes*(32+7) + l.bytes + 3*int64(l.n)
}

// Clone returns an independent copy (COPY).
func (l *List) Clone() Value {
	c := NewList()
	items := l.Items()
	for i, it := range items {
		items[i] = append([]byte(nil), it...)
	}
	c.Replace(items)
	return c
}

// Release does nothing: the garbage collector frees the ring.
func (l *List) Release() {}
