package server

import (
	"time"
)

// Blocking on keys (BLPOP, BLMOVE, BZPOPMIN, XREAD BLOCK...), as Redis's
// blocked.c does it:
//
//  1. A command that finds nothing to serve calls BlockOnKeys with a
//     KeyWait: the keys, a Serve function and the reply for a timeout. The
//     client is parked as for GEN (Block); it waits in the FIFO of each key.
//  2. A write that may let waiters through (a key created by DB.Set, or an
//     XADD to an existing stream) calls SignalKeyReady; so do a deletion,
//     an overwrite by DB.Set, FLUSHDB and SWAPDB, after which a waiter
//     finds its key gone or of another type: it keeps waiting, except a
//     stream group reader, which gets an error (Redis 7.0's
//     signalDeletedKeyAsReady).
//  3. After every top-level command (EXEC counts as one) the loop serves
//     the ready keys: each waiter, oldest first, gets Serve(key) with a
//     fresh Ctx on its own client; Serve does the command's work and writes
//     its reply, or reports false (the key is gone or of another type) and
//     the client keeps waiting. A served client is unblocked and its parked
//     pipeline resumes.
//  4. A timeout writes OnTimeout's reply and unblocks; a disconnect drops
//     the waiter (unlinkClient).
//
// Inside MULTI (and later scripts) a blocking command must not block:
// handlers check CanBlock and answer as if the timeout had passed.

// KeyWait is a client blocked on keys.
type KeyWait struct {
	DB   *DB
	Keys []string
	Args [][]byte // the blocked command's arguments (owned: copied by BlockOnKeys)
	Cmd  *Spec
	// Serve answers the client now that key may let it through; false
	// means nothing was done and it keeps waiting.
	Serve func(x *Ctx, key string) bool
	// OnTimeout writes the reply of a wait that timed out.
	OnTimeout func(r *Reply)

	c     *Client
	timer *time.Timer
}

type dbKey struct {
	db  *DB
	key string
}

// CanBlock reports whether the command may block its client: not inside
// EXEC, not for a client that is going away.
func (x *Ctx) CanBlock() bool { return x.S.ctxDepth == 1 && !x.C.closed }

// BlockOnKeys parks x's client until w is served or, when deadlineMS > 0,
// until that unix-ms time passes.
func (s *Server) BlockOnKeys(x *Ctx, reason string, w *KeyWait, deadlineMS int64) {
	c := x.C
	w.c = c
	w.Args = copyArgs(w.Args)
	if s.blockedOn == nil {
		s.blockedOn = map[dbKey][]*KeyWait{}
	}
	for _, k := range w.Keys {
		dk := dbKey{w.DB, k}
		if !containsWait(s.blockedOn[dk], w) {
			s.blockedOn[dk] = append(s.blockedOn[dk], w)
		}
	}
	b := &Blocked{Reason: reason, Key: w.Keys[0], Data: w}
	s.Block(c, b)
	if deadlineMS > 0 {
		d := time.Duration(deadlineMS-s.Now()) * time.Millisecond
		w.timer = time.AfterFunc(max(d, 0), func() {
			s.Post(func() {
				if c.blocked != b {
					return
				}
				s.dropWait(w)
				s.ReplyTo(c, w.OnTimeout)
				s.Unblock(c)
			})
		})
	}
}

func containsWait(ws []*KeyWait, w *KeyWait) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// SignalKeyReady marks key as possibly serving its waiters after the
// current command.
func (s *Server) SignalKeyReady(db *DB, key string) {
	if len(s.blockedOn) == 0 {
		return // nobody waits: every deletion and overwrite passes here
	}
	dk := dbKey{db, key}
	if len(s.blockedOn[dk]) == 0 {
		return
	}
	for _, r := range s.readyKeys {
		if r == dk {
			return
		}
	}
	s.readyKeys = append(s.readyKeys, dk)
}

// dropWait removes w from every key it waits on and stops its timer.
func (s *Server) dropWait(w *KeyWait) {
	if w.timer != nil {
		w.timer.Stop()
	}
	for _, k := range w.Keys {
		dk := dbKey{w.DB, k}
		ws := s.blockedOn[dk]
		for i, x := range ws {
			if x == w {
				ws = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(s.blockedOn, dk)
		} else {
			s.blockedOn[dk] = ws
		}
	}
}

// serveReadyKeys serves the waiters of every key signalled ready, in
// signal order, each key's waiters oldest first; serving may signal more
// keys (BLMOVE pushes to its destination), which are served in turn.
func (s *Server) serveReadyKeys() {
	for len(s.readyKeys) > 0 {
		dk := s.readyKeys[0]
		s.readyKeys = s.readyKeys[1:]
		for _, w := range append([]*KeyWait(nil), s.blockedOn[dk]...) {
			c := w.c
			if c.closed || c.blocked == nil || c.blocked.Data != w {
				continue
			}
			x := &Ctx{S: s, C: c, Args: w.Args, Cmd: w.Cmd, R: &c.R, DB: w.DB}
			prev := s.current
			s.current = c
			served := w.Serve(x, dk.key)
			s.current = prev
			if !served {
				continue
			}
			// What the served command changed goes to the log in the
			// non-blocking form its Serve gave (LPOP for BLPOP...).
			s.propOps = append(s.propOps, x.props...)
			s.flushPropagation()
			s.dropWait(w)
			c.scheduleWrite()
			s.Unblock(c)
		}
	}
	s.readyKeys = nil
}

// keyWaitGone drops the wait of a client that disconnected.
func (s *Server) keyWaitGone(c *Client) {
	if c.blocked == nil {
		return
	}
	if w, ok := c.blocked.Data.(*KeyWait); ok {
		s.dropWait(w)
	}
}

// BlockedOnKeys is the number of keys with clients waiting (INFO
// blocked_keys... and tests).
func (s *Server) BlockedOnKeys() int { return len(s.blockedOn) }

// UnblockClient ends the key wait of client id (CLIENT UNBLOCK): its reply
// is the timeout's, or with asError the UNBLOCKED error. It reports
// whether the client was waiting on keys (a GEN is not interrupted).
func (s *Server) UnblockClient(id uint64, asError bool) bool {
	c := s.clients[id]
	if c == nil || c.blocked == nil {
		return false
	}
	w, ok := c.blocked.Data.(*KeyWait)
	if !ok {
		if u := c.blocked.Unblock; u != nil {
			u(asError)
			return true
		}
		return false
	}
	s.dropWait(w)
	if asError {
		err := ErrUnblocked
		s.countError(err)
		s.ReplyTo(c, func(r *Reply) { r.Error(err) })
	} else {
		s.ReplyTo(c, w.OnTimeout)
	}
	s.Unblock(c)
	return true
}

// signalSwapped marks ready the keys clients wait on in dbs a and b
// after SWAPDB exchanged their contents: a waiter whose key now holds
// what it waits for is served, a group reader whose stream is gone gets
// its error, the others keep waiting.
func (s *Server) signalSwapped(a, b *DB) {
	s.signalAllWaited(a)
	s.signalAllWaited(b)
}

// signalAllWaited marks ready every key clients wait on in db (FLUSHDB,
// SWAPDB): Redis's signalDeletedKeyAsReady for each.
func (s *Server) signalAllWaited(db *DB) {
	for dk := range s.blockedOn {
		if dk.db == db {
			s.SignalKeyReady(dk.db, dk.key)
		}
	}
}
