package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"reddwarf/rdb"
)

// pageStream makes distinct single-page chains (depth 0), so each page
// can be held or not independently.
func pageStream(rng *rand.Rand, n int) []*rdb.PageRecord {
	var out []*rdb.PageRecord
	for i := 0; i < n; i++ {
		out = append(out, page(randTokens(rng, testPageTokens), 0))
	}
	return out
}

func diskUse(s *Store) int64 {
	st := s.Stats()
	return st.SegmentBytes + st.LogSize
}

// TestDiskBudget: past session-disk-max, pages no key holds go (their
// segments dropped, held pages sharing them moved out first), the store
// stays under the budget, and when every page is held PutPage refuses
// with ErrDiskFull and nothing stored is lost.
func TestDiskBudget(t *testing.T) {
	dir := t.TempDir()
	held := map[rdb.PageKey]bool{}
	const budget = 64 << 10
	o := Options{Dir: dir, Model: testModel, SegmentMax: 8 << 10, DiskMax: budget, Held: func(k rdb.PageKey) bool { return held[k] }}
	s, err := Open(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, 22))
	var kept []*rdb.PageRecord
	// Every fifth page held: the rest are prefix-only and can go.
	for i, p := range pageStream(rng, 400) {
		if i%5 == 0 {
			held[p.PageKey] = true
			kept = append(kept, p)
		}
		if _, err := s.PutPage(p); err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if use := diskUse(s); use > budget {
			t.Fatalf("page %d: %d bytes stored, budget %d", i, use, budget)
		}
	}
	if s.Stats().ReclaimedSegs == 0 {
		t.Fatal("nothing reclaimed")
	}
	// Now everything stored is held: growth is refused, nothing dropped.
	for k := range s.index {
		held[k] = true
	}
	var full error
	for i, p := range pageStream(rng, 400) {
		held[p.PageKey] = true
		if _, err := s.PutPage(p); err != nil {
			full = err
			break
		}
		kept = append(kept, p)
		_ = i
	}
	if !errors.Is(full, ErrDiskFull) {
		t.Fatalf("with every page held: %v, want ErrDiskFull", full)
	}
	s.Close()
	s, err = Open(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, p := range kept {
		got, err := s.ReadPage(p.PageKey)
		if err != nil || !bytes.Equal(got.Payload, p.Payload) {
			t.Fatalf("held page %d lost: %v", i, err)
		}
	}
}

// TestCompact: segments mostly of unheld pages are emptied of their held
// ones and dropped; the held pages read back after a reopen.
func TestCompact(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Model: testModel, SegmentMax: 8 << 10, RewriteRate: 16 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(23, 24))
	held := map[rdb.PageKey]bool{}
	var kept []*rdb.PageRecord
	for i, p := range pageStream(rng, 200) {
		if i%4 == 0 {
			held[p.PageKey] = true
			kept = append(kept, p)
		}
		if _, err := s.PutPage(p); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Stats()
	freed, err := s.Compact(func(k rdb.PageKey) bool { return held[k] }, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	// The active segment is not compacted: its unheld pages may stay.
	if freed <= 0 || after.SegmentBytes >= before.SegmentBytes || after.Pages < len(kept) || after.Pages > len(kept)+(8<<10)/600 {
		t.Fatalf("freed %d: segment bytes %d -> %d, pages %d (held %d)", freed, before.SegmentBytes, after.SegmentBytes, after.Pages, len(kept))
	}
	s.Close()
	s, err = Open(Options{Dir: dir, Model: testModel}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, p := range kept {
		got, err := s.ReadPage(p.PageKey)
		if err != nil || !bytes.Equal(got.Payload, p.Payload) {
			t.Fatalf("held page %d after compaction: %v", i, err)
		}
	}
}
