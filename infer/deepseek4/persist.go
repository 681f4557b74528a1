package deepseek4

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"reddwarf/rdb"
)

// Persistence of a session's state as sections of the DSV4 file format
// (rdb/FORMAT.md §2; the kinds are rdb.SectionDeepSeek4*, float32
// little-endian, one set per layer). session/dsv4.go writes them beside the
// tokens and logits. Restore points (automatic checkpoints) are not saved:
// after a load, a rollback before the loaded length replays from the start.

// Sections returns the state's sections (copies: the state may change
// afterwards). Layer 0 also gets the header: u32 tokens the state
// describes, u32 layers.
func (st *state) Sections() ([]rdb.Section, error) {
	st.sync()
	hdr := make([]byte, 8)
	binary.LittleEndian.PutUint32(hdr, uint32(st.n))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(st.layers)))
	out := []rdb.Section{{Kind: rdb.SectionDeepSeek4Header, DType: rdb.DTypeBytes, Size: int64(len(hdr)), Data: hdr}}
	for li := range st.layers {
		l := &st.layers[li]
		add := func(kind uint16, x []float32) {
			b := f32Bytes(x)
			out = append(out, rdb.Section{Kind: kind, DType: rdb.DTypeF32, Layer: uint32(li), Size: int64(len(b)), Data: b})
		}
		add(rdb.SectionDeepSeek4Ring, l.ring)
		if l.fKV != nil {
			add(rdb.SectionDeepSeek4Comp, l.comp.all())
			add(rdb.SectionDeepSeek4FrontKV, l.fKV)
			add(rdb.SectionDeepSeek4FrontScore, l.fScore)
		}
		if l.iKV != nil {
			add(rdb.SectionDeepSeek4Index, l.idx.all())
			add(rdb.SectionDeepSeek4IdxKV, l.iKV)
			add(rdb.SectionDeepSeek4IdxScore, l.iScore)
		}
	}
	return out, nil
}

// RestoreSections fills the state, which belongs to a State rebuilt with
// tokens tokens (all of them pending replay), from its sections. Every
// size is checked against the model's shape; on error the state is left
// as it was (it replays from the start: slow but correct).
func (st *state) RestoreSections(tokens int, sections []rdb.Section) error {
	st.sync()
	defer st.hostChanged()
	c := &st.arch.cfg
	tmp := &state{arch: st.arch}
	tmp.reset()
	n := -1
	seen := map[[2]int]bool{}
	for _, s := range sections {
		if s.Kind < rdb.SectionDeepSeek4First || s.Kind > rdb.SectionDeepSeek4Last {
			return fmt.Errorf("deepseek4: section kind %d is not deepseek4's", s.Kind)
		}
		if s.Kind == rdb.SectionDeepSeek4Header {
			if len(s.Data) != 8 || int(binary.LittleEndian.Uint32(s.Data[4:])) != c.Layers {
				return fmt.Errorf("deepseek4: state header: %d bytes, or not %d layers", len(s.Data), c.Layers)
			}
			n = int(binary.LittleEndian.Uint32(s.Data))
			continue
		}
		key := [2]int{int(s.Kind), int(s.Layer)}
		if s.Layer >= uint32(c.Layers) || seen[key] {
			return fmt.Errorf("deepseek4: state section kind %d layer %d: out of range or repeated", s.Kind, s.Layer)
		}
		seen[key] = true
	}
	if n < 0 || n > tokens {
		return fmt.Errorf("deepseek4: state describes %d tokens, the session has %d", n, tokens)
	}
	for _, s := range sections {
		if s.Kind == rdb.SectionDeepSeek4Header {
			continue
		}
		l := &tmp.layers[s.Layer]
		r := c.Ratios[s.Layer]
		var err error
		switch {
		case s.Kind == rdb.SectionDeepSeek4Ring:
			err = bytesF32(l.ring, s.Data)
		case s.Kind == rdb.SectionDeepSeek4FrontKV && r != 0:
			err = bytesF32(l.fKV, s.Data)
		case s.Kind == rdb.SectionDeepSeek4FrontScore && r != 0:
			err = bytesF32(l.fScore, s.Data)
		case s.Kind == rdb.SectionDeepSeek4IdxKV && r == 4:
			err = bytesF32(l.iKV, s.Data)
		case s.Kind == rdb.SectionDeepSeek4IdxScore && r == 4:
			err = bytesF32(l.iScore, s.Data)
		case s.Kind == rdb.SectionDeepSeek4Comp && r != 0:
			err = l.comp.load(n/r, s.Data)
		case s.Kind == rdb.SectionDeepSeek4Index && r == 4:
			err = l.idx.load(n/4, s.Data)
		default:
			err = fmt.Errorf("not a section a ratio-%d layer has", r)
		}
		if err != nil {
			return fmt.Errorf("deepseek4: state section kind %d layer %d: %w", s.Kind, s.Layer, err)
		}
	}
	for li, r := range c.Ratios {
		need := []uint16{rdb.SectionDeepSeek4Ring}
		if r != 0 {
			need = append(need, rdb.SectionDeepSeek4Comp, rdb.SectionDeepSeek4FrontKV, rdb.SectionDeepSeek4FrontScore)
		}
		if r == 4 {
			need = append(need, rdb.SectionDeepSeek4Index, rdb.SectionDeepSeek4IdxKV, rdb.SectionDeepSeek4IdxScore)
		}
		for _, k := range need {
			if !seen[[2]int{int(k), li}] {
				return fmt.Errorf("deepseek4: state has no section kind %d for layer %d", k, li)
			}
		}
	}
	tmp.n = n
	*st = *tmp
	return nil
}

// f32Bytes returns x as little-endian bytes (a copy). Like metalkit, this
// assumes a little-endian host (amd64, arm64), so it is one memory copy.
func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	if len(x) > 0 {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x)))
	}
	return b
}

// bytesF32 copies little-endian float32 bytes into dst.
func bytesF32(dst []float32, b []byte) error {
	if len(b) != 4*len(dst) {
		return fmt.Errorf("%d bytes for %d values", len(b), len(dst))
	}
	if len(dst) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), b)
	}
	return nil
}
