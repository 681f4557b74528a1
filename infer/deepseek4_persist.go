package infer

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// Persistence of deepseek4 session state (the DSV4 payload's deepseek4
// sections, rdb/format.go kinds 16..63; session/deepseek4.go maps them).
// Each layer contributes the blobs below, float32 little-endian; the state's
// restore points (automatic checkpoints) are not saved: after a load, a
// rollback replays from the start.
const (
	DSV4BlobHeader     = 0 // layer 0 only: u32 tokens the state describes, u32 layers
	DSV4BlobRing       = 1 // Window × HeadDim: the raw ring, slot p mod Window = position p
	DSV4BlobComp       = 2 // n/ratio × HeadDim compressed rows (ratio ≠ 0)
	DSV4BlobIndex      = 3 // n/4 × IDim indexer rows (ratio 4)
	DSV4BlobFrontKV    = 4 // attention compressor frontier values (slots × width)
	DSV4BlobFrontScore = 5 // its scores
	DSV4BlobIdxKV      = 6 // indexer compressor frontier values (ratio 4)
	DSV4BlobIdxScore   = 7 // its scores
)

// DSV4Blob is one piece of a deepseek4 session state.
type DSV4Blob struct {
	Kind  uint16
	Layer int
	Data  []byte
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

// DSV4StateBlobs encodes a deepseek4 architecture state (State.Ext()).
func DSV4StateBlobs(ext ArchState) ([]DSV4Blob, error) {
	st, ok := ext.(*dsv4State)
	if !ok {
		return nil, fmt.Errorf("deepseek4: persist a %T", ext)
	}
	hdr := make([]byte, 8)
	binary.LittleEndian.PutUint32(hdr, uint32(st.n))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(st.layers)))
	out := []DSV4Blob{{Kind: DSV4BlobHeader, Data: hdr}}
	for li := range st.layers {
		l := &st.layers[li]
		add := func(kind uint16, x []float32) {
			if x != nil {
				out = append(out, DSV4Blob{Kind: kind, Layer: li, Data: f32Bytes(x)})
			}
		}
		rows := func(s *rowStore) []float32 {
			x := make([]float32, 0, s.n*s.width)
			for i := 0; i < s.n; i++ {
				x = append(x, s.row(i)...)
			}
			return x
		}
		add(DSV4BlobRing, l.ring)
		if l.fKV != nil {
			add(DSV4BlobComp, rows(&l.comp))
			add(DSV4BlobFrontKV, l.fKV)
			add(DSV4BlobFrontScore, l.fScore)
		}
		if l.iKV != nil {
			add(DSV4BlobIndex, rows(&l.idx))
			add(DSV4BlobIdxKV, l.iKV)
			add(DSV4BlobIdxScore, l.iScore)
		}
	}
	return out, nil
}

// DSV4RestoreBlobs fills the deepseek4 state of s (made by RestoreState
// from the saved tokens and logits, so all its tokens are pending replay)
// from blobs. Every size is checked against the model's shape; on error s
// keeps replaying from the start, which is slow but correct.
func DSV4RestoreBlobs(s *State, blobs []DSV4Blob) error {
	st, ok := s.ext.(*dsv4State)
	if !ok {
		return fmt.Errorf("deepseek4: restore into a %T state", s.ext)
	}
	c := &st.arch.cfg
	tmp := &dsv4State{arch: st.arch}
	tmp.reset()
	n := -1
	seen := map[[2]int]bool{}
	for _, b := range blobs {
		if b.Kind == DSV4BlobHeader {
			if len(b.Data) != 8 || int(binary.LittleEndian.Uint32(b.Data[4:])) != c.Layers {
				return fmt.Errorf("deepseek4: state header: %d bytes, or not %d layers", len(b.Data), c.Layers)
			}
			n = int(binary.LittleEndian.Uint32(b.Data))
			continue
		}
		if b.Layer < 0 || b.Layer >= c.Layers || seen[[2]int{int(b.Kind), b.Layer}] {
			return fmt.Errorf("deepseek4: state blob kind %d layer %d: out of range or repeated", b.Kind, b.Layer)
		}
		seen[[2]int{int(b.Kind), b.Layer}] = true
	}
	if n < 0 || n > s.Len() {
		return fmt.Errorf("deepseek4: state describes %d tokens, the session has %d", n, s.Len())
	}
	for _, b := range blobs {
		if b.Kind == DSV4BlobHeader {
			continue
		}
		l := &tmp.layers[b.Layer]
		r := c.Ratios[b.Layer]
		var err error
		switch {
		case b.Kind == DSV4BlobRing:
			err = bytesF32(l.ring, b.Data)
		case b.Kind == DSV4BlobFrontKV && r != 0:
			err = bytesF32(l.fKV, b.Data)
		case b.Kind == DSV4BlobFrontScore && r != 0:
			err = bytesF32(l.fScore, b.Data)
		case b.Kind == DSV4BlobIdxKV && r == 4:
			err = bytesF32(l.iKV, b.Data)
		case b.Kind == DSV4BlobIdxScore && r == 4:
			err = bytesF32(l.iScore, b.Data)
		case b.Kind == DSV4BlobComp && r != 0, b.Kind == DSV4BlobIndex && r == 4:
			rs, want := &l.comp, n/r
			if b.Kind == DSV4BlobIndex {
				rs, want = &l.idx, n/4
			}
			x := make([]float32, want*rs.width)
			if err = bytesF32(x, b.Data); err == nil {
				for i := 0; i < want; i++ {
					rs.append(x[i*rs.width : (i+1)*rs.width])
				}
			}
		default:
			err = fmt.Errorf("not a section a ratio-%d layer has", r)
		}
		if err != nil {
			return fmt.Errorf("deepseek4: state blob kind %d layer %d: %w", b.Kind, b.Layer, err)
		}
	}
	for li, r := range c.Ratios {
		need := []uint16{DSV4BlobRing}
		if r != 0 {
			need = append(need, DSV4BlobComp, DSV4BlobFrontKV, DSV4BlobFrontScore)
		}
		if r == 4 {
			need = append(need, DSV4BlobIndex, DSV4BlobIdxKV, DSV4BlobIdxScore)
		}
		for _, k := range need {
			if !seen[[2]int{int(k), li}] {
				return fmt.Errorf("deepseek4: state has no blob kind %d for layer %d", k, li)
			}
		}
	}
	tmp.n = n
	*st = *tmp
	return nil
}
