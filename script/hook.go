package script

import (
	"errors"
	"time"
)

// hook is the interpreter's context. gopher-lua has no instruction hook
// (Lua's lua_sethook, which Redis uses), but it calls its context's Done
// before every instruction when one is set: Done counts instructions and,
// every hookEvery of them, does what Redis's luaMaskCountHook does. Past
// busy-reply-threshold it lets the loop serve other clients (they get
// -BUSY, SCRIPT KILL and SHUTDOWN NOSAVE run); once the script is killed
// it returns a closed channel, so the interpreter raises an error at every
// instruction and a pcall in the script can't swallow the kill.
type hook struct {
	e *Engine
	n int
}

const hookEvery = 100000

var (
	closed         = func() chan struct{} { c := make(chan struct{}); close(c); return c }()
	errKilled      = errors.New("Script killed by user with SCRIPT KILL...")
	errLoadTimeout = errors.New("FUNCTION LOAD timeout")
)

func (h *hook) Deadline() (time.Time, bool) { return time.Time{}, false }
func (h *hook) Err() error {
	if h.e.loading != nil {
		return errLoadTimeout
	}
	return errKilled
}
func (h *hook) Value(any) any { return nil }

func (h *hook) Done() <-chan struct{} {
	r := h.e.run
	if r == nil {
		if h.e.loading != nil {
			h.n++
			if h.n >= hookEvery {
				h.n = 0
				if time.Since(h.e.loadStart) > loadTimeout {
					h.e.loadTimedOut = true
				}
			}
			if h.e.loadTimedOut {
				return closed
			}
		}
		return nil
	}
	if r.killed {
		return closed
	}
	h.n++
	if h.n < hookEvery {
		return nil
	}
	h.n = 0
	if h.e.interrupt(r) {
		return closed
	}
	return nil
}

// interrupt runs past busy-reply-threshold: the loop serves the other
// clients. It reports whether the script must stop (SCRIPT KILL,
// FUNCTION KILL, SHUTDOWN NOSAVE).
func (e *Engine) interrupt(r *runCtx) bool {
	th := e.s.BusyThreshold()
	if th <= 0 || time.Since(r.start) < th {
		return false
	}
	if !r.busy {
		r.busy = true
		kill := "SCRIPT KILL"
		if !r.eval {
			kill = "FUNCTION KILL"
		}
		e.s.Logf("warning", "Slow script detected: still in execution after %d milliseconds. You can try killing the script using the %s command. Script name is: %s.", time.Since(r.start).Milliseconds(), kill, r.name)
	}
	if e.s.ServeWhileBusy(r.c, r.eval) {
		r.killed = true
	}
	if r.killed {
		e.s.Logf("warning", "Lua script killed by user with SCRIPT KILL.")
	}
	return r.killed
}

// Kill is SCRIPT KILL (eval) and FUNCTION KILL: it stops the busy script
// unless it has written.
func (e *Engine) Kill(eval bool) error {
	r := e.run
	switch {
	case r == nil:
		return errNotBusy
	case r.wrote:
		return errUnkillable
	case eval && !r.eval:
		return errBusyFunction
	case !eval && r.eval:
		return errBusyEval
	}
	r.killed = true
	return nil
}
