package rdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/cespare/xxhash/v2"
)

// Encoding primitives, writer and reader side by side. Everything is
// little-endian. The writer hashes what it writes (xxhash64) and counts
// bytes; the reader works on a byte slice and checks every length against
// what is left before it allocates or slices.

// ErrCorrupt is wrapped by every decoding error: the input is not a valid
// DSV4 state, snapshot or DUMP payload (truncated, bad checksum, bad field).
var ErrCorrupt = errors.New("rdb: corrupt data")

// ErrIncompatible is wrapped when a valid state does not fit the model
// that should load it (another architecture, shapes or tokenizer).
var ErrIncompatible = errors.New("rdb: incompatible state")

// enc writes to w, hashing and counting every byte.
type enc struct {
	w   io.Writer
	h   *xxhash.Digest
	n   int64
	err error
	buf [16]byte
}

func newEnc(w io.Writer) *enc { return &enc{w: w, h: xxhash.New()} }

// Write makes enc an io.Writer for section writers; it hashes and counts.
func (e *enc) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.h.Write(p[:n])
	e.n += int64(n)
	if err != nil {
		e.err = err
	}
	return n, err
}

func (e *enc) bytes(p []byte) { e.Write(p) }
func (e *enc) str(s string)   { e.Write([]byte(s)) }
func (e *enc) u8(v uint8)     { e.buf[0] = v; e.Write(e.buf[:1]) }
func (e *enc) u16(v uint16)   { binary.LittleEndian.PutUint16(e.buf[:], v); e.Write(e.buf[:2]) }
func (e *enc) u32(v uint32)   { binary.LittleEndian.PutUint32(e.buf[:], v); e.Write(e.buf[:4]) }
func (e *enc) u64(v uint64)   { binary.LittleEndian.PutUint64(e.buf[:], v); e.Write(e.buf[:8]) }
func (e *enc) i64(v int64)    { e.u64(uint64(v)) }

// sum writes the xxhash64 of everything written so far (not hashing itself).
func (e *enc) sum() {
	s := e.h.Sum64()
	binary.LittleEndian.PutUint64(e.buf[:], s)
	if e.err == nil {
		n, err := e.w.Write(e.buf[:8])
		e.n += int64(n)
		e.err = err
	}
}

// f32s writes float32 values in chunks (no per-value call).
func (e *enc) f32s(v []float32) {
	var chunk [4096]byte
	for len(v) > 0 && e.err == nil {
		n := min(len(v), len(chunk)/4)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint32(chunk[4*i:], math.Float32bits(x))
		}
		e.Write(chunk[:4*n])
		v = v[n:]
	}
}

// i32s writes int32 values (tokens) as u32.
func (e *enc) i32s(v []int32) {
	var chunk [4096]byte
	for len(v) > 0 && e.err == nil {
		n := min(len(v), len(chunk)/4)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint32(chunk[4*i:], uint32(x))
		}
		e.Write(chunk[:4*n])
		v = v[n:]
	}
}

// dec reads from a byte slice. Methods fail (returning zero values) once
// an error is set; check err at the end of a step. base is the offset of
// b[0] in the enclosing file, for error messages.
type dec struct {
	b    []byte
	off  int
	base int64
	what string // "state", "snapshot", "dump payload"
	err  error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("rdb: %s at offset %d: %s: %w", d.what, d.base+int64(d.off), fmt.Sprintf(format, args...), ErrCorrupt)
	}
}

// left is the number of unread bytes.
func (d *dec) left() int { return len(d.b) - d.off }

// take returns the next n bytes (a subslice of the input, not a copy).
func (d *dec) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.left() {
		d.fail("%s: %d bytes needed, %d left", field, n, d.left())
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *dec) u8(field string) uint8 {
	if p := d.take(1, field); p != nil {
		return p[0]
	}
	return 0
}

func (d *dec) u16(field string) uint16 {
	if p := d.take(2, field); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (d *dec) u32(field string) uint32 {
	if p := d.take(4, field); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *dec) u64(field string) uint64 {
	if p := d.take(8, field); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (d *dec) i64(field string) int64 { return int64(d.u64(field)) }

// count reads a u32 count and checks it against max and against the
// bytes left at elem bytes per item (so nothing is allocated for a count
// the input cannot hold).
func (d *dec) count(field string, max int, elem int) int {
	v := d.u32(field)
	if d.err != nil {
		return 0
	}
	if uint64(v) > uint64(max) {
		d.fail("%s %d exceeds the limit %d", field, v, max)
		return 0
	}
	if elem > 0 && uint64(v)*uint64(elem) > uint64(d.left()) {
		d.fail("%s %d needs %d bytes, %d left", field, v, uint64(v)*uint64(elem), d.left())
		return 0
	}
	return int(v)
}

// f32s decodes n float32 values.
func (d *dec) f32s(n int, field string) []float32 {
	if n < 0 || n > d.left()/4 {
		d.fail("%s: %d values need %d bytes, %d left", field, n, 4*n, d.left())
		return nil
	}
	p := d.take(4*n, field)
	if p == nil {
		return nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return out
}

// i32s decodes n u32 values as int32 (tokens).
func (d *dec) i32s(n int, field string) []int32 {
	if n < 0 || n > d.left()/4 {
		d.fail("%s: %d values need %d bytes, %d left", field, n, 4*n, d.left())
		return nil
	}
	p := d.take(4*n, field)
	if p == nil {
		return nil
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return out
}

// verifySum checks that the last 8 bytes of b are the xxhash64 of the rest
// and returns the rest.
func verifySum(b []byte, what string, base int64) ([]byte, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("rdb: %s at offset %d: %d bytes, too short for a checksum: %w", what, base, len(b), ErrCorrupt)
	}
	body := b[:len(b)-8]
	want := binary.LittleEndian.Uint64(b[len(b)-8:])
	if xxhash.Sum64(body) != want {
		// Neither value is printed: the input may be any file a client
		// named (LOAD key file), and the stored "checksum" is its last
		// bytes, the computed one a hash of its content.
		return nil, fmt.Errorf("rdb: %s at offset %d: %d bytes, checksum mismatch: %w", what, base, len(b), ErrCorrupt)
	}
	return body, nil
}
