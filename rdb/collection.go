package rdb

import (
	"encoding/binary"
	"math"
)

// A collection payload holds a hash, list, set or sorted set as a flat run
// of byte strings (FORMAT.md §6):
//
//	u32 count | count × (u32 length | length bytes)
//
// A hash is field, value, field, value...; a list its elements head first;
// a set its members; a sorted set member, score pairs, each score 8 bytes
// (IEEE 754 binary64, little-endian, never NaN). Encodings (listpack,
// intset...) are not stored: the loader picks them from the server's
// limits, as Redis does when it loads an RDB file.

// maxCollection bounds a payload's count: an item costs at least its 4
// length bytes, so no valid payload of a 4 GiB record has more.
const maxCollection = 1 << 30

// IsCollection reports whether typ is a collection type: one whose value
// persist encodes and decodes (a collection payload, or for a stream the
// stream payload of stream.go).
func IsCollection(typ uint8) bool {
	return typ == TypeHash || typ == TypeList || typ == TypeSet || typ == TypeZSet || typ == TypeStream
}

// VerifyCollection checks the payload of a collection type without
// building its value (reddwarf check).
func VerifyCollection(typ uint8, p []byte, base int64) error {
	if typ == TypeStream {
		_, err := DecodeStream(p, base)
		return err
	}
	_, err := DecodeCollection(typ, p, base)
	return err
}

// EncodeCollection writes items as a collection payload.
func EncodeCollection(items [][]byte) []byte {
	n := 4
	for _, it := range items {
		n += 4 + len(it)
	}
	b := make([]byte, 0, n)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(items)))
	for _, it := range items {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(it)))
		b = append(b, it...)
	}
	return b
}

// ScoreBytes is a sorted set score as a payload item.
func ScoreBytes(f float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)) }

// Score reads a ScoreBytes item (checked by DecodeCollection).
func Score(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }

// DecodeCollection checks a collection payload of type typ and returns its
// items, subslices of p. base is p's offset in its file, for errors. Pairs
// (hash, sorted set) must be complete and a score 8 bytes, not NaN; the
// payload must end with its last item.
func DecodeCollection(typ uint8, p []byte, base int64) ([][]byte, error) {
	d := &dec{b: p, base: base, what: "collection"}
	if typ == TypeStream {
		d.fail("a stream has its own payload (DecodeStream)")
		return nil, d.err
	}
	n := d.count("item count", maxCollection, 4)
	pairs := typ == TypeHash || typ == TypeZSet
	if d.err == nil && pairs && n%2 != 0 {
		d.fail("%d items: a hash or sorted set holds pairs", n)
	}
	var items [][]byte
	if d.err == nil {
		items = make([][]byte, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		it := d.take(int(d.u32("item length")), "item")
		if typ == TypeZSet && i%2 == 1 && d.err == nil {
			if len(it) != 8 {
				d.fail("score of item %d is %d bytes, want 8", i/2, len(it))
			} else if math.IsNaN(Score(it)) {
				d.fail("score of item %d is NaN", i/2)
			}
		}
		items = append(items, it)
	}
	if d.err == nil && d.left() != 0 {
		d.fail("%d bytes after the last item", d.left())
	}
	if d.err != nil {
		return nil, d.err
	}
	return items, nil
}
