package httpapi

import (
	"sync"

	"reddwarf/session"
)

// events carries one job's pieces and end from the loop to the request's
// goroutine. The loop only appends under the lock and never waits, so a
// slow reader costs memory (bounded by max_tokens), never loop time.
type events struct {
	mu     sync.Mutex
	pieces [][]byte
	done   bool
	wake   chan struct{} // one pending wake-up at most
}

func newEvents() *events { return &events{wake: make(chan struct{}, 1)} }

// attach makes j report to ev; before Submit, on the loop.
func (ev *events) attach(j *session.Job, stream bool) {
	if stream {
		j.OnPiece = func(_ *session.Job, p []byte) {
			ev.mu.Lock()
			ev.pieces = append(ev.pieces, p)
			ev.mu.Unlock()
			ev.signal()
		}
	}
	j.OnDone = func(*session.Job) {
		ev.mu.Lock()
		ev.done = true
		ev.mu.Unlock()
		ev.signal()
	}
}

func (ev *events) signal() {
	select {
	case ev.wake <- struct{}{}:
	default:
	}
}

// take returns the pieces that arrived since the last call and whether
// the job has ended (its result fields are then safe to read).
func (ev *events) take() ([][]byte, bool) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	p := ev.pieces
	ev.pieces = nil
	return p, ev.done
}
