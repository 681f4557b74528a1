package session

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"

	"reddwarf/infer"
	"reddwarf/rdb"
	"reddwarf/server"
)

// Session is the value of a kvstate key: the model state plus what the
// server keeps beside it. Fields are exported for persistence (rdb).
type Session struct {
	State       *infer.State
	Checkpoints []Checkpoint // sorted by Pos, names unique
	// RNG is the sampler's state after the last GEN; a GEN without SEED
	// continues from it, so a session's draws never repeat by accident.
	RNG uint64
	// Stored is how many of the session's full pages the session store
	// is known to hold (journal.go), so a commit hashes only new ones.
	Stored int

	live     *Sessions // the set that counts this session until Release
	released bool

	// names maps each checkpoint's name to its index in Checkpoints (a
	// session may hold 65,536). Built on demand (index); a change to
	// Checkpoints other than an append at the end leaves it with the wrong
	// length or drops it, and the next index rebuilds it.
	names map[string]int
}

// Checkpoint is a restorable position: ROLLBACK TO name truncates the
// session to Pos and restores Logits (the next-token logits after Pos
// tokens; nil at position 0). For llama-style models that is exact.
type Checkpoint struct {
	Name   string
	Pos    int
	Logits []float32 // never modified once stored (clones share it)
}

// Sessions is the set of sessions not yet released, so INFO can count
// them and their pages without walking the keyspace (which may hold
// millions of strings). An engine has one (Engine.Sessions); its codec
// adds the sessions it decodes to it, and a clone joins its source's set.
// Release may run on any goroutine (a BGSAVE's view), hence the lock.
type Sessions struct {
	mu sync.Mutex
	m  map[*Session]struct{}
}

// NewSessions makes an empty set.
func NewSessions() *Sessions { return &Sessions{m: map[*Session]struct{}{}} }

// New wraps st as a session counted in l.
func (l *Sessions) New(st *infer.State, rng uint64) *Session {
	s := &Session{State: st, RNG: rng, live: l}
	l.mu.Lock()
	l.m[s] = struct{}{}
	l.mu.Unlock()
	return s
}

// Len is the number of sessions not yet released.
func (l *Sessions) Len() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.m))
}

// each calls fn for every session not yet released (loop goroutine: their
// States must not change meanwhile).
func (l *Sessions) each(fn func(*Session)) {
	l.mu.Lock()
	list := make([]*Session, 0, len(l.m))
	for s := range l.m {
		list = append(list, s)
	}
	l.mu.Unlock()
	for _, s := range list {
		fn(s)
	}
}

func (l *Sessions) remove(s *Session) {
	l.mu.Lock()
	delete(l.m, s)
	l.mu.Unlock()
}

// Encoding is what OBJECT ENCODING replies.
func (s *Session) Encoding() string { return "paged" }

// MemoryUsage is the bytes the session holds: each KV page's bytes divided
// by the number of its holders (a page shared by a fork and its source
// counts half to each), plus tokens, logits and checkpoint logits.
func (s *Session) MemoryUsage() int64 {
	per := s.State.Layout().PageBytes()
	var n int64
	for _, r := range s.State.PageRefs(nil) {
		if refs := int64(r.Refs()); refs > 0 {
			n += per / refs
		}
	}
	n += 4*int64(s.State.Len()) + 4*int64(len(s.State.Logits()))
	if e := s.State.Ext(); e != nil {
		n += e.Bytes() // deepseek4: ring, compressed rows, frontiers, restore points
	}
	for _, c := range s.Checkpoints {
		n += 4*int64(len(c.Logits)) + int64(len(c.Name)) + 16
	}
	return n + 64
}

// Clone is a copy-on-write fork (FORK, COPY): pages are shared, tokens,
// logits and the checkpoint table copied.
func (s *Session) Clone() server.Value {
	c := s.live.New(s.State.Clone(), s.RNG)
	c.Stored = s.Stored
	c.Checkpoints = append([]Checkpoint(nil), s.Checkpoints...)
	return c
}

// Release drops the session's page references (DEL, overwrite, expiry,
// FLUSH). The session is empty afterwards.
func (s *Session) Release() {
	if s.released {
		return
	}
	s.released = true
	s.live.remove(s)
	s.State.Release()
	s.Checkpoints = nil
}

// Checkpoint limits are the snapshot format's (rdb.MaxCheckpointName,
// rdb.MaxCheckpoints): CHECKPOINT refuses what could not be saved, so no
// key can make every later save fail.
var (
	ErrCheckpointName     = server.Errorf("checkpoint name longer than " + strconv.Itoa(rdb.MaxCheckpointName) + " bytes")
	ErrTooManyCheckpoints = server.Errorf("session has " + strconv.Itoa(rdb.MaxCheckpoints) + " checkpoints, the most a snapshot can hold")
)

// SetCheckpoint records the current position under name (replacing a
// checkpoint of that name) and returns the position.
// It fails, changing nothing, past the checkpoint limits.
func (s *Session) SetCheckpoint(name string) (int, error) {
	if len(name) > rdb.MaxCheckpointName {
		return 0, ErrCheckpointName
	}
	if s.index(name) < 0 && len(s.Checkpoints) >= rdb.MaxCheckpoints {
		return 0, ErrTooManyCheckpoints
	}
	pos := s.State.Len()
	s.State.MarkCheckpoint() // deepseek4: keep its ring here, so rolling back replays nothing
	var logits []float32
	if l := s.State.Logits(); l != nil {
		logits = append([]float32(nil), l...)
	}
	s.putCheckpoint(Checkpoint{Name: name, Pos: pos, Logits: logits})
	s.State.MarkCheckpoint() // deepseek4: keep its ring and frontiers at pos
	return pos, nil
}

func (s *Session) putCheckpoint(c Checkpoint) {
	if i := s.index(c.Name); i >= 0 {
		s.Checkpoints = append(s.Checkpoints[:i:i], s.Checkpoints[i+1:]...)
		s.names = nil
	}
	// After every checkpoint at or before its position, as a stable sort
	// of the appended list would put it, without sorting the list again.
	i := sort.Search(len(s.Checkpoints), func(i int) bool { return s.Checkpoints[i].Pos > c.Pos })
	s.Checkpoints = slices.Insert(s.Checkpoints, i, c)
	if i == len(s.Checkpoints)-1 && s.names != nil && len(s.names) == i {
		s.names[c.Name] = i
	} else {
		s.names = nil
	}
}

// index returns the index of the checkpoint called name, or -1.
func (s *Session) index(name string) int {
	if len(s.names) != len(s.Checkpoints) {
		s.names = make(map[string]int, len(s.Checkpoints))
		for i, c := range s.Checkpoints {
			s.names[c.Name] = i
		}
	}
	if i, ok := s.names[name]; ok && i < len(s.Checkpoints) && s.Checkpoints[i].Name == name {
		return i
	}
	return -1
}

// DropCheckpoint removes the checkpoint called name, if any.
func (s *Session) DropCheckpoint(name string) {
	if i := s.index(name); i >= 0 {
		s.Checkpoints = append(s.Checkpoints[:i:i], s.Checkpoints[i+1:]...)
		s.names = nil
	}
}

// Checkpoint returns the checkpoint called name.
func (s *Session) Checkpoint(name string) (Checkpoint, bool) {
	if i := s.index(name); i >= 0 {
		return s.Checkpoints[i], true
	}
	return Checkpoint{}, false
}

// ErrRange is returned by Rollback for a position outside [0, Len()].
var ErrRange = fmt.Errorf("position out of range")

// Rollback keeps the first n tokens and makes the logits exact again: from
// a checkpoint at n when there is one, else by re-feeding token n-1
// (Model.Rewind). Checkpoints past n are dropped. On error the session is
// unchanged.
func (s *Session) Rollback(m *infer.Model, n int) error {
	if n < 0 || n > s.State.Len() {
		return ErrRange
	}
	if n == s.State.Len() && (s.State.Logits() != nil || n == 0) {
		return nil
	}
	var from *Checkpoint
	for i := range s.Checkpoints {
		if c := &s.Checkpoints[i]; c.Pos == n && (c.Logits != nil || n == 0) {
			from = c
			break
		}
	}
	if from != nil {
		if err := s.State.Truncate(n); err != nil {
			return err
		}
		if from.Logits != nil {
			if err := s.State.SetLogits(from.Logits); err != nil {
				return err
			}
		}
	} else if err := m.Rewind(s.State, n); err != nil {
		return err
	}
	var keep []Checkpoint
	for _, c := range s.Checkpoints {
		if c.Pos <= n {
			keep = append(keep, c)
		}
	}
	s.Checkpoints = keep
	s.names = nil
	s.Stored = min(s.Stored, n/infer.PageTokens)
	return nil
}
