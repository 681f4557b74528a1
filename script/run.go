package script

import (
	"time"
)

// A script runs on the loop goroutine, inside its command's handler; a
// watchdog goroutine serves the other clients once it is past
// busy-reply-threshold. Why a second goroutine: the instruction hook
// (hook.go) reaches only Lua instructions, and a script can spend
// unbounded time where it never fires, inside a Go function (a Lua
// pattern that backtracks for hours, cjson or cmsgpack on a huge value,
// table.sort of millions). Serving from the hook, as Redis's
// processEventsWhileBlocked does, would answer nobody then, not even
// SCRIPT KILL. (Running the script on a worker goroutine instead costs a
// cross-thread handoff per EVAL: a third of a short EVAL's throughput.)
//
// The two goroutines never touch the server at once: Engine.srv is held
// by the loop goroutine for the whole script except while Lua runs (a
// redis.* function that reaches the server, redis.call, redis.log,
// redis.acl_check_cmd, takes it back for its call), and by the watchdog
// while it serves. A stop (SCRIPT KILL, FUNCTION KILL, SHUTDOWN NOSAVE,
// FUNCTION LOAD's timeout) is an atomic flag the hook reads at every
// instruction; inside a Go function it takes effect when the function
// returns to Lua (our cjson, cmsgpack and struct check it as they go).

// serveEvery is how often the watchdog serves the other clients once a
// script is past the threshold.
const serveEvery = time.Millisecond

// exitGrace is how long the watchdog waits, after SHUTDOWN NOSAVE, for a
// script stuck in a Go function to give the loop back before it ends the
// process itself.
const exitGrace = time.Second

// slowFunc is called by the watchdog, with the server to itself, every
// serveEvery once the script has run past its limit: it serves, stops the
// script, or both, and reports whether the server is shutting down.
type slowFunc func() (shutdown bool)

// watch is the state the watchdog shares with the loop goroutine, under
// Engine.srv.
type watch struct {
	timer    *time.Timer
	slow     slowFunc // nil between scripts
	started  time.Time
	after    time.Duration
	maxMem   int64 // script-max-memory as the script began
	mem      memGuard
	watching bool // a watchdog loop is running
}

// exec runs f (a PCall on an interpreter) on the loop goroutine; from
// after on (never if negative) the watchdog calls slow every serveEvery.
func (e *Engine) exec(f func() error, after time.Duration, slow slowFunc) error {
	w := &e.watch
	e.srv.Lock()
	e.stop.Store(false)
	e.oom.Store(false)
	w.slow, w.started, w.after = slow, time.Now(), after
	w.maxMem, w.mem = e.s.ScriptMaxMemory(), memGuard{}
	if first := w.next(0); first >= 0 {
		if w.timer == nil {
			w.timer = time.AfterFunc(first, e.watchdog)
		} else {
			w.timer.Reset(first)
		}
	}
	e.srv.Unlock()
	err := f()
	e.srv.Lock()
	w.slow = nil
	if w.timer != nil {
		w.timer.Stop()
	}
	e.srv.Unlock()
	return err
}

// next is how long after elapsed the watchdog has work: a heap sample
// (every memEvery), serving (from after on); -1 for none.
func (w *watch) next(elapsed time.Duration) time.Duration {
	d := time.Duration(-1)
	if w.maxMem > 0 {
		d = memEvery
	}
	if w.after >= 0 && (d < 0 || w.after-elapsed < d) {
		d = max(0, w.after-elapsed)
	}
	return d
}

// watchdog samples the running script's heap and serves while the script
// is past its limit, until it ends. One runs at a time; a timer that
// fires while one runs, or for a script already ended, does nothing; a
// script not yet due gets the timer re-armed.
func (e *Engine) watchdog() {
	w := &e.watch
	e.srv.Lock()
	defer e.srv.Unlock()
	if w.watching {
		return
	}
	w.watching = true
	defer func() { w.watching = false }()
	for w.slow != nil {
		elapsed := time.Since(w.started)
		if e.checkMemory(&w.mem, w.maxMem) {
			return // stopped: the hook raises at the next instruction
		}
		if w.after < 0 || elapsed < w.after {
			if d := w.next(elapsed); d >= 0 {
				w.timer.Reset(d)
			}
			return
		}
		if w.slow() {
			// SHUTDOWN NOSAVE: the script stops at its next instruction
			// and the loop exits; one stuck inside a Go function never
			// gives the loop back, so the process ends here.
			e.stop.Store(true)
			e.srv.Unlock()
			time.Sleep(exitGrace)
			e.srv.Lock()
			if w.slow != nil {
				e.s.ExitStuck()
			}
			return
		}
		e.srv.Unlock()
		time.Sleep(serveEvery)
		e.srv.Lock()
	}
}

// lockedServer marks a redis.* function's reach into the server from Lua:
// it waits while the watchdog serves. Use as defer e.lockedServer()().
func (e *Engine) lockedServer() func() {
	e.srv.Lock()
	return e.srv.Unlock
}
