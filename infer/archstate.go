package infer

import "fmt"

// ArchState is session state an architecture keeps itself instead of (or
// beside) the paged K/V rows of a State: deepseek4's raw-window ring,
// compressed rows and compressor frontiers. An Arch that implements
// StatefulArch gets one per State (State.ext); the State forwards Clone,
// Truncate, Release and Bytes to it.
type ArchState interface {
	// Clone returns an independent copy (FORK).
	Clone() ArchState
	// Truncate forgets everything after n tokens of toks (the State's tokens,
	// len(toks) ≥ n). An architecture that cannot cut its state exactly
	// restores an earlier point and marks toks[that:n] for replay: the next
	// Forward feeds them before the new tokens.
	Truncate(toks []int32, n int) error
	// Release drops the state's memory; it must stay usable (empty).
	Release()
	// Bytes is the memory the state holds.
	Bytes() int64
}

// StatefulArch is an Arch with its own per-session state.
type StatefulArch interface {
	Arch
	NewArchState() ArchState
}

// Ext returns the architecture's state of s (nil for paged-KV architectures).
func (s *State) Ext() ArchState { return s.ext }

// MarkCheckpoint asks the architecture's state to keep a restore point at
// the current length (deepseek4: a copy of its ring and compressor
// frontiers), so that a later Truncate back to it replays nothing. Sessions
// call it at CHECKPOINT and when a GEN starts. No-op for paged-KV states.
func (s *State) MarkCheckpoint() {
	if c, ok := s.ext.(interface{ Checkpoint() }); ok {
		c.Checkpoint()
	}
}

// ArchSnapshot is an architecture state frozen after the first N tokens of
// its State. State is never modified: resume from a Clone of it.
type ArchSnapshot struct {
	N     int
	State ArchState
}

// ResumableArchState is an ArchState a PrefixCache can resume sessions
// from. deepseek4's rows alone can't continue a session: its sliding-window
// ring and compressor frontiers hold the positions before, so the cache
// keeps whole states at the points the state offers.
type ResumableArchState interface {
	ArchState
	// Snapshots returns states of the state's first N tokens for the N it
	// can offer cheaply (deepseek4: its restore points and its current
	// length), N ascending.
	Snapshots() []ArchSnapshot
}

// StorableArchState is an ArchState the session store can keep on disk
// (rdb/FORMAT.md §5.2, payload kinds 16 and 17): the rows it only ever
// appends, written once per full page of tokens, and a resume point: the
// small mutable rest (deepseek4: its sliding-window ring and compressor
// frontiers) with the rows of a partial last page, after some number of
// tokens. Pages plus a resume point rebuild the state exactly.
type StorableArchState interface {
	ArchState
	// Tokens is how many tokens the state describes (pending replay not
	// included).
	Tokens() int
	// PageRows appends the rows the tokens of page i added (i <
	// Tokens()/PageTokens).
	PageRows(dst []byte, i int) ([]byte, error)
	// Resume appends the state's resume point after Tokens() tokens.
	Resume(dst []byte) ([]byte, error)
	// Restore replaces the state by the one after n tokens, from the
	// rows of its n/PageTokens full pages and a Resume payload taken
	// after n tokens. Every size is checked; on error the state is
	// unchanged.
	Restore(n int, pages [][]byte, resume []byte) error
}

// StateFromResume builds a State holding tokens[:n] from a storable
// architecture's pages and resume point (StorableArchState.Restore), and
// logits when given (they are the model's after those n tokens).
func (m *Model) StateFromResume(tokens []int32, n int, pages [][]byte, resume []byte, logits []float32) (*State, error) {
	s := m.NewState()
	sa, ok := s.ext.(StorableArchState)
	err := error(nil)
	switch {
	case !ok:
		err = fmt.Errorf("infer: this architecture's states cannot be restored from pages: %w", ErrRange)
	case n < 0 || n > len(tokens) || n > s.ctx:
		err = fmt.Errorf("infer: resume after %d of %d tokens, context %d: %w", n, len(tokens), s.ctx, ErrRange)
	}
	for i, t := range tokens[:max(0, min(n, len(tokens)))] {
		if err == nil && (t < 0 || int(t) >= s.vocab) {
			err = fmt.Errorf("infer: token %d: id %d not in [0, %d): %w", i, t, s.vocab, ErrBadToken)
		}
	}
	if err == nil {
		err = sa.Restore(n, pages, resume)
	}
	if err != nil {
		s.Release()
		return nil, err
	}
	if logits != nil {
		if err := s.SetLogits(logits); err != nil {
			s.Release()
			return nil, err
		}
	}
	s.tokens = append(s.tokens, tokens[:n]...)
	return s, nil
}
