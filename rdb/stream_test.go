package rdb

import (
	"bytes"
	"errors"
	"testing"
)

func sampleStream() *StreamData {
	return &StreamData{
		LastID: StreamID{5, 1}, FirstID: StreamID{1, 0}, MaxDeletedID: StreamID{3, 0}, EntriesAdded: 6,
		Entries: []StreamEntryData{
			{ID: StreamID{1, 0}, Fields: [][]byte{[]byte("f"), []byte("v")}},
			{ID: StreamID{5, 1}, Fields: [][]byte{[]byte(""), []byte("x"), []byte("g"), []byte("")}},
		},
		Groups: []StreamGroupData{
			{Name: []byte("a"), LastID: StreamID{5, 1}, EntriesRead: 6,
				PEL:       []StreamNACKData{{ID: StreamID{1, 0}, DeliveryTime: 100, DeliveryCount: 2}, {ID: StreamID{3, 0}, DeliveryTime: 7, DeliveryCount: 1}},
				Consumers: []StreamConsumerData{{Name: []byte("alice"), SeenTime: 9, Pending: []StreamID{{3, 0}}}, {Name: []byte("bob"), Pending: []StreamID{{1, 0}}}, {Name: []byte("idle")}}},
			{Name: []byte("b"), EntriesRead: -1},
		},
	}
}

func TestStreamPayloadRoundTrips(t *testing.T) {
	p := EncodeStream(sampleStream())
	got, err := DecodeStream(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(EncodeStream(got), p) {
		t.Fatalf("re-encoding differs")
	}
	if len(got.Groups) != 2 || string(got.Groups[0].Consumers[1].Name) != "bob" || got.Groups[1].EntriesRead != -1 || got.LastID != (StreamID{5, 1}) {
		t.Fatalf("decoded %+v", got)
	}
	empty := EncodeStream(&StreamData{})
	if _, err := DecodeStream(empty, 0); err != nil {
		t.Fatalf("an empty stream is valid: %v", err)
	}
	if err := VerifyCollection(TypeStream, p, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeCollection(TypeStream, p, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("DecodeCollection of a stream: %v", err)
	}
}

func TestStreamPayloadRefusesCorruption(t *testing.T) {
	mod := func(f func(s *StreamData)) []byte {
		s := sampleStream()
		f(s)
		return EncodeStream(s)
	}
	good := EncodeStream(sampleStream())
	cases := map[string][]byte{
		"truncated":           good[:len(good)-1],
		"trailing bytes":      append(append([]byte(nil), good...), 0),
		"huge entry count":    append(append([]byte(nil), good[:56]...), 0xff, 0xff, 0xff, 0x3f),
		"IDs out of order":    mod(func(s *StreamData) { s.Entries[0].ID = StreamID{9, 0}; s.LastID = StreamID{9, 9} }),
		"ID past last ID":     mod(func(s *StreamData) { s.LastID = StreamID{2, 0} }),
		"odd fields":          mod(func(s *StreamData) { s.Entries[0].Fields = s.Entries[0].Fields[:1] }),
		"no fields":           mod(func(s *StreamData) { s.Entries[0].Fields = nil }),
		"added below length":  mod(func(s *StreamData) { s.EntriesAdded = 1 }),
		"group named twice":   mod(func(s *StreamData) { s.Groups[1].Name = []byte("a") }),
		"groups out of order": mod(func(s *StreamData) { s.Groups[0].Name = []byte("c") }),
		"PEL out of order":    mod(func(s *StreamData) { s.Groups[0].PEL[1].ID = StreamID{0, 1} }),
		"orphan NACK":         mod(func(s *StreamData) { s.Groups[0].Consumers[1].Pending = nil }),
		"two owners":          mod(func(s *StreamData) { s.Groups[0].Consumers[1].Pending = []StreamID{{3, 0}} }),
		"owned, not pending":  mod(func(s *StreamData) { s.Groups[0].Consumers[2].Pending = []StreamID{{4, 0}} }),
		"consumer twice":      mod(func(s *StreamData) { s.Groups[0].Consumers[2].Name = []byte("bob") }),
		"entries read < -1":   mod(func(s *StreamData) { s.Groups[1].EntriesRead = -2 }),
	}
	for name, p := range cases {
		if _, err := DecodeStream(p, 0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeStream(f *testing.F) {
	f.Add(EncodeStream(sampleStream()))
	f.Add(EncodeStream(&StreamData{}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		s, err := DecodeStream(p, 0)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// What decodes is sane and re-encodes to the same bytes.
		if !bytes.Equal(EncodeStream(s), p) {
			t.Fatalf("re-encoding differs from the input")
		}
	})
}
