package session

import (
	"fmt"
	"slices"

	"reddwarf/infer"
	"reddwarf/persist/store"
	"reddwarf/rdb"
	"reddwarf/server"
)

// The session store's log, as the engine and the session commands write
// it (rdb/FORMAT.md §5.4): a change to a session is logged as RDW.*
// records carrying tokens and page references, and its pages that became
// full are written to the store's segments first, once. The records go
// through the server's propagation (server.Ctx.PropagateRaw inside a
// command, Server.PropagateRaw for a job committing in a step), so they
// reach the log in the order the changes happened, Redis records and
// session records alike, and leave before the reply does.

// Journal is where the engine finds the session store: persist's Engine,
// whose AOF is nil while appendonly is no.
type Journal interface {
	AOF() *store.Store
}

// SetJournal makes the engine log committed jobs to j's store, whose
// pages are filed under sm (StoreModel of the engine's model); main
// wires persistence's engine here.
func (e *Engine) SetJournal(j Journal, sm store.Model) {
	e.journal, e.sm, e.storable, e.paged = j, sm, storable(e.Model), pagedArch(e.Model)
}

// store returns the open session store, or nil.
func (e *Engine) store() *store.Store {
	if e.journal == nil {
		return nil
	}
	return e.journal.AOF()
}

// pagedArch reports whether m's sessions are pages and nothing else, so
// their pages go to the store; an architecture with state of its own
// (deepseek4's compressed rows) is logged as tokens only and recomputed.
func pagedArch(m *infer.Model) bool {
	_, stateful := m.Arch().(infer.StatefulArch)
	return !stateful
}

// logCommit logs a committed job: RDW.NEW when the key got a new session,
// the tokens from pos on, the pages that became full, the RNG and the
// "gen" checkpoint of a GEN.
func (e *Engine) logCommit(j *Job, s *Session, fresh bool) {
	ds := e.store()
	if ds == nil {
		return
	}
	key := []byte(j.Key)
	var rec []byte
	from := j.startPos
	if fresh {
		rec, from, s.Stored = rdb.NewRecord(rec, key), 0, 0
	}
	if toks := s.State.Tokens(); from < len(toks) {
		rec = rdb.AppendTokensRecord(rec, key, toks[from:])
	}
	rec = e.storePages(ds, rec, key, s)
	rec = rdb.RNGRecord(rec, key, s.RNG)
	if !j.Prefill {
		rec = rdb.CkptRecord(rec, key, []byte("gen"), j.startPos, nil)
	}
	owner, _ := j.Owner.(*server.Client)
	e.ks.PropagateRaw(owner, j.DB, rec)
}

// storePages writes s's full pages not yet stored and appends the
// RDW.PAGES record naming them, and for an architecture with a state of
// its own, its resume point (RDW.RESUME, RDW.LOGITS). A page that cannot
// be written (the disk is full, an I/O error) is left out: the log still
// has the tokens, so a restart recomputes it, and the store's own error
// state refuses further writes until it recovers.
func (e *Engine) storePages(ds *store.Store, rec, key []byte, s *Session) []byte {
	if !e.storable {
		return rec
	}
	rec, stored, err := StorePages(ds, e.sm, rec, key, s.State, min(s.Stored, s.State.FullPages()))
	if err == nil {
		rec, err = StoreResume(ds, e.sm, rec, key, s.State)
	}
	if err != nil {
		e.ks.Logf("warning", "session store: writing the pages of %q: %v (its tokens are logged; the pages are recomputed after a restart)", key, err)
	}
	s.Stored = stored
	return rec
}

// SessionRecords returns the records that rebuild v under key in the
// store's log (RESTORE, LOAD key file, and every session in a rewrite's
// base): NEW, the tokens, the pages (written to ds first), the RNG and
// one RDW.CKPT per checkpoint. It runs on any goroutine for a session no
// one changes meanwhile (a view). When a page cannot be stored it returns
// the error and, all the same, records naming the pages stored before
// it: a rewrite's base logs the session with them (its other pages are
// recomputed after a restart), a RESTORE is refused.
func (c *Codec) SessionRecords(ds *store.Store, key []byte, v server.Value) ([]byte, error) {
	s, ok := v.(*Session)
	if !ok {
		return nil, fmt.Errorf("session: cannot log a %T", v)
	}
	rec := rdb.NewRecord(nil, key)
	if toks := s.State.Tokens(); len(toks) > 0 {
		rec = rdb.AppendTokensRecord(rec, key, toks)
	}
	var err error
	if c.storable {
		if rec, _, err = StorePages(ds, c.sm, rec, key, s.State, 0); err == nil {
			rec, err = StoreResume(ds, c.sm, rec, key, s.State)
		}
		if err != nil {
			err = fmt.Errorf("session %q: %w", key, err)
		}
	}
	rec = rdb.RNGRecord(rec, key, s.RNG)
	for _, c := range s.Checkpoints {
		rec = rdb.CkptRecord(rec, key, []byte(c.Name), c.Pos, nil)
	}
	return rec, err
}

// FromStore builds the session a store's log describes: its stored
// pages are read back (a missing or damaged one, and those after it,
// recomputed), the rest of its tokens fed through the model. Checkpoints
// keep their positions; their logits are recomputed by ROLLBACK when
// needed (Session.Rollback).
func (c *Codec) FromStore(ds *store.Store, d *store.Session) (server.Value, int, error) {
	var st *infer.State
	stored, fed := 0, len(d.Tokens)
	if c.storable {
		var err error
		st, fed, err = RestoreState(c.m, ds, c.sm, d)
		if err != nil {
			return nil, 0, err
		}
		stored = min(d.Stored, len(d.Tokens)/infer.PageTokens)
	} else {
		st = c.m.NewState()
		if err := feed(c.m, st, d.Tokens); err != nil {
			return nil, 0, err
		}
	}
	sess := c.live.New(st, d.RNG)
	sess.Stored = stored
	for _, cp := range d.Checkpoints {
		sess.Checkpoints = append(sess.Checkpoints, Checkpoint{Name: cp.Name, Pos: cp.Pos})
	}
	return sess, fed, nil
}

// StoreSize is about the bytes FromStore allocates for d: its pages.
func (c *Codec) StoreSize(d *store.Session) int64 {
	pages := (len(d.Tokens) + infer.PageTokens - 1) / infer.PageTokens
	return int64(pages) * c.m.Arch().KVLayout().PageBytes()
}

// Describe writes v's full pages the store lacks and returns what
// rebuilds v from the store: its tokens, RNG, checkpoint positions and
// how many pages are stored. The logits and the partial last page are
// recomputed when it is loaded (at most a page of prefill). An
// architecture with state beyond pages cannot leave RAM this way yet.
func (c *Codec) Describe(ds *store.Store, v server.Value) (*store.Session, error) {
	s, ok := v.(*Session)
	if !ok {
		return nil, fmt.Errorf("session: cannot page out a %T", v)
	}
	if !c.storable {
		return nil, fmt.Errorf("session: %s sessions keep state beyond KV pages and cannot be paged out", c.arch)
	}
	_, stored, err := StorePages(ds, c.sm, nil, nil, s.State, min(s.Stored, s.State.FullPages()))
	if err != nil {
		return nil, err
	}
	if _, err := StoreResume(ds, c.sm, nil, nil, s.State); err != nil {
		return nil, err
	}
	s.Stored = stored
	d := &store.Session{Tokens: slices.Clone(s.State.Tokens()), RNG: s.RNG, Stored: stored}
	if sa, ok := s.State.Ext().(infer.StorableArchState); ok && sa.Tokens() > 0 {
		d.Resume = []int{sa.Tokens()}
		if sa.Tokens() == s.State.Len() {
			d.Logits = slices.Clone(s.State.Logits()) // so loading it computes nothing
		}
	}
	for _, cp := range s.Checkpoints {
		d.Checkpoints = append(d.Checkpoints, store.Checkpoint{Name: cp.Name, Pos: cp.Pos})
	}
	return d, nil
}

// reuseStored is the prefix cache on disk: when the session store holds
// the pages of a longer prefix of session + feed than the job's state
// has (after a restart, the pages of any session ever stored), the state
// becomes those pages read back, and only the rest is fed. At least one
// token is left to feed, so the logits get computed. It returns what is
// left to feed.
func (e *Engine) reuseStored(j *Job, feed []int32) []int32 {
	ds := e.store()
	if ds == nil || !e.paged {
		return feed // deepseek4's prefix cache lives in RAM only for now
	}
	have := j.st.Len()
	all := append(append(make([]int32, 0, have+len(feed)), j.st.Tokens()...), feed...)
	limit := len(all) - 1
	keys := ds.PageKeys(all[:limit])
	run := 0
	for run < len(keys) && ds.HasPage(keys[run]) {
		run++
	}
	if run*infer.PageTokens <= have {
		return feed
	}
	st, n, err := LookupStored(e.Model, ds, all, limit)
	if err != nil || st == nil || n <= have {
		if st != nil {
			st.Release()
		}
		return feed
	}
	j.CachedTokens += n - have
	j.DiskCachedTokens = n - have
	e.stats.PrefixHitTokens += int64(n - have)
	e.stats.DiskHitTokens += int64(n - have)
	j.st.Release()
	j.st = st
	return all[n:]
}
