package deepseek4

import (
	"encoding/binary"
	"fmt"

	"reddwarf/infer"
)

// The session store's view of a state (infer.StorableArchState,
// rdb/FORMAT.md §5.2 kinds 16 and 17). Compressed and indexer rows only
// ever grow, and the rows a page of tokens adds are a function of the
// tokens up to it: they are that page's payload, written once. The ring
// and the compressor frontiers change at every token: they, with the
// rows of a partial last page, are a resume point, written for a
// session's current length.
//
// Page payload (kind 16), for page i (tokens [iP, (i+1)P), P =
// infer.PageTokens), per layer in order: for a ratio-r layer the
// compressed rows [iP/r, (i+1)P/r) (HeadDim float32 each), then for a
// ratio-4 layer the indexer rows [iP/4, (i+1)P/4) (IDim float32 each).
//
// Resume payload (kind 17), after n tokens: u32 n, then per layer the
// ring (Window × HeadDim), for a ratio-r layer the compressed rows
// [(n/P)P/r, n/r), fKV and fScore, for a ratio-4 layer the indexer rows
// [(n/P)P/4, n/4), iKV and iScore; every value float32 little-endian.

// Tokens implements infer.StorableArchState.
func (st *state) Tokens() int { return st.n }

// rowRange is the rows of a ratio-r row store tokens [a, b) complete.
func rowRange(a, b, r int) (int, int) { return a / r, b / r }

// PageRows implements infer.StorableArchState.
func (st *state) PageRows(dst []byte, i int) ([]byte, error) {
	st.sync()
	p := infer.PageTokens
	if i < 0 || (i+1)*p > st.n {
		return dst, fmt.Errorf("deepseek4: page %d of a state of %d tokens: %w", i, st.n, infer.ErrRange)
	}
	return st.appendRows(dst, i*p, (i+1)*p), nil
}

// appendRows appends every layer's compressed and indexer rows that
// tokens [a, b) completed.
func (st *state) appendRows(dst []byte, a, b int) []byte {
	c := &st.arch.cfg
	for li, r := range c.Ratios {
		l := &st.layers[li]
		if r == 0 {
			continue
		}
		lo, hi := rowRange(a, b, r)
		for k := lo; k < hi; k++ {
			dst = appendF32(dst, l.comp.row(k))
		}
		if r == 4 {
			lo, hi := rowRange(a, b, 4)
			for k := lo; k < hi; k++ {
				dst = appendF32(dst, l.idx.row(k))
			}
		}
	}
	return dst
}

// Resume implements infer.StorableArchState.
func (st *state) Resume(dst []byte) ([]byte, error) {
	st.sync()
	c := &st.arch.cfg
	dst = binary.LittleEndian.AppendUint32(dst, uint32(st.n))
	full := st.n / infer.PageTokens * infer.PageTokens
	for li, r := range c.Ratios {
		l := &st.layers[li]
		dst = appendF32(dst, l.ring)
		if r == 0 {
			continue
		}
		lo, hi := rowRange(full, st.n, r)
		for k := lo; k < hi; k++ {
			dst = appendF32(dst, l.comp.row(k))
		}
		dst = appendF32(appendF32(dst, l.fKV), l.fScore)
		if r == 4 {
			lo, hi := rowRange(full, st.n, 4)
			for k := lo; k < hi; k++ {
				dst = appendF32(dst, l.idx.row(k))
			}
			dst = appendF32(appendF32(dst, l.iKV), l.iScore)
		}
	}
	return dst, nil
}

// pageRowsSize is the payload size of page i.
func (st *state) pageRowsSize(i int) int {
	c := &st.arch.cfg
	p, n := infer.PageTokens, 0
	for _, r := range c.Ratios {
		if r == 0 {
			continue
		}
		lo, hi := rowRange(i*p, (i+1)*p, r)
		n += (hi - lo) * c.HeadDim
		if r == 4 {
			lo, hi := rowRange(i*p, (i+1)*p, 4)
			n += (hi - lo) * c.IDim
		}
	}
	return 4 * n
}

// Restore implements infer.StorableArchState. Sizes are checked before
// anything is allocated; the state changes only when all of it is read.
func (st *state) Restore(n int, pages [][]byte, resume []byte) error {
	st.sync()
	defer st.hostChanged()
	c := &st.arch.cfg
	p := infer.PageTokens
	if n < 0 || len(pages) != n/p {
		return fmt.Errorf("deepseek4: restore %d tokens from %d pages of %d: %w", n, len(pages), p, infer.ErrRange)
	}
	for i, b := range pages {
		if len(b) != st.pageRowsSize(i) {
			return fmt.Errorf("deepseek4: page %d: %d bytes of rows, want %d: %w", i, len(b), st.pageRowsSize(i), infer.ErrRange)
		}
	}
	if len(resume) < 4 || int(binary.LittleEndian.Uint32(resume)) != n {
		return fmt.Errorf("deepseek4: resume point is not after %d tokens: %w", n, infer.ErrRange)
	}
	full := n / p * p
	want := 4
	for _, r := range c.Ratios {
		want += 4 * c.Window * c.HeadDim
		if r == 0 {
			continue
		}
		lo, hi := rowRange(full, n, r)
		s, w := frontierSlots(r, c.HeadDim)
		want += 4 * ((hi-lo)*c.HeadDim + 2*s*w)
		if r == 4 {
			lo, hi := rowRange(full, n, 4)
			want += 4 * ((hi-lo)*c.IDim + 2*8*2*c.IDim)
		}
	}
	if len(resume) != want {
		return fmt.Errorf("deepseek4: resume point of %d bytes, want %d: %w", len(resume), want, infer.ErrRange)
	}
	tmp := &state{arch: st.arch}
	tmp.reset()
	row := func(b []byte, width int) ([]float32, []byte) {
		x := make([]float32, width)
		bytesF32(x, b[:4*width])
		return x, b[4*width:]
	}
	offs := make([]int, len(pages))
	for li, r := range c.Ratios {
		l := &tmp.layers[li]
		if r == 0 {
			continue
		}
		for i, b := range pages {
			b = b[offs[i]:]
			lo, hi := rowRange(i*p, (i+1)*p, r)
			var x []float32
			for k := lo; k < hi; k++ {
				x, b = row(b, c.HeadDim)
				l.comp.append(x)
			}
			if r == 4 {
				lo, hi := rowRange(i*p, (i+1)*p, 4)
				for k := lo; k < hi; k++ {
					x, b = row(b, c.IDim)
					l.idx.append(x)
				}
			}
			offs[i] = len(pages[i]) - len(b)
		}
	}
	b := resume[4:]
	for li, r := range c.Ratios {
		l := &tmp.layers[li]
		bytesF32(l.ring, b[:4*len(l.ring)])
		b = b[4*len(l.ring):]
		if r == 0 {
			continue
		}
		lo, hi := rowRange(full, n, r)
		var x []float32
		for k := lo; k < hi; k++ {
			x, b = row(b, c.HeadDim)
			l.comp.append(x)
		}
		for _, f := range [][]float32{l.fKV, l.fScore} {
			bytesF32(f, b[:4*len(f)])
			b = b[4*len(f):]
		}
		if r == 4 {
			lo, hi := rowRange(full, n, 4)
			for k := lo; k < hi; k++ {
				x, b = row(b, c.IDim)
				l.idx.append(x)
			}
			for _, f := range [][]float32{l.iKV, l.iScore} {
				bytesF32(f, b[:4*len(f)])
				b = b[4*len(f):]
			}
		}
	}
	tmp.n = n
	*st = *tmp
	return nil
}

// appendF32 appends x as little-endian float32 bytes.
func appendF32(dst []byte, x []float32) []byte {
	return append(dst, f32Bytes(x)...)
}
