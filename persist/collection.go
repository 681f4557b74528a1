package persist

import (
	"fmt"

	"reddwarf/rdb"
	"reddwarf/server"
)

// Collections (hashes, lists, sets, sorted sets; streams in their own
// payload, stream.go) are stored as rdb
// collection payloads: a flat run of byte strings. EncodeValue and
// DecodeValue map between them and the server's value types; the
// snapshot, DUMP and RESTORE share them.

// EncodeValue returns the rdb type and collection payload of a
// collection object; ok is false for strings and sessions.
func EncodeValue(o *server.Object) (typ uint8, payload []byte, ok bool) {
	switch o.Type {
	case server.TypeHash:
		return rdb.TypeHash, rdb.EncodeCollection(o.Val.(*server.Hash).Pairs()), true
	case server.TypeList:
		return rdb.TypeList, rdb.EncodeCollection(o.Val.(*server.List).Items()), true
	case server.TypeSet:
		var items [][]byte
		for _, m := range o.Val.(*server.Set).Members() {
			items = append(items, []byte(m))
		}
		return rdb.TypeSet, rdb.EncodeCollection(items), true
	case server.TypeZSet:
		var items [][]byte
		for _, e := range o.Val.(*server.ZSet).Entries() {
			items = append(items, []byte(e.Member), rdb.ScoreBytes(e.Score))
		}
		return rdb.TypeZSet, rdb.EncodeCollection(items), true
	case server.TypeStream:
		return rdb.TypeStream, encodeStream(o.Val.(*server.Stream)), true
	}
	return 0, nil, false
}

// DecodeValue checks a collection payload of rdb type typ and builds its
// object, the encoding chosen from cfg's limits.
func DecodeValue(cfg *server.Config, typ uint8, payload []byte, base int64) (*server.Object, error) {
	if typ == rdb.TypeStream {
		return decodeStream(cfg, payload, base) // its own payload; an empty stream is valid
	}
	items, err := rdb.DecodeCollection(typ, payload, base)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		// The keyspace never holds an empty collection.
		return nil, fmt.Errorf("rdb: empty collection at offset %d: %w", base, rdb.ErrCorrupt)
	}
	switch typ {
	case rdb.TypeHash:
		h, err := server.NewHashFrom(cfg, items)
		if err != nil {
			return nil, fmt.Errorf("rdb: hash at offset %d: %w: %w", base, err, rdb.ErrCorrupt)
		}
		return server.NewValue(server.TypeHash, h), nil
	case rdb.TypeList:
		l := server.NewList()
		for _, it := range items {
			l.PushRight(it) // copies: items may be the snapshot's mapped bytes
		}
		return server.NewValue(server.TypeList, l), nil
	case rdb.TypeSet:
		st, err := server.NewSetFrom(cfg, items)
		if err != nil {
			return nil, fmt.Errorf("rdb: set at offset %d: %w: %w", base, err, rdb.ErrCorrupt)
		}
		return server.NewValue(server.TypeSet, st), nil
	case rdb.TypeZSet:
		es := make([]server.ZEntry, 0, len(items)/2)
		for i := 0; i+1 < len(items); i += 2 {
			es = append(es, server.ZEntry{Member: string(items[i]), Score: rdb.Score(items[i+1])})
		}
		z, err := server.NewZSetFrom(cfg, es)
		if err != nil {
			return nil, fmt.Errorf("rdb: sorted set at offset %d: %w: %w", base, err, rdb.ErrCorrupt)
		}
		return server.NewValue(server.TypeZSet, z), nil
	}
	return nil, fmt.Errorf("rdb: collection type %d at offset %d: %w", typ, base, rdb.ErrCorrupt)
}
