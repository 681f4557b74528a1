package infer

import (
	"errors"
	"fmt"
	"sync/atomic"

	"reddwarf/metalkit"
)

// PageTokens is the number of token positions in one KV page. A page holds the
// K and V rows of every layer for PageTokens consecutive positions, so a
// session of n tokens owns ceil(n/PageTokens) pages and a fork copies at most
// one page (the last, partial one).
const PageTokens = 32

// KVType is the element type of KV cache rows.
type KVType uint8

const (
	KVF16 KVType = iota // IEEE half, as llama.cpp's default cache (2 bytes a value)
	KVF32               // float32 (4 bytes a value); exact, for tests
)

// String returns "f16" or "f32".
func (t KVType) String() string {
	if t == KVF32 {
		return "f32"
	}
	return "f16"
}

// ParseKVType parses "f16", "f32" or "" (= f16).
func ParseKVType(s string) (KVType, error) {
	switch s {
	case "", "f16", "F16":
		return KVF16, nil
	case "f32", "F32":
		return KVF32, nil
	}
	return 0, fmt.Errorf("infer: kv cache type %q: want f16 or f32", s)
}

// KVLayout says what one position of a State's KV cache holds: for each of
// Layers layers a K row and a V row of Heads × HeadDim values each.
type KVLayout struct {
	Layers  int
	Heads   int // KV heads
	HeadDim int
	Type    KVType
	// StateBytes is what an architecture's own state (ArchState) grows by
	// over PageTokens positions: deepseek4's compressed and indexer rows.
	StateBytes int64
}

// Width is the values in one K (or V) row: Heads × HeadDim.
func (l KVLayout) Width() int { return l.Heads * l.HeadDim }

// pageValues is the number of values in one page.
func (l KVLayout) pageValues() int { return l.Layers * 2 * PageTokens * l.Width() }

// blockValues is the size of one head's block in a page: HeadDim × PageTokens.
func (l KVLayout) blockValues() int { return l.HeadDim * PageTokens }

// blockOffset is the index, in a page's value array, of the block holding
// head's K (kind 0) or V (kind 1) values at layer. Page layout:
// [layer][kind][head][HeadDim][PageTokens]: within a block, value i of the
// head at slot t is at i*PageTokens + t. Storing each block transposed makes
// attention's inner loops run along the page's positions (length
// PageTokens) whatever the head size; see attendGroup.
func (l KVLayout) blockOffset(layer, kind, head int) int {
	return ((layer*2+kind)*l.Heads + head) * l.blockValues()
}

// page is one reference-counted KV page. Exactly one of f16, f32 and dev
// is set: f16 or f32 by the layout's Type for a page in host memory, dev
// for a slot of a device's KV pool (devicekv.go). refs counts the States
// (and prefix caches) that hold the page; a holder may write into a page
// only while refs == 1.
type page struct {
	refs atomic.Int32
	f16  []uint16
	f32  []float32
	dev  *devPage
}

func newPage(l KVLayout) *page {
	p := &page{}
	if l.Type == KVF32 {
		p.f32 = make([]float32, l.pageValues())
	} else {
		p.f16 = make([]uint16, l.pageValues())
	}
	p.refs.Store(1)
	return p
}

// unref drops one reference; a device page whose last holder lets go goes
// back to its pool.
func (p *page) unref() {
	if p.refs.Add(-1) == 0 && p.dev != nil {
		p.dev.release()
	}
}

// clone returns a private copy of host page p with refs 1.
func (p *page) clone() *page {
	q := &page{}
	if p.f32 != nil {
		q.f32 = append([]float32(nil), p.f32...)
	} else {
		q.f16 = append([]uint16(nil), p.f16...)
	}
	q.refs.Store(1)
	return q
}

// State is one session: the tokens fed so far, their KV cache in pages, and
// the next-token logits after the last token. A State belongs to the Model
// that made it. It is not safe for concurrent use; Model.Step writes it.
//
// Invariants: len(pages) == ceil(len(tokens)/PageTokens); positions
// [0, len(tokens)) of the pages hold valid rows; slots past len(tokens) in
// the last page are garbage (possibly another fork's rows) and are written
// only after a copy-on-write check.
type State struct {
	layout KVLayout
	vocab  int
	ctx    int
	kv     *deviceKV // the device's pool the pages live in; nil: host pages

	tokens []int32
	pages  []*page
	logits []float32 // len vocab once any Step ran; nil after Truncate
	ext    ArchState // the architecture's own state (StatefulArch), else nil
}

// Sentinel errors of State and Model.Step.
var (
	ErrContextFull = errors.New("infer: context full")
	ErrBadToken    = errors.New("infer: token id out of vocabulary")
	ErrBadBatch    = errors.New("infer: invalid batch")
	ErrRange       = errors.New("infer: position out of range")
)

// NewState returns an empty session for m.
func (m *Model) NewState() *State {
	s := &State{layout: m.arch.KVLayout(), vocab: m.vocab, ctx: m.ctx, kv: m.kv}
	if sa, ok := m.arch.(StatefulArch); ok {
		s.ext = sa.NewArchState()
	}
	return s
}

// Len is the number of tokens in the state.
func (s *State) Len() int { return len(s.tokens) }

// Cap is the context size: the most tokens the state can hold.
func (s *State) Cap() int { return s.ctx }

// Tokens returns the tokens fed so far. The slice is the State's own; don't
// modify it, and copy it to keep it past the next Step or Truncate.
func (s *State) Tokens() []int32 { return s.tokens }

// Logits returns the next-token logits after the last token (len = vocab),
// or nil if none are known (empty state, or after Truncate). The slice is
// the State's own and is overwritten by the next Step.
func (s *State) Logits() []float32 { return s.logits }

// SetLogits stores logits as the state's next-token logits (for restoring a
// checkpoint or a saved state). len(logits) must be the vocab size.
func (s *State) SetLogits(logits []float32) error {
	if len(logits) != s.vocab {
		return fmt.Errorf("infer: %d logits, vocab is %d: %w", len(logits), s.vocab, ErrBadBatch)
	}
	s.logits = append(s.logits[:0], logits...)
	return nil
}

// Layout describes the state's KV rows.
func (s *State) Layout() KVLayout { return s.layout }

// Pages is the number of KV pages the state holds.
func (s *State) Pages() int { return len(s.pages) }

// Bytes is the memory the state references: KV pages (shared ones counted in
// full), tokens and logits.
func (s *State) Bytes() int64 {
	per := int64(s.layout.pageValues()) * 2
	if s.layout.Type == KVF32 {
		per *= 2
	}
	b := per*int64(len(s.pages)) + 4*int64(cap(s.tokens)) + 4*int64(cap(s.logits))
	if s.ext != nil {
		b += s.ext.Bytes()
	}
	return b
}

// Clone returns a copy-on-write fork: it shares every page with s (O(pages)),
// copies tokens and logits. Writes to either state later copy the shared page
// they touch first.
func (s *State) Clone() *State {
	c := &State{layout: s.layout, vocab: s.vocab, ctx: s.ctx, kv: s.kv}
	if s.ext != nil {
		c.ext = s.ext.Clone()
	}
	c.tokens = append([]int32(nil), s.tokens...)
	if s.logits != nil {
		c.logits = append([]float32(nil), s.logits...)
	}
	c.pages = make([]*page, len(s.pages))
	for i, p := range s.pages {
		p.refs.Add(1)
		c.pages[i] = p
	}
	return c
}

// Truncate keeps the first n tokens and drops the rest, releasing the pages
// past them. The logits are dropped (they belong to the old last token);
// Model.Rewind truncates and recomputes them. Fails with ErrRange unless
// 0 <= n <= Len(), leaving s unchanged.
func (s *State) Truncate(n int) error {
	if n < 0 || n > len(s.tokens) {
		return fmt.Errorf("infer: truncate to %d of %d tokens: %w", n, len(s.tokens), ErrRange)
	}
	if n == len(s.tokens) {
		return nil
	}
	if s.ext != nil {
		if err := s.ext.Truncate(s.tokens, n); err != nil {
			return err
		}
	}
	keep := (n + PageTokens - 1) / PageTokens
	for i := keep; i < len(s.pages); i++ {
		s.pages[i].unref()
		s.pages[i] = nil
	}
	s.pages = s.pages[:keep]
	s.tokens = s.tokens[:n]
	s.logits = nil
	return nil
}

// Release drops the state's page references, so pages it shared become
// private to their other holders again, and empties it. Call it when a
// session is deleted; the state stays usable (empty) afterwards.
func (s *State) Release() {
	for i, p := range s.pages {
		p.unref()
		s.pages[i] = nil
	}
	s.pages = nil
	s.tokens = nil
	s.logits = nil
	if s.ext != nil {
		s.ext.Release()
	}
}

// reserve makes sure positions [Len(), Len()+n) have private pages to write
// into: it appends fresh pages and copies a shared last page (copy-on-write).
// The caller has checked the context size. It fails only on a device whose
// KV pool is full (ErrKVFull), leaving s as it was (unreserve drops pages
// past the tokens; a private copy of a shared page holds the same rows).
func (s *State) reserve(n int) error {
	end := len(s.tokens) + n
	first := len(s.tokens) / PageTokens // page of the first new position
	if first < len(s.pages) && s.pages[first].refs.Load() > 1 {
		old := s.pages[first]
		if s.kv == nil {
			s.pages[first] = old.clone()
		} else {
			p, err := s.kv.copyPage(old)
			if err != nil {
				return err
			}
			s.pages[first] = p
		}
		old.unref()
	}
	for len(s.pages)*PageTokens < end {
		if s.kv == nil {
			s.pages = append(s.pages, newPage(s.layout))
			continue
		}
		p, err := s.kv.newPage()
		if err != nil {
			s.unreserve()
			return err
		}
		s.pages = append(s.pages, p)
	}
	return nil
}

// unreserve drops the pages past the tokens (reserve's, when a batch
// cannot be run after all).
func (s *State) unreserve() {
	keep := (len(s.tokens) + PageTokens - 1) / PageTokens
	for i := keep; i < len(s.pages); i++ {
		s.pages[i].unref()
		s.pages[i] = nil
	}
	s.pages = s.pages[:keep]
}

// reserveHost appends host pages for positions [Len(), Len()+n) of an
// empty State being restored: the rows are written on the host, and
// toDevice then moves the pages to the device when the State's model runs
// on one.
func (s *State) reserveHost(n int) {
	for len(s.pages)*PageTokens < len(s.tokens)+n {
		s.pages = append(s.pages, newPage(s.layout))
	}
}

// toDevice replaces each host page of s by a device page holding its
// values, when s's model runs on a device (nothing otherwise). On error
// (ErrKVFull) s is released.
func (s *State) toDevice() error {
	if s.kv == nil {
		return nil
	}
	for i, p := range s.pages {
		if p.dev != nil {
			continue
		}
		q, err := s.kv.upload(p)
		if err != nil {
			s.Release()
			return err
		}
		s.pages[i] = q
	}
	return nil
}

// kindRun returns page i's values of layer's K (kind 0) or V rows, which
// are one run of the page (blockOffset(layer, kind, 0) onwards, Heads
// blocks): for a host page its own arrays and off 0; for a device page
// only that run, read back into *buf, and off its offset in the page, so
// value j of the page is at j - off.
func (s *State) kindRun(i, layer, kind int, buf *[]uint16) (f16 []uint16, f32 []float32, off int, err error) {
	p := s.pages[i]
	if p.dev == nil {
		return p.f16, p.f32, 0, nil
	}
	l := s.layout
	off, n := l.blockOffset(layer, kind, 0), l.Heads*l.blockValues()
	if cap(*buf) < n {
		*buf = make([]uint16, n)
	}
	*buf = (*buf)[:n]
	if err := s.kv.readRun(*buf, p, off); err != nil {
		return nil, nil, 0, err
	}
	return *buf, nil, off, nil
}

// hostPage returns page i's values in host memory: the page itself, or a
// copy read back from the device (ReadPage) for a device page.
func (s *State) hostPage(i int) (*page, error) {
	p := s.pages[i]
	if p.dev == nil {
		return p, nil
	}
	return s.kv.download(p, s.layout)
}

// putKV stores the K and V rows (Width() values each) of layer at position
// pos, converting to the cache type. pos must be reserved.
func (s *State) putKV(layer, pos int, k, v []float32) {
	p := s.pages[pos/PageTokens]
	slot := pos % PageTokens
	l := s.layout
	for h := 0; h < l.Heads; h++ {
		for kind, row := range [2][]float32{k, v} {
			o := l.blockOffset(layer, kind, h) + slot
			src := row[h*l.HeadDim : (h+1)*l.HeadDim]
			if p.f32 != nil {
				for i, x := range src {
					p.f32[o+i*PageTokens] = x
				}
			} else {
				for i, x := range src {
					p.f16[o+i*PageTokens] = metalkit.F32ToF16(x)
				}
			}
		}
	}
}

// KVRow returns the K (kind 0) or V (kind 1) row of layer at position pos as
// float32, written into out (len Width()). For persistence and tests.
func (s *State) KVRow(layer, kind, pos int, out []float32) error {
	if pos < 0 || pos >= len(s.tokens) || layer < 0 || layer >= s.layout.Layers || kind < 0 || kind > 1 {
		return fmt.Errorf("infer: kv row layer %d kind %d pos %d: %w", layer, kind, pos, ErrRange)
	}
	var run []uint16
	f16, f32, off, err := s.kindRun(pos/PageTokens, layer, kind, &run)
	if err != nil {
		return err
	}
	l := s.layout
	for h := 0; h < l.Heads; h++ {
		o := l.blockOffset(layer, kind, h) - off + pos%PageTokens
		dst := out[h*l.HeadDim : (h+1)*l.HeadDim]
		for i := range dst {
			if f32 != nil {
				dst[i] = f32[o+i*PageTokens]
			} else {
				dst[i] = metalkit.F16ToF32(f16[o+i*PageTokens])
			}
		}
	}
	return nil
}

// RestoreState rebuilds a session from saved parts (a DSV4 state, a
// checkpoint): its tokens, the logits after the last one (nil if unknown),
// and its KV rows, which row is called to fill: for every position, layer
// and kind (0 = K, 1 = V) it writes Width() values into dst. Rows should be
// what KVRow returned for the same model; an f16 cache stores them exactly.
// Fails, returning no state, if a token is outside the vocabulary, the
// tokens exceed the context, the logits have the wrong length or row fails.
func (m *Model) RestoreState(tokens []int32, logits []float32, row func(layer, kind, pos int, dst []float32) error) (*State, error) {
	s := m.NewState()
	if len(tokens) > s.ctx {
		return nil, fmt.Errorf("infer: restore %d tokens, context %d: %w", len(tokens), s.ctx, ErrContextFull)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= s.vocab {
			return nil, fmt.Errorf("infer: restore token %d: id %d not in [0, %d): %w", i, t, s.vocab, ErrBadToken)
		}
	}
	if logits != nil {
		if err := s.SetLogits(logits); err != nil {
			return nil, err
		}
	}
	s.reserveHost(len(tokens))
	k := make([]float32, s.layout.Width())
	v := make([]float32, s.layout.Width())
	for pos := range tokens {
		for layer := 0; layer < s.layout.Layers; layer++ {
			if err := row(layer, 0, pos, k); err != nil {
				return nil, err
			}
			if err := row(layer, 1, pos, v); err != nil {
				return nil, err
			}
			s.putKV(layer, pos, k, v)
		}
	}
	if err := s.toDevice(); err != nil {
		return nil, err
	}
	s.tokens = append(s.tokens, tokens...)
	return s, nil
}
