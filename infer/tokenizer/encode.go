package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// EncodeOptions control Encode.
type EncodeOptions struct {
	// AddBOS prepends BOS if the model wants one (WantsBOS), unless
	// Continue is set.
	AddBOS bool
	// ParseSpecial recognises the texts of control tokens ("<|endoftext|>",
	// "<s>") in the input and emits their ids. User-defined tokens are always
	// recognised, as llama.cpp and Hugging Face do.
	ParseSpecial bool
	// Continue encodes text that continues a sequence already holding
	// tokens, so that decoding the whole gives the two texts joined: no
	// BOS, and no SentencePiece space prefix at the start (a fresh sequence
	// gets one, which Decode drops: without Continue, "ti" then "me" would
	// read "ti me"). A fragment after a special token inside text still gets
	// the prefix, as llama.cpp gives it. Byte-level BPE adds no prefix, so
	// for it only BOS differs.
	Continue bool
}

// fragment is a piece of the input: raw text (id < 0) or a special token.
type fragment struct {
	text string
	id   int32
}

// Encode converts text to token ids. Invalid UTF-8 is encoded as U+FFFD per
// bad byte, as llama.cpp does.
func (t *Tokenizer) Encode(text string, opt EncodeOptions) []int32 {
	out := make([]int32, 0, len(text)/3+2)
	if opt.AddBOS && !opt.Continue && t.WantsBOS() {
		out = append(out, t.bos)
	}
	prevSpecial := !opt.Continue // SentencePiece: the first fragment of a sequence gets the dummy prefix
	for _, fr := range t.partition(text, opt.ParseSpecial) {
		if fr.id >= 0 {
			out = append(out, fr.id)
			prevSpecial = true
			continue
		}
		if t.model == "llama" {
			out = t.spmEncode(out, fr.text, t.addSpacePrefix && prevSpecial)
		} else {
			out = t.bpeEncode(out, fr.text)
		}
		prevSpecial = false
	}
	return out
}

// partition splits text on special-token texts, longest specials first, as
// llama.cpp's tokenizer_st_partition: control and unknown tokens only when
// parseSpecial, user-defined tokens always.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text, -1}}
	for _, id := range t.specialsIn(text, parseSpecial) {
		s := t.tokens[id]
		next := make([]fragment, 0, len(frags)+2)
		for _, fr := range frags {
			if fr.id >= 0 {
				next = append(next, fr)
				continue
			}
			rest := fr.text
			for {
				k := strings.Index(rest, s)
				if k < 0 {
					break
				}
				if k > 0 {
					next = append(next, fragment{rest[:k], -1})
				}
				next = append(next, fragment{s, id})
				rest = rest[k+len(s):]
			}
			if rest != "" {
				next = append(next, fragment{rest, -1})
			}
		}
		frags = next
	}
	return frags
}

// specialsIn returns the special tokens whose text occurs in text, longest
// first. One pass over text with the specials bucketed by their first two
// bytes, so that a vocabulary with thousands of added tokens costs little.
func (t *Tokenizer) specialsIn(text string, parseSpecial bool) []int32 {
	var found map[int32]bool
	add := func(ids []int32, i int) {
		for _, id := range ids {
			if !parseSpecial && t.types[id] != TypeUserDefined {
				continue
			}
			if strings.HasPrefix(text[i:], t.tokens[id]) {
				if found == nil {
					found = map[int32]bool{}
				}
				found[id] = true
			}
		}
	}
	for i := 0; i < len(text); i++ {
		if ids := t.special1[text[i]]; ids != nil {
			add(ids, i)
		}
		if i+1 < len(text) {
			if ids := t.special2[uint16(text[i])<<8|uint16(text[i+1])]; ids != nil {
				add(ids, i)
			}
		}
	}
	if found == nil {
		return nil
	}
	out := make([]int32, 0, len(found))
	for _, id := range t.specials { // keeps the longest-first order
		if found[id] {
			out = append(out, id)
		}
	}
	return out
}

// bpeEncode pre-tokenizes one raw fragment and runs BPE on each piece.
func (t *Tokenizer) bpeEncode(out []int32, text string) []int32 {
	if t.rawBPE {
		text = strings.ReplaceAll(text, " ", spmSpace)
	}
	cs := runesOf(text)
	var buf []byte
	t.split.each(cs, func(p span) {
		buf = buf[:0]
		for _, r := range cs[p.s:p.e] {
			buf = utf8.AppendRune(buf, r)
		}
		out = t.bpeWord(out, string(buf))
	})
	return out
}

// runesOf is []rune(text) decoded in this package's code rather than the
// runtime's: the conversion runs in the runtime, where a goroutine cannot
// be preempted, and for a prompt of megabytes it holds its CPU for tens of
// milliseconds (44 ms for 8 MiB), during which a GC cycle that needs this
// goroutine's stack keeps a second CPU spinning too: on two cores the
// server's loop then waits as long.
func runesOf(text string) []rune {
	cs := make([]rune, 0, utf8.RuneCountInString(text))
	for _, r := range text {
		cs = append(cs, r)
	}
	return cs
}
