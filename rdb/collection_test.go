package rdb

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestCollectionPayloadRoundTrips(t *testing.T) {
	items := [][]byte{[]byte("f"), []byte(""), []byte("member"), ScoreBytes(-1.5)}
	p := EncodeCollection(items)
	for _, typ := range []uint8{TypeHash, TypeList, TypeSet, TypeZSet} {
		got, err := DecodeCollection(typ, p, 0)
		if err != nil {
			if typ == TypeZSet {
				continue // "" is not an 8-byte score
			}
			t.Fatalf("type %d: %v", typ, err)
		}
		if len(got) != len(items) || !bytes.Equal(got[2], items[2]) {
			t.Errorf("type %d: got %q", typ, got)
		}
	}
	z := EncodeCollection([][]byte{[]byte("a"), ScoreBytes(math.Inf(-1))})
	if got, err := DecodeCollection(TypeZSet, z, 0); err != nil || Score(got[1]) != math.Inf(-1) {
		t.Errorf("zset: %v %v", got, err)
	}
}

func TestCollectionPayloadRefusesCorruption(t *testing.T) {
	good := EncodeCollection([][]byte{[]byte("a"), []byte("b")})
	cases := map[string][]byte{
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"huge count":     {0xff, 0xff, 0xff, 0x7f},
		"item past end":  {1, 0, 0, 0, 9, 0, 0, 0, 'x'},
		"odd pairs":      EncodeCollection([][]byte{[]byte("a")}),
		"NaN score":      EncodeCollection([][]byte{[]byte("a"), ScoreBytes(math.NaN())}),
		"short score":    EncodeCollection([][]byte{[]byte("a"), []byte("1")}),
	}
	for name, p := range cases {
		typ := uint8(TypeList)
		if name == "odd pairs" {
			typ = TypeHash
		}
		if name == "NaN score" || name == "short score" {
			typ = TypeZSet
		}
		if _, err := DecodeCollection(typ, p, 0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeCollection(f *testing.F) {
	f.Add(uint8(TypeHash), EncodeCollection([][]byte{[]byte("f"), []byte("v")}))
	f.Add(uint8(TypeZSet), EncodeCollection([][]byte{[]byte("m"), ScoreBytes(2)}))
	f.Add(uint8(TypeList), EncodeCollection(nil))
	f.Fuzz(func(t *testing.T, typ uint8, p []byte) {
		items, err := DecodeCollection(typ, p, 0)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// What decodes re-encodes to the same bytes.
		if !bytes.Equal(EncodeCollection(items), p) {
			t.Fatalf("re-encoding %q differs from the input", items)
		}
	})
}
