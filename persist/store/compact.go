package store

import (
	"fmt"
	"os"
	"sort"
	"time"

	"reddwarf/rdb"
)

// Making room: pages are written once and never changed, so space comes
// back only by dropping whole segments. A segment whose pages are partly
// held has its held pages copied (record bytes as they are) to the
// active segment first; then the manifest stops naming it and the file
// is deleted. A dropped segment's file stays open until the next fsync
// turn, so a ReadPage already under way finishes.

// diskBytes is the store's bytes on disk: segments and logs. With mu.
func (s *Store) diskBytes() int64 {
	n := s.baseSize + s.incr.size
	for _, l := range s.oldIncr {
		n += l.size
	}
	for _, seg := range s.segs {
		n += seg.size
	}
	return n
}

// segUse is one segment's page keys, split by whether they are held.
type segUse struct {
	seg       *segment
	held      []rdb.PageKey
	heldBytes int64
}

// usage returns every segment with its held pages, the fewest held
// bytes first, then the oldest. With mu.
func (s *Store) usage(held func(rdb.PageKey) bool) []*segUse {
	by := map[uint64]*segUse{}
	for seq, seg := range s.segs {
		by[seq] = &segUse{seg: seg}
	}
	for k, loc := range s.index {
		if u := by[loc.seg]; u != nil && held(k) {
			u.held = append(u.held, k)
			u.heldBytes += loc.size
		}
	}
	out := make([]*segUse, 0, len(by))
	for _, u := range by {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].heldBytes != out[j].heldBytes {
			return out[i].heldBytes < out[j].heldBytes
		}
		return out[i].seg.seq < out[j].seg.seq
	})
	return out
}

// movePage copies page k's record from its segment to the active one and
// points the index at the copy. With mu.
func (s *Store) movePage(k rdb.PageKey, from uint64) error {
	loc, ok := s.index[k]
	if !ok || loc.seg != from {
		return nil // dropped or moved meanwhile
	}
	src := s.segs[from]
	b := make([]byte, loc.size)
	if _, err := src.f.ReadAt(b, loc.off); err != nil {
		return fmt.Errorf("store: read %s at offset %d: %w", src.name, loc.off, err)
	}
	if s.active == nil || s.active.seq == from || s.active.size >= s.o.SegmentMax {
		if err := s.newSegment(); err != nil {
			return err
		}
	}
	dst := s.active
	n, err := dst.f.WriteAt(b, dst.size)
	if err != nil {
		s.failWrite(dst.f, dst.name, dst.size, n, err)
		return s.writeErr
	}
	s.index[k] = pageLoc{seg: dst.seq, off: dst.size, size: loc.size}
	dst.size += loc.size
	dst.pages++
	dst.dirty, s.dirty = true, true
	s.stats.pageBytes.Add(loc.size)
	return nil
}

// dropSegments takes segments out of the manifest, the index and the
// disk. The copies movePage made are fsynced first, so a crash never
// leaves a held page in neither place. With mu.
func (s *Store) dropSegments(dead map[uint64]bool) error {
	if len(dead) == 0 {
		return nil
	}
	if s.dirty {
		if err := s.syncLocked(); err != nil {
			return err
		}
	}
	m := &rdb.Manifest{}
	for _, f := range s.manifest.Files {
		if f.Type != rdb.ManifestSegment || !dead[f.Seq] {
			m.Files = append(m.Files, f)
		}
	}
	if err := s.writeManifest(m); err != nil {
		return err
	}
	s.manifest = m
	for k, loc := range s.index {
		if dead[loc.seg] {
			delete(s.index, k)
		}
	}
	for seq := range dead {
		seg := s.segs[seq]
		os.Remove(s.path(seg.name))
		os.Remove(s.path(idxName(seg.name)))
		s.retired = append(s.retired, seg.f)
		delete(s.segs, seq)
		if s.active == seg {
			s.active = nil
		}
	}
	s.stats.reclaimedSegs.Add(int64(len(dead)))
	s.diskFull.Store(false)
	return nil
}

// closeRetired closes the files of dropped segments. With syncMu and mu.
func (s *Store) closeRetired() {
	for _, f := range s.retired {
		f.Close()
	}
	s.retired = nil
}

// makeRoom frees at least need bytes under DiskMax by dropping the
// segments with the fewest held bytes, moving their held pages out
// first; ErrDiskFull when only held pages are left. With mu.
func (s *Store) makeRoom(need int64) error {
	if s.o.Held == nil {
		return ErrDiskFull
	}
	for _, u := range s.usage(s.o.Held) {
		if s.diskBytes()+need <= s.o.DiskMax {
			return nil
		}
		if u.heldBytes >= u.seg.size-rdb.SegmentHeader {
			break // fewest held first: the rest are full of held pages too
		}
		for _, k := range u.held {
			if err := s.movePage(k, u.seg.seq); err != nil {
				return err
			}
		}
		if err := s.dropSegments(map[uint64]bool{u.seg.seq: true}); err != nil {
			return err
		}
	}
	if s.diskBytes()+need <= s.o.DiskMax {
		return nil
	}
	return fmt.Errorf("%w (%d bytes stored, %d more wanted, session-disk-max %d)", ErrDiskFull, s.diskBytes(), need, s.o.DiskMax)
}

// Compact moves the held pages out of every sealed segment whose held
// bytes are at most maxLive of its size, and drops those segments. The
// copies go at most RewriteRate bytes a second and the store is locked
// one page at a time, so the loop's writes go on meanwhile. It returns
// the bytes freed.
func (s *Store) Compact(held func(rdb.PageKey) bool, maxLive float64) (int64, error) {
	return s.compact(held, maxLive, 0)
}

// Compact, after Commit, is Store.Compact with the pages the new base
// names as held, leaving alone the segments written to since the rewrite
// began (their pages are the new logs', which the base does not name).
func (rw *Rewrite) Compact(held func(rdb.PageKey) bool, maxLive float64) (int64, error) {
	return rw.s.compact(held, maxLive, rw.newSegs)
}

// compact is Compact sparing the segments whose seq is at least from (0:
// none spared that way).
func (s *Store) compact(held func(rdb.PageKey) bool, maxLive float64, from uint64) (int64, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	var plan []*segUse
	for _, u := range s.usage(held) {
		if (s.active == nil || u.seg != s.active) && (from == 0 || u.seg.seq < from) && float64(u.heldBytes) <= maxLive*float64(u.seg.size) {
			plan = append(plan, u)
		}
	}
	s.mu.Unlock()
	lim := limiter{rate: s.o.RewriteRate, start: time.Now()}
	var freed int64
	for _, u := range plan {
		for _, k := range u.held {
			s.mu.Lock()
			loc := s.index[k]
			err := s.movePage(k, u.seg.seq)
			s.mu.Unlock()
			if err != nil {
				return freed, err
			}
			lim.wait(loc.size)
		}
		s.mu.Lock()
		size := u.seg.size
		_, still := s.segs[u.seg.seq]
		err := error(nil)
		if still {
			err = s.dropSegments(map[uint64]bool{u.seg.seq: true})
		}
		s.mu.Unlock()
		if err != nil {
			return freed, err
		}
		if still {
			freed += size - u.heldBytes
		}
	}
	return freed, nil
}
