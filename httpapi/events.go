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
	pieces []piece
	done   bool
	wake   chan struct{} // one pending wake-up at most
}

// piece is streamed text and the log-probabilities of the tokens
// generated since the last piece (when the request asked for them).
type piece struct {
	text []byte
	lps  []session.TokenLogProb
}

func newEvents() *events { return &events{wake: make(chan struct{}, 1)} }

// attach makes j report to ev; before Submit, on the loop.
func (ev *events) attach(j *session.Job, stream bool) {
	if stream {
		sent := 0 // entries of j.LogProbs already sent
		j.OnPiece = func(j *session.Job, p []byte) {
			lps := j.LogProbs[sent:len(j.LogProbs):len(j.LogProbs)]
			sent = len(j.LogProbs)
			ev.mu.Lock()
			ev.pieces = append(ev.pieces, piece{p, lps})
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
func (ev *events) take() ([]piece, bool) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	p := ev.pieces
	ev.pieces = nil
	return p, ev.done
}
