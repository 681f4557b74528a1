package server

import (
	"math"
	"sort"
	"strconv"

	"github.com/tidwall/btree"
)

// StreamID is a stream entry ID, ms-seq.
type StreamID struct{ Ms, Seq uint64 }

// MaxStreamID is the largest ID (the "+" end of a range).
var MaxStreamID = StreamID{math.MaxUint64, math.MaxUint64}

// Compare is like strings.Compare.
func (a StreamID) Compare(b StreamID) int {
	switch {
	case a.Ms < b.Ms:
		return -1
	case a.Ms > b.Ms:
		return 1
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}

// Less reports a < b.
func (a StreamID) Less(b StreamID) bool { return a.Compare(b) < 0 }

// IsZero reports a == 0-0.
func (a StreamID) IsZero() bool { return a.Ms == 0 && a.Seq == 0 }

// Incr returns the next ID; false when a is the largest.
func (a StreamID) Incr() (StreamID, bool) {
	switch {
	case a.Seq < math.MaxUint64:
		return StreamID{a.Ms, a.Seq + 1}, true
	case a.Ms < math.MaxUint64:
		return StreamID{a.Ms + 1, 0}, true
	}
	return a, false
}

// Decr returns the previous ID; false when a is 0-0.
func (a StreamID) Decr() (StreamID, bool) {
	switch {
	case a.Seq > 0:
		return StreamID{a.Ms, a.Seq - 1}, true
	case a.Ms > 0:
		return StreamID{a.Ms - 1, math.MaxUint64}, true
	}
	return a, false
}

// Append writes the ID's text, ms-seq.
func (a StreamID) Append(b []byte) []byte {
	b = strconv.AppendUint(b, a.Ms, 10)
	b = append(b, '-')
	return strconv.AppendUint(b, a.Seq, 10)
}

func (a StreamID) String() string { return string(a.Append(nil)) }

// StreamEntry is one entry: its ID and its field, value pairs, flat.
type StreamEntry struct {
	ID     StreamID
	Fields [][]byte
}

// A stream keeps its entries in nodes, as Redis keeps listpacks in a radix
// tree: a node takes new entries until it holds stream-node-max-entries
// entries (deleted ones included) or stream-node-max-bytes bytes, and the
// approximate trimming of XADD/XTRIM ~ removes whole nodes only. Keeping
// Redis's node boundaries is what makes "MAXLEN ~ 555" leave the same 600
// entries Redis leaves. Deleted entries stay as tombstones in their node
// until the node is empty, as in Redis. Appends are O(1) amortised; a seek
// is a binary search over the nodes, then inside one.
type streamNode struct {
	items   []streamItem
	live    int // entries not deleted
	deleted int // tombstones
	bytes   int // about the listpack's size, for the byte limit and MEMORY USAGE
	// The master entry: the first entry's ID and field names, which later
	// entries are encoded against (their size, not their content).
	masterID StreamID
	master   [][]byte
	// What entries' field lists and bytes are cut from (own).
	fieldLists [][]byte
	fieldBytes []byte
}

type streamItem struct {
	StreamEntry
	deleted bool
}

// entryBytes is the memory an entry's fields take (MEMORY USAGE).
func entryBytes(fields [][]byte) int {
	n := 10
	for _, f := range fields {
		n += len(f) + 2
	}
	return n
}

// Listpack sizes, as Redis encodes a stream node, so the node byte limit
// (stream-node-max-bytes) splits entries where Redis's does.
func lpBacklen(l int) int {
	switch {
	case l < 128:
		return 1
	case l < 16384:
		return 2
	case l < 2097152:
		return 3
	case l < 268435456:
		return 4
	}
	return 5
}

func lpIntSize(v int64) int {
	l := 9
	switch {
	case v >= 0 && v <= 127:
		l = 1
	case v >= -4096 && v <= 4095:
		l = 2
	case v >= -32768 && v <= 32767:
		l = 3
	case v >= -8388608 && v <= 8388607:
		l = 4
	case v >= math.MinInt32 && v <= math.MaxInt32:
		l = 5
	}
	return l + 1
}

// lpStrSize is an element's size: a string that is an integer is stored
// as one, as listpacks do.
func lpStrSize(b []byte) int {
	if len(b) <= 20 {
		if v, ok := ParseInt(b); ok {
			return lpIntSize(v)
		}
	}
	h := 5
	switch {
	case len(b) < 64:
		h = 1
	case len(b) < 4096:
		h = 2
	}
	return h + len(b) + lpBacklen(h+len(b))
}

// lpEntrySize is what an entry adds to its node's listpack: flags, the ID
// as deltas from the node's master ID, the values (and the field names
// when they are not the master entry's), and the element count.
func (n *streamNode) lpEntrySize(id StreamID, fields [][]byte) int {
	size := 2 + lpIntSize(int64(id.Ms-n.masterID.Ms)) + lpIntSize(int64(id.Seq-n.masterID.Seq)) + 2
	same := len(fields)/2 == len(n.master)
	for i := 0; same && i < len(n.master); i++ {
		same = string(fields[2*i]) == string(n.master[i])
	}
	for i := 1; i < len(fields); i += 2 {
		size += lpStrSize(fields[i])
	}
	if !same {
		size += 2
		for i := 0; i < len(fields); i += 2 {
			size += lpStrSize(fields[i])
		}
	}
	return size
}

// Stream is a stream value (TypeStream).
type Stream struct {
	nodes  []*streamNode
	length int64
	// LastID is the last ID generated (XADD, XSETID); FirstID the first
	// entry's ID as recorded (0-0 when empty); MaxDeletedID the largest ID
	// XDEL removed; EntriesAdded counts every entry ever added. The last
	// three make consumer group lag computable (Redis 7.0).
	LastID       StreamID
	FirstID      StreamID
	MaxDeletedID StreamID
	EntriesAdded int64
	groups       map[string]*StreamGroup
	bytes        int64
}

// NewStream makes an empty stream.
func NewStream() *Stream { return &Stream{} }

// Len is the number of entries.
func (s *Stream) Len() int64 { return s.length }

// Nodes is the number of nodes (XINFO STREAM's radix-tree-keys).
func (s *Stream) Nodes() int { return len(s.nodes) }

// Append adds an entry with id (greater than LastID: the caller checked)
// and a copy of fields, starting a new node when the last one is full.
func (s *Stream) Append(id StreamID, fields [][]byte, maxEntries, maxBytes int64) {
	n := s.tail(fields, maxEntries, maxBytes)
	s.add(n, id, n.own(fields))
	s.EntriesAdded++
	s.LastID = id
	if s.length == 1 {
		s.FirstID = id
	}
}

// appendOwned adds an entry whose fields the stream owns from now on.
func (s *Stream) appendOwned(id StreamID, fields [][]byte, maxEntries, maxBytes int64) {
	s.add(s.tail(fields, maxEntries, maxBytes), id, fields)
}

// tail returns the node an entry of fields goes to: the last one, or a
// new, empty one when that is full.
func (s *Stream) tail(fields [][]byte, maxEntries, maxBytes int64) *streamNode {
	if maxBytes <= 0 || maxBytes > 1<<30 {
		maxBytes = 1 << 30
	}
	if len(s.nodes) > 0 {
		// Redis's test: the listpack's bytes plus the new entry's raw
		// field and value lengths, and the entries (deleted ones too).
		n := s.nodes[len(s.nodes)-1]
		raw := 0
		for _, f := range fields {
			raw += len(f)
		}
		if int64(n.bytes+raw) < maxBytes && (maxEntries <= 0 || int64(n.live+n.deleted) < maxEntries) {
			return n
		}
	}
	n := &streamNode{}
	s.nodes = append(s.nodes, n)
	return n
}

// add appends an entry with owned fields to n, the stream's last node; the
// first entry of a node is its master entry.
func (s *Stream) add(n *streamNode, id StreamID, fields [][]byte) {
	if len(n.items) == 0 {
		n.masterID, n.bytes = id, 7+2+2+2+2
		for i := 0; i < len(fields); i += 2 {
			n.master = append(n.master, fields[i])
			n.bytes += lpStrSize(fields[i])
		}
	}
	n.bytes += n.lpEntrySize(id, fields)
	n.items = append(n.items, streamItem{StreamEntry: StreamEntry{ID: id, Fields: fields}})
	n.live++
	s.bytes += int64(entryBytes(fields))
	s.length++
}

// Chunk sizes of a node's field arrays (own): doubling from the first
// size up to the last, an entry larger than that getting an array of its
// own size.
const (
	fieldBytesFirst, fieldBytesMax = 64, 4096
	fieldListsFirst, fieldListsMax = 8, 128
)

// own copies fields into n's arrays, so that an entry costs no allocation
// of its own (XADD made three): the arrays are never moved, a full one is
// replaced (entries keep pointing into the old one, which lives while
// they do).
func (n *streamNode) own(fields [][]byte) [][]byte {
	size := 0
	for _, f := range fields {
		size += len(f)
	}
	if cap(n.fieldBytes)-len(n.fieldBytes) < size {
		n.fieldBytes = make([]byte, 0, max(size, min(2*cap(n.fieldBytes), fieldBytesMax), fieldBytesFirst))
	}
	if cap(n.fieldLists)-len(n.fieldLists) < len(fields) {
		n.fieldLists = make([][]byte, 0, max(len(fields), min(2*cap(n.fieldLists), fieldListsMax), fieldListsFirst))
	}
	l := len(n.fieldLists)
	n.fieldLists = n.fieldLists[:l+len(fields)]
	own := n.fieldLists[l : l+len(fields) : l+len(fields)]
	for i, f := range fields {
		b := len(n.fieldBytes)
		n.fieldBytes = append(n.fieldBytes, f...)
		own[i] = n.fieldBytes[b : b+len(f) : b+len(f)]
	}
	return own
}

// seek returns the position of the first item (tombstones included) whose
// ID is >= id: node index and item index; node == len(nodes) at the end.
func (s *Stream) seek(id StreamID) (int, int) {
	ni := sort.Search(len(s.nodes), func(i int) bool {
		it := s.nodes[i].items
		return id.Compare(it[len(it)-1].ID) <= 0
	})
	if ni == len(s.nodes) {
		return ni, 0
	}
	it := s.nodes[ni].items
	return ni, sort.Search(len(it), func(i int) bool { return id.Compare(it[i].ID) <= 0 })
}

// Get returns the live entry with id.
func (s *Stream) Get(id StreamID) (StreamEntry, bool) {
	ni, ii := s.seek(id)
	if ni == len(s.nodes) {
		return StreamEntry{}, false
	}
	it := &s.nodes[ni].items[ii]
	if it.ID != id || it.deleted {
		return StreamEntry{}, false
	}
	return it.StreamEntry, true
}

// Range calls fn for the live entries with start <= ID <= end, in ID order
// or, with rev, in reverse, until fn returns false. Entries are the
// stream's own: fn must not keep or change them.
func (s *Stream) Range(start, end StreamID, rev bool, fn func(e *StreamEntry) bool) {
	if start.Compare(end) > 0 {
		return
	}
	if !rev {
		ni, ii := s.seek(start)
		for ; ni < len(s.nodes); ni, ii = ni+1, 0 {
			items := s.nodes[ni].items
			for ; ii < len(items); ii++ {
				it := &items[ii]
				if it.ID.Compare(end) > 0 {
					return
				}
				if !it.deleted && !fn(&it.StreamEntry) {
					return
				}
			}
		}
		return
	}
	ni, ii := s.seek(end)
	// seek found the first item >= end: start there if it is end, else
	// one item before.
	if ni == len(s.nodes) || s.nodes[ni].items[ii].ID != end {
		if ni < len(s.nodes) && ii > 0 {
			ii--
		} else if ni--; ni >= 0 {
			ii = len(s.nodes[ni].items) - 1
		}
	}
	for ni >= 0 {
		items := s.nodes[ni].items
		for ; ii >= 0; ii-- {
			it := &items[ii]
			if it.ID.Compare(start) < 0 {
				return
			}
			if !it.deleted && !fn(&it.StreamEntry) {
				return
			}
		}
		if ni--; ni >= 0 {
			ii = len(s.nodes[ni].items) - 1
		}
	}
}

// First returns the first live entry's ID; false when empty.
func (s *Stream) First() (StreamID, bool) {
	var id StreamID
	found := false
	s.Range(StreamID{}, MaxStreamID, false, func(e *StreamEntry) bool { id, found = e.ID, true; return false })
	return id, found
}

// Last returns the last live entry's ID; false when empty.
func (s *Stream) Last() (StreamID, bool) {
	var id StreamID
	found := false
	s.Range(StreamID{}, MaxStreamID, true, func(e *StreamEntry) bool { id, found = e.ID, true; return false })
	return id, found
}

// Entries returns every live entry in order (the stream's own).
func (s *Stream) Entries() []StreamEntry {
	out := make([]StreamEntry, 0, s.length)
	s.Range(StreamID{}, MaxStreamID, false, func(e *StreamEntry) bool { out = append(out, *e); return true })
	return out
}

// Delete removes the entry with id, reporting whether it was there. A node
// left with no live entry goes; the stream's recorded IDs are the
// caller's (XDEL updates them once for all its IDs).
func (s *Stream) Delete(id StreamID) bool {
	ni, ii := s.seek(id)
	if ni == len(s.nodes) {
		return false
	}
	n := s.nodes[ni]
	it := &n.items[ii]
	if it.ID != id || it.deleted {
		return false
	}
	s.deleteItem(ni, it)
	return true
}

func (s *Stream) deleteItem(ni int, it *streamItem) {
	n := s.nodes[ni]
	eb := entryBytes(it.Fields)
	it.deleted = true
	it.Fields = nil
	n.live--
	n.deleted++
	s.length--
	s.bytes -= int64(eb)
	if n.live == 0 {
		s.nodes = append(s.nodes[:ni:ni], s.nodes[ni+1:]...)
	}
}

// ResetFirstID records the first live entry's ID after deletions (0-0
// when empty).
func (s *Stream) ResetFirstID() {
	id, ok := s.First()
	if !ok {
		id = StreamID{}
	}
	s.FirstID = id
}

// Trim strategies.
const (
	TrimNone = iota
	TrimMaxLen
	TrimMinID
)

// TrimSpec is XADD's and XTRIM's trimming: MAXLEN or MINID, exact (=) or
// approximate (~, whole nodes only, at most Limit entries; 0 = no limit).
type TrimSpec struct {
	Strategy int
	MaxLen   int64
	MinID    StreamID
	Approx   bool
	Limit    int64
}

// Trim removes entries from the head as spec says, Redis's streamTrim,
// and returns how many it removed.
func (s *Stream) Trim(spec TrimSpec) int64 {
	var deleted int64
	if spec.Strategy == TrimNone || s.length == 0 {
		return 0
	}
	if spec.Strategy == TrimMaxLen && s.length <= spec.MaxLen {
		return 0
	}
	for len(s.nodes) > 0 {
		if spec.Strategy == TrimMaxLen && s.length <= spec.MaxLen {
			break
		}
		n := s.nodes[0]
		// The limit is on work: a node whose removal would pass it stays.
		if spec.Limit > 0 && deleted+int64(n.live) > spec.Limit {
			break
		}
		var remove bool
		if spec.Strategy == TrimMaxLen {
			remove = s.length-int64(n.live) >= spec.MaxLen
		} else {
			remove = n.items[len(n.items)-1].ID.Compare(spec.MinID) < 0
		}
		if remove {
			s.length -= int64(n.live)
			deleted += int64(n.live)
			for i := range n.items {
				if !n.items[i].deleted {
					s.bytes -= int64(entryBytes(n.items[i].Fields))
				}
			}
			s.nodes[0] = nil
			s.nodes = s.nodes[1:]
			continue
		}
		if spec.Approx {
			break
		}
		// Mark entries deleted inside the first node, up to the target.
		for i := range n.items {
			it := &n.items[i]
			var stop bool
			if spec.Strategy == TrimMaxLen {
				stop = s.length <= spec.MaxLen
			} else {
				stop = it.ID.Compare(spec.MinID) >= 0
			}
			if stop {
				break
			}
			if !it.deleted {
				s.bytes -= int64(entryBytes(it.Fields))
				it.deleted, it.Fields = true, nil
				n.live--
				n.deleted++
				s.length--
				deleted++
			}
		}
		break
	}
	if deleted > 0 {
		s.ResetFirstID()
	}
	return deleted
}

// StreamGroup is a consumer group.
type StreamGroup struct {
	Name   string
	LastID StreamID
	// EntriesRead is the logical read counter (Redis 7.0's entries_read),
	// -1 when unknown.
	EntriesRead int64
	PEL         *btree.BTree // of *StreamNACK by ID
	consumers   map[string]*StreamConsumer
}

// StreamConsumer is a consumer of a group.
type StreamConsumer struct {
	Name     string
	SeenTime int64        // unix ms of its last interaction
	PEL      *btree.BTree // of *StreamNACK by ID, shared with the group's
}

// StreamNACK is a pending entry: delivered to Consumer, not acknowledged.
type StreamNACK struct {
	ID            StreamID
	DeliveryTime  int64 // unix ms
	DeliveryCount int64
	Consumer      *StreamConsumer
}

func nackLess(a, b interface{}) bool { return a.(*StreamNACK).ID.Less(b.(*StreamNACK).ID) }

// NewPEL makes an empty pending entries list.
func NewPEL() *btree.BTree { return btree.NewNonConcurrent(nackLess) }

// Group returns the group called name, or nil.
func (s *Stream) Group(name string) *StreamGroup { return s.groups[name] }

// Groups returns the groups in name order (XINFO GROUPS, persistence).
func (s *Stream) Groups() []*StreamGroup {
	out := make([]*StreamGroup, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NumGroups is the number of groups.
func (s *Stream) NumGroups() int { return len(s.groups) }

// CreateGroup adds a group; nil when one has that name.
func (s *Stream) CreateGroup(name string, last StreamID, entriesRead int64) *StreamGroup {
	if s.groups[name] != nil {
		return nil
	}
	if s.groups == nil {
		s.groups = map[string]*StreamGroup{}
	}
	g := &StreamGroup{Name: name, LastID: last, EntriesRead: entriesRead, PEL: NewPEL(), consumers: map[string]*StreamConsumer{}}
	s.groups[name] = g
	return g
}

// DestroyGroup removes a group, reporting whether it was there.
func (s *Stream) DestroyGroup(name string) bool {
	if s.groups[name] == nil {
		return false
	}
	delete(s.groups, name)
	return true
}

// Consumer returns the consumer called name, or nil.
func (g *StreamGroup) Consumer(name string) *StreamConsumer { return g.consumers[name] }

// Consumers returns the consumers in name order.
func (g *StreamGroup) Consumers() []*StreamConsumer {
	out := make([]*StreamConsumer, 0, len(g.consumers))
	for _, c := range g.consumers {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NumConsumers is the number of consumers.
func (g *StreamGroup) NumConsumers() int { return len(g.consumers) }

// CreateConsumer adds a consumer seen at now; nil when one has that name.
func (g *StreamGroup) CreateConsumer(name string, now int64) *StreamConsumer {
	if g.consumers[name] != nil {
		return nil
	}
	c := &StreamConsumer{Name: name, SeenTime: now, PEL: NewPEL()}
	g.consumers[name] = c
	return c
}

// DeleteConsumer removes a consumer and its pending entries from the
// group's PEL; it returns how many were pending, -1 if there was none.
func (g *StreamGroup) DeleteConsumer(name string) int64 {
	c := g.consumers[name]
	if c == nil {
		return -1
	}
	n := int64(c.PEL.Len())
	c.PEL.Ascend(nil, func(i interface{}) bool {
		g.PEL.Delete(i)
		return true
	})
	delete(g.consumers, name)
	return n
}

// NACK returns the pending entry id, or nil.
func (g *StreamGroup) NACK(id StreamID) *StreamNACK {
	if v := g.PEL.Get(&StreamNACK{ID: id}); v != nil {
		return v.(*StreamNACK)
	}
	return nil
}

// Ack removes id from the PEL, reporting whether it was pending.
func (g *StreamGroup) Ack(id StreamID) bool {
	v := g.PEL.Delete(&StreamNACK{ID: id})
	if v == nil {
		return false
	}
	if c := v.(*StreamNACK).Consumer; c != nil {
		c.PEL.Delete(v)
	}
	return true
}

// Assign makes n pending for consumer c (moving it from its previous one).
func (g *StreamGroup) Assign(n *StreamNACK, c *StreamConsumer) {
	if n.Consumer == c {
		return
	}
	if n.Consumer != nil {
		n.Consumer.PEL.Delete(n)
	}
	n.Consumer = c
	c.PEL.Set(n)
}

// TombstoneIn reports whether the range [start, +] may hold a deleted
// entry, Redis's streamRangeHasTombstones with no end.
func (s *Stream) TombstoneIn(start StreamID) bool {
	if s.length == 0 || s.MaxDeletedID.IsZero() {
		return false
	}
	if s.FirstID.Compare(s.MaxDeletedID) > 0 {
		return false
	}
	return start.Compare(s.MaxDeletedID) <= 0
}

// EstimateEntriesRead is the logical read counter of id (how many entries
// were added up to it), or -1 when it can't be known: Redis's
// streamEstimateDistanceFromFirstEverEntry.
func (s *Stream) EstimateEntriesRead(id StreamID) int64 {
	if s.EntriesAdded == 0 {
		return 0
	}
	if s.length == 0 && id.Compare(s.LastID) < 1 {
		return s.EntriesAdded
	}
	cmpLast := id.Compare(s.LastID)
	if cmpLast == 0 {
		return s.EntriesAdded
	} else if cmpLast > 0 {
		return -1
	}
	cmpFirst := id.Compare(s.FirstID)
	if s.MaxDeletedID.IsZero() || s.MaxDeletedID.Compare(s.FirstID) < 0 {
		if cmpFirst < 0 {
			return s.EntriesAdded - s.length
		} else if cmpFirst == 0 {
			return s.EntriesAdded - s.length + 1
		}
	}
	return -1
}

// Lag is the number of entries not yet delivered to g, false when it
// can't be known (XINFO GROUPS's lag).
func (s *Stream) Lag(g *StreamGroup) (int64, bool) {
	if s.EntriesAdded == 0 {
		return 0, true
	}
	if g.EntriesRead != -1 && !s.TombstoneIn(g.LastID) {
		return s.EntriesAdded - g.EntriesRead, true
	}
	if r := s.EstimateEntriesRead(g.LastID); r != -1 {
		return s.EntriesAdded - r, true
	}
	return 0, false
}

// Encoding is what OBJECT ENCODING prints for a stream.
func (s *Stream) Encoding() string { return "stream" }

// raxNodes estimates how many nodes Redis's radix tree has for keys
// 128-bit stream IDs: about 2.5 per key for the node keys (sparse IDs
// branch more), 2 per key for a PEL's mostly consecutive ones (measured
// on Redis 7.0: 10 node keys, 26 nodes; 300 pending, about 600).
func raxNodes(keys int, sparse bool) int {
	switch {
	case keys <= 1:
		return keys + 1
	case sparse:
		return (5*keys + 2) / 2
	}
	return 2 * keys
}

// RaxNodes is XINFO STREAM's radix-tree-nodes: Redis's count, estimated.
func (s *Stream) RaxNodes() int { return raxNodes(len(s.nodes), true) }

// MemoryUsage approximates Redis's objectComputeSize for a stream: the
// struct, radix trees counted as Redis counts them (each node with its
// fixed overhead), the listpacks (the last one preallocated to 4 KB, as
// Redis allocates a new node), and per group its PEL and consumers.
func (s *Stream) MemoryUsage() int64 {
	rax := func(keys int, sparse bool) int64 { return 24 + int64(raxNodes(keys, sparse))*(4+8*30) }
	n := 40 + rax(len(s.nodes), true)
	for i, nd := range s.nodes {
		b := int64(nd.bytes)
		if i == len(s.nodes)-1 {
			b = max(b, 4096)
		}
		n += b
	}
	for _, g := range s.groups {
		n += 48 + rax(g.PEL.Len(), false) + 24*int64(g.PEL.Len())
		for _, c := range g.consumers {
			n += 40 + int64(len(c.Name)) + rax(c.PEL.Len(), false)
		}
	}
	return n
}

// Clone returns an independent copy (COPY), groups and PELs included.
func (s *Stream) Clone() Value {
	c := &Stream{LastID: s.LastID, FirstID: s.FirstID, MaxDeletedID: s.MaxDeletedID, EntriesAdded: s.EntriesAdded}
	for _, n := range s.nodes {
		cn := &streamNode{items: make([]streamItem, len(n.items)), live: n.live, deleted: n.deleted, bytes: n.bytes, masterID: n.masterID}
		for i, it := range n.items {
			cn.items[i] = streamItem{StreamEntry: StreamEntry{ID: it.ID}, deleted: it.deleted}
			if !it.deleted {
				f := make([][]byte, len(it.Fields))
				for j, v := range it.Fields {
					f[j] = append([]byte(nil), v...)
				}
				cn.items[i].Fields = f
			}
		}
		for _, m := range n.master {
			cn.master = append(cn.master, append([]byte(nil), m...))
		}
		c.nodes = append(c.nodes, cn)
	}
	c.length, c.bytes = s.length, s.bytes
	for _, g := range s.groups {
		cg := c.CreateGroup(g.Name, g.LastID, g.EntriesRead)
		for _, con := range g.consumers {
			cg.CreateConsumer(con.Name, con.SeenTime)
		}
		g.PEL.Ascend(nil, func(i interface{}) bool {
			n := i.(*StreamNACK)
			cn := &StreamNACK{ID: n.ID, DeliveryTime: n.DeliveryTime, DeliveryCount: n.DeliveryCount}
			cg.PEL.Set(cn)
			if n.Consumer != nil {
				cg.Assign(cn, cg.consumers[n.Consumer.Name])
			}
			return true
		})
	}
	return c
}

// Release does nothing: the garbage collector frees the nodes.
func (s *Stream) Release() {}

// LoadEntry appends an entry read from a snapshot (fields owned by the
// stream from now on), without touching the recorded IDs or counters.
func (s *Stream) LoadEntry(id StreamID, fields [][]byte, maxEntries, maxBytes int64) {
	s.appendOwned(id, fields, maxEntries, maxBytes)
}
