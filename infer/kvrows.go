package infer

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"reddwarf/metalkit"
)

// Raw K/V rows for persistence (session/dsv4.go writes them as DSV4
// sections): rows in the cache's own element type, with no float32 round
// trip, position-major — the page's transposed blocks are an in-memory
// layout that files must not depend on.

// elemSize is the bytes of one cache value of type t.
func elemSize(t KVType) int {
	if t == KVF32 {
		return 4
	}
	return 2
}

// AppendKVRows appends the K (kind 0) or V (kind 1) rows of layer at
// positions [from, to) to dst: for each position Width() values, head by
// head, little-endian in the cache's element type (IEEE half for KVF16,
// float32 for KVF32).
func (s *State) AppendKVRows(dst []byte, layer, kind, from, to int) ([]byte, error) {
	if from < 0 || to > len(s.tokens) || from > to || layer < 0 || layer >= s.layout.Layers || kind < 0 || kind > 1 {
		return dst, fmt.Errorf("infer: kv rows layer %d kind %d [%d, %d): %w", layer, kind, from, to, ErrRange)
	}
	l := s.layout
	e := elemSize(l.Type)
	w := l.Width()
	start := len(dst)
	dst = slices.Grow(dst, (to-from)*w*e)[:start+(to-from)*w*e]
	out := dst[start:]
	// Page by page: each head's block holds, for every value index i, the
	// page's slots contiguously; scatter them to the position-major rows.
	var run []uint16
	for pos := from; pos < to; {
		f16, f32, off, err := s.kindRun(pos/PageTokens, layer, kind, &run)
		if err != nil {
			return dst[:start], err
		}
		first := pos % PageTokens
		last := min(PageTokens, first+(to-pos))
		rowBase := (pos - from) * w // row of slot first, in values
		for h := 0; h < l.Heads; h++ {
			base := l.blockOffset(layer, kind, h) - off
			for i := 0; i < l.HeadDim; i++ {
				col := rowBase + h*l.HeadDim + i
				if f16 != nil {
					src := f16[base+i*PageTokens+first : base+i*PageTokens+last]
					for k, v := range src {
						o := (col + k*w) * 2
						out[o] = byte(v)
						out[o+1] = byte(v >> 8)
					}
				} else {
					src := f32[base+i*PageTokens+first : base+i*PageTokens+last]
					for k, v := range src {
						binary.LittleEndian.PutUint32(out[(col+k*w)*4:], math.Float32bits(v))
					}
				}
			}
		}
		pos += last - first
	}
	return dst, nil
}

// RestoreStateRows is RestoreState from raw rows: rows(layer, kind) returns
// that layer's K or V rows for every token, as AppendKVRows writes them,
// and their element type. Rows of the other type are converted (f16 to
// f32 is exact; f32 to f16 rounds to nearest). Fails, returning no state,
// on a token outside the vocabulary, more tokens than the context, logits
// of the wrong length, or rows of the wrong size.
func (m *Model) RestoreStateRows(tokens []int32, logits []float32, rows func(layer, kind int) ([]byte, KVType, error)) (*State, error) {
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
	n := len(tokens)
	l := s.layout
	s.reserveHost(n)
	for layer := 0; layer < l.Layers && n > 0; layer++ {
		for kind := 0; kind < 2; kind++ {
			data, typ, err := rows(layer, kind)
			if err != nil {
				s.Release()
				return nil, err
			}
			e := elemSize(typ)
			if len(data) != n*l.Width()*e {
				s.Release()
				return nil, fmt.Errorf("infer: restore layer %d kind %d: %d bytes of rows, want %d: %w", layer, kind, len(data), n*l.Width()*e, ErrBadBatch)
			}
			fillRows(s, layer, kind, data, typ)
		}
	}
	if err := s.toDevice(); err != nil {
		return nil, err
	}
	s.tokens = append(s.tokens, tokens...)
	return s, nil
}

// fillRows writes one layer's K or V rows (position-major, type typ) into
// the state's reserved pages, page by page: each head's block takes its
// slots contiguously, converting when the types differ.
func fillRows(s *State, layer, kind int, data []byte, typ KVType) {
	l := s.layout
	w := l.Width()
	e := elemSize(typ)
	n := len(data) / (w * e)
	for pos := 0; pos < n; pos += PageTokens {
		p := s.pages[pos/PageTokens]
		slots := min(PageTokens, n-pos)
		for h := 0; h < l.Heads; h++ {
			base := l.blockOffset(layer, kind, h)
			for i := 0; i < l.HeadDim; i++ {
				col := pos*w + h*l.HeadDim + i // value index of slot 0
				dst := base + i*PageTokens
				switch {
				case p.f16 != nil && typ == KVF16:
					d := p.f16[dst : dst+slots]
					for k := range d {
						o := (col + k*w) * 2
						d[k] = uint16(data[o]) | uint16(data[o+1])<<8
					}
				case p.f16 != nil:
					d := p.f16[dst : dst+slots]
					for k := range d {
						d[k] = metalkit.F32ToF16(math.Float32frombits(binary.LittleEndian.Uint32(data[(col+k*w)*4:])))
					}
				case typ == KVF32:
					d := p.f32[dst : dst+slots]
					for k := range d {
						d[k] = math.Float32frombits(binary.LittleEndian.Uint32(data[(col+k*w)*4:]))
					}
				default:
					d := p.f32[dst : dst+slots]
					for k := range d {
						o := (col + k*w) * 2
						d[k] = metalkit.F16ToF32(uint16(data[o]) | uint16(data[o+1])<<8)
					}
				}
			}
		}
	}
}
