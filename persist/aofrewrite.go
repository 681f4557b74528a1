package persist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"reddwarf/persist/store"
	"reddwarf/rdb"
	"reddwarf/server"
)

// BGREWRITEAOF: the keyspace as it is when the rewrite starts becomes the
// store's new base, written off the loop from a copy-on-write view while
// the loop's appends go to a fresh incremental log (store.BeginRewrite).
// Each key is one command: SET for a string, RESTORE of its DUMP payload
// for a collection, the session records of a session (writeBase), then
// PEXPIREAT for a TTL.

// aofRewrite is the rewrite in flight.
type aofRewrite struct {
	start time.Time
	done  chan struct{} // closed when the base is committed or aborted
}

// ErrRewriteRunning is BGREWRITEAOF's error while one is in progress.
var ErrRewriteRunning = server.Errorf("Background append only file rewriting already in progress")

// RewriteRunning reports a BGREWRITEAOF in progress.
func (p *Engine) RewriteRunning() bool { return p.aof != nil && p.aof.rw != nil }

// BgRewriteAOF starts a rewrite of the store's base.
//
// With appendonly no it writes one all the same, as Redis 7.0 does: the
// store opens for the rewrite (its base is the keyspace, so what it held
// before does not matter) and closes when the base is in, so a later
// start with appendonly yes finds the keyspace as it was then.
func (p *Engine) BgRewriteAOF() error {
	if p.aof == nil {
		if err := p.openAOF(); err != nil {
			p.rewriteFailed(err)
			return server.Errorf("Can't open the append only file for the rewrite: " + err.Error())
		}
		p.aof.onlyForRewrite = true
	}
	a := p.aof
	if a.rw != nil {
		return ErrRewriteRunning
	}
	functions := p.s.FunctionsPayload() // taken with the view, on the loop
	items, _, err := p.takeViewFor(true)
	if err != nil {
		if a.onlyForRewrite {
			p.closeAOF()
		}
		return err
	}
	w, err := a.st.BeginRewrite()
	if err != nil {
		releaseView(items)
		if a.onlyForRewrite {
			p.closeAOF()
		}
		p.rewriteFailed(err)
		return server.Errorf("Can't start the append only file rewrite: " + err.Error())
	}
	// The new incremental log names its database again before its first
	// command: replay starts it where the base ends, not where the old
	// log did.
	a.db = -1
	r := &aofRewrite{start: time.Now(), done: make(chan struct{})}
	a.rw = r
	p.aofRewrites++
	p.s.Logf("notice", "Background append only file rewriting started")
	diskMax := p.s.Config.Int("session-disk-max")
	go func() {
		held := map[rdb.PageKey]bool{}
		var err error
		if functions != nil {
			// The libraries first, as Redis's base starts with its
			// functions: the log after it may call them.
			err = w.Append(rdb.AppendCommand(nil, []byte("FUNCTION"), []byte("RESTORE"), functions, []byte("REPLACE")))
		}
		if err == nil {
			err = writeBase(w, items, a.st, p.codec, p.model, held)
		} else {
			releaseView(items)
		}
		if err == nil {
			err = w.Commit()
		} else {
			w.Abort()
		}
		if err == nil {
			// Segments only dead keys' pages are in go (FORMAT.md §5.6).
			keep := func(k rdb.PageKey) bool { return held[k] }
			if n, rerr := w.Reclaim(keep); rerr != nil {
				p.s.Logf("warning", "AOF rewrite: reclaiming segments: %v", rerr)
			} else if n > 0 {
				p.s.Logf("notice", "AOF rewrite: %d page segments no key holds were deleted", n)
			}
			if diskMax > 0 {
				// Under a budget, also segments mostly of dead pages: the
				// live ones move out first.
				if freed, cerr := w.Compact(keep, 0.5); cerr != nil {
					p.s.Logf("warning", "AOF rewrite: compacting segments: %v", cerr)
				} else if freed > 0 {
					p.s.Logf("notice", "AOF rewrite: compaction freed %d bytes of dead pages", freed)
				}
			}
		}
		close(r.done)
		p.s.Post(func() { p.rewriteDone(a, r, err) })
	}()
	return nil
}

// rewriteDone runs on the loop when a rewrite's goroutine ends.
func (p *Engine) rewriteDone(a *aof, r *aofRewrite, err error) {
	a.rw = nil
	p.lastRewriteSec = int64(time.Since(r.start).Seconds())
	if a.onlyForRewrite && p.aof == a {
		if cerr := p.closeAOF(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		p.rewriteFailed(err)
		return
	}
	p.rewriteOK, p.rewriteFailures = true, 0
	if p.aof == a { // not closed or reopened by CONFIG SET meanwhile
		a.rewriteBase = a.st.Stats().LogSize
	}
	p.s.Logf("notice", "Background AOF rewrite finished successfully")
}

func (p *Engine) rewriteFailed(err error) {
	p.rewriteOK = false
	p.rewriteFailures++
	p.s.Logf("warning", "Background AOF rewrite failed: %v", err)
}

// writeBase writes items to the rewrite's base and releases them. A
// session is logged as records (rdb/FORMAT.md §5.6): its tokens and page
// references, its pages written to ds first when they are not there yet
// (a session that came from a snapshot or a RESTORE); never KV bytes.
func writeBase(w *store.Rewrite, items []viewItem, ds *store.Store, codec SessionCodec, m store.Model, held map[rdb.PageKey]bool) error {
	defer releaseView(items)
	db := -1
	var b []byte
	for _, it := range items {
		b = b[:0]
		if it.db != db {
			b = rdb.AppendCommand(b, []byte("SELECT"), strconv.AppendInt(nil, int64(it.db), 10))
			db = it.db
		}
		key := []byte(it.key)
		switch {
		case it.val != nil:
			recs, err := codec.SessionRecords(ds, key, it.val)
			if err != nil && !errors.Is(err, store.ErrDiskFull) {
				return fmt.Errorf("key %q: %w", it.key, err)
			}
			b = append(b, recs...) // under session-disk-max, with the pages that fit
		case it.stored != nil:
			b = it.stored.Records(b, key, m.PageTokens)
		case it.lazy != nil:
			recs, err := lazyRecords(it.lazy, ds, codec, key)
			if err != nil && !errors.Is(err, store.ErrDiskFull) {
				return fmt.Errorf("key %q: %w", it.key, err)
			}
			b = append(b, recs...)
		case it.coll != 0:
			b = rdb.AppendCommand(b, []byte("RESTORE"), key, []byte("0"), rdb.DumpCollection(it.coll, it.str))
		default:
			b = rdb.AppendCommand(b, []byte("SET"), key, it.str)
		}
		if it.expireMS != -1 {
			b = rdb.AppendCommand(b, []byte("PEXPIREAT"), key, strconv.AppendInt(nil, it.expireMS, 10))
		}
		if it.val != nil || it.stored != nil || it.lazy != nil {
			if err := namedPages(b, m, held); err != nil {
				return fmt.Errorf("key %q: %w", it.key, err)
			}
		}
		if err := w.Append(b); err != nil {
			return err
		}
	}
	return nil
}

// namedPages adds the pages the RDW.PAGES and RDW.RESUME records in recs
// (one session's, after its RDW.APPEND) name to held.
func namedPages(recs []byte, m store.Model, held map[rdb.PageKey]bool) error {
	lr := rdb.NewLogReader(bytes.NewReader(recs), "base")
	var toks []int32
	for {
		rec, err := lr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !rec.IsSession() {
			continue
		}
		switch string(rec.Args[0]) {
		case rdb.OpAppend, rdb.OpPages, rdb.OpResume:
		default:
			continue
		}
		op, err := rdb.DecodeSessionOp(&rec, "base")
		if err != nil {
			return err
		}
		switch op.Op {
		case rdb.OpAppend:
			toks = append(toks, op.Tokens...)
		case rdb.OpPages:
			for _, h := range op.Hashes {
				held[rdb.PageKey{Hash: h, Fingerprint: m.Fingerprint, Kind: m.PageKind}] = true
			}
		case rdb.OpResume:
			if op.Pos >= 1 && op.Pos <= len(toks) {
				k, _, _ := store.ResumeKey(toks, op.Pos, m.PageTokens, m.Fingerprint, rdb.PageDeepSeek4Resume)
				held[k] = true
			}
		}
	}
}

// lazyRecords logs a session still in the snapshot the server started
// from: decoded here, off the loop, its pages stored, then dropped.
func lazyRecords(l *lazySession, ds *store.Store, codec SessionCodec, key []byte) ([]byte, error) {
	raw, err := l.snap.ReadRecord(l.ent)
	if err != nil {
		return nil, err
	}
	st, err := rdb.DecodeState(raw, l.ent.Off)
	if err != nil {
		return nil, err
	}
	v, err := codec.Decode(st)
	if err != nil {
		return nil, err
	}
	defer v.Release()
	return codec.SessionRecords(ds, key, v)
}

// autoRewrite starts a rewrite when the log has grown past
// auto-aof-rewrite-percentage of its size after the last rewrite and past
// auto-aof-rewrite-min-size, as Redis's serverCron does.
func (p *Engine) autoRewrite() {
	a := p.aof
	if a == nil || a.rw != nil || p.bg != nil {
		return
	}
	if a.st.DiskFull() && time.Since(p.lastRewriteTry) >= 5*time.Second {
		// session-disk-max reached with only held pages: a rewrite finds
		// which are really held (deleted keys' pages are not) and drops
		// the rest; until then new pages are refused.
		p.lastRewriteTry = time.Now()
		p.s.Logf("notice", "Starting a rewrite to reclaim pages: session-disk-max reached")
		if err := p.BgRewriteAOF(); err != nil && !errors.Is(err, ErrRewriteRunning) {
			p.s.Logf("warning", "rewrite for session-disk-max: %v", err)
		}
		return
	}
	perc := p.s.Config.Int("auto-aof-rewrite-percentage")
	if perc == 0 {
		return
	}
	size := a.st.Stats().LogSize
	if size < p.s.Config.Int("auto-aof-rewrite-min-size") {
		return
	}
	base := max(a.rewriteBase, 1)
	if (size-base)*100/base < perc {
		return
	}
	// A failed one is retried after a pause, not at every tick.
	if !p.rewriteOK && time.Since(p.lastRewriteTry) < 5*time.Second {
		return
	}
	p.lastRewriteTry = time.Now()
	p.s.Logf("notice", "Starting automatic rewriting of AOF on %d%% growth", (size-base)*100/base)
	if err := p.BgRewriteAOF(); err != nil && !errors.Is(err, ErrRewriteRunning) {
		p.s.Logf("warning", "automatic AOF rewrite: %v", err)
	}
}
