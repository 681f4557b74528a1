package jsonmask

import (
	"errors"
	"fmt"
	"strings"
)

// A Sequence is a document made of parts one after another: literal
// text, JSON values of schemas, and raw text ended by a terminator (a
// tool call whose arguments are written one parameter at a time, each a
// JSON value or raw text: DeepSeek V4's DSML). Its Matcher's root frame
// walks the parts (frame.cur is the part, pos the bytes of a literal or
// of the terminator matched).

// Part is one part of a Sequence: exactly one of Text (literal), Value (a
// JSON value of that schema, whitespace allowed before it) and RawUntil
// (any text without RawUntil or markerless control bytes, then RawUntil).
type Part struct {
	Text     string
	Value    *Schema
	RawUntil string
}

// maxParts bounds a sequence (frame.cur is an int8).
const maxParts = 120

// seg is a compiled Part.
type seg struct {
	lit   string
	n     *node
	until string
}

// Sequence compiles parts into a Schema.
func Sequence(parts ...Part) (*Schema, error) {
	if len(parts) == 0 || len(parts) > maxParts {
		return nil, fmt.Errorf("a sequence has 1 to %d parts", maxParts)
	}
	s := &Schema{root: anyNode, nodes: 1}
	var key strings.Builder
	key.WriteString("seq")
	for i, p := range parts {
		set := 0
		if p.Text != "" {
			set++
		}
		if p.Value != nil {
			set++
		}
		if p.RawUntil != "" {
			set++
		}
		if set != 1 {
			return nil, fmt.Errorf("part %d: one of Text, Value and RawUntil", i)
		}
		if p.Value != nil && (len(p.Value.prefixes) > 0 || p.Value.suffix != "" || p.Value.segs != nil) {
			return nil, errors.New("a sequence's value has no affixes")
		}
		sg := seg{lit: p.Text, until: p.RawUntil}
		if p.Value != nil {
			sg.n = p.Value.root
			s.nodes += p.Value.nodes
		}
		s.segs = append(s.segs, sg)
		fmt.Fprintf(&key, "|%q", p.Text+"\x00"+p.RawUntil)
		if p.Value != nil {
			key.WriteString(p.Value.key)
		}
	}
	s.key = digest(key.String())
	return s, nil
}

// segFeed advances root frame f of a sequence over c.
func (m *Matcher) segFeed(f *frame, c byte) bool {
	for int(f.cur) < len(m.s.segs) {
		sg := &m.s.segs[f.cur]
		switch {
		case sg.lit != "":
			if c != sg.lit[f.pos] {
				return false
			}
			if f.pos++; int(f.pos) == len(sg.lit) {
				f.cur, f.pos = f.cur+1, 0
			}
			return true
		case sg.until != "":
			k := advance(sg.until, int(f.pos), c)
			if c == MarkerByte && k == 0 {
				return false // a control token only where the terminator spells it
			}
			f.pos = int32(k)
			if int(f.pos) == len(sg.until) {
				f.cur, f.pos = f.cur+1, 0
			}
			return true
		default:
			if isSpace(c) {
				return true
			}
			return m.startValue(sg.n, c)
		}
	}
	return false // nothing after the sequence
}

// MarkerByte is how a vocabulary's control tokens are spelled for a
// Masker (Vocab.Pieces: their text after it, a byte no JSON document
// holds): raw text never holds one, so a control token appears only where
// a literal or a terminator spells it.
const MarkerByte = '\x01'

// advance is how many bytes of term are matched after c follows a match
// of k bytes: the longest prefix of term that ends the text so far.
func advance(term string, k int, c byte) int {
	if term[k] == c {
		return k + 1
	}
	seen := term[:k] + string(c)
	for n := k; n > 0; n-- {
		if strings.HasSuffix(seen, term[:n]) {
			return n
		}
	}
	return 0
}

// segAfterValue is what ends a number or literal value that is root
// frame f's part: the next part's beginning (a space before another
// value; nothing when it is the last part).
func (m *Matcher) segAfterValue(f *frame) string {
	if int(f.cur)+1 >= len(m.s.segs) {
		return ""
	}
	sg := &m.s.segs[f.cur+1]
	switch {
	case sg.lit != "":
		return sg.lit
	case sg.until != "":
		return sg.until
	}
	return " "
}

// segNext is what moves root frame f of a sequence towards its end.
func (m *Matcher) segNext(f *frame) string {
	if int(f.cur) >= len(m.s.segs) {
		return ""
	}
	sg := &m.s.segs[f.cur]
	switch {
	case sg.lit != "":
		return sg.lit[f.pos:]
	case sg.until != "":
		return sg.until[f.pos:]
	}
	return sg.n.minimal()
}
