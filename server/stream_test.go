package server

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// A stream checked against a plain sorted slice under random appends,
// deletions, exact and approximate trims: lengths, both range directions
// from random bounds, and the node count (tombstones included, a node
// going when its last live entry does).
func TestStreamMatchesASortedSlice(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := NewStream()
	var model []StreamID
	next := StreamID{1, 0}
	for op := 0; op < 20000; op++ {
		switch k := r.IntN(10); {
		case k < 6:
			s.Append(next, [][]byte{[]byte("f"), []byte("v")}, 5, 4096)
			model = append(model, next)
			next = StreamID{next.Ms + uint64(r.IntN(2)), next.Seq + 1}
		case k < 8 && len(model) > 0:
			i := r.IntN(len(model))
			if !s.Delete(model[i]) || s.Delete(model[i]) {
				t.Fatalf("op %d: delete %v", op, model[i])
			}
			model = slices.Delete(model, i, i+1)
		case k == 8:
			maxlen := int64(r.IntN(len(model) + 2))
			n := s.Trim(TrimSpec{Strategy: TrimMaxLen, MaxLen: maxlen})
			if want := max(int64(len(model))-maxlen, 0); n != want {
				t.Fatalf("op %d: trimmed %d, want %d", op, n, want)
			}
			model = model[n:]
		default:
			before := s.Len()
			n := s.Trim(TrimSpec{Strategy: TrimMaxLen, MaxLen: int64(r.IntN(20)), Approx: true})
			if n > before || s.Len() != before-n {
				t.Fatalf("op %d: approximate trim %d of %d", op, n, before)
			}
			model = model[n:]
		}
		if s.Len() != int64(len(model)) {
			t.Fatalf("op %d: length %d, want %d", op, s.Len(), len(model))
		}
		if op%97 != 0 {
			continue
		}
		lo, hi := StreamID{uint64(r.IntN(int(next.Ms + 1))), 0}, StreamID{uint64(r.IntN(int(next.Ms+1))) + 1, 0}
		var fwd, rev, want []StreamID
		s.Range(lo, hi, false, func(e *StreamEntry) bool { fwd = append(fwd, e.ID); return true })
		s.Range(lo, hi, true, func(e *StreamEntry) bool { rev = append(rev, e.ID); return true })
		for _, id := range model {
			if id.Compare(lo) >= 0 && id.Compare(hi) <= 0 {
				want = append(want, id)
			}
		}
		slices.Reverse(rev)
		if !slices.Equal(fwd, want) || !slices.Equal(rev, want) {
			t.Fatalf("op %d: range %v..%v: forward %v reverse %v want %v", op, lo, hi, fwd, rev, want)
		}
		for _, n := range s.nodes {
			if n.live == 0 || n.live+n.deleted != len(n.items) {
				t.Fatalf("op %d: node live %d deleted %d items %d", op, n.live, n.deleted, len(n.items))
			}
		}
	}
}

// Approximate trimming removes whole nodes only, and LIMIT keeps a node
// whose removal would pass it (Redis's "XADD with LIMIT consecutive
// calls": 101 entries in nodes of 10, MAXLEN ~ 55 LIMIT 30 leaves 71).
func TestStreamApproximateTrimIsByNode(t *testing.T) {
	s := NewStream()
	for i := uint64(1); i <= 101; i++ {
		s.Append(StreamID{i, 0}, [][]byte{[]byte("f"), []byte("v")}, 10, 4096)
	}
	if n := s.Trim(TrimSpec{Strategy: TrimMaxLen, MaxLen: 55, Approx: true, Limit: 30}); n != 30 || s.Len() != 71 {
		t.Fatalf("trimmed %d, length %d", n, s.Len())
	}
	s.Append(StreamID{200, 0}, [][]byte{[]byte("f"), []byte("v")}, 10, 4096)
	if n := s.Trim(TrimSpec{Strategy: TrimMaxLen, MaxLen: 55, Approx: true, Limit: 30}); n != 10 || s.Len() != 62 {
		t.Fatalf("trimmed %d, length %d", n, s.Len())
	}
	if s.FirstID != (StreamID{41, 0}) {
		t.Fatalf("first ID %v", s.FirstID)
	}
}

// Nodes split by bytes where Redis 7.0.15 splits them: 60 entries, IDs
// (1000i)-i, every third with other fields than the node's master entry;
// the node counts are what XINFO STREAM's radix-tree-keys said on Redis
// with stream-node-max-bytes 4096.
func TestStreamNodesSplitByBytesAsRedis(t *testing.T) {
	for size, want := range map[int]int{10: 1, 60: 2, 300: 5, 1000: 15, 2000: 30, 5000: 60} {
		s := NewStream()
		v := make([]byte, size)
		for i := range v {
			v[i] = 'x'
		}
		for i := uint64(1); i <= 60; i++ {
			fields := [][]byte{[]byte("field"), v}
			if i%3 == 0 {
				fields = [][]byte{[]byte("other"), v, []byte("f2"), []byte(fmt.Sprint(i))}
			}
			s.Append(StreamID{i * 1000, i}, fields, 100, 4096)
		}
		if s.Nodes() != want {
			t.Errorf("values of %d bytes: %d nodes, Redis has %d", size, s.Nodes(), want)
		}
	}
}

// Entries keep their own fields while their node's field arrays fill up and
// are replaced (own): entries of 1 to 5 pairs, values from empty to past
// the largest chunk, the caller's buffers overwritten after each Append.
func TestStreamEntriesKeepTheirFieldsAcrossNodeArrays(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s := NewStream()
	var want [][][]byte
	buf := make([]byte, 2*fieldBytesMax)
	for i := uint64(1); i <= 3000; i++ {
		var fields, copied [][]byte
		for p := 0; p <= r.IntN(5); p++ {
			size := r.IntN(40)
			if r.IntN(50) == 0 {
				size = fieldBytesMax + r.IntN(fieldBytesMax)
			}
			name := []byte(fmt.Sprint("f", p))
			for j := range size {
				buf[j] = byte(i) + byte(j)
			}
			fields = append(fields, name, buf[:size])
			copied = append(copied, slices.Clone(name), slices.Clone(buf[:size]))
		}
		s.Append(StreamID{i, 0}, fields, 1000, 1<<20)
		clear(buf)
		want = append(want, copied)
	}
	i := 0
	s.Range(StreamID{}, MaxStreamID, false, func(e *StreamEntry) bool {
		if !slices.EqualFunc(e.Fields, want[i], func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("entry %v: fields changed", e.ID)
		}
		i++
		return true
	})
	if i != len(want) {
		t.Fatalf("%d entries, want %d", i, len(want))
	}
}

// Appending costs the same whatever the stream's length (O(1) amortised),
// and a range of 10 entries costs a seek, O(log N), plus the 10: compare
// the ns/op across sizes.
func BenchmarkStreamAppend(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := NewStream()
			fields := [][]byte{[]byte("field"), []byte("value")}
			for i := 0; i < n; i++ {
				s.Append(StreamID{uint64(i + 1), 0}, fields, 100, 4096)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Append(StreamID{uint64(n + i + 1), 0}, fields, 100, 4096)
			}
		})
	}
}

func BenchmarkStreamRange10(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := NewStream()
			fields := [][]byte{[]byte("field"), []byte("value")}
			for i := 0; i < n; i++ {
				s.Append(StreamID{uint64(i + 1), 0}, fields, 100, 4096)
			}
			r := rand.New(rand.NewPCG(1, 1))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := uint64(r.IntN(n-10) + 1)
				got := 0
				s.Range(StreamID{start, 0}, MaxStreamID, i%2 == 0, func(*StreamEntry) bool { got++; return got < 10 })
			}
		})
	}
}
