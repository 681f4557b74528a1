package jsonmask

import (
	"encoding/binary"
)

// A Matcher is a stack of frames, one per value being written; the
// bottom one is the document.
type kind uint8

const (
	kRoot    kind = iota // the document: st 0 before its value (pos: prefix bytes matched, seen: prefixes still matching), 1 after (pos: suffix bytes)
	kValue               // a value of node is next (whitespace may come first)
	kObject              // st: obj*
	kArray               // st: arr*
	kString              // st: str*
	kNumber              // st: num*
	kLiteral             // matching one of lits (true/false/null, an enum, an object's key)
)

// Object states.
const (
	objOpen  uint8 = iota // after '{': a key or '}'
	objKey                // after ',': a key
	objColon              // after a key: ':'
	objValue              // the value of property cur is being written
	objComma              // after a value: ',' or '}'
)

// Array states.
const (
	arrOpen  uint8 = iota // after '[': a value or ']'
	arrComma              // after a value (or while one is written): ',' or ']'
)

// String states.
const (
	strChar uint8 = iota
	strEsc        // after '\'
	strHex        // in \uXXXX: pos hex digits left
	strUTF8       // in a multi-byte character: pos bytes left, the next in [lo, hi]
)

// Number states (JSON's number grammar).
const (
	numStart   uint8 = iota // nothing yet
	numMinus                // "-"
	numZero                 // "0" or "-0"
	numInt                  // more integer digits
	numDot                  // "."
	numFrac                 // fraction digits
	numExp                  // "e"
	numExpSign              // "e+"
	numExpDig               // exponent digits
)

type frame struct {
	k    kind
	st   uint8
	lo   byte // string: the next byte's range in a multi-byte character
	hi   byte
	key  bool  // string or literal: an object's key
	cur  int8  // object: the property whose value is written
	pos  int32 // literal: bytes matched; string: bytes or hex digits left
	n    *node
	seen uint64 // object: properties written; literal: candidates still matching
	lits []string
}

// MaxNesting bounds how deep objects and arrays nest in a reply: every
// mask computed copies the stack once per token.
const MaxNesting = 32

// Matcher follows a reply byte by byte. The zero value is not usable: use
// NewMatcher.
type Matcher struct {
	s     *Schema
	stack []frame
}

// NewMatcher starts a document of schema s.
func NewMatcher(s *Schema) *Matcher {
	return &Matcher{s: s, stack: []frame{{k: kRoot, n: s.root, seen: litSet(len(s.prefixes))}}}
}

// inPrefix reports whether root frame f is still in its prefix: some
// prefix still matching is longer than the bytes matched. (None is a
// proper prefix of another, so once one is whole it is the only one.)
func (m *Matcher) inPrefix(f *frame) bool {
	for i, p := range m.s.prefixes {
		if f.seen&(1<<i) != 0 && len(p) > int(f.pos) {
			return true
		}
	}
	return false
}

// Clone copies m.
func (m *Matcher) Clone() *Matcher {
	return &Matcher{s: m.s, stack: append([]frame(nil), m.stack...)}
}

// copyFrom makes m the same state as o, reusing m's memory.
func (m *Matcher) copyFrom(o *Matcher) {
	m.s = o.s
	m.stack = append(m.stack[:0], o.stack...)
}

// Done reports whether the bytes so far are a whole document (it may
// still go on: a number's digits).
func (m *Matcher) Done() bool {
	if m.s.segs != nil {
		// (A number or literal value last could end here too.)
		return len(m.stack) == 1 && int(m.stack[0].cur) == len(m.s.segs) ||
			len(m.stack) == 2 && int(m.stack[0].cur) == len(m.s.segs)-1 && m.canEnd(&m.stack[1])
	}
	if len(m.stack) == 1 {
		return m.stack[0].st == 1 && int(m.stack[0].pos) == len(m.s.suffix)
	}
	// A number or an enum literal at top level that could end here.
	if len(m.stack) == 2 && m.s.suffix == "" {
		return m.canEnd(&m.stack[1])
	}
	return false
}

// Feed advances over b; it reports false, leaving m in an undefined
// state, when b cannot continue a valid document.
func (m *Matcher) Feed(b []byte) bool {
	for _, c := range b {
		if !m.feedByte(c) {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// canEnd reports whether f, a number or literal, could end here.
func (m *Matcher) canEnd(f *frame) bool {
	switch f.k {
	case kNumber:
		switch f.st {
		case numZero, numInt, numFrac, numExpDig:
			return true
		}
	case kLiteral:
		for i, l := range f.lits {
			if f.seen&(1<<i) != 0 && len(l) == int(f.pos) {
				return true
			}
		}
	}
	return false
}

// push starts a value of n on c.
func (m *Matcher) push(f frame) { m.stack = append(m.stack, f) }

// pop ends the top frame, a value (or key) that is complete, and moves
// its parent on; lit is the index of the literal matched (a key's
// property).
func (m *Matcher) pop(lit int) {
	f := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	p := &m.stack[len(m.stack)-1]
	switch p.k {
	case kRoot:
		if m.s.segs != nil {
			p.cur, p.pos = p.cur+1, 0 // the value part is done
			return
		}
		p.st, p.pos = 1, 0
	case kObject:
		if f.key {
			p.st, p.cur = objColon, int8(lit)
			if lit >= 0 {
				p.seen |= 1 << lit
			}
		} else {
			p.st = objComma
		}
	}
}

// litSet is the bit set of the first n candidates.
func litSet(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

// startValue begins a value of n with byte c, replacing the kValue frame
// on top (or pushing onto the root).
func (m *Matcher) startValue(n *node, c byte) bool {
	var f frame
	switch {
	case c == '"' && (n.t == tAny || n.t == tString):
		f = frame{k: kString}
	case (c == '-' || c >= '0' && c <= '9') && (n.t == tAny || n.t == tNumber || n.t == tInteger):
		f = frame{k: kNumber, st: numStart, n: n}
	case (c == '{' || c == '[') && len(m.stack) > MaxNesting:
		return false
	case c == '{' && (n.t == tAny || n.t == tObject):
		if n.open {
			n = anyNode // {"type": "object"}: any object
		}
		f = frame{k: kObject, st: objOpen, n: n, cur: -1}
		m.push(f)
		return true
	case c == '[' && (n.t == tAny || n.t == tArray):
		f = frame{k: kArray, st: arrOpen, n: n}
		m.push(f)
		return true
	case n.t == tBool || n.t == tEnum:
		f = frame{k: kLiteral, n: n, lits: n.lits, seen: litSet(len(n.lits))}
	case n.t == tAny && (c == 't' || c == 'f' || c == 'n'):
		f = frame{k: kLiteral, n: n, lits: anyLits, seen: litSet(len(anyLits))}
	default:
		return false
	}
	if f.k == kString {
		m.push(f)
		return true
	}
	m.push(f)
	return m.feedByte(c)
}

// startKey begins a key of object frame p with c ('"' or space).
func (m *Matcher) startKey(p *frame, c byte) bool {
	if p.n.t == tAny {
		if c != '"' {
			return false
		}
		m.push(frame{k: kString, key: true})
		return true
	}
	left := litSet(len(p.n.keys)) &^ p.seen
	if left == 0 {
		return false
	}
	m.push(frame{k: kLiteral, key: true, n: p.n, lits: p.n.keys, seen: left})
	return m.feedByte(c)
}

// objectMayClose reports whether p has every required property.
func objectMayClose(p *frame) bool {
	return p.n.t == tAny || p.n.required&^p.seen == 0
}

func (m *Matcher) feedByte(c byte) bool {
	for {
		f := &m.stack[len(m.stack)-1]
		switch f.k {
		case kRoot:
			if m.s.segs != nil {
				return m.segFeed(f, c)
			}
			if f.st == 0 && m.inPrefix(f) {
				var seen uint64
				for i, p := range m.s.prefixes {
					if f.seen&(1<<i) != 0 && len(p) > int(f.pos) && p[f.pos] == c {
						seen |= 1 << i
					}
				}
				if seen == 0 {
					return false
				}
				f.seen, f.pos = seen, f.pos+1
				return true
			}
			if f.st == 1 {
				if int(f.pos) < len(m.s.suffix) && c == m.s.suffix[f.pos] {
					f.pos++
					return true
				}
				return false // nothing after the document
			}
			if isSpace(c) {
				return true // SentencePiece's "▁{" starts a reply with a space
			}
			return m.startValue(f.n, c)
		case kValue:
			if isSpace(c) {
				return true
			}
			n := f.n
			m.stack = m.stack[:len(m.stack)-1]
			return m.startValue(n, c)
		case kObject:
			switch {
			case isSpace(c):
				return true
			case f.st == objOpen || f.st == objKey:
				if c == '}' && f.st == objOpen && objectMayClose(f) {
					m.pop(-1)
					return true
				}
				return m.startKey(f, c)
			case f.st == objColon:
				if c != ':' {
					return false
				}
				f.st = objValue
				vn := anyNode
				if f.n.t != tAny {
					vn = f.n.props[f.cur]
				}
				m.push(frame{k: kValue, n: vn})
				return true
			case f.st == objComma:
				switch {
				case c == '}' && objectMayClose(f):
					m.pop(-1)
					return true
				case c == ',' && (f.n.t == tAny || litSet(len(f.n.keys))&^f.seen != 0):
					f.st = objKey
					return true
				}
				return false
			}
			return false
		case kArray:
			switch {
			case isSpace(c):
				return true
			case c == ']':
				m.pop(-1)
				return true
			case c == ',' && f.st == arrComma:
				m.push(frame{k: kValue, n: f.n.item()})
				return true
			case f.st == arrOpen:
				f.st = arrComma
				return m.startValue(f.n.item(), c)
			}
			return false
		case kString:
			return m.stringByte(f, c)
		case kNumber:
			if ok, end := numberByte(f, c); ok {
				return true
			} else if !end {
				return false
			}
			m.pop(-1)
			continue // c belongs to the parent
		case kLiteral:
			next := uint64(0)
			for i, l := range f.lits {
				if f.seen&(1<<i) != 0 && len(l) > int(f.pos) && l[f.pos] == c {
					next |= 1 << i
				}
			}
			if next != 0 {
				f.seen = next
				f.pos++
				// One candidate left and matched whole: the value ends.
				if next&(next-1) == 0 {
					i := bitIndex(next)
					if len(f.lits[i]) == int(f.pos) {
						m.pop(i)
					}
				}
				return true
			}
			if !m.canEnd(f) {
				return false
			}
			m.pop(-1)
			continue
		}
		return false
	}
}

// anyNode is the schema of a value in an object or array of any JSON.
var anyNode = &node{t: tAny}

// item is the schema of n's array items.
func (n *node) item() *node {
	if n.items == nil {
		return anyNode
	}
	return n.items
}

func bitIndex(x uint64) int {
	i := 0
	for x > 1 {
		x >>= 1
		i++
	}
	return i
}

func (m *Matcher) stringByte(f *frame, c byte) bool {
	switch f.st {
	case strChar:
		switch {
		case c == '"':
			m.pop(-1)
			return true
		case c == '\\':
			f.st = strEsc
		case c < 0x20:
			return false
		case c < 0x80:
		case c >= 0xC2 && c <= 0xDF:
			f.st, f.pos, f.lo, f.hi = strUTF8, 1, 0x80, 0xBF
		case c == 0xE0:
			f.st, f.pos, f.lo, f.hi = strUTF8, 2, 0xA0, 0xBF
		case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
			f.st, f.pos, f.lo, f.hi = strUTF8, 2, 0x80, 0xBF
		case c == 0xED:
			f.st, f.pos, f.lo, f.hi = strUTF8, 2, 0x80, 0x9F
		case c == 0xF0:
			f.st, f.pos, f.lo, f.hi = strUTF8, 3, 0x90, 0xBF
		case c >= 0xF1 && c <= 0xF3:
			f.st, f.pos, f.lo, f.hi = strUTF8, 3, 0x80, 0xBF
		case c == 0xF4:
			f.st, f.pos, f.lo, f.hi = strUTF8, 3, 0x80, 0x8F
		default:
			return false
		}
	case strEsc:
		switch c {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			f.st = strChar
		case 'u':
			f.st, f.pos = strHex, 4
		default:
			return false
		}
	case strHex:
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
		if f.pos--; f.pos == 0 {
			f.st = strChar
		}
	case strUTF8:
		if c < f.lo || c > f.hi {
			return false
		}
		f.lo, f.hi = 0x80, 0xBF
		if f.pos--; f.pos == 0 {
			f.st = strChar
		}
	}
	return true
}

// Digits a number's parts may have, so every reply's numbers fit a
// float64 (and an integer an int64): a model left alone can write digits
// for ever, and 1e999999 is JSON that no client can hold.
const (
	maxIntDigits  = 16
	maxFracDigits = 16
	maxExpDigits  = 2
)

// numberByte advances a number over c: ok, or (not ok) whether the number
// ended before c, which then belongs to the parent. pos counts the digits
// of the current part.
func numberByte(f *frame, c byte) (ok, end bool) {
	digit := c >= '0' && c <= '9'
	integer := f.n.t == tInteger
	switch f.st {
	case numStart, numMinus:
		switch {
		case c == '-' && f.st == numStart:
			f.st = numMinus
		case c == '0':
			f.st, f.pos = numZero, 1
		case digit:
			f.st, f.pos = numInt, 1
		default:
			return false, false
		}
		return true, false
	case numZero, numInt:
		switch {
		case digit && f.st == numInt && f.pos < maxIntDigits:
			f.pos++
		case c == '.' && !integer:
			f.st, f.pos = numDot, 0
		case (c == 'e' || c == 'E') && !integer:
			f.st, f.pos = numExp, 0
		default:
			return false, !digit
		}
		return true, false
	case numDot, numFrac:
		switch {
		case digit && f.pos < maxFracDigits:
			f.st = numFrac
			f.pos++
		case (c == 'e' || c == 'E') && f.st == numFrac:
			f.st, f.pos = numExp, 0
		default:
			return false, f.st == numFrac && !digit
		}
		return true, false
	case numExp, numExpSign:
		switch {
		case (c == '+' || c == '-') && f.st == numExp:
			f.st = numExpSign
		case digit:
			f.st, f.pos = numExpDig, 1
		default:
			return false, false
		}
		return true, false
	case numExpDig:
		if !digit {
			return false, true
		}
		if f.pos >= maxExpDigits {
			return false, false
		}
		f.pos++
		return true, false
	}
	return false, false
}

// Completion returns the shortest bytes that finish the document from
// here (empty when it is Done). Feeding them one at a time is always
// accepted.
func (m *Matcher) Completion() string {
	w := m.Clone()
	var out []byte
	for i := 0; !w.Done() && i < 1<<16; i++ {
		s := w.nextChunk()
		if s == "" || !w.Feed([]byte(s)) {
			break // cannot happen: every chunk continues the document
		}
		out = append(out, s...)
	}
	return string(out)
}

// nextChunk is bytes that move the top frame towards its end.
func (m *Matcher) nextChunk() string {
	f := &m.stack[len(m.stack)-1]
	switch f.k {
	case kRoot:
		if m.s.segs != nil {
			return m.segNext(f)
		}
		switch {
		case f.st == 0 && m.inPrefix(f):
			best := ""
			for i, p := range m.s.prefixes {
				if f.seen&(1<<i) != 0 && len(p) > int(f.pos) && (best == "" || len(p) < len(best)) {
					best = p
				}
			}
			return best[f.pos:]
		case f.st == 1:
			return m.s.suffix[f.pos:]
		}
		return f.n.minimal()
	case kValue:
		return f.n.minimal()
	case kString:
		switch f.st {
		case strEsc:
			return "n"
		case strHex:
			return "0"
		case strUTF8:
			return string([]byte{f.lo})
		}
		return `"`
	case kNumber, kLiteral:
		if !m.canEnd(f) {
			if f.k == kNumber {
				return "0"
			}
			// The shortest candidate; for a key, a required property's
			// first (another one's would need its value too, and the
			// required ones still after it).
			cands := f.seen
			if f.key {
				if req := m.stack[len(m.stack)-2].n.required & cands; req != 0 {
					cands = req
				}
			}
			best := ""
			for i, l := range f.lits {
				if cands&(1<<i) != 0 && (best == "" || len(l) < len(best)) {
					best = l
				}
			}
			return best[f.pos:]
		}
		// Ends when its parent's next byte comes.
		p := &m.stack[len(m.stack)-2]
		switch p.k {
		case kObject:
			return objectCloser(p)
		case kArray:
			return "]"
		}
		if m.s.segs != nil {
			return m.segAfterValue(&m.stack[0])
		}
		return m.s.suffix // the root's: it ends the value
	case kObject:
		switch f.st {
		case objOpen, objKey:
			if f.n.t == tAny {
				if f.st == objOpen {
					return "}"
				}
				return `""`
			}
			if f.st == objOpen && objectMayClose(f) {
				return "}"
			}
			// The first required property missing, or (after a
			// ',') any unwritten one.
			want := f.n.required &^ f.seen
			if want == 0 {
				want = litSet(len(f.n.keys)) &^ f.seen
			}
			for i := range f.n.keys {
				if want&(1<<i) != 0 {
					return f.n.keys[i]
				}
			}
		case objColon:
			return ":"
		case objComma:
			return objectCloser(f)
		}
	case kArray:
		return "]"
	}
	return ""
}

// objectCloser is what an object after a value needs next: ',' while a
// required property is missing, else '}'.
func objectCloser(f *frame) string {
	if objectMayClose(f) {
		return "}"
	}
	return ","
}

// appendKey writes m's state to dst: equal keys, equal futures.
func (m *Matcher) appendKey(dst []byte) []byte {
	for i := range m.stack {
		f := &m.stack[i]
		var id uint32
		if f.n != nil {
			id = f.n.id
		}
		// A literal's list follows from its node and key flag.
		dst = append(dst, byte(f.k), f.st, f.lo, f.hi, byte(f.cur))
		if f.key {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
		dst = binary.LittleEndian.AppendUint32(dst, id)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(f.pos))
		dst = binary.LittleEndian.AppendUint64(dst, f.seen)
	}
	return dst
}
