package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"reddwarf/rdb"
)

// Check reads a whole store without changing it (`reddwarf check`): the
// manifest, every page (header, body checksum, token chain), every log
// record, and that every page a session's log says was stored is there.
// It writes what it finds to w and returns an error naming the first
// problem (file, offset, reason), or nil. A torn tail, which Open would
// repair, is reported but is not an error.
func Check(dir, name string, w io.Writer) error {
	if name == "" {
		name = "appendonly.aof"
	}
	mpath := filepath.Join(dir, name+".manifest")
	b, err := os.ReadFile(mpath)
	if err != nil {
		return fmt.Errorf("store: read %s: %w", mpath, err)
	}
	m, err := rdb.ParseManifest(b, mpath)
	if err != nil {
		return err
	}
	pages := map[rdb.PageKey]bool{}
	segs := m.Of(rdb.ManifestSegment)
	var segBytes int64
	for i, mf := range segs {
		n, size, err := checkSegment(filepath.Join(dir, mf.Name), mf.Name, i == len(segs)-1, pages, w)
		if err != nil {
			return err
		}
		segBytes += size
		fmt.Fprintf(w, "segment %s: %d pages, %d bytes\n", mf.Name, n, size)
	}
	var files []rdb.ManifestFile
	if base, ok := m.Base(); ok {
		files = append(files, base)
	}
	files = append(files, m.Of(rdb.ManifestIncr)...)
	var ks *Keyspace
	var model rdb.SessionOp
	for i, mf := range files {
		recs, err := checkLog(filepath.Join(dir, mf.Name), mf.Name, i == len(files)-1, &ks, &model, w)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "log %s: %d records\n", mf.Name, recs)
	}
	if ks == nil {
		return fmt.Errorf("store: %s names no log: %w", mpath, rdb.ErrCorrupt)
	}
	// Every page a session says is stored must be there.
	sessions, missing := 0, 0
	var first error
	dbs := make([]int, 0, len(ks.DBs))
	for db := range ks.DBs {
		dbs = append(dbs, db)
	}
	sort.Ints(dbs)
	for _, db := range dbs {
		for key, s := range ks.DBs[db] {
			sessions++
			hs := ChainHashes(s.Tokens[:s.Stored*ks.PageTokens], ks.PageTokens)
			for i, h := range hs {
				if !pages[rdb.PageKey{Hash: h, Fingerprint: model.Fingerprint, Kind: model.PageKind}] {
					missing++
					if first == nil {
						first = fmt.Errorf("store: session %q (db %d): page %d (%016x) is logged as stored but no segment holds it: %w", key, db, i, h, rdb.ErrCorrupt)
					}
				}
			}
		}
	}
	fmt.Fprintf(w, "model %s %016x, page kind %d, %d tokens a page\n", model.Arch, model.Fingerprint, model.PageKind, model.PageTokens)
	fmt.Fprintf(w, "%d sessions, %d pages (%d segment bytes), %d missing pages\n", sessions, len(pages), segBytes, missing)
	return first
}

func checkSegment(path, name string, tail bool, pages map[rdb.PageKey]bool, w io.Writer) (int, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("store: open %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	n := 0
	valid, err := rdb.ScanSegment(f, fi.Size(), name, tail, func(off int64, h *rdb.PageHead) error {
		body := make([]byte, h.Size()-rdb.PageHeader)
		if _, err := f.ReadAt(body, off+rdb.PageHeader); err != nil {
			return fmt.Errorf("store: read %s at offset %d: %w", name, off, err)
		}
		if _, _, err := rdb.DecodePageBody(h, body, name, off); err != nil {
			return err
		}
		pages[h.PageKey] = true
		n++
		return nil
	})
	if errors.Is(err, rdb.ErrTorn) {
		fmt.Fprintf(w, "segment %s: torn tail, %d bytes after offset %d (start-up cuts them): %v\n", name, fi.Size()-valid, valid, err)
		return n, valid, nil
	}
	return n, valid, err
}

func checkLog(path, name string, last bool, ks **Keyspace, model *rdb.SessionOp, w io.Writer) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("store: open %s: %w", name, err)
	}
	defer f.Close()
	lr := rdb.NewLogReader(f, name)
	n := 0
	for {
		rec, err := lr.Next()
		if err == io.EOF {
			return n, nil
		}
		if errors.Is(err, rdb.ErrTorn) && last {
			fmt.Fprintf(w, "log %s: torn tail after offset %d (start-up cuts it): %v\n", name, lr.Offset(), err)
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if n == 0 {
			if !rec.IsSession() || string(rec.Args[0]) != rdb.OpModel {
				return n, fmt.Errorf("store: %s at offset 0: the first record is not %s: %w", name, rdb.OpModel, rdb.ErrCorrupt)
			}
			op, err := rdb.DecodeSessionOp(&rec, name)
			if err != nil {
				return n, err
			}
			if *ks == nil {
				*model = op
				*ks = NewKeyspace(op.PageTokens)
			} else if op.Fingerprint != model.Fingerprint || op.PageTokens != model.PageTokens || op.PageKind != model.PageKind || op.Arch != model.Arch {
				return n, fmt.Errorf("store: %s was written for another model than the files before it: %w", name, rdb.ErrCorrupt)
			}
		} else if err := (*ks).Apply(name, &rec); err != nil {
			return n, fmt.Errorf("store: %s at offset %d: %w", name, rec.Offset, err)
		}
		n++
	}
}
