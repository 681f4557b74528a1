package rdb

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// A segment's index (FORMAT.md §5.2.1): when a segment is sealed (the
// store starts the next one), the locations of its pages are written
// beside it, so that start-up reads one small file per segment instead of
// one record header per page (a random read each when the segment is not
// in the page cache: seconds for a few GB). A missing or damaged index is
// not an error: the segment's headers are scanned instead.

// Segment index constants.
const (
	SegIndexMagic   = "RDWSIDX1"
	SegIndexVersion = 1
	SegIndexHeader  = 40 // magic, version, flags, count, seq, covered size, reserved
	SegIndexEntry   = 40 // hash, fingerprint, kind, 7 reserved, offset, size
	// MaxSegIndexEntries bounds count before anything is allocated: a
	// segment of at most 1 GiB holds at most this many 64-byte headers.
	MaxSegIndexEntries = 1 << 24
)

// SegIndexEntry is one page's location in its segment.
type SegIndexEntryLoc struct {
	PageKey
	Off, Size int64
}

// AppendSegIndex appends the index of segment seq, whose file is size
// bytes, listing entries.
func AppendSegIndex(dst []byte, seq uint64, size int64, entries []SegIndexEntryLoc) []byte {
	start := len(dst)
	dst = append(dst, SegIndexMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, SegIndexVersion)
	dst = binary.LittleEndian.AppendUint16(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(entries)))
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(size))
	dst = binary.LittleEndian.AppendUint64(dst, 0)
	for _, e := range entries {
		dst = binary.LittleEndian.AppendUint64(dst, e.Hash)
		dst = binary.LittleEndian.AppendUint64(dst, e.Fingerprint)
		dst = append(dst, e.Kind, 0, 0, 0, 0, 0, 0, 0)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Off))
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Size))
	}
	return binary.LittleEndian.AppendUint64(dst, xxhash.Sum64(dst[start:]))
}

// ParseSegIndex reads the index of segment seq, whose file is size bytes
// now. It refuses (with ErrCorrupt) an index of another segment or size,
// a bad checksum, and entries outside the segment or overlapping.
func ParseSegIndex(b []byte, file string, seq uint64, size int64) ([]SegIndexEntryLoc, error) {
	bad := func(format string, args ...any) ([]SegIndexEntryLoc, error) {
		return nil, fmt.Errorf("rdb: %s: %s: %w", file, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if len(b) < SegIndexHeader+8 || string(b[:8]) != SegIndexMagic {
		return bad("not a segment index")
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != SegIndexVersion || binary.LittleEndian.Uint16(b[10:]) != 0 {
		return bad("version %d, flags %d", v, binary.LittleEndian.Uint16(b[10:]))
	}
	n := int(binary.LittleEndian.Uint32(b[12:]))
	if n > MaxSegIndexEntries || len(b) != SegIndexHeader+n*SegIndexEntry+8 {
		return bad("%d entries in %d bytes", n, len(b))
	}
	if got := binary.LittleEndian.Uint64(b[len(b)-8:]); got != xxhash.Sum64(b[:len(b)-8]) {
		return bad("checksum mismatch")
	}
	if s := binary.LittleEndian.Uint64(b[16:]); s != seq {
		return bad("index of segment seq %d, not %d", s, seq)
	}
	if covered := int64(binary.LittleEndian.Uint64(b[24:])); covered != size {
		return bad("indexes %d bytes of a %d-byte segment", covered, size)
	}
	out := make([]SegIndexEntryLoc, n)
	next := int64(SegmentHeader)
	for i := range out {
		e := b[SegIndexHeader+i*SegIndexEntry:]
		loc := SegIndexEntryLoc{
			PageKey: PageKey{Hash: binary.LittleEndian.Uint64(e), Fingerprint: binary.LittleEndian.Uint64(e[8:]), Kind: e[16]},
			Off:     int64(binary.LittleEndian.Uint64(e[24:])),
			Size:    int64(binary.LittleEndian.Uint64(e[32:])),
		}
		if loc.Off < next || loc.Size < PageHeader || loc.Size > size || loc.Off > size-loc.Size {
			return bad("entry %d at %d, %d bytes: outside the segment or before the entry before it", i, loc.Off, loc.Size)
		}
		next = loc.Off + loc.Size
		out[i] = loc
	}
	return out, nil
}
