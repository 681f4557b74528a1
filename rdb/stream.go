package rdb

import (
	"bytes"
	"encoding/binary"
	"sort"
)

// A stream payload (FORMAT.md §7) holds a stream with its consumer
// groups: the recorded IDs and counters, the live entries in ID order,
// then each group with its pending entries list (PEL) and its consumers,
// each consumer naming the PEL entries it owns. Deleted entries and the
// in-memory node layout are not stored: the loader rebuilds nodes from
// the server's stream-node-max-* limits, as Redis does from an RDB file.

// StreamID is a stream entry ID.
type StreamID struct{ Ms, Seq uint64 }

func (a StreamID) less(b StreamID) bool { return a.Ms < b.Ms || (a.Ms == b.Ms && a.Seq < b.Seq) }

// StreamData is a stream as its payload holds it.
type StreamData struct {
	LastID, FirstID, MaxDeletedID StreamID
	EntriesAdded                  uint64
	Entries                       []StreamEntryData
	Groups                        []StreamGroupData
}

// StreamEntryData is one entry: field, value pairs flat.
type StreamEntryData struct {
	ID     StreamID
	Fields [][]byte
}

// StreamGroupData is a consumer group.
type StreamGroupData struct {
	Name        []byte
	LastID      StreamID
	EntriesRead int64 // -1: unknown
	PEL         []StreamNACKData
	Consumers   []StreamConsumerData
}

// StreamNACKData is a pending entry; its owner is the consumer whose
// Pending names its ID.
type StreamNACKData struct {
	ID            StreamID
	DeliveryTime  int64
	DeliveryCount uint64
}

// StreamConsumerData is a consumer and the IDs of the PEL entries it owns.
type StreamConsumerData struct {
	Name     []byte
	SeenTime int64
	Pending  []StreamID
}

// Minimum encoded sizes, for checking a count against the bytes left
// before allocating for it.
const (
	minStreamEntry    = 16 + 4 + 2*4 // ID, field count, one empty pair
	minStreamGroup    = 4 + 16 + 8 + 4 + 4
	streamNACKSize    = 16 + 8 + 8
	minStreamConsumer = 4 + 8 + 4
)

func appendID(b []byte, id StreamID) []byte {
	b = binary.LittleEndian.AppendUint64(b, id.Ms)
	return binary.LittleEndian.AppendUint64(b, id.Seq)
}

func appendBytes(b, v []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// EncodeStream writes s as a stream payload. Groups must be in name order
// and consumers too, PELs and Pending in ID order (what the decoder
// checks).
func EncodeStream(s *StreamData) []byte {
	var b []byte
	b = appendID(b, s.LastID)
	b = appendID(b, s.FirstID)
	b = appendID(b, s.MaxDeletedID)
	b = binary.LittleEndian.AppendUint64(b, s.EntriesAdded)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Entries)))
	for _, e := range s.Entries {
		b = appendID(b, e.ID)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(e.Fields)))
		for _, f := range e.Fields {
			b = appendBytes(b, f)
		}
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Groups)))
	for _, g := range s.Groups {
		b = appendBytes(b, g.Name)
		b = appendID(b, g.LastID)
		b = binary.LittleEndian.AppendUint64(b, uint64(g.EntriesRead))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(g.PEL)))
		for _, n := range g.PEL {
			b = appendID(b, n.ID)
			b = binary.LittleEndian.AppendUint64(b, uint64(n.DeliveryTime))
			b = binary.LittleEndian.AppendUint64(b, n.DeliveryCount)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(g.Consumers)))
		for _, c := range g.Consumers {
			b = appendBytes(b, c.Name)
			b = binary.LittleEndian.AppendUint64(b, uint64(c.SeenTime))
			b = binary.LittleEndian.AppendUint32(b, uint32(len(c.Pending)))
			for _, id := range c.Pending {
				b = appendID(b, id)
			}
		}
	}
	return b
}

func (d *dec) id(field string) StreamID {
	return StreamID{d.u64(field + " ms"), d.u64(field + " seq")}
}

// DecodeStream checks a stream payload and returns its content; byte
// strings are subslices of p. base is p's offset in its file, for errors.
// Every count is checked against the bytes left before anything is
// allocated for it; entry IDs must increase and not pass LastID, an entry
// hold one field-value pair or more, group and consumer names be unique
// (in order), a PEL's IDs increase, and every pending entry be owned by
// exactly one consumer of its group.
func DecodeStream(p []byte, base int64) (*StreamData, error) {
	d := &dec{b: p, base: base, what: "stream"}
	s := &StreamData{}
	s.LastID = d.id("last ID")
	s.FirstID = d.id("first ID")
	s.MaxDeletedID = d.id("max deleted ID")
	s.EntriesAdded = d.u64("entries added")
	n := d.count("entry count", maxCollection, minStreamEntry)
	if d.err == nil {
		s.Entries = make([]StreamEntryData, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		e := StreamEntryData{ID: d.id("entry ID")}
		nf := d.count("field count", maxCollection, 4)
		if d.err != nil {
			break
		}
		if nf < 2 || nf%2 != 0 {
			d.fail("entry %d has %d fields and values, want a positive even count", i, nf)
			break
		}
		if i > 0 && !s.Entries[i-1].ID.less(e.ID) {
			d.fail("entry %d's ID does not follow the previous one", i)
			break
		}
		if s.LastID.less(e.ID) {
			d.fail("entry %d's ID is past the stream's last ID", i)
			break
		}
		e.Fields = make([][]byte, 0, nf)
		for j := 0; j < nf && d.err == nil; j++ {
			e.Fields = append(e.Fields, d.take(int(d.u32("field length")), "field"))
		}
		s.Entries = append(s.Entries, e)
	}
	if d.err == nil && s.EntriesAdded < uint64(len(s.Entries)) {
		d.fail("entries added %d is less than the %d entries", s.EntriesAdded, len(s.Entries))
	}
	ng := d.count("group count", maxCollection, minStreamGroup)
	if d.err == nil {
		s.Groups = make([]StreamGroupData, 0, ng)
	}
	for i := 0; i < ng && d.err == nil; i++ {
		g := decodeGroup(d)
		if d.err == nil && i > 0 && bytes.Compare(s.Groups[i-1].Name, g.Name) >= 0 {
			d.fail("group %q is out of order or named twice", g.Name)
		}
		s.Groups = append(s.Groups, g)
	}
	if d.err == nil && d.left() != 0 {
		d.fail("%d bytes after the last group", d.left())
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

func decodeGroup(d *dec) StreamGroupData {
	g := StreamGroupData{Name: d.take(int(d.u32("group name length")), "group name")}
	g.LastID = d.id("group last ID")
	g.EntriesRead = d.i64("entries read")
	if d.err == nil && g.EntriesRead < -1 {
		d.fail("group %q: entries read %d", g.Name, g.EntriesRead)
	}
	np := d.count("PEL count", maxCollection, streamNACKSize)
	if d.err == nil {
		g.PEL = make([]StreamNACKData, 0, np)
	}
	for i := 0; i < np && d.err == nil; i++ {
		n := StreamNACKData{ID: d.id("pending ID"), DeliveryTime: d.i64("delivery time"), DeliveryCount: d.u64("delivery count")}
		if d.err == nil && i > 0 && !g.PEL[i-1].ID.less(n.ID) {
			d.fail("group %q: pending entry %d's ID does not follow the previous one", g.Name, i)
		}
		g.PEL = append(g.PEL, n)
	}
	owned := make([]bool, len(g.PEL))
	nc := d.count("consumer count", maxCollection, minStreamConsumer)
	if d.err == nil {
		g.Consumers = make([]StreamConsumerData, 0, nc)
	}
	for i := 0; i < nc && d.err == nil; i++ {
		c := StreamConsumerData{Name: d.take(int(d.u32("consumer name length")), "consumer name")}
		c.SeenTime = d.i64("seen time")
		if d.err == nil && i > 0 && bytes.Compare(g.Consumers[i-1].Name, c.Name) >= 0 {
			d.fail("group %q: consumer %q is out of order or named twice", g.Name, c.Name)
		}
		k := d.count("consumer pending count", maxCollection, 16)
		if d.err == nil {
			c.Pending = make([]StreamID, 0, k)
		}
		for j := 0; j < k && d.err == nil; j++ {
			id := d.id("consumer pending ID")
			if d.err != nil {
				break
			}
			at := sort.Search(len(g.PEL), func(x int) bool { return !g.PEL[x].ID.less(id) })
			if at == len(g.PEL) || g.PEL[at].ID != id {
				d.fail("group %q: consumer %q owns an entry not in the PEL", g.Name, c.Name)
				break
			}
			if owned[at] {
				d.fail("group %q: a pending entry has two owners", g.Name)
				break
			}
			owned[at] = true
			c.Pending = append(c.Pending, id)
		}
		g.Consumers = append(g.Consumers, c)
	}
	for i, o := range owned {
		if d.err == nil && !o {
			d.fail("group %q: pending entry %d has no consumer", g.Name, i)
		}
	}
	return g
}
