package persist

import (
	"fmt"

	"reddwarf/rdb"
	"reddwarf/server"
)

// encodeStream writes a stream as its rdb payload: entries, recorded IDs,
// groups with their PELs and consumers (names and IDs in order, as the
// decoder checks).
func encodeStream(s *server.Stream) []byte {
	d := &rdb.StreamData{
		LastID:       rdb.StreamID(s.LastID),
		FirstID:      rdb.StreamID(s.FirstID),
		MaxDeletedID: rdb.StreamID(s.MaxDeletedID),
		EntriesAdded: uint64(s.EntriesAdded),
	}
	for _, e := range s.Entries() {
		d.Entries = append(d.Entries, rdb.StreamEntryData{ID: rdb.StreamID(e.ID), Fields: e.Fields})
	}
	for _, g := range s.Groups() {
		gd := rdb.StreamGroupData{Name: []byte(g.Name), LastID: rdb.StreamID(g.LastID), EntriesRead: g.EntriesRead}
		g.PEL.Ascend(nil, func(i interface{}) bool {
			n := i.(*server.StreamNACK)
			gd.PEL = append(gd.PEL, rdb.StreamNACKData{ID: rdb.StreamID(n.ID), DeliveryTime: n.DeliveryTime, DeliveryCount: uint64(n.DeliveryCount)})
			return true
		})
		for _, c := range g.Consumers() {
			cd := rdb.StreamConsumerData{Name: []byte(c.Name), SeenTime: c.SeenTime}
			c.PEL.Ascend(nil, func(i interface{}) bool {
				cd.Pending = append(cd.Pending, rdb.StreamID(i.(*server.StreamNACK).ID))
				return true
			})
			gd.Consumers = append(gd.Consumers, cd)
		}
		d.Groups = append(d.Groups, gd)
	}
	return rdb.EncodeStream(d)
}

// decodeStream checks a stream payload and builds the stream, its nodes
// laid out by cfg's stream-node-max-* limits.
func decodeStream(cfg *server.Config, payload []byte, base int64) (*server.Object, error) {
	d, err := rdb.DecodeStream(payload, base)
	if err != nil {
		return nil, err
	}
	s := server.NewStream()
	for _, e := range d.Entries {
		f := make([][]byte, len(e.Fields))
		for i, v := range e.Fields {
			f[i] = append([]byte(nil), v...) // payload bytes may be the snapshot's mapped file
		}
		s.LoadEntry(server.StreamID(e.ID), f, cfg.StreamNodeMaxEntries, cfg.StreamNodeMaxBytes)
	}
	s.LastID, s.FirstID, s.MaxDeletedID = server.StreamID(d.LastID), server.StreamID(d.FirstID), server.StreamID(d.MaxDeletedID)
	s.EntriesAdded = int64(d.EntriesAdded)
	if s.EntriesAdded < 0 {
		return nil, fmt.Errorf("rdb: stream at offset %d: entries added overflows: %w", base, rdb.ErrCorrupt)
	}
	for _, gd := range d.Groups {
		g := s.CreateGroup(string(gd.Name), server.StreamID(gd.LastID), gd.EntriesRead)
		byID := make(map[rdb.StreamID]*server.StreamNACK, len(gd.PEL))
		for _, nd := range gd.PEL {
			n := &server.StreamNACK{ID: server.StreamID(nd.ID), DeliveryTime: nd.DeliveryTime, DeliveryCount: int64(nd.DeliveryCount)}
			g.PEL.Set(n)
			byID[nd.ID] = n
		}
		for _, cd := range gd.Consumers {
			c := g.CreateConsumer(string(cd.Name), cd.SeenTime)
			for _, id := range cd.Pending {
				g.Assign(byID[id], c)
			}
		}
	}
	return server.NewValue(server.TypeStream, s), nil
}
