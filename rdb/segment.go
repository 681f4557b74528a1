package rdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
)

// Page segments (FORMAT.md §5.2): append-only files of full KV pages,
// each written once and found by its key. A record's fixed header has
// its own checksum, so start-up can index a segment by reading headers
// alone (one 64-byte read per page) and leave the pages' bytes on disk
// until first use, when the body checksum is verified.

// PageKey identifies a page's content: the chained hash of the tokens up
// to and including the page's own, the model it was computed by, and the
// payload kind (the KV element type). Equal keys mean equal bytes.
type PageKey struct {
	Hash        uint64
	Fingerprint uint64
	Kind        uint8
}

// PageHead is a page record's fixed header.
type PageHead struct {
	PageKey
	Parent     uint64 // chain hash of the page before (0 for the first page)
	Depth      uint32 // the page's index in its chain
	NTokens    int
	PayloadLen int
	BodySum    uint64 // xxhash64 of tokens ‖ payload
}

// Size is the record's length in the file.
func (h *PageHead) Size() int64 { return PageHeader + 4*int64(h.NTokens) + int64(h.PayloadLen) }

// PageRecord is a whole page record.
type PageRecord struct {
	PageKey
	Parent  uint64
	Depth   uint32
	Tokens  []int32
	Payload []byte
}

// ChainHash is the key hash of a page: xxhash64 of the parent's hash (u64)
// followed by the page's tokens (u32 each), little-endian — the prefix
// cache's chained hash (infer/prefix.go).
func ChainHash(parent uint64, tokens []int32) uint64 {
	b := make([]byte, 8+4*len(tokens))
	binary.LittleEndian.PutUint64(b, parent)
	for i, t := range tokens {
		binary.LittleEndian.PutUint32(b[8+4*i:], uint32(t))
	}
	return xxhash.Sum64(b)
}

// AppendSegmentHeader appends the 32-byte header of segment seq.
func AppendSegmentHeader(dst []byte, seq uint64, pageTokens int) []byte {
	start := len(dst)
	dst = append(dst, SegmentMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, SegmentVersion)
	dst = binary.LittleEndian.AppendUint16(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(pageTokens))
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	return binary.LittleEndian.AppendUint64(dst, xxhash.Sum64(dst[start:]))
}

// ParseSegmentHeader checks a segment's header and returns its seq and
// page tokens.
func ParseSegmentHeader(b []byte, file string) (seq uint64, pageTokens int, err error) {
	if len(b) < SegmentHeader {
		return 0, 0, fmt.Errorf("rdb: %s: %d bytes, shorter than a segment header: %w", file, len(b), ErrCorrupt)
	}
	b = b[:SegmentHeader]
	switch {
	case string(b[:8]) != SegmentMagic:
		err = fmt.Errorf("magic %q, want %q", b[:8], SegmentMagic)
	case xxhash.Sum64(b[:24]) != binary.LittleEndian.Uint64(b[24:]):
		err = errors.New("header checksum")
	case binary.LittleEndian.Uint16(b[8:]) != SegmentVersion:
		err = fmt.Errorf("version %d, this reader knows %d", binary.LittleEndian.Uint16(b[8:]), SegmentVersion)
	case binary.LittleEndian.Uint16(b[10:]) != 0:
		err = fmt.Errorf("unknown flags %#x", binary.LittleEndian.Uint16(b[10:]))
	}
	pageTokens = int(binary.LittleEndian.Uint32(b[12:]))
	if err == nil && (pageTokens == 0 || pageTokens > MaxPageTokens) {
		err = fmt.Errorf("page tokens %d not in [1, %d]", pageTokens, MaxPageTokens)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("rdb: %s at offset 0: segment header: %v: %w", file, err, ErrCorrupt)
	}
	return binary.LittleEndian.Uint64(b[16:]), pageTokens, nil
}

// AppendPageRecord appends one page record to dst.
func AppendPageRecord(dst []byte, p *PageRecord) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, PageHeader)...)
	for _, t := range p.Tokens {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(t))
	}
	dst = append(dst, p.Payload...)
	h := dst[start : start+PageHeader]
	copy(h, PageRecordMagic)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(p.Payload)))
	binary.LittleEndian.PutUint64(h[8:], p.Hash)
	binary.LittleEndian.PutUint64(h[16:], p.Parent)
	binary.LittleEndian.PutUint64(h[24:], p.Fingerprint)
	h[32] = p.Kind
	binary.LittleEndian.PutUint16(h[34:], uint16(len(p.Tokens)))
	binary.LittleEndian.PutUint32(h[36:], p.Depth)
	binary.LittleEndian.PutUint64(h[40:], xxhash.Sum64(dst[start+PageHeader:]))
	binary.LittleEndian.PutUint64(h[56:], xxhash.Sum64(h[:56]))
	return dst
}

// ParsePageHead checks a record's fixed header (its checksum, magic and
// limits); off is the record's offset in file, for errors.
func ParsePageHead(b []byte, file string, off int64) (PageHead, error) {
	fail := func(format string, args ...any) (PageHead, error) {
		return PageHead{}, fmt.Errorf("rdb: %s at offset %d: page record: %s: %w", file, off, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if len(b) < PageHeader {
		return fail("%d bytes, header needs %d", len(b), PageHeader)
	}
	if string(b[:4]) != PageRecordMagic {
		return fail("magic %q, want %q", b[:4], PageRecordMagic)
	}
	if got, want := xxhash.Sum64(b[:56]), binary.LittleEndian.Uint64(b[56:]); got != want {
		return fail("header checksum %016x, stored %016x", got, want)
	}
	if b[33] != 0 || binary.LittleEndian.Uint64(b[48:]) != 0 {
		return fail("reserved bytes are not zero")
	}
	h := PageHead{
		PageKey:    PageKey{Hash: binary.LittleEndian.Uint64(b[8:]), Fingerprint: binary.LittleEndian.Uint64(b[24:]), Kind: b[32]},
		Parent:     binary.LittleEndian.Uint64(b[16:]),
		Depth:      binary.LittleEndian.Uint32(b[36:]),
		NTokens:    int(binary.LittleEndian.Uint16(b[34:])),
		PayloadLen: int(binary.LittleEndian.Uint32(b[4:])),
		BodySum:    binary.LittleEndian.Uint64(b[40:]),
	}
	if h.NTokens == 0 || h.NTokens > MaxPageTokens {
		return fail("%d tokens, want 1..%d", h.NTokens, MaxPageTokens)
	}
	if h.PayloadLen > MaxPagePayload {
		return fail("payload of %d bytes (limit %d)", h.PayloadLen, MaxPagePayload)
	}
	if h.Depth > MaxCtx {
		return fail("depth %d (limit %d)", h.Depth, MaxCtx)
	}
	return h, nil
}

// DecodePageBody verifies a record's body (the Size()-PageHeader bytes
// after its header) against h and returns its tokens and payload (the
// payload aliases body). It also checks that the tokens chain from the
// parent to the record's hash, so a record can't be filed under a key
// its tokens don't have.
func DecodePageBody(h *PageHead, body []byte, file string, off int64) ([]int32, []byte, error) {
	fail := func(format string, args ...any) ([]int32, []byte, error) {
		return nil, nil, fmt.Errorf("rdb: %s at offset %d: page record body: %s: %w", file, off, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if int64(len(body)) != h.Size()-PageHeader {
		return fail("%d bytes, want %d", len(body), h.Size()-PageHeader)
	}
	if got := xxhash.Sum64(body); got != h.BodySum {
		return fail("checksum %016x, stored %016x", got, h.BodySum)
	}
	toks := make([]int32, h.NTokens)
	for i := range toks {
		toks[i] = int32(binary.LittleEndian.Uint32(body[4*i:]))
	}
	if ChainHash(h.Parent, toks) != h.Hash {
		return fail("tokens do not chain from parent %016x to hash %016x", h.Parent, h.Hash)
	}
	return toks, body[4*h.NTokens:], nil
}

// ScanSegment reads a segment's header and every record header, calling
// fn for each record in order, and returns the length of the valid
// prefix. With tail set (the segment being appended to), a record cut by
// a crash — a header or body past the end of the file, a zero-filled
// rest, or a last record whose body fails its checksum — ends the scan
// with an error wrapping ErrTorn and valid = where that record starts.
// Anything else wrong is ErrCorrupt with the offset. Bodies other than
// the tail's last are not read: they are verified when a page is read.
func ScanSegment(r io.ReaderAt, size int64, file string, tail bool, fn func(off int64, h *PageHead) error) (valid int64, err error) {
	hdr := make([]byte, PageHeader)
	if size < SegmentHeader {
		if tail && allZero(r, 0, size) {
			return 0, fmt.Errorf("rdb: %s: %d bytes, no complete segment header: %w", file, size, ErrTorn)
		}
		return 0, fmt.Errorf("rdb: %s: %d bytes, shorter than a segment header: %w", file, size, ErrCorrupt)
	}
	if _, err := r.ReadAt(hdr[:SegmentHeader], 0); err != nil {
		return 0, fmt.Errorf("rdb: reading %s: %w", file, err)
	}
	if _, _, err := ParseSegmentHeader(hdr[:SegmentHeader], file); err != nil {
		return 0, err
	}
	off := int64(SegmentHeader)
	torn := func(format string, args ...any) (int64, error) {
		return off, fmt.Errorf("rdb: %s at offset %d: %s: %w", file, off, fmt.Sprintf(format, args...), ErrTorn)
	}
	for off < size {
		if size-off < PageHeader {
			if tail {
				return torn("%d bytes left, a record header needs %d", size-off, PageHeader)
			}
			return off, fmt.Errorf("rdb: %s at offset %d: %d bytes left, a record header needs %d: %w", file, off, size-off, PageHeader, ErrCorrupt)
		}
		if _, err := r.ReadAt(hdr, off); err != nil {
			return off, fmt.Errorf("rdb: reading %s at offset %d: %w", file, off, err)
		}
		h, err := ParsePageHead(hdr, file, off)
		if err != nil {
			if tail && allZero(r, off, size) {
				return torn("zero-filled tail")
			}
			return off, err
		}
		end := off + h.Size()
		if end > size {
			if tail {
				return torn("record of %d bytes, %d left", h.Size(), size-off)
			}
			return off, fmt.Errorf("rdb: %s at offset %d: record of %d bytes, %d left: %w", file, off, h.Size(), size-off, ErrCorrupt)
		}
		if tail && end == size {
			body := make([]byte, h.Size()-PageHeader)
			if _, err := r.ReadAt(body, off+PageHeader); err != nil {
				return off, fmt.Errorf("rdb: reading %s at offset %d: %w", file, off, err)
			}
			if _, _, err := DecodePageBody(&h, body, file, off); err != nil {
				return torn("last record: %v", err)
			}
		}
		if err := fn(off, &h); err != nil {
			return off, err
		}
		off = end
	}
	return off, nil
}

// allZero reports whether [from, to) of r holds only zero bytes.
func allZero(r io.ReaderAt, from, to int64) bool {
	buf := make([]byte, 64<<10)
	for from < to {
		n := int(min(int64(len(buf)), to-from))
		if _, err := r.ReadAt(buf[:n], from); err != nil {
			return false
		}
		for _, c := range buf[:n] {
			if c != 0 {
				return false
			}
		}
		from += int64(n)
	}
	return true
}
