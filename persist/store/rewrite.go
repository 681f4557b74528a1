package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"time"

	"reddwarf/rdb"
)

// Rewrite is one background rewrite (BGREWRITEAOF), as Redis 7.0 does
// it with a multi-part AOF:
//
//  1. BeginRewrite (on the loop): the buffered records are written, a new
//     incremental log is created and listed in the manifest, and appends
//     go to it from now on. The caller takes its view of the keyspace at
//     this same moment.
//  2. Append (any goroutine): the caller writes the view as records into
//     a temp base file, at most Options.RewriteRate bytes a second.
//  3. Commit: the base is fsynced and renamed; the manifest now lists the
//     new base and the logs begun since step 1; the old base and logs
//     are deleted. A crash before the manifest is replaced leaves the old
//     base and every log listed, which replay to the same keyspace.
//
// Abort (or a failed Commit) removes the temp base; the logs stay listed.
type Rewrite struct {
	s     *Store
	seq   uint64 // the new base's seq
	tmp   string
	f     *os.File
	w     *bufio.Writer
	lim   limiter
	size  int64
	old   []string // the base and logs the new base replaces
	start time.Time
	err   error
	// newSegs: segments with this seq or a later one may hold pages
	// written after the rewrite began, which the new base does not name
	// but the new logs may; Reclaim keeps them.
	newSegs uint64
}

// ErrRewriteRunning is returned by BeginRewrite while one is in progress.
var ErrRewriteRunning = errors.New("store: a rewrite is already in progress")

// BeginRewrite starts a rewrite (step 1 above).
func (s *Store) BeginRewrite() (*Rewrite, error) {
	s.syncMu.Lock() // the old log is closed below
	defer s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.rewrite != nil {
		return nil, ErrRewriteRunning
	}
	// The old log must be whole and on disk before it becomes history.
	if err := s.writeBuf(); err != nil {
		return nil, err
	}
	if err := s.syncLocked(); err != nil {
		return nil, err
	}
	incrSeq, baseSeq := s.nextSeq, s.nextSeq+1
	incr, err := s.createLog(s.incrName(incrSeq), incrSeq)
	if err != nil {
		return nil, err
	}
	m := &rdb.Manifest{Files: append(append([]rdb.ManifestFile(nil), s.manifest.Files...), rdb.ManifestFile{Name: incr.name, Seq: incrSeq, Type: rdb.ManifestIncr})}
	if err := s.writeManifest(m); err != nil {
		incr.f.Close()
		os.Remove(s.path(incr.name))
		return nil, err
	}
	s.nextSeq += 2
	s.manifest = m
	var old []string
	for _, f := range m.Files {
		if f.Type != rdb.ManifestSegment && f.Name != incr.name {
			old = append(old, f.Name)
		}
	}
	s.incr.f.Close()
	s.incr.f = nil
	s.oldIncr = append(s.oldIncr, s.incr)
	s.incr = incr

	tmp := s.path(fmt.Sprintf("temp-%d-rewrite.%s", os.Getpid(), s.baseName(baseSeq)))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: create %s: %w", tmp, err)
	}
	rw := &Rewrite{s: s, seq: baseSeq, tmp: tmp, f: f, w: bufio.NewWriterSize(f, 1<<20), lim: limiter{rate: s.o.RewriteRate, start: time.Now()}, old: old, start: time.Now(), newSegs: baseSeq}
	if s.active != nil {
		rw.newSegs = s.active.seq
	}
	s.rewrite = rw
	rw.write(s.modelRecord())
	return rw, nil
}

// createLog creates a log file holding the model record, fsynced.
func (s *Store) createLog(name string, seq uint64) (*logFile, error) {
	f, err := os.OpenFile(s.path(name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: create %s: %w", name, err)
	}
	model := s.modelRecord()
	if _, err := f.Write(model); err != nil {
		f.Close()
		os.Remove(s.path(name))
		return nil, fmt.Errorf("store: write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(s.path(name))
		return nil, fmt.Errorf("store: fsync %s: %w", name, err)
	}
	return &logFile{name: name, seq: seq, f: f, size: int64(len(model))}, nil
}

func (rw *Rewrite) write(b []byte) {
	if rw.err != nil {
		return
	}
	rw.lim.wait(int64(len(b)))
	if _, err := rw.w.Write(b); err != nil {
		rw.err = fmt.Errorf("store: write %s: %w", rw.tmp, err)
	}
	rw.size += int64(len(b))
}

// Append writes records of the view to the new base; the first error is
// kept and returned by Commit.
func (rw *Rewrite) Append(recs []byte) error {
	rw.write(recs)
	return rw.err
}

// Commit installs the new base (step 3 above).
func (rw *Rewrite) Commit() error {
	s := rw.s
	if rw.err == nil {
		if err := rw.w.Flush(); err != nil {
			rw.err = fmt.Errorf("store: write %s: %w", rw.tmp, err)
		}
	}
	if rw.err == nil {
		if err := rw.f.Sync(); err != nil {
			rw.err = fmt.Errorf("store: fsync %s: %w", rw.tmp, err)
		}
	}
	rw.f.Close()
	base := s.baseName(rw.seq)
	if rw.err == nil {
		if err := os.Rename(rw.tmp, s.path(base)); err != nil {
			rw.err = fmt.Errorf("store: rename %s: %w", rw.tmp, err)
		}
	}
	if rw.err != nil {
		rw.abort()
		return rw.err
	}
	if err := syncDir(s.o.Dir); err != nil {
		rw.err = fmt.Errorf("store: fsync directory %s: %w", s.o.Dir, err)
		rw.abort()
		return rw.err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	old := map[string]bool{}
	for _, n := range rw.old {
		old[n] = true
	}
	m := &rdb.Manifest{Files: []rdb.ManifestFile{{Name: base, Seq: rw.seq, Type: rdb.ManifestBase}}}
	for _, f := range s.manifest.Files {
		if !old[f.Name] {
			m.Files = append(m.Files, f)
		}
	}
	if err := s.writeManifest(m); err != nil {
		os.Remove(s.path(base))
		s.rewrite = nil
		return err
	}
	s.manifest = m
	for n := range old {
		os.Remove(s.path(n))
	}
	s.oldIncr = nil
	s.baseSize = rw.size
	s.rewrite = nil
	s.stats.rewrites.Add(1)
	s.stats.lastRewriteNanos.Store(int64(time.Since(rw.start)))
	return nil
}

// Abort drops the rewrite; the store goes on with its old base and logs.
func (rw *Rewrite) Abort() {
	rw.f.Close()
	rw.abort()
}

func (rw *Rewrite) abort() {
	os.Remove(rw.tmp)
	rw.s.mu.Lock()
	if rw.s.rewrite == rw {
		rw.s.rewrite = nil
	}
	rw.s.mu.Unlock()
}

// Reclaim deletes the sealed segments none of whose pages keep wants
// (the caller's keys, checkpoints and the prefix entries it keeps), and
// returns how many it deleted. The manifest stops naming them first.
func (s *Store) Reclaim(keep func(rdb.PageKey) bool) (int, error) {
	return s.reclaim(keep, 0)
}

// Reclaim, after Commit, deletes the segments none of whose pages the
// new base names (held) and which have not been written to since the
// rewrite began: a page a session stored meanwhile is named by the new
// logs, not the base.
func (rw *Rewrite) Reclaim(held func(rdb.PageKey) bool) (int, error) {
	return rw.s.reclaim(held, rw.newSegs)
}

// reclaim is Reclaim keeping every segment whose seq is at least from
// (0: none kept that way).
func (s *Store) reclaim(keep func(rdb.PageKey) bool, from uint64) (int, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	live := map[uint64]bool{}
	for k, loc := range s.index {
		if !live[loc.seg] && keep(k) {
			live[loc.seg] = true
		}
	}
	dead := map[uint64]bool{}
	for seq := range s.segs {
		if !live[seq] && (s.active == nil || seq != s.active.seq) && (from == 0 || seq < from) {
			dead[seq] = true
		}
	}
	if err := s.dropSegments(dead); err != nil {
		return 0, err
	}
	s.closeRetired()
	return len(dead), nil
}

// limiter paces a writer to rate bytes a second (0: no limit), so a
// rewrite never takes the disk from the loop's appends and fsyncs.
type limiter struct {
	rate  int64
	start time.Time
	n     int64
}

func (l *limiter) wait(n int64) {
	if l.rate <= 0 {
		return
	}
	l.n += n
	due := time.Duration(float64(l.n) / float64(l.rate) * float64(time.Second))
	if d := due - time.Since(l.start); d > 0 {
		time.Sleep(d)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
