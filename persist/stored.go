package persist

import (
	"fmt"

	"reddwarf/persist/store"
	"reddwarf/server"
)

// storedSession is a session the store's log describes and RAM does not
// hold yet: its tokens, checkpoints and which of its pages are in the
// store's segments (store.Session). The keyspace holds it from start-up
// (or after its pages left RAM) until the key is first used, when
// Materialize reads the pages back and feeds the rest of the tokens
// (server.Lazy).
type storedSession struct {
	d    *store.Session
	p    *Engine // its store is p's, whichever is open when the key is used
	gone bool    // released or loaded: no longer counted in p.onDisk
}

// newStoredValue makes a storedSession counted in INFO store.
func (p *Engine) newStoredValue(d *store.Session) *storedSession {
	p.onDisk++
	return &storedSession{d: d, p: p}
}

// drop stops counting s (released, or loaded into RAM).
func (s *storedSession) drop() {
	if !s.gone {
		s.gone = true
		s.p.onDisk--
	}
}

func isStored(v server.Value) bool { _, ok := v.(*storedSession); return ok }

func (s *storedSession) Encoding() string { return "paged" }

// MemoryUsage is what RAM holds of it: the tokens and checkpoints.
func (s *storedSession) MemoryUsage() int64 {
	n := 64 + 4*int64(len(s.d.Tokens)) + 4*int64(len(s.d.Logits))
	for _, c := range s.d.Checkpoints {
		n += 32 + int64(len(c.Name)) + int64(len(c.Blob))
	}
	return n
}

func (s *storedSession) LoadSize() int64 {
	if s.p.codec == nil {
		return 0
	}
	return s.p.codec.StoreSize(s.d)
}

func (s *storedSession) Clone() server.Value { return s.p.newStoredValue(s.d.Clone()) }

// Release drops nothing from the store: the pages stay until a rewrite
// finds no key holding them.
func (s *storedSession) Release() { s.drop() }

// errStoreClosed is a stored session's error while appendonly is no.
var errStoreClosed = fmt.Errorf("its pages are in the session store, which is closed (appendonly no)")

// Materialize rebuilds the session from the store.
func (s *storedSession) Materialize() (server.Value, error) {
	if s.p.aof == nil {
		return nil, errStoreClosed
	}
	if s.p.codec == nil {
		return nil, fmt.Errorf("no model loaded")
	}
	v, fed, err := s.p.codec.FromStore(s.p.aof.st, s.d)
	if err == nil {
		s.drop()
		s.p.loaded++
		s.p.recomputed += int64(fed)
	}
	return v, err
}

// SessionRecords returns the records that log v, a session a command
// other than GEN is about to store under key (RESTORE, LOAD): the
// command logs them instead of itself (server.Ctx.PropagateRaw), its
// pages written to the store first. It returns nil with appendonly no.
// An error (the disk is full) means the key must not change.
func (p *Engine) SessionRecords(key string, v server.Value) ([]byte, error) {
	if p.aof == nil || p.codec == nil {
		return nil, nil
	}
	return p.codec.SessionRecords(p.aof.st, []byte(key), v)
}

// pageOut is eviction of a session while the store is open (server
// Hooks.PageOut): its pages are on disk, so RAM drops them and the key
// keeps a storedSession, loaded again on its next use.
func (p *Engine) pageOut(db *server.DB, key string, o *server.Object) (int64, error) {
	if p.aof == nil || p.codec == nil {
		return 0, errStoreClosed
	}
	before := o.Val.MemoryUsage()
	d, err := p.codec.Describe(p.aof.st, o.Val)
	if err != nil {
		return 0, err
	}
	o.Val.Release()
	o.Val = p.newStoredValue(d)
	p.pagedOut++
	return max(0, before-o.Val.MemoryUsage()), nil
}
