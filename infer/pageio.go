package infer

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Whole pages in and out, for the session store (rdb/FORMAT.md §5.2): a
// full page's values little-endian in the cache's element type, in the
// page's own layout [layer][kind][head][HeadDim][PageTokens] — the store
// writes each full page once and reads it back whole, so no row-by-row
// reshuffle is needed either way.

// PagePayloadSize is the bytes of one page's payload for this layout.
func (l KVLayout) PagePayloadSize() int { return l.pageValues() * elemSize(l.Type) }

// FullPages is the number of the state's pages that are full.
func (s *State) FullPages() int { return len(s.tokens) / PageTokens }

// AppendPagePayload appends full page i's payload to dst. Fails with
// ErrRange unless page i is full, and for architectures whose state is
// more than pages (StatefulArch).
func (s *State) AppendPagePayload(dst []byte, i int) ([]byte, error) {
	if s.ext != nil {
		return dst, fmt.Errorf("infer: page payload: the architecture keeps state beyond pages: %w", ErrRange)
	}
	if i < 0 || i >= s.FullPages() {
		return dst, fmt.Errorf("infer: page %d of %d full pages: %w", i, s.FullPages(), ErrRange)
	}
	p, err := s.hostPage(i)
	if err != nil {
		return dst, err
	}
	if p.f32 != nil {
		for _, v := range p.f32 {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
		}
		return dst, nil
	}
	for _, v := range p.f16 {
		dst = binary.LittleEndian.AppendUint16(dst, v)
	}
	return dst, nil
}

// StateFromPages returns a new state of m holding the first
// len(payloads)*PageTokens tokens with the given full pages (as
// AppendPagePayload wrote them, for a model of the same layout). It has
// no logits: feed it at least one more token. Fails, returning no
// state, for a payload of the wrong size, tokens outside the vocabulary
// or past the context, or a StatefulArch model.
func (m *Model) StateFromPages(tokens []int32, payloads [][]byte) (*State, error) {
	s := m.NewState()
	if s.ext != nil {
		return nil, fmt.Errorf("infer: state from pages: the architecture keeps state beyond pages: %w", ErrRange)
	}
	n := len(payloads) * PageTokens
	if n > len(tokens) || n > s.ctx {
		return nil, fmt.Errorf("infer: %d pages for %d tokens, context %d: %w", len(payloads), len(tokens), s.ctx, ErrRange)
	}
	for i, t := range tokens[:n] {
		if t < 0 || int(t) >= s.vocab {
			return nil, fmt.Errorf("infer: token %d: id %d not in [0, %d): %w", i, t, s.vocab, ErrBadToken)
		}
	}
	size := s.layout.PagePayloadSize()
	for i, b := range payloads {
		if len(b) != size {
			return nil, fmt.Errorf("infer: page %d payload of %d bytes, the layout's is %d: %w", i, len(b), size, ErrRange)
		}
	}
	for _, b := range payloads {
		p := newPage(s.layout)
		if p.f32 != nil {
			for j := range p.f32 {
				p.f32[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
			}
		} else {
			for j := range p.f16 {
				p.f16[j] = binary.LittleEndian.Uint16(b[2*j:])
			}
		}
		s.pages = append(s.pages, p)
	}
	if err := s.toDevice(); err != nil {
		return nil, err
	}
	s.tokens = append(s.tokens, tokens[:n]...)
	return s, nil
}
