package tokenizer

import (
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

// The merge state of a long text is most of what encoding it costs in
// memory (a 16 MiB prompt has 16M symbols), so positions are int32 and the
// queue is a heap of values, not container/heap's boxed interfaces: about
// 36 bytes per character in all.

type spmSymbol struct {
	start, end int32 // bytes of the escaped text
	prev, next int32
}

type spmCandidate struct {
	score       float32
	left, right int32
	size        int32 // bytes of the merged text (staleness check)
	id          int32
}

// spmQueue is a binary max-heap of candidates: highest score first,
// leftmost on ties.
type spmQueue []spmCandidate

func (q spmQueue) less(i, j int) bool {
	return q[i].score > q[j].score || q[i].score == q[j].score && q[i].left < q[j].left
}

func (q *spmQueue) push(c spmCandidate) {
	*q = append(*q, c)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *spmQueue) pop() spmCandidate {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r := l + 1; r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

// spmMaxBytes bounds the escaped text one merge pass takes, so positions
// fit int32; a longer fragment (only reddwarf tokenize's stdin could be
// one) is encoded in pieces cut before a "▁", which may merge differently
// at the cuts.
const spmMaxBytes = 1 << 30

// spmEncode appends the tokens of one raw-text fragment to out. prefix adds
// the dummy-prefix space.
func (t *Tokenizer) spmEncode(out []int32, text string, prefix bool) []int32 {
	if prefix {
		text = " " + text
	}
	s := strings.ReplaceAll(text, " ", spmSpace)
	for len(s) > spmMaxBytes {
		cut := strings.LastIndex(s[:spmMaxBytes], spmSpace)
		if cut <= 0 {
			cut = spmMaxBytes
			for !utf8.RuneStart(s[cut]) {
				cut--
			}
		}
		out = t.spmMerge(out, s[:cut])
		s = s[cut:]
	}
	return t.spmMerge(out, s)
}

// spmMerge appends the tokens of s, an escaped fragment of at most
// spmMaxBytes.
func (t *Tokenizer) spmMerge(out []int32, s string) []int32 {
	if s == "" {
		return out
	}
	syms := make([]spmSymbol, 0, utf8.RuneCountInString(s))
	for i := 0; i < len(s); {
		// One symbol per character; a byte that is not part of a valid
		// character is a symbol of its own (llama.cpp trusts the lead byte
		// and can swallow the next "▁"; valid text is split the same way).
		_, n := utf8.DecodeRuneInString(s[i:])
		syms = append(syms, spmSymbol{start: int32(i), end: int32(i + n), prev: int32(len(syms) - 1), next: int32(len(syms) + 1)})
		i += n
	}
	syms[len(syms)-1].next = -1

	q := make(spmQueue, 0, len(syms))
	try := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		if id, ok := t.byText[s[syms[l].start:syms[r].end]]; ok {
			q.push(spmCandidate{t.scores[id], l, r, syms[r].end - syms[l].start, id})
		}
	}
	for i := int32(0); int(i)+1 < len(syms); i++ {
		try(i, i+1)
	}
	for len(q) > 0 {
		c := q.pop()
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
	for i := int32(0); i >= 0; i = syms[i].next {
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
