package rdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Snapshot file: header, aux records, key records, end opcode, index,
// footer (FORMAT.md §3). The writer streams (a 1 MiB buffer, no whole-file
// copy); the reader opens with the footer and the index only, and reads a
// key's record when asked.

// recordHeader is op u8, db u32, expire i64, key length u32 (then the key,
// value length u64, value, record xxhash64).
const recordHeader = 1 + 4 + 8 + 4

// indexEntryMin is the smallest index entry (empty key).
const indexEntryMin = 1 + 4 + 8 + 4 + 8 + 8

// Entry is one key of a snapshot, as its index lists it.
type Entry struct {
	Type     uint8 // TypeString or TypeSession
	DB       int
	Key      string
	ExpireMS int64 // absolute unix ms, -1 = none
	Off      int64 // the record's offset in the file
	Len      int64 // the record's length, checksum included
}

// valueOff is where the value starts inside the record; valueLen its size.
func (e Entry) valueOff() int64 { return e.Off + recordHeader + int64(len(e.Key)) + 8 }
func (e Entry) valueLen() int64 { return e.Len - (recordHeader + int64(len(e.Key)) + 8 + 8) }

// ValueLen is the size of the key's value (string bytes, or a DSV4 payload).
func (e Entry) ValueLen() int64 { return e.valueLen() }

// SnapshotWriter writes a snapshot to a temp file beside its target;
// Commit makes it the target atomically, Abort removes it.
type SnapshotWriter struct {
	path, tmp string
	f         *os.File
	bw        *fileWriter
	e         *enc // hashes the whole file
	index     []Entry
	done      bool
}

// CreateSnapshot starts a snapshot that Commit will rename to path.
func CreateSnapshot(path string) (*SnapshotWriter, error) {
	f, tmp, direct, err := createTempDirect(path)
	if err != nil {
		return nil, err
	}
	w := &SnapshotWriter{path: path, tmp: tmp, f: f, bw: newFileWriter(f, direct)}
	w.e = newEnc(w.bw)
	w.e.str(SnapshotMagic)
	w.e.u16(SnapshotVersion)
	if err := w.err("header"); err != nil {
		w.Abort()
		return nil, err
	}
	return w, nil
}

func (w *SnapshotWriter) err(step string) error {
	if w.e.err != nil {
		return fmt.Errorf("rdb: write %s (%s at offset %d): %w", w.tmp, step, w.e.n, w.e.err)
	}
	return nil
}

// Aux writes an aux field. Write them before the keys.
func (w *SnapshotWriter) Aux(name, value string) error {
	r := newEnc(w.e)
	r.u8(OpAux)
	r.u32(uint32(len(name)))
	r.str(name)
	r.u32(uint32(len(value)))
	r.str(value)
	r.sum()
	return w.err("aux " + name)
}

// record writes one key record whose value (size bytes) body writes.
func (w *SnapshotWriter) record(op uint8, db int, key string, expireMS int64, size int64, body func(e *enc) error) error {
	off := w.e.n
	r := newEnc(w.e)
	r.u8(op)
	r.u32(uint32(db))
	r.i64(expireMS)
	r.u32(uint32(len(key)))
	r.str(key)
	r.u64(uint64(size))
	start := r.n
	if err := body(r); err != nil {
		return fmt.Errorf("rdb: write %s: key %q: %w", w.tmp, key, err)
	}
	if r.err == nil && r.n-start != size {
		return fmt.Errorf("rdb: write %s: key %q: value wrote %d bytes, declared %d", w.tmp, key, r.n-start, size)
	}
	r.sum()
	if err := w.err("key " + key); err != nil {
		return err
	}
	w.index = append(w.index, Entry{Type: op, DB: db, Key: key, ExpireMS: expireMS, Off: off, Len: w.e.n - off})
	return nil
}

// String writes a string key.
func (w *SnapshotWriter) String(db int, key string, expireMS int64, val []byte) error {
	return w.record(OpString, db, key, expireMS, int64(len(val)), func(e *enc) error { e.bytes(val); return nil })
}

// Collection writes a hash, list, set or sorted set key (typ) whose
// collection payload is p (EncodeCollection).
func (w *SnapshotWriter) Collection(typ uint8, db int, key string, expireMS int64, p []byte) error {
	return w.record(typ, db, key, expireMS, int64(len(p)), func(e *enc) error { e.bytes(p); return nil })
}

// Session writes a kvstate key from a state view.
func (w *SnapshotWriter) Session(db int, key string, expireMS int64, st *State) error {
	return w.record(OpSession, db, key, expireMS, StateSize(st), func(e *enc) error {
		_, err := WriteState(e, st)
		return err
	})
}

// SessionPayload writes a kvstate key whose DSV4 payload (size bytes) is
// read from r: a session not yet loaded from the previous snapshot is
// copied without decoding it.
func (w *SnapshotWriter) SessionPayload(db int, key string, expireMS int64, size int64, r io.Reader) error {
	return w.record(OpSession, db, key, expireMS, size, func(e *enc) error {
		_, err := io.CopyN(e, r, size)
		return err
	})
}

// Written is the number of bytes written so far.
func (w *SnapshotWriter) Written() int64 { return w.e.n }

// Commit writes the end opcode, the index and the footer, then makes the
// file the target (atomic.go's steps). The writer is finished either way.
func (w *SnapshotWriter) Commit() error {
	if w.done {
		return fmt.Errorf("rdb: snapshot %s already finished", w.tmp)
	}
	w.done = true
	w.e.u8(OpEnd)
	// Index: count, entries, xxhash64 of the index.
	indexOff := w.e.n
	ix := newEnc(w.e)
	ix.u64(uint64(len(w.index)))
	for _, en := range w.index {
		ix.u8(en.Type)
		ix.u32(uint32(en.DB))
		ix.i64(en.ExpireMS)
		ix.u32(uint32(len(en.Key)))
		ix.str(en.Key)
		ix.u64(uint64(en.Off))
		ix.u64(uint64(en.Len))
	}
	ix.sum()
	indexLen := w.e.n - indexOff
	// Footer: index offset, index length, xxhash64 of every byte before
	// the footer, magic. Not hashed by e (it holds e's sum).
	var foot [footerSize]byte
	binary.LittleEndian.PutUint64(foot[0:], uint64(indexOff))
	binary.LittleEndian.PutUint64(foot[8:], uint64(indexLen))
	binary.LittleEndian.PutUint64(foot[16:], w.e.h.Sum64())
	copy(foot[24:], FooterMagic)
	if w.e.err == nil {
		_, w.e.err = w.bw.Write(foot[:])
	}
	if err := w.err("index and footer"); err != nil {
		w.bw.Close()
		w.abort()
		return err
	}
	if err := w.bw.Flush(); err != nil {
		w.abort()
		return fmt.Errorf("rdb: write %s: %w", w.tmp, err)
	}
	return commitTemp(w.f, w.tmp, w.path)
}

// Abort removes the temp file; the target is untouched.
func (w *SnapshotWriter) Abort() {
	if !w.done {
		w.done = true
		w.bw.Close()
		w.abort()
	}
}

func (w *SnapshotWriter) abort() {
	w.f.Close()
	os.Remove(w.tmp)
}

// Snapshot is an open snapshot file: its aux fields and index. Values are
// read on demand (ReadValue), so opening costs the index, not the data.
// Safe for concurrent ReadValue calls. Reference counted: Open returns it
// with one reference; Close drops one and closes the file at zero.
type Snapshot struct {
	Path     string
	Size     int64
	Aux      map[string]string
	AuxOrder []string
	Entries  []Entry // in file order
	FileSum  uint64  // the footer's xxhash64 of the file
	f        file
	refs     atomic.Int64
	recStart int64 // first key record (after the aux fields)
	indexOff int64
}

// OpenSnapshot opens and checks a snapshot's header, aux fields, footer
// and index (each checksummed). Key records are not read.
func OpenSnapshot(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s, err := openSnapshot(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// file is what a Snapshot reads: an *os.File, or bytes in tests.
type file interface {
	io.ReaderAt
	io.Closer
}

func openSnapshot(f *os.File, path string) (*Snapshot, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("rdb: stat %s: %w", path, err)
	}
	return openSnapshotAt(f, st.Size(), path)
}

func openSnapshotAt(f file, size int64, path string) (*Snapshot, error) {
	s := &Snapshot{Path: path, Size: size, f: f, Aux: map[string]string{}}
	s.refs.Store(1)
	bad := func(off int64, format string, args ...any) error {
		return fmt.Errorf("rdb: snapshot %s at offset %d: %s: %w", path, off, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	const headerSize = len(SnapshotMagic) + 2
	if s.Size < int64(headerSize)+1+8+8+footerSize {
		return nil, bad(0, "%d bytes, too short for a snapshot", s.Size)
	}
	// Header.
	head := make([]byte, headerSize)
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("rdb: read %s header: %w", path, err)
	}
	if string(head[:8]) != SnapshotMagic {
		return nil, bad(0, "magic %q, want %q", head[:8], SnapshotMagic)
	}
	if v := binary.LittleEndian.Uint16(head[8:]); v != SnapshotVersion {
		return nil, bad(8, "version %d, this reader knows %d", v, SnapshotVersion)
	}
	// Footer.
	foot := make([]byte, footerSize)
	if _, err := f.ReadAt(foot, s.Size-footerSize); err != nil {
		return nil, fmt.Errorf("rdb: read %s footer: %w", path, err)
	}
	if string(foot[24:]) != FooterMagic {
		return nil, bad(s.Size-footerSize, "footer magic %q, want %q (truncated file?)", foot[24:], FooterMagic)
	}
	s.indexOff = int64(binary.LittleEndian.Uint64(foot[0:]))
	indexLen := int64(binary.LittleEndian.Uint64(foot[8:]))
	s.FileSum = binary.LittleEndian.Uint64(foot[16:])
	if s.indexOff < int64(headerSize)+1 || indexLen < 16 || indexLen > s.Size || s.indexOff+indexLen != s.Size-footerSize {
		return nil, bad(s.Size-footerSize, "index at %d, %d bytes: not where the footer is", s.indexOff, indexLen)
	}
	// Index.
	ib := make([]byte, indexLen)
	if _, err := f.ReadAt(ib, s.indexOff); err != nil {
		return nil, fmt.Errorf("rdb: read %s index: %w", path, err)
	}
	body, err := verifySum(ib, "snapshot index", s.indexOff)
	if err != nil {
		return nil, err
	}
	d := &dec{b: body, base: s.indexOff, what: "snapshot index"}
	n := d.u64("entry count")
	if d.err == nil && n > uint64(d.left()/indexEntryMin) {
		d.fail("%d entries cannot fit in %d bytes", n, d.left())
	}
	if d.err == nil {
		s.Entries = make([]Entry, 0, n)
	}
	prevEnd := int64(0)
	for i := uint64(0); i < n && d.err == nil; i++ {
		var e Entry
		e.Type = d.u8("type")
		e.DB = int(d.u32("db"))
		e.ExpireMS = d.i64("expire")
		e.Key = string(d.take(int(d.u32("key length")), "key"))
		e.Off = int64(d.u64("record offset"))
		e.Len = int64(d.u64("record length"))
		switch {
		case d.err != nil:
		case e.Type != TypeString && e.Type != TypeSession && !IsCollection(e.Type):
			d.fail("entry %d (%q): unknown type %d", i, e.Key, e.Type)
		case e.DB < 0 || e.DB > MaxDB:
			d.fail("entry %d (%q): db %d", i, e.Key, e.DB)
		case e.ExpireMS < -1:
			d.fail("entry %d (%q): expire %d", i, e.Key, e.ExpireMS)
		case e.Off < prevEnd || e.Len < recordHeader+int64(len(e.Key))+16 || e.Off+e.Len > s.indexOff-1 || e.Off+e.Len < e.Off:
			d.fail("entry %d (%q): record [%d, +%d) outside the records or overlapping", i, e.Key, e.Off, e.Len)
		}
		prevEnd = e.Off + e.Len
		s.Entries = append(s.Entries, e)
	}
	if d.err == nil && d.left() != 0 {
		d.fail("%d bytes after the index entries", d.left())
	}
	if d.err != nil {
		return nil, d.err
	}
	// Aux fields: records from the header up to the first key (or the end
	// opcode).
	end := s.indexOff - 1
	if len(s.Entries) > 0 {
		end = s.Entries[0].Off
	}
	if end < int64(headerSize) || end-int64(headerSize) > 64*MaxAuxLen {
		return nil, bad(int64(headerSize), "aux region of %d bytes", end-int64(headerSize))
	}
	ab := make([]byte, end-int64(headerSize))
	if _, err := f.ReadAt(ab, int64(headerSize)); err != nil {
		return nil, fmt.Errorf("rdb: read %s aux fields: %w", path, err)
	}
	if err := s.parseAux(ab, int64(headerSize)); err != nil {
		return nil, err
	}
	s.recStart = end
	return s, nil
}

// parseAux reads the aux records in b (which starts at file offset base).
func (s *Snapshot) parseAux(b []byte, base int64) error {
	off := 0
	for off < len(b) {
		d := &dec{b: b[off:], base: base + int64(off), what: "snapshot aux field"}
		if op := d.u8("opcode"); d.err == nil && op != OpAux {
			d.fail("opcode %#x where an aux field was expected", op)
		}
		name := string(d.take(d.count("name length", MaxAuxLen, 1), "name"))
		val := string(d.take(d.count("value length", MaxAuxLen, 1), "value"))
		if d.err == nil && d.left() < 8 {
			d.fail("aux field %q: checksum missing", name)
		}
		if d.err != nil {
			return d.err
		}
		if _, err := verifySum(b[off:off+d.off+8], "snapshot aux field", base+int64(off)); err != nil {
			return err
		}
		if _, dup := s.Aux[name]; !dup {
			s.AuxOrder = append(s.AuxOrder, name)
		}
		s.Aux[name] = val // unknown names are kept, never an error
		off += d.off + 8
	}
	return nil
}

// Retain adds a reference (a lazily loaded key that will read from it).
func (s *Snapshot) Retain() { s.refs.Add(1) }

// Close drops a reference; the file closes with the last one.
func (s *Snapshot) Close() error {
	if s.refs.Add(-1) == 0 {
		return s.f.Close()
	}
	return nil
}

// ReadRecord reads e's record, verifies its checksum and that it is the
// record the index says, and returns the value (a fresh slice).
func (s *Snapshot) ReadRecord(e Entry) ([]byte, error) {
	if e.Len > s.Size || e.Len < recordHeader+int64(len(e.Key))+16 {
		return nil, fmt.Errorf("rdb: snapshot %s: key %q: record length %d: %w", s.Path, e.Key, e.Len, ErrCorrupt)
	}
	b := make([]byte, e.Len)
	if _, err := s.f.ReadAt(b, e.Off); err != nil {
		return nil, fmt.Errorf("rdb: read %s key %q at offset %d: %w", s.Path, e.Key, e.Off, err)
	}
	return parseRecord(b, e, s.Path)
}

func parseRecord(b []byte, e Entry, path string) ([]byte, error) {
	body, err := verifySum(b, "snapshot record "+fmt.Sprintf("%q", e.Key), e.Off)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	d := &dec{b: body, base: e.Off, what: "snapshot record"}
	op := d.u8("opcode")
	db := d.u32("db")
	exp := d.i64("expire")
	key := d.take(int(d.u32("key length")), "key")
	vlen := d.u64("value length")
	if d.err == nil && (op != e.Type || int(db) != e.DB || exp != e.ExpireMS || string(key) != e.Key || vlen != uint64(d.left())) {
		d.fail("record does not match its index entry (key %q)", e.Key)
	}
	if d.err != nil {
		return nil, d.err
	}
	return body[d.off:], nil
}

// ValueReader returns a reader of e's raw value bytes (not verified: for
// copying a lazily loaded session into a new snapshot, whose reader
// verifies it).
func (s *Snapshot) ValueReader(e Entry) io.Reader {
	return io.NewSectionReader(s.f, e.valueOff(), e.valueLen())
}

// Verify checks the whole file: that the records tile the space between
// the aux fields and the index, each record's checksum and its match with
// its index entry, fn's verdict on each value (optional; it sees them in
// file order), and the footer's checksum over every byte. A damaged record
// does not stop it: the error joins one error per damaged record, each
// naming its key and offset, so a check lists every key a load would
// lose. A structural error (a gap, a missing end) stops it.
func (s *Snapshot) Verify(fn func(e Entry, value []byte) error) error {
	var errs []error
	entries := append([]Entry(nil), s.Entries...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Off < entries[j].Off })
	at := s.recStart
	for _, e := range entries {
		if e.Off != at {
			return errors.Join(append(errs, fmt.Errorf("rdb: snapshot %s at offset %d: gap or overlap before key %q (record at %d): %w", s.Path, at, e.Key, e.Off, ErrCorrupt))...)
		}
		at = e.Off + e.Len
		v, err := s.ReadRecord(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if fn != nil {
			if err := fn(e, v); err != nil {
				errs = append(errs, fmt.Errorf("rdb: snapshot %s at offset %d: key %q: %w", s.Path, e.Off, e.Key, err))
			}
		}
	}
	var op [1]byte
	if _, err := s.f.ReadAt(op[:], at); err != nil || at != s.indexOff-1 || op[0] != OpEnd {
		errs = append(errs, fmt.Errorf("rdb: snapshot %s at offset %d: end opcode missing: %w", s.Path, at, ErrCorrupt))
	}
	h := xxhash.New()
	if _, err := io.Copy(h, io.NewSectionReader(s.f, 0, s.Size-footerSize)); err != nil {
		return errors.Join(append(errs, fmt.Errorf("rdb: read %s: %w", s.Path, err))...)
	}
	if h.Sum64() != s.FileSum {
		errs = append(errs, fmt.Errorf("rdb: snapshot %s: file checksum mismatch: %w", s.Path, ErrCorrupt))
	}
	return errors.Join(errs...)
}
