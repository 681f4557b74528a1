package persist

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"reddwarf/persist/store"
	"reddwarf/rdb"
	"reddwarf/server"
)

// The append-only side of persistence: with appendonly yes the store
// (persist/store) under dir/appenddirname is open and every change a
// command makes is logged there, Redis's way, before its reply leaves.
// Start-up replays it (replay.go) when it exists.

// aof is the open store and what the loop tracks about it.
type aof struct {
	st          *store.Store
	db          int         // the database the log's last SELECT named; -1 = none yet
	buf         []byte      // records of the current propagation, reused
	rw          *aofRewrite // the BGREWRITEAOF in flight, nil if none
	rewriteBase int64       // log bytes after the last rewrite (auto-aof-rewrite's base)
	// onlyForRewrite: opened by a BGREWRITEAOF with appendonly no, closed
	// when its base is in; INFO and the rest of the server see it off.
	onlyForRewrite bool
}

// StoreModel is what the store checks its files against (session's
// StoreModel of the served model); zero without a model.
func (p *Engine) SetStoreModel(m store.Model) { p.model = m }

// StoreDir is dir/appenddirname.
func (p *Engine) StoreDir() string {
	return filepath.Join(p.s.Config.Dir, p.s.Config.Get("appenddirname"))
}

// AOF is the open store, nil with appendonly no.
func (p *Engine) AOF() *store.Store {
	if p.aof == nil {
		return nil
	}
	return p.aof.st
}

// loadStoredSessions loads every session the keyspace holds only in the
// store into RAM (CONFIG SET appendonly no). It stops at the first that
// fails; those loaded stay loaded.
func (p *Engine) loadStoredSessions() error {
	for _, db := range p.s.DBs {
		var keys []string
		db.Dict(func(key string, o *server.Object, _ int64) bool {
			if isStored(o.Val) {
				keys = append(keys, key)
			}
			return true
		})
		for _, k := range keys {
			if o := db.Peek(k); o == nil || isStored(o.Val) {
				return fmt.Errorf("session %q (db %d) is in the session store only and could not be loaded into memory; appendonly stays yes (see the log)", k, db.ID)
			}
		}
	}
	return nil
}

// openAOF opens the store as the configuration says, verifying its
// logs without applying them (the keyspace already holds what they say).
func (p *Engine) openAOF() error { return p.openAOFWith(nil) }

// openAOFWith opens the store and replays its logs through apply.
func (p *Engine) openAOFWith(apply store.Apply) error {
	fs, err := store.ParseFsync(p.s.Config.Get("appendfsync"))
	if err != nil {
		return err
	}
	diskMax := p.s.Config.Int("session-disk-max")
	st, err := store.Open(store.Options{
		Dir:     p.StoreDir(),
		Name:    p.s.Config.Get("appendfilename"),
		Fsync:   fs,
		DiskMax: diskMax,
		// Under a disk budget, segments a fraction of it, so that those
		// only deleted keys' pages are in seal, and a rewrite can drop
		// them (the segment being appended to is never dropped).
		SegmentMax: segmentMax(diskMax),
		// A rewrite's base and compaction copies are paced so they never
		// take the disk from the loop's appends and fsyncs.
		RewriteRate: p.s.Config.Int("session-rewrite-rate"),
		Model:       p.model,
		Logf:        func(format string, args ...any) { p.s.Logf("warning", format, args...) },
	}, apply)
	if err != nil {
		return err
	}
	p.aof = &aof{st: st, db: -1, rewriteBase: st.Stats().LogSize}
	p.s.Logf("notice", "Append only file opened in %s (appendfsync %s)", p.StoreDir(), fs)
	return nil
}

// segmentMax is the segment size for a session-disk-max (0: the store's
// default): an eighth of it, between 1 MiB and 256 MiB.
func segmentMax(diskMax int64) int64 {
	if diskMax <= 0 {
		return 0
	}
	return min(max(diskMax/8, 1<<20), 256<<20)
}

// closeAOF flushes and closes the store.
func (p *Engine) closeAOF() error {
	if p.aof == nil {
		return nil
	}
	a := p.aof
	if a.rw != nil {
		<-a.rw.done // its base is committed or aborted; the store can close
	}
	p.aof = nil
	ferr := a.st.Flush()
	if err := a.st.Close(); err != nil {
		return err
	}
	return ferr
}

// applyConfig follows CONFIG SET appendonly / appendfsync /
// session-disk-max: the store opens or closes, or reopens with the new
// policy. The options are fixed at Open, so a change reopens it; the
// records already buffered are flushed first.
func (p *Engine) applyConfig() error {
	want := p.s.Config.Get("appendonly") == "yes"
	turnOn := want && p.aof == nil
	if !want && p.onDisk > 0 {
		// Sessions whose pages are only in the store come back into RAM
		// first: with the store closed they could not be loaded.
		if err := p.loadStoredSessions(); err != nil {
			return err
		}
	}
	if p.aof != nil {
		if err := p.closeAOF(); err != nil {
			return fmt.Errorf("closing the append only file: %v", err)
		}
	}
	if !want {
		return nil
	}
	if err := p.openAOF(); err != nil {
		p.s.Logf("warning", "Redis needs to enable the AOF but can't open the append only file: %v", err)
		return fmt.Errorf("Unable to turn on AOF. Check server logs.")
	}
	if turnOn {
		// As Redis 7.0's startAppendOnly: the log starts from a base
		// holding the whole keyspace.
		if err := p.BgRewriteAOF(); err != nil {
			p.closeAOF()
			p.s.Logf("warning", "Redis needs to enable the AOF but can't trigger a background AOF rewrite operation: %v", err)
			return fmt.Errorf("Unable to turn on AOF. Check server logs.")
		}
	}
	return nil
}

// propagate logs one command's ops: a SELECT when the database changes,
// and MULTI/EXEC around more than one op so a replay applies them whole.
func (p *Engine) propagate(ops []server.Op) {
	a := p.aof
	if a == nil {
		return
	}
	b := a.buf[:0]
	multi := len(ops) > 1
	if multi {
		b = rdb.AppendCommand(b, []byte("MULTI"))
	}
	for _, op := range ops {
		if op.DB != a.db {
			b = rdb.AppendCommand(b, []byte("SELECT"), strconv.AppendInt(nil, int64(op.DB), 10))
			a.db = op.DB
		}
		if op.Raw != nil {
			b = append(b, op.Raw...)
			continue
		}
		b = rdb.AppendCommand(b, op.Args...)
	}
	if multi {
		b = rdb.AppendCommand(b, []byte("EXEC"))
	}
	a.st.Append(b)
	a.buf = b[:0]
}

// flushAOF writes the records buffered this turn before replies leave;
// with appendfsync always it returns after the fsync. A failed write is
// kept buffered by the store and retried at the next turn: the MISCONF
// gate refuses writes meanwhile, and with always it reports false, so
// the server holds the replies of the commands whose records are not on
// disk yet (Redis 7.0 exits there; the store waits for space instead).
func (p *Engine) flushAOF() bool {
	if p.aof == nil {
		return true
	}
	if err := p.aof.st.Flush(); err != nil {
		// Retried every turn: said once a second, as Redis rate-limits it.
		if time.Since(p.lastFlushWarn) >= time.Second {
			p.lastFlushWarn = time.Now()
			p.s.Logf("warning", "Error writing to the AOF file: %v", err)
		}
		return p.s.Config.Get("appendfsync") != "always"
	}
	return true
}

// aofGate refuses writes while the log cannot be written, as Redis does
// after a failed AOF write.
func (p *Engine) aofGate(spec *server.Spec) error {
	if p.aof == nil || spec.Flags&server.FlagWrite == 0 {
		return nil
	}
	if err := p.aof.st.LastWriteError(); err != nil {
		return server.CodeError("MISCONF", "Errors writing to the AOF file: "+err.Error())
	}
	return nil
}

// aofInfo is INFO persistence's aof_* fields: Redis 7.0's, with the
// extra ones it prints while the AOF is on.
func (p *Engine) aofInfo() []string {
	rewriting, cur := 0, int64(-1)
	if p.aof != nil && p.aof.rw != nil {
		rewriting, cur = 1, int64(time.Since(p.aof.rw.start).Seconds())
	}
	rwStatus := "ok"
	if !p.rewriteOK {
		rwStatus = "err"
	}
	enabled := p.aof != nil && !p.aof.onlyForRewrite
	status := "ok"
	var st store.Stats
	if enabled {
		if st = p.aof.st.Stats(); st.LastWriteErr != nil {
			status = "err"
		}
	}
	lines := []string{
		"aof_enabled:" + strconv.Itoa(b2i(enabled)),
		fmt.Sprintf("aof_rewrite_in_progress:%d", rewriting),
		"aof_rewrite_scheduled:0",
		fmt.Sprintf("aof_last_rewrite_time_sec:%d", p.lastRewriteSec),
		fmt.Sprintf("aof_current_rewrite_time_sec:%d", cur),
		"aof_last_bgrewrite_status:" + rwStatus,
		fmt.Sprintf("aof_rewrites:%d", p.aofRewrites),
		fmt.Sprintf("aof_rewrites_consecutive_failures:%d", p.rewriteFailures),
		"aof_last_write_status:" + status,
		"aof_last_cow_size:0",
		"module_fork_in_progress:0",
		"module_fork_last_cow_size:0",
	}
	if !enabled {
		return lines // Redis prints the sizes and buffers only while the AOF is on
	}
	return append(lines,
		fmt.Sprintf("aof_current_size:%d", st.LogSize),
		fmt.Sprintf("aof_base_size:%d", st.BaseSize),
		"aof_pending_rewrite:0",
		"aof_buffer_length:0",
		"aof_pending_bio_fsync:0",
		"aof_delayed_fsync:0",
	)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// storeInfo is INFO store: the session store's figures.
func (p *Engine) storeInfo() []string {
	if p.aof == nil {
		return []string{"store_enabled:0"}
	}
	return append([]string{"store_enabled:1",
		fmt.Sprintf("store_sessions_on_disk:%d", p.onDisk),
		fmt.Sprintf("store_sessions_paged_out:%d", p.pagedOut),
		fmt.Sprintf("store_sessions_loaded:%d", p.loaded),
		fmt.Sprintf("store_tokens_recomputed:%d", p.recomputed),
	}, p.aof.st.Stats().Info()...)
}
