package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"reddwarf/rdb"
)

// Fsync is the appendfsync policy, with Redis 7.0's meanings.
type Fsync int

const (
	FsyncEverySec Fsync = iota // fsync once a second, off the loop (the default)
	FsyncAlways                // fsync before Flush returns: a reply leaves after its records are on disk
	FsyncNo                    // never fsync; the kernel writes back when it likes
)

// ParseFsync parses "always", "everysec" or "no" (any case).
func ParseFsync(s string) (Fsync, error) {
	switch strings.ToLower(s) {
	case "always":
		return FsyncAlways, nil
	case "everysec":
		return FsyncEverySec, nil
	case "no":
		return FsyncNo, nil
	}
	return 0, fmt.Errorf("store: appendfsync %q: want always, everysec or no", s)
}

func (f Fsync) String() string {
	return [...]string{"everysec", "always", "no"}[f]
}

// Model says which model the store's sessions and pages belong to; it is
// the RDW.MODEL record opening every log file.
type Model struct {
	Arch        string
	Fingerprint uint64
	PageKind    uint8 // rdb.PageKVF16, rdb.PageKVF32, ...
	PageTokens  int
}

// Options configure Open.
type Options struct {
	Dir         string // the store's directory (dir/appenddirname); created if missing
	Name        string // appendfilename: the prefix of every file (default "appendonly.aof")
	Fsync       Fsync
	SegmentMax  int64 // a segment takes no more pages past this size (default 256 MiB)
	RewriteRate int64 // bytes per second for a rewrite's base and Compact's copies; 0 = unlimited
	Model       Model
	// DiskMax is session-disk-max: the store's bytes (segments and logs)
	// never grow past it; 0 = as far as the disk goes. To make room,
	// PutPage drops pages Held does not report (prefix-only pages), the
	// segments holding the fewest held bytes first, moving the held pages
	// they share out first; when only held pages remain it refuses with
	// ErrDiskFull and drops nothing.
	DiskMax int64
	// Held reports whether a key or a checkpoint holds a page; nil = all
	// pages are held. Called on PutPage's goroutine, with the store locked.
	Held func(rdb.PageKey) bool
	// Logf receives what Open repaired (a torn tail) and background
	// errors; nil discards them.
	Logf func(format string, args ...any)
}

// ErrPageCorrupt is wrapped by ReadPage when a page fails its checksum;
// the page is dropped from the index (recompute it from its tokens).
var ErrPageCorrupt = errors.New("store: page damaged")

// ErrDiskFull is returned by PutPage when a page would take the store
// past Options.DiskMax and every stored page is held.
var ErrDiskFull = errors.New("store: session-disk-max reached and every stored page is held by a key")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("store: closed")

// Store is an open session store. Its methods are safe for concurrent
// use: the loop appends and flushes, a goroutine fsyncs, a rewrite
// writes its base from another.
type Store struct {
	o Options

	mu       sync.Mutex
	closed   bool
	manifest *rdb.Manifest
	baseSize int64
	incr     *logFile // the log appends go to
	oldIncr  []*logFile
	buf      []byte // records appended since the last Flush
	segs     map[uint64]*segment
	active   *segment // the segment PutPage appends to (nil: make one)
	index    map[rdb.PageKey]pageLoc
	nextSeq  uint64 // next seq for any new file
	rewrite  *Rewrite
	retired  []*os.File // dropped segments' files, closed at the next fsync turn
	writeErr error      // the last failed write, nil once one succeeds
	syncErr  error      // the last failed fsync, nil once one succeeds
	dirty    bool       // data written since the last fsync (log or segments)

	// syncMu is held while fsyncing outside mu, so a file is never closed
	// under a running fsync.
	syncMu sync.Mutex
	stop   chan struct{}
	done   chan struct{}

	stats counters
	// diskFull: a page was refused for session-disk-max, and no segment
	// has been dropped since (DiskFull).
	diskFull atomic.Bool
}

// counters are the store's INFO figures; atomics, read without mu.
type counters struct {
	logBytes, pageBytes, pagesWritten, dedupHits  atomic.Int64
	pageReads, pageReadBytes, pagesCorrupt        atomic.Int64
	fsyncs, writeErrors, rewrites, reclaimedSegs  atomic.Int64
	lastFsyncNanos, lastRewriteNanos, tornRepairs atomic.Int64
	segsIndexed, segsScanned                      atomic.Int64 // at Open: segments indexed from their index file, or by their headers
}

type logFile struct {
	name string
	seq  uint64
	f    *os.File
	size int64
}

type segment struct {
	name  string
	seq   uint64
	f     *os.File
	size  int64
	pages int
	dirty bool // written since its last fsync
}

type pageLoc struct {
	seg  uint64
	off  int64
	size int64
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "appendonly.aof"
	}
	if o.SegmentMax <= 0 {
		o.SegmentMax = 256 << 20
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

func (s *Store) manifestPath() string { return filepath.Join(s.o.Dir, s.o.Name+".manifest") }
func (s *Store) path(name string) string {
	return filepath.Join(s.o.Dir, name)
}
func (s *Store) baseName(seq uint64) string { return fmt.Sprintf("%s.%d.base.aof", s.o.Name, seq) }
func (s *Store) incrName(seq uint64) string { return fmt.Sprintf("%s.%d.incr.aof", s.o.Name, seq) }
func (s *Store) segName(seq uint64) string  { return fmt.Sprintf("%s.%d.seg", s.o.Name, seq) }

// Apply receives every record of the store at Open, base first, then
// the incremental logs in order: a Redis command or an RDW.* record
// (rec.IsSession), its Args valid only during the call. file names the
// file, for errors. An error stops Open.
type Apply func(file string, rec *rdb.LogRecord) error

// Open opens (or creates) the store in o.Dir and replays it through
// apply (nil: verify only). A record cut by a crash at the end of the
// last log or the last segment is truncated away and logged; any other
// damage refuses with the file, offset and reason.
func Open(o Options, apply Apply) (*Store, error) {
	o.defaults()
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", o.Dir, err)
	}
	s := &Store{o: o, segs: map[uint64]*segment{}, index: map[rdb.PageKey]pageLoc{}, stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.open(apply); err != nil {
		s.closeFiles()
		return nil, err
	}
	go s.syncLoop()
	return s, nil
}

func (s *Store) open(apply Apply) error {
	b, err := os.ReadFile(s.manifestPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := s.create(); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("store: read %s: %w", s.manifestPath(), err)
	default:
		if s.manifest, err = rdb.ParseManifest(b, s.manifestPath()); err != nil {
			return err
		}
	}
	for _, f := range s.manifest.Files {
		s.nextSeq = max(s.nextSeq, f.Seq+1)
	}
	s.removeStrays()
	if err := s.openSegments(); err != nil {
		return err
	}
	return s.replayLogs(apply)
}

// create makes a fresh store: an empty base and the first incremental
// log, each opening with the model record, and the manifest naming them.
// A directory holding store files but no manifest is refused: those
// files would be silently ignored.
func (s *Store) create() error {
	ents, err := os.ReadDir(s.o.Dir)
	if err != nil {
		return fmt.Errorf("store: read %s: %w", s.o.Dir, err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), s.o.Name+".") {
			return fmt.Errorf("store: %s holds %s but no manifest %s: refusing to start over it", s.o.Dir, e.Name(), filepath.Base(s.manifestPath()))
		}
	}
	model := s.modelRecord()
	if err := rdb.WriteFileAtomic(s.path(s.baseName(1)), func(f *os.File) error { _, err := f.Write(model); return err }); err != nil {
		return err
	}
	if err := rdb.WriteFileAtomic(s.path(s.incrName(1)), func(f *os.File) error { _, err := f.Write(model); return err }); err != nil {
		return err
	}
	s.manifest = &rdb.Manifest{Files: []rdb.ManifestFile{
		{Name: s.baseName(1), Seq: 1, Type: rdb.ManifestBase},
		{Name: s.incrName(1), Seq: 1, Type: rdb.ManifestIncr},
	}}
	return s.writeManifest(s.manifest)
}

func (s *Store) modelRecord() []byte {
	m := s.o.Model
	return rdb.ModelRecord(nil, m.Arch, m.Fingerprint, m.PageKind, m.PageTokens)
}

// writeManifest replaces the manifest atomically.
func (s *Store) writeManifest(m *rdb.Manifest) error {
	return rdb.WriteFileAtomic(s.manifestPath(), func(f *os.File) error { _, err := f.Write(m.Bytes()); return err })
}

// removeStrays deletes files of this store the manifest does not name: a
// rewrite's or a new segment's leftovers from a crash, and temp files.
func (s *Store) removeStrays() {
	named := map[string]bool{filepath.Base(s.manifestPath()): true}
	for _, f := range s.manifest.Files {
		named[f.Name] = true
	}
	ents, _ := os.ReadDir(s.o.Dir)
	for _, e := range ents {
		n := e.Name()
		ours := strings.HasPrefix(n, s.o.Name+".") || (strings.HasPrefix(n, "temp-") && strings.Contains(n, "."+s.o.Name+"."))
		if seg, ok := strings.CutSuffix(n, ".idx"); ok && named[seg] {
			continue // a segment's index goes with its segment
		}
		if ours && !named[n] && e.Type().IsRegular() {
			s.o.Logf("store: removing %s, which the manifest does not name", n)
			os.Remove(s.path(n))
		}
	}
}

// openSegments indexes every segment from its record headers; the last
// one may have a torn tail, which is cut off.
func (s *Store) openSegments() error {
	segs := s.manifest.Of(rdb.ManifestSegment)
	for i, mf := range segs {
		last := i == len(segs)-1
		flag := os.O_RDONLY
		if last {
			flag = os.O_RDWR
		}
		f, err := os.OpenFile(s.path(mf.Name), flag, 0)
		if err != nil {
			return fmt.Errorf("store: open segment %s: %w", mf.Name, err)
		}
		seg := &segment{name: mf.Name, seq: mf.Seq, f: f}
		s.segs[mf.Seq] = seg
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("store: stat %s: %w", mf.Name, err)
		}
		var hdr [rdb.SegmentHeader]byte
		if fi.Size() >= rdb.SegmentHeader {
			if _, err := f.ReadAt(hdr[:], 0); err != nil {
				return fmt.Errorf("store: read %s: %w", mf.Name, err)
			}
			if _, pt, err := rdb.ParseSegmentHeader(hdr[:], mf.Name); err == nil && pt != s.o.Model.PageTokens {
				return fmt.Errorf("store: segment %s holds pages of %d tokens, the model's are %d: %w", mf.Name, pt, s.o.Model.PageTokens, rdb.ErrIncompatible)
			}
		}
		if !last && s.loadSegmentIndex(seg, fi.Size()) {
			seg.size = fi.Size()
			s.stats.segsIndexed.Add(1)
			continue
		}
		s.stats.segsScanned.Add(1)
		valid, err := rdb.ScanSegment(f, fi.Size(), mf.Name, last, func(off int64, h *rdb.PageHead) error {
			if _, dup := s.index[h.PageKey]; !dup {
				s.index[h.PageKey] = pageLoc{seg: mf.Seq, off: off, size: h.Size()}
			}
			seg.pages++
			return nil
		})
		if errors.Is(err, rdb.ErrTorn) {
			if err := s.repair(f, mf.Name, valid, fi.Size(), err); err != nil {
				return err
			}
			if valid < rdb.SegmentHeader {
				// Cut inside its header: write the header again.
				if _, err := f.WriteAt(rdb.AppendSegmentHeader(nil, mf.Seq, s.o.Model.PageTokens), 0); err != nil {
					return fmt.Errorf("store: rewrite header of %s: %w", mf.Name, err)
				}
				valid = rdb.SegmentHeader
			}
		} else if err != nil {
			return err
		}
		seg.size = valid
		if last && valid < s.o.SegmentMax {
			s.active = seg
		}
	}
	return nil
}

// repair truncates a torn tail away, fsyncs, and logs what it cut.
func (s *Store) repair(f *os.File, name string, valid, size int64, why error) error {
	s.o.Logf("store: %s: cutting %d bytes after offset %d (%v)", name, size-valid, valid, why)
	if err := f.Truncate(valid); err != nil {
		return fmt.Errorf("store: truncate %s to %d: %w", name, valid, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: fsync %s: %w", name, err)
	}
	s.stats.tornRepairs.Add(1)
	return nil
}

// replayLogs reads the base and every incremental log in order, checks
// each file's model record, hands records to apply, repairs the last
// log's torn tail and opens it for appending.
func (s *Store) replayLogs(apply Apply) error {
	var files []rdb.ManifestFile
	if b, ok := s.manifest.Base(); ok {
		files = append(files, b)
	}
	incrs := s.manifest.Of(rdb.ManifestIncr)
	if len(incrs) == 0 {
		return fmt.Errorf("store: %s names no incremental log: %w", s.manifestPath(), rdb.ErrCorrupt)
	}
	files = append(files, incrs...)
	for i, mf := range files {
		last := i == len(files)-1
		size, err := s.replayFile(mf, last, apply)
		if err != nil {
			return err
		}
		switch {
		case mf.Type == rdb.ManifestBase:
			s.baseSize = size
		case last:
			f, err := os.OpenFile(s.path(mf.Name), os.O_WRONLY, 0)
			if err != nil {
				return fmt.Errorf("store: open %s for appending: %w", mf.Name, err)
			}
			s.incr = &logFile{name: mf.Name, seq: mf.Seq, f: f, size: size}
		default:
			s.oldIncr = append(s.oldIncr, &logFile{name: mf.Name, seq: mf.Seq, size: size})
		}
	}
	return nil
}

// replayFile reads one log file; only the last may end torn.
func (s *Store) replayFile(mf rdb.ManifestFile, last bool, apply Apply) (int64, error) {
	f, err := os.OpenFile(s.path(mf.Name), os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("store: open %s: %w", mf.Name, err)
	}
	defer f.Close()
	lr := rdb.NewLogReader(f, mf.Name)
	first := true
	for {
		rec, err := lr.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, rdb.ErrTorn) && last {
			fi, serr := f.Stat()
			if serr != nil {
				return 0, fmt.Errorf("store: stat %s: %w", mf.Name, serr)
			}
			if err := s.repair(f, mf.Name, lr.Offset(), fi.Size(), err); err != nil {
				return 0, err
			}
			break
		}
		if errors.Is(err, rdb.ErrTorn) {
			// Only the log being appended to can end torn.
			return 0, fmt.Errorf("%w (in %s, which later files follow)", rdb.ErrCorrupt, err)
		}
		if err != nil {
			return 0, err
		}
		if first {
			if err := s.checkModel(mf.Name, &rec); err != nil {
				return 0, err
			}
			first = false
			continue
		}
		if rec.IsSession() {
			if _, err := rdb.DecodeSessionOp(&rec, mf.Name); err != nil {
				return 0, err
			}
		}
		if apply != nil {
			if err := apply(mf.Name, &rec); err != nil {
				return 0, fmt.Errorf("store: %s at offset %d: %w", mf.Name, rec.Offset, err)
			}
		}
	}
	if first && lr.Offset() == 0 && last {
		// The log lost even its model record (a crash right after it was
		// created): start it again.
		if _, err := f.WriteAt(s.modelRecord(), 0); err != nil {
			return 0, fmt.Errorf("store: write %s: %w", mf.Name, err)
		}
		return int64(len(s.modelRecord())), f.Sync()
	}
	if first {
		return 0, fmt.Errorf("store: %s has no model record: %w", mf.Name, rdb.ErrCorrupt)
	}
	return lr.Offset(), nil
}

// checkModel refuses a log made for another model or page layout.
func (s *Store) checkModel(file string, rec *rdb.LogRecord) error {
	if !rec.IsSession() || string(rec.Args[0]) != rdb.OpModel {
		return fmt.Errorf("store: %s at offset 0: the first record is %q, not %s: %w", file, rec.Args[0], rdb.OpModel, rdb.ErrCorrupt)
	}
	op, err := rdb.DecodeSessionOp(rec, file)
	if err != nil {
		return err
	}
	m := s.o.Model
	if op.Arch != m.Arch || op.Fingerprint != m.Fingerprint || op.PageKind != m.PageKind || op.PageTokens != m.PageTokens {
		return fmt.Errorf("store: %s was written for model %s %016x (page kind %d, %d tokens), this one is %s %016x (page kind %d, %d tokens): %w",
			file, op.Arch, op.Fingerprint, op.PageKind, op.PageTokens, m.Arch, m.Fingerprint, m.PageKind, m.PageTokens, rdb.ErrIncompatible)
	}
	return nil
}

// Append buffers records (encoded by rdb's writers) for the next Flush.
func (s *Store) Append(recs []byte) {
	s.mu.Lock()
	s.buf = append(s.buf, recs...)
	s.mu.Unlock()
}

// Flush writes the buffered records to the log; with FsyncAlways it also
// fsyncs (segments first, then the log) before returning. On failure the
// partial write is cut off the file, the records stay buffered for the
// next Flush, and the error is returned (and kept for LastWriteError).
func (s *Store) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.writeBuf(); err != nil {
		return err
	}
	if s.o.Fsync == FsyncAlways && s.dirty {
		return s.syncLocked()
	}
	return nil
}

func (s *Store) writeBuf() error {
	if len(s.buf) == 0 {
		return nil
	}
	n, err := s.incr.f.WriteAt(s.buf, s.incr.size)
	if err != nil {
		s.failWrite(s.incr.f, s.incr.name, s.incr.size, n, err)
		return s.writeErr
	}
	s.incr.size += int64(n)
	s.stats.logBytes.Add(int64(n))
	s.buf = s.buf[:0]
	s.dirty = true
	s.writeErr = nil
	return nil
}

// failWrite cuts a partial write off the file, so the file stays a
// sequence of whole records, and records the error.
func (s *Store) failWrite(f *os.File, name string, size int64, n int, err error) {
	if n > 0 {
		if terr := f.Truncate(size); terr != nil {
			s.o.Logf("store: truncate %s after a failed write: %v", name, terr)
		}
	}
	s.writeErr = fmt.Errorf("store: write %s at offset %d: %w", name, size, err)
	s.stats.writeErrors.Add(1)
}

// syncLocked fsyncs the dirty segments, then the log. Called with mu.
func (s *Store) syncLocked() error {
	start := time.Now()
	for _, seg := range s.segs {
		if seg.dirty {
			if err := seg.f.Sync(); err != nil {
				s.syncErr = fmt.Errorf("store: fsync %s: %w", seg.name, err)
				s.stats.writeErrors.Add(1)
				return s.syncErr
			}
			seg.dirty = false
		}
	}
	if err := s.incr.f.Sync(); err != nil {
		s.syncErr = fmt.Errorf("store: fsync %s: %w", s.incr.name, err)
		s.stats.writeErrors.Add(1)
		return s.syncErr
	}
	s.dirty = false
	s.syncErr = nil
	s.stats.fsyncs.Add(1)
	s.stats.lastFsyncNanos.Store(int64(time.Since(start)))
	return nil
}

// Sync fsyncs everything written so far, whatever the policy (shutdown,
// BGREWRITEAOF's start).
func (s *Store) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.writeBuf(); err != nil {
		return err
	}
	return s.syncLocked()
}

// syncLoop is FsyncEverySec's fsync, once a second, outside mu so the
// loop's writes go on while the disk works; with every policy it closes
// the files of segments dropped since the last turn.
func (s *Store) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.backgroundSync()
		}
	}
}

func (s *Store) backgroundSync() {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	s.closeRetired()
	if s.o.Fsync != FsyncEverySec || !s.dirty || s.closed {
		s.mu.Unlock()
		return
	}
	var files []*os.File
	var names []string
	for _, seg := range s.segs {
		if seg.dirty {
			files, names = append(files, seg.f), append(names, seg.name)
			seg.dirty = false
		}
	}
	files, names = append(files, s.incr.f), append(names, s.incr.name)
	s.dirty = false
	s.mu.Unlock()

	start := time.Now()
	for i, f := range files {
		if err := f.Sync(); err != nil {
			err = fmt.Errorf("store: fsync %s: %w", names[i], err)
			s.mu.Lock()
			s.syncErr = err
			s.dirty = true // try again next second
			s.mu.Unlock()
			s.stats.writeErrors.Add(1)
			s.o.Logf("%v", err)
			return
		}
	}
	s.mu.Lock()
	s.syncErr = nil
	s.mu.Unlock()
	s.stats.fsyncs.Add(1)
	s.stats.lastFsyncNanos.Store(int64(time.Since(start)))
}

// LastWriteError is the error of the last failed write or fsync, nil once
// a later one succeeded (INFO aof_last_write_status; writes are refused
// with -MISCONF while it is set).
func (s *Store) LastWriteError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr()
}

func (s *Store) lastErr() error {
	if s.writeErr != nil {
		return s.writeErr
	}
	return s.syncErr
}

// DiskFull reports that a page was refused because the store reached
// Options.DiskMax with only held pages left, and nothing has been freed
// since (a rewrite's Reclaim or Compact dropping a segment clears it).
// The caller refuses what would grow the store meanwhile.
func (s *Store) DiskFull() bool { return s.diskFull.Load() }

// HasPage reports whether a page with key k is stored.
func (s *Store) HasPage(k rdb.PageKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.index[k]
	return ok
}

// PutPage stores a full page unless one with its key is stored already
// (then it reports false: pages are written once). The page reaches the
// disk with the next fsync, before the log records written after it.
func (s *Store) PutPage(p *rdb.PageRecord) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	if _, ok := s.index[p.PageKey]; ok {
		s.stats.dedupHits.Add(1)
		return false, nil
	}
	b := rdb.AppendPageRecord(nil, p)
	if s.o.DiskMax > 0 && s.diskBytes()+int64(len(b)) > s.o.DiskMax {
		if err := s.makeRoom(int64(len(b))); err != nil {
			s.diskFull.Store(true)
			return false, err
		}
	}
	if s.active == nil || s.active.size >= s.o.SegmentMax {
		if err := s.newSegment(); err != nil {
			s.writeErr = err
			s.stats.writeErrors.Add(1)
			return false, err
		}
	}
	seg := s.active
	n, err := seg.f.WriteAt(b, seg.size)
	if err != nil {
		s.failWrite(seg.f, seg.name, seg.size, n, err)
		return false, s.writeErr
	}
	s.index[p.PageKey] = pageLoc{seg: seg.seq, off: seg.size, size: int64(len(b))}
	seg.size += int64(len(b))
	seg.pages++
	seg.dirty, s.dirty = true, true
	s.stats.pageBytes.Add(int64(len(b)))
	s.stats.pagesWritten.Add(1)
	return true, nil
}

// idxName is the name of a segment's index file (FORMAT.md §5.2.1).
func idxName(seg string) string { return seg + ".idx" }

// sealSegment writes the index of seg, which takes no more pages, so
// start-up reads it instead of every page header. A failure is only
// logged: start-up then scans the segment. With mu.
func (s *Store) sealSegment(seg *segment) {
	var entries []rdb.SegIndexEntryLoc
	for k, loc := range s.index {
		if loc.seg == seg.seq {
			entries = append(entries, rdb.SegIndexEntryLoc{PageKey: k, Off: loc.off, Size: loc.size})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Off < entries[j].Off })
	b := rdb.AppendSegIndex(nil, seg.seq, seg.size, entries)
	if err := rdb.WriteFileAtomic(s.path(idxName(seg.name)), func(f *os.File) error { _, err := f.Write(b); return err }); err != nil {
		s.o.Logf("store: writing the index of %s: %v (start-up will scan it)", seg.name, err)
	}
}

// loadSegmentIndex fills the index from seg's index file; false when
// there is none usable (missing, damaged, or not for the segment as it
// is), and the segment must be scanned.
func (s *Store) loadSegmentIndex(seg *segment, size int64) bool {
	b, err := os.ReadFile(s.path(idxName(seg.name)))
	if err != nil || int64(len(b)) > rdb.SegIndexHeader+rdb.MaxSegIndexEntries*rdb.SegIndexEntry+8 {
		return false
	}
	entries, err := rdb.ParseSegIndex(b, idxName(seg.name), seg.seq, size)
	if err != nil {
		s.o.Logf("store: %v (scanning the segment instead)", err)
		return false
	}
	for _, e := range entries {
		if _, dup := s.index[e.PageKey]; !dup {
			s.index[e.PageKey] = pageLoc{seg: seg.seq, off: e.Off, size: e.Size}
		}
	}
	seg.pages = len(entries)
	return true
}

// newSegment creates the next segment (header, fsync) and lists it in
// the manifest before any page goes into it.
func (s *Store) newSegment() error {
	if s.active != nil {
		s.sealSegment(s.active)
	}
	seq := s.nextSeq
	name := s.segName(seq)
	f, err := os.OpenFile(s.path(name), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("store: create segment %s: %w", name, err)
	}
	hdr := rdb.AppendSegmentHeader(nil, seq, s.o.Model.PageTokens)
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		os.Remove(s.path(name))
		return fmt.Errorf("store: write segment %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(s.path(name))
		return fmt.Errorf("store: fsync segment %s: %w", name, err)
	}
	m := &rdb.Manifest{Files: append(append([]rdb.ManifestFile(nil), s.manifest.Files...), rdb.ManifestFile{Name: name, Seq: seq, Type: rdb.ManifestSegment})}
	if err := s.writeManifest(m); err != nil {
		f.Close()
		os.Remove(s.path(name))
		return err
	}
	s.manifest = m
	s.nextSeq++
	seg := &segment{name: name, seq: seq, f: f, size: int64(len(hdr))}
	s.segs[seq] = seg
	s.active = seg
	return nil
}

// ReadPage reads and verifies a stored page. A page that fails its
// checksum is dropped from the index and the error wraps ErrPageCorrupt;
// os.ErrNotExist means no such page is stored.
func (s *Store) ReadPage(k rdb.PageKey) (*rdb.PageRecord, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	loc, ok := s.index[k]
	var seg *segment
	if ok {
		seg = s.segs[loc.seg]
	}
	s.mu.Unlock()
	if !ok || seg == nil {
		return nil, fmt.Errorf("store: page %016x: %w", k.Hash, os.ErrNotExist)
	}
	b := make([]byte, loc.size)
	if _, err := seg.f.ReadAt(b, loc.off); err != nil {
		return nil, fmt.Errorf("store: read page %016x from %s at offset %d: %w", k.Hash, seg.name, loc.off, err)
	}
	s.stats.pageReads.Add(1)
	s.stats.pageReadBytes.Add(loc.size)
	h, err := rdb.ParsePageHead(b, seg.name, loc.off)
	var toks []int32
	var payload []byte
	if err == nil {
		if h.PageKey != k {
			err = fmt.Errorf("rdb: %s at offset %d: record holds page %016x, the index says %016x: %w", seg.name, loc.off, h.Hash, k.Hash, rdb.ErrCorrupt)
		} else {
			toks, payload, err = rdb.DecodePageBody(&h, b[rdb.PageHeader:], seg.name, loc.off)
		}
	}
	if err != nil {
		s.mu.Lock()
		if cur, ok := s.index[k]; ok && cur == loc {
			delete(s.index, k)
		}
		s.mu.Unlock()
		s.stats.pagesCorrupt.Add(1)
		return nil, fmt.Errorf("%w: %w", ErrPageCorrupt, err)
	}
	return &rdb.PageRecord{PageKey: h.PageKey, Parent: h.Parent, Depth: h.Depth, Tokens: toks, Payload: payload}, nil
}

// Close flushes, fsyncs (whatever the policy: a clean shutdown loses
// nothing) and closes the files.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	err := s.writeBuf()
	if err == nil {
		err = s.syncLocked()
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.closeRetired()
	s.closeFiles()
	return err
}

func (s *Store) closeFiles() {
	for _, seg := range s.segs {
		seg.f.Close()
	}
	if s.incr != nil {
		s.incr.f.Close()
	}
}

// Stats is the store's INFO section.
type Stats struct {
	Fsync            string
	BaseSize         int64 // bytes of the base
	LogSize          int64 // bytes of the base and every incremental log
	Segments         int
	SegmentBytes     int64
	Pages            int
	PagesWritten     int64 // since Open
	PageBytesWritten int64
	DedupHits        int64 // PutPage calls for a page already stored
	LogBytesWritten  int64
	PageReads        int64
	PageReadBytes    int64
	PagesCorrupt     int64
	Fsyncs           int64
	LastFsync        time.Duration
	WriteErrors      int64
	TornRepairs      int64
	Rewrites         int64
	RewriteRunning   bool
	LastRewrite      time.Duration
	ReclaimedSegs    int64
	SegsIndexed      int64 // at Open, segments whose index file served
	SegsScanned      int64 // at Open, segments whose record headers were read
	LastWriteErr     error
}

// Stats returns the current figures.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	st := Stats{Fsync: s.o.Fsync.String(), BaseSize: s.baseSize, Segments: len(s.segs), Pages: len(s.index), RewriteRunning: s.rewrite != nil, LastWriteErr: s.lastErr()}
	st.LogSize = s.baseSize + s.incr.size
	for _, l := range s.oldIncr {
		st.LogSize += l.size
	}
	for _, seg := range s.segs {
		st.SegmentBytes += seg.size
	}
	s.mu.Unlock()
	c := &s.stats
	st.PagesWritten, st.PageBytesWritten, st.DedupHits = c.pagesWritten.Load(), c.pageBytes.Load(), c.dedupHits.Load()
	st.LogBytesWritten, st.PageReads, st.PageReadBytes = c.logBytes.Load(), c.pageReads.Load(), c.pageReadBytes.Load()
	st.PagesCorrupt, st.Fsyncs, st.LastFsync = c.pagesCorrupt.Load(), c.fsyncs.Load(), time.Duration(c.lastFsyncNanos.Load())
	st.WriteErrors, st.TornRepairs, st.Rewrites = c.writeErrors.Load(), c.tornRepairs.Load(), c.rewrites.Load()
	st.LastRewrite, st.ReclaimedSegs = time.Duration(c.lastRewriteNanos.Load()), c.reclaimedSegs.Load()
	st.SegsIndexed, st.SegsScanned = c.segsIndexed.Load(), c.segsScanned.Load()
	return st
}

// DedupRatio is the pages stored (PutPage calls) per page written since
// Open: 1 when no page was shared, 2 when each was stored by two sessions.
func (st Stats) DedupRatio() float64 {
	if st.PagesWritten == 0 {
		return 1
	}
	return float64(st.PagesWritten+st.DedupHits) / float64(st.PagesWritten)
}

// Info renders Stats as INFO lines (name:value).
func (st Stats) Info() []string {
	status := "ok"
	if st.LastWriteErr != nil {
		status = "err"
	}
	kv := [][2]string{
		{"store_fsync", st.Fsync},
		{"store_log_bytes", itoa(st.LogSize)},
		{"store_base_bytes", itoa(st.BaseSize)},
		{"store_segments", itoa(int64(st.Segments))},
		{"store_segment_bytes", itoa(st.SegmentBytes)},
		{"store_segments_indexed_at_start", itoa(st.SegsIndexed)},
		{"store_segments_scanned_at_start", itoa(st.SegsScanned)},
		{"store_pages", itoa(int64(st.Pages))},
		{"store_pages_written", itoa(st.PagesWritten)},
		{"store_page_bytes_written", itoa(st.PageBytesWritten)},
		{"store_page_dedup_hits", itoa(st.DedupHits)},
		{"store_dedup_ratio", strconv.FormatFloat(st.DedupRatio(), 'f', 2, 64)},
		{"store_log_bytes_written", itoa(st.LogBytesWritten)},
		{"store_page_reads", itoa(st.PageReads)},
		{"store_page_read_bytes", itoa(st.PageReadBytes)},
		{"store_pages_corrupt", itoa(st.PagesCorrupt)},
		{"store_fsyncs", itoa(st.Fsyncs)},
		{"store_last_fsync_usec", itoa(st.LastFsync.Microseconds())},
		{"store_write_errors", itoa(st.WriteErrors)},
		{"store_last_write_status", status},
		{"store_torn_tails_repaired", itoa(st.TornRepairs)},
		{"store_rewrites", itoa(st.Rewrites)},
		{"store_rewrite_in_progress", strconv.FormatBool(st.RewriteRunning)},
		{"store_last_rewrite_usec", itoa(st.LastRewrite.Microseconds())},
		{"store_segments_reclaimed", itoa(st.ReclaimedSegs)},
	}
	out := make([]string, len(kv))
	for i, p := range kv {
		out[i] = p[0] + ":" + p[1]
	}
	return out
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// ReadRun reads the pages of keys in order and returns the longest
// prefix of them that is stored and intact: a missing page ends the run,
// a damaged one too (dropped from the index, as ReadPage does). Pages
// lying back to back in a segment — a session's pages usually do — are
// read with one read each run, so a restore streams at the disk's
// bandwidth instead of paying a seek per page. The error is for I/O
// failures only.
func (s *Store) ReadRun(keys []rdb.PageKey) ([]*rdb.PageRecord, error) {
	type span struct {
		seg   *segment
		off   int64
		size  int64
		first int // index in keys
		n     int
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	var spans []span
	for i, k := range keys {
		loc, ok := s.index[k]
		if !ok {
			break
		}
		seg := s.segs[loc.seg]
		if l := len(spans) - 1; l >= 0 && spans[l].seg == seg && spans[l].off+spans[l].size == loc.off && spans[l].size+loc.size <= 64<<20 {
			spans[l].size += loc.size
			spans[l].n++
			continue
		}
		spans = append(spans, span{seg: seg, off: loc.off, size: loc.size, first: i, n: 1})
	}
	s.mu.Unlock()
	var out []*rdb.PageRecord
	for _, sp := range spans {
		b := make([]byte, sp.size)
		if _, err := sp.seg.f.ReadAt(b, sp.off); err != nil {
			return out, fmt.Errorf("store: read %s at offset %d: %w", sp.seg.name, sp.off, err)
		}
		s.stats.pageReads.Add(int64(sp.n))
		s.stats.pageReadBytes.Add(sp.size)
		off := sp.off
		for j := 0; j < sp.n; j++ {
			k := keys[sp.first+j]
			h, err := rdb.ParsePageHead(b, sp.seg.name, off)
			var toks []int32
			var payload []byte
			if err == nil && h.PageKey != k {
				err = fmt.Errorf("rdb: %s: record holds page %016x, the index says %016x: %w", sp.seg.name, h.Hash, k.Hash, rdb.ErrCorrupt)
			}
			if err == nil && h.Size() > int64(len(b)) {
				err = fmt.Errorf("rdb: %s: record of %d bytes past its run: %w", sp.seg.name, h.Size(), rdb.ErrCorrupt)
			}
			if err == nil {
				toks, payload, err = rdb.DecodePageBody(&h, b[rdb.PageHeader:h.Size()], sp.seg.name, off)
			}
			if err != nil {
				s.mu.Lock()
				delete(s.index, k)
				s.mu.Unlock()
				s.stats.pagesCorrupt.Add(1)
				return out, nil
			}
			out = append(out, &rdb.PageRecord{PageKey: h.PageKey, Parent: h.Parent, Depth: h.Depth, Tokens: toks, Payload: payload})
			b = b[h.Size():]
			off += h.Size()
		}
	}
	return out, nil
}
