package tokenizer

import (
	"container/heap"
	"strings"
	"unicode/utf8"
)

// Byte-level BPE (tokenizer.ggml.model "gpt2"): per pre-tokenized piece,
// byte-encode it, start from one symbol per code point, and repeatedly merge
// the adjacent pair with the lowest merge rank (leftmost on ties) until no
// adjacent pair has a rank. This is llama.cpp's llm_tokenizer_bpe_session and
// HF's BPE model.

// mergeKey packs the ids of a merge's two halves.
func mergeKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// mergeRule is the result of merging a pair: its rank (index in
// tokenizer.ggml.merges, lower merges first) and the merged token's id.
type mergeRule struct{ rank, id int32 }

// buildMerges parses tokenizer.ggml.merges ("left right", rank = index).
// Rules whose halves or result are not in the vocabulary are dropped: they
// could never produce a token.
func (t *Tokenizer) buildMerges(merges []string) {
	t.merges = make(map[uint64]mergeRule, len(merges))
	var buf []byte
	for rank, m := range merges {
		sp := -1
		if len(m) > 1 {
			if k := strings.IndexByte(m[1:], ' '); k >= 0 {
				sp = k + 1
			}
		}
		if sp < 0 {
			continue
		}
		a, okA := t.byText[m[:sp]]
		b, okB := t.byText[m[sp+1:]]
		buf = append(append(buf[:0], m[:sp]...), m[sp+1:]...)
		id, okID := t.byText[string(buf)]
		if !okA || !okB || !okID {
			continue
		}
		k := mergeKey(a, b)
		if _, dup := t.merges[k]; !dup {
			t.merges[k] = mergeRule{int32(rank), id}
		}
	}
}

// bpeSymbol is one symbol of the word being merged, in a linked list.
type bpeSymbol struct {
	id         int32 // token id; -1 if the code point is not in the vocabulary
	start, end int   // bytes of the encoded word
	prev, next int   // neighbours; -1 at the ends
}

// bpeCandidate is a pair of adjacent symbols that could merge.
type bpeCandidate struct {
	rank, id    int32
	left, right int   // symbol indexes
	lid, rid    int32 // their ids when the candidate was made (staleness check)
}

type bpeQueue []bpeCandidate

func (q bpeQueue) Len() int { return len(q) }
func (q bpeQueue) Less(i, j int) bool {
	return q[i].rank < q[j].rank || q[i].rank == q[j].rank && q[i].left < q[j].left
}
func (q bpeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *bpeQueue) Push(x any)   { *q = append(*q, x.(bpeCandidate)) }
func (q *bpeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// bpeWord appends the tokens of one pre-tokenized piece (raw text) to out.
func (t *Tokenizer) bpeWord(out []int32, piece string) []int32 {
	if ids, ok := t.cacheGet(piece); ok {
		return append(out, ids...)
	}
	enc := []byte(piece)
	if !t.rawBPE {
		enc = byteEncode(make([]byte, 0, 2*len(piece)), piece)
	}
	n0 := len(out)
	if id, ok := t.byText[string(enc)]; ok && (t.ignoreMerges || t.rawBPE && strings.Trim(piece, "\n") == "") {
		// llama3 takes a piece that is a token whole; gemma4 does so for
		// a run of newlines.
		out = append(out, id)
	} else {
		out = t.bpeMerge(out, enc)
	}
	t.cachePut(piece, out[n0:])
	return out
}

func (t *Tokenizer) bpeMerge(out []int32, enc []byte) []int32 {
	// Sized exactly: growing a slice is a copy in the runtime, which no
	// goroutine can preempt, and for a piece of megabytes (a model that
	// does not pre-split, as gemma4) that copy took a second.
	syms := make([]bpeSymbol, 0, utf8.RuneCount(enc))
	for i := 0; i < len(enc); {
		_, n := utf8.DecodeRune(enc[i:])
		id, ok := t.byText[string(enc[i:i+n])]
		if !ok {
			id = -1
		}
		syms = append(syms, bpeSymbol{id: id, start: i, end: i + n, prev: len(syms) - 1, next: len(syms) + 1})
		i += n
	}
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1

	q := make(bpeQueue, 0, len(syms))
	try := func(l, r int) {
		if l < 0 || r < 0 || syms[l].id < 0 || syms[r].id < 0 {
			return
		}
		if m, ok := t.merges[mergeKey(syms[l].id, syms[r].id)]; ok {
			heap.Push(&q, bpeCandidate{m.rank, m.id, l, r, syms[l].id, syms[r].id})
		}
	}
	for i := 0; i+1 < len(syms); i++ {
		try(i, i+1)
	}
	for q.Len() > 0 {
		c := heap.Pop(&q).(bpeCandidate)
		l, r := &syms[c.left], &syms[c.right]
		// Skip candidates made stale by an earlier merge of either symbol.
		if l.end == l.start || r.end == r.start || l.next != c.right || l.id != c.lid || r.id != c.rid {
			continue
		}
		l.id, l.end, l.next = c.id, r.end, r.next
		if r.next >= 0 {
			syms[r.next].prev = c.left
		}
		r.start, r.end = 0, 0 // dead
		try(l.prev, c.left)
		try(c.left, l.next)
	}
	for i := 0; i >= 0; i = syms[i].next {
		s := syms[i]
		if s.id >= 0 {
			out = append(out, s.id)
			continue
		}
		// Not in the vocabulary: one token per byte, if the byte's
		// encoded form is a token (as llama.cpp does).
		raw := enc[s.start:s.end]
		if !t.rawBPE {
			raw = byteDecode(nil, string(raw))
		}
		for _, b := range raw {
			if id := t.byteID[b]; id >= 0 {
				out = append(out, id)
			}
		}
	}
	return out
}

// cacheGet and cachePut keep a bounded piece → ids cache: most pieces are
// common words, and BPE on them is the encoder's main cost.
func (t *Tokenizer) cacheGet(piece string) ([]int32, bool) {
	t.mu.Lock()
	ids, ok := t.cache[piece]
	t.mu.Unlock()
	return ids, ok
}

const cacheMax = 1 << 16

func (t *Tokenizer) cachePut(piece string, ids []int32) {
	if len(piece) > 64 {
		return
	}
	t.mu.Lock()
	if len(t.cache) >= cacheMax {
		clear(t.cache)
	}
	t.cache[piece] = append([]int32(nil), ids...)
	t.mu.Unlock()
}
