package jsonmask

import (
	"bytes"
	"sync"
	"unicode/utf8"
)

// hasControl reports whether p has a byte JSON strings refuse raw.
func hasControl(p []byte) bool {
	for _, c := range p {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// Vocab is what a Masker needs of a tokenizer: each token's bytes ("" for
// a token never allowed; a control token may be spelled with a byte no
// JSON holds, so that only a schema's affixes allow it) and whether it
// ends generation (allowed once the document is whole).
type Vocab struct {
	Pieces [][]byte
	EOG    []bool
}

// Masker computes token masks for a vocabulary. The mask of a state is
// computed once, by trying every token's bytes on it, and cached: a
// reply's states repeat (every byte inside a string is the same state), so
// most steps cost one lookup. Safe for concurrent use.
type Masker struct {
	v Vocab
	// byFirst lists token ids by their first byte, so a state that
	// refuses a byte skips every token starting with it at once.
	byFirst [256][]int32
	eog     []int32
	// strSafe marks tokens that are whole UTF-8 characters with no '"',
	// '\\' or control byte: inside a string they are always allowed and
	// leave it as it was, so a string's mask needs no walk for them.
	strSafe []bool

	mu    sync.Mutex
	cache map[string][]uint64
}

// maxCached bounds the masks kept (each is vocab/8 bytes: about 10 MB
// in all for a 150k-token vocabulary; Masker.DropCache frees them under
// maxmemory).
const maxCached = 512

// NewMasker indexes v.
func NewMasker(v Vocab) *Masker {
	k := &Masker{v: v, cache: map[string][]uint64{}, strSafe: make([]bool, len(v.Pieces))}
	for id, p := range v.Pieces {
		k.strSafe[id] = len(p) > 0 && utf8.Valid(p) && !bytes.ContainsAny(p, "\"\\") && !hasControl(p)
		if len(p) > 0 {
			k.byFirst[p[0]] = append(k.byFirst[p[0]], int32(id))
		}
	}
	for id, e := range v.EOG {
		if e {
			k.eog = append(k.eog, int32(id))
		}
	}
	return k
}

// CacheBytes is the memory the cached masks hold (their bit sets; the
// keys are small beside them).
func (k *Masker) CacheBytes() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cacheBytes()
}

func (k *Masker) cacheBytes() int64 {
	return int64(len(k.cache)) * int64((len(k.v.Pieces)+63)/64*8)
}

// DropCache forgets the cached masks (they are computed again when
// needed) and returns the bytes they held: memory pressure drops them
// before any key is evicted.
func (k *Masker) DropCache() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := k.cacheBytes()
	k.cache = map[string][]uint64{}
	return n
}

// Piece is token id's bytes as the Masker reads them (Vocab.Pieces): what
// a Matcher is fed when id is drawn.
func (k *Masker) Piece(id int32) []byte { return k.v.Pieces[id] }

// Allowed reports whether bit id of mask is set.
func Allowed(mask []uint64, id int32) bool { return mask[id>>6]&(1<<(id&63)) != 0 }

// Mask returns the tokens allowed after m's bytes, as a bit set over the
// vocabulary (shared: read only): those whose bytes continue a valid
// document, and the end-of-generation tokens once it is whole. left is
// how many tokens the reply may still take (this one included): once the
// shortest completion (Matcher.Completion) needs them all, only tokens
// spelling a prefix of it are allowed. A token the mask allows may still
// grow the completion past what is left after it ("[[[" with two tokens
// to go): the caller checks the token it drew with Fits and draws again
// without it when it does not, so the budget never cuts the document
// short (if it was at least the completion's length when the reply
// began). Forced is the mask that always fits.
func (k *Masker) Mask(m *Matcher, left int) []uint64 {
	if c := m.Completion(); len(c) >= left && c != "" {
		return k.forced(c)
	}
	if left <= 1 && m.Done() {
		return k.ends() // a last token must not reopen a whole document ("1" then ".")
	}
	key := string(m.appendKey([]byte(m.s.key + "\x00")))
	k.mu.Lock()
	mask, ok := k.cache[key]
	k.mu.Unlock()
	if ok {
		return mask
	}
	mask = k.compute(m)
	k.mu.Lock()
	if len(k.cache) >= maxCached {
		clear(k.cache)
	}
	k.cache[key] = mask
	k.mu.Unlock()
	return mask
}

// compute tries every token on m.
func (k *Masker) compute(m *Matcher) []uint64 {
	mask := make([]uint64, (len(k.v.Pieces)+63)/64)
	if m.Done() {
		for _, id := range k.eog {
			mask[id>>6] |= 1 << (id & 63)
		}
	}
	top := &m.stack[len(m.stack)-1]
	inString := top.k == kString && top.st == strChar
	var w Matcher
	for b := range 256 {
		ids := k.byFirst[b]
		if len(ids) == 0 {
			continue
		}
		w.copyFrom(m)
		if !w.feedByte(byte(b)) {
			continue
		}
		after := w.Clone() // the state after the first byte, shared by ids
		for _, id := range ids {
			p := k.v.Pieces[id]
			if len(p) > 1 && !(inString && k.strSafe[id]) {
				w.copyFrom(after)
				if !w.Feed(p[1:]) {
					continue
				}
			}
			mask[id>>6] |= 1 << (id & 63)
		}
	}
	return mask
}

// Fits reports whether token id may follow m's bytes with left tokens to
// go (this one included): the document stays finishable in the rest.
func (k *Masker) Fits(m *Matcher, id int32, left int) bool {
	if k.v.EOG[id] {
		return m.Done()
	}
	w := m.Clone()
	if !w.Feed(k.v.Pieces[id]) {
		return false
	}
	return len(w.Completion()) <= left-1
}

// Forced is the mask of the tokens spelling a prefix of m's shortest
// completion, or the end-of-generation tokens when m is whole: one of
// them always Fits while left is at least the completion's length.
func (k *Masker) Forced(m *Matcher) []uint64 {
	if c := m.Completion(); c != "" {
		return k.forced(c)
	}
	return k.ends()
}

// ends allows the end-of-generation tokens alone.
func (k *Masker) ends() []uint64 {
	mask := make([]uint64, (len(k.v.Pieces)+63)/64)
	for _, id := range k.eog {
		mask[id>>6] |= 1 << (id & 63)
	}
	return mask
}

// forced allows the tokens spelling a non-empty prefix of c.
func (k *Masker) forced(c string) []uint64 {
	mask := make([]uint64, (len(k.v.Pieces)+63)/64)
	for _, id := range k.byFirst[c[0]] {
		p := k.v.Pieces[id]
		if len(p) <= len(c) && string(p) == c[:len(p)] {
			mask[id>>6] |= 1 << (id & 63)
		}
	}
	return mask
}
