package tokenizer

import (
	"container/heap"
	"strings"
	"unicode/utf8"
)

// SentencePiece-style BPE (tokenizer.ggml.model "llama"), as llama.cpp's
// llm_tokenizer_spm and llama2.c's encode: spaces become "▁" (U+2581), the
// text gets a leading "▁" when add_space_prefix is set and it starts the
// sequence (or follows a special token), symbols start as single UTF-8
// characters, and the adjacent pair whose concatenation is the
// highest-scoring vocabulary entry merges first (leftmost on ties). Symbols
// left that are not in the vocabulary fall back to byte tokens <0xNN>.

const spmSpace = "\u2581"

type spmSymbol struct {
	start, end int // bytes of the escaped text
	prev, next int
}

type spmCandidate struct {
	score       float32
	left, right int
	size        int // bytes of the merged text (staleness check)
	id          int32
}

type spmQueue []spmCandidate

func (q spmQueue) Len() int { return len(q) }
func (q spmQueue) Less(i, j int) bool {
	return q[i].score > q[j].score || q[i].score == q[j].score && q[i].left < q[j].left
}
func (q spmQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *spmQueue) Push(x any)   { *q = append(*q, x.(spmCandidate)) }
func (q *spmQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// spmEncode appends the tokens of one raw-text fragment to out. prefix adds
// the dummy-prefix space.
func (t *Tokenizer) spmEncode(out []int32, text string, prefix bool) []int32 {
	if prefix {
		text = " " + text
	}
	s := strings.ReplaceAll(text, " ", spmSpace)
	if s == "" {
		return out
	}
	syms := make([]spmSymbol, 0, len(s))
	for i := 0; i < len(s); {
		// One symbol per character; a byte that is not part of a valid
		// character is a symbol of its own (llama.cpp trusts the lead byte
		// and can swallow the next "▁"; valid text is split the same way).
		_, n := utf8.DecodeRuneInString(s[i:])
		syms = append(syms, spmSymbol{start: i, end: i + n, prev: len(syms) - 1, next: len(syms) + 1})
		i += n
	}
	syms[len(syms)-1].next = -1

	q := make(spmQueue, 0, len(syms))
	try := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		if id, ok := t.byText[s[syms[l].start:syms[r].end]]; ok {
			heap.Push(&q, spmCandidate{t.scores[id], l, r, syms[r].end - syms[l].start, id})
		}
	}
	for i := 0; i+1 < len(syms); i++ {
		try(i, i+1)
	}
	for q.Len() > 0 {
		c := heap.Pop(&q).(spmCandidate)
		l, r := &syms[c.left], &syms[c.right]
		if l.end == l.start || r.end == r.start || l.next != c.right || r.end-l.start != c.size {
			continue
		}
		l.end, l.next = r.end, r.next
		if r.next >= 0 {
			syms[r.next].prev = c.left
		}
		r.start, r.end = 0, 0
		try(l.prev, c.left)
		try(c.left, l.next)
	}
	for i := 0; i >= 0; i = syms[i].next {
		piece := s[syms[i].start:syms[i].end]
		if id, ok := t.byText[piece]; ok {
			out = append(out, id)
			continue
		}
		for j := 0; j < len(piece); j++ {
			if id := t.byteID[piece[j]]; id >= 0 {
				out = append(out, id)
			} else if t.unk >= 0 {
				out = append(out, t.unk)
			}
		}
	}
	return out
}
