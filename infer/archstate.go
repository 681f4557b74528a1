package infer

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
