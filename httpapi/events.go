package httpapi

import (
	"sync"

	"reddwarf/session"
)

// events carries one job's pieces and end from the loop to the request's
// goroutine. The loop only appends under the lock and never waits, so a
// slow reader never costs loop time; and what waits for it is bounded:
// past limit bytes the loop cancels the job as CLIENT KILL would (Redis
// drops a client past its output buffer limit), and the request's
// goroutine, once it looks, ends the stream (dropped).
type events struct {
	mu      sync.Mutex
	pieces  []piece
	bytes   int // of pieces, about (pieceBytes)
	limit   int // 0: no bound
	done    bool
	dropped bool          // the job was canceled for a reader too slow
	wake    chan struct{} // one pending wake-up at most
}

// pieceBytes is about what p holds: its text and log-probability entries.
func pieceBytes(p piece) int {
	n := len(p.text)
	for _, e := range p.lps {
		n += 32 + 16*len(e.Top)
	}
	return n
}

// piece is streamed text and the log-probabilities of the tokens
// generated since the last piece (when the request asked for them).
type piece struct {
	text []byte
	lps  []session.TokenLogProb
}

func newEvents(limit int) *events { return &events{wake: make(chan struct{}, 1), limit: limit} }

// attach makes j report to ev; before Submit, on the loop. drop cancels
// j (on the loop) when the pieces waiting pass ev's limit.
func (ev *events) attach(j *session.Job, stream bool, drop func(*session.Job)) {
	if stream {
		sent := 0 // entries of j.LogProbs already sent
		j.OnPiece = func(j *session.Job, p []byte) {
			lps := j.LogProbs[sent:len(j.LogProbs):len(j.LogProbs)]
			sent = len(j.LogProbs)
			pc := piece{p, lps}
			ev.mu.Lock()
			if ev.dropped {
				ev.mu.Unlock()
				return
			}
			ev.pieces = append(ev.pieces, pc)
			ev.bytes += pieceBytes(pc)
			over := ev.limit > 0 && ev.bytes > ev.limit
			if over {
				ev.dropped, ev.pieces = true, nil
			}
			ev.mu.Unlock()
			if over {
				drop(j)
			}
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
	ev.pieces, ev.bytes = nil, 0
	return p, ev.done
}

// isDropped reports whether the job was canceled for a slow reader: no
// more pieces come, nor its end.
func (ev *events) isDropped() bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.dropped
}
