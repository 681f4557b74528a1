package script

import (
	"errors"
	"time"

	lua "github.com/yuin/gopher-lua"

	"reddwarf/server"
)

// hook is the interpreter's context. gopher-lua has no instruction hook
// (Lua's lua_sethook, which Redis uses), but it calls its context's Done
// before every instruction when one is set. Done answers a closed channel
// once the engine's stop flag is up, so the interpreter raises an error at
// every instruction from then on and a pcall in the script can't swallow
// the stop. The flag is raised by the loop goroutine (run.go): SCRIPT
// KILL, FUNCTION KILL, SHUTDOWN NOSAVE, FUNCTION LOAD's timeout.
type hook struct {
	e *Engine
}

var (
	closed         = func() chan struct{} { c := make(chan struct{}); close(c); return c }()
	errKilled      = errors.New("Script killed by user with SCRIPT KILL...")
	errLoadTimeout = errors.New("FUNCTION LOAD timeout")
)

func (h *hook) Deadline() (time.Time, bool) { return time.Time{}, false }
func (h *hook) Err() error {
	if h.e.oom.Load() {
		return errScriptOOM
	}
	if h.e.loading != nil {
		return errLoadTimeout
	}
	return errKilled
}
func (h *hook) Value(any) any { return nil }

func (h *hook) Done() <-chan struct{} {
	if h.e.stop.Load() {
		return closed
	}
	return nil
}

// checkStop raises, inside a Go library function, once the script must
// stop (the hook's channel is closed): cjson and cmsgpack check it at
// every value, so a kill lands without waiting for the whole of a huge one.
func checkStop(L *lua.LState) {
	if ctx := L.Context(); ctx != nil && ctx.Done() != nil {
		L.RaiseError("%s", ctx.Err().Error())
	}
}

// serveBusy is the slowFunc of a script past busy-reply-threshold: the
// loop serves the other clients (they get -BUSY, SCRIPT KILL and
// SHUTDOWN NOSAVE run). A kill raises the stop flag for the hook; SHUTDOWN
// NOSAVE stops the script too, and stops the waiting.
func (e *Engine) serveBusy(r *runCtx) slowFunc {
	return func() bool {
		if !r.busy {
			r.busy = true
			kill := "SCRIPT KILL"
			if !r.eval {
				kill = "FUNCTION KILL"
			}
			e.s.Logf("warning", "Slow script detected: still in execution after %d milliseconds. You can try killing the script using the %s command. Script name is: %s.", time.Since(r.start).Milliseconds(), kill, r.name)
		}
		if e.s.ServeWhileBusy(r.c, r.eval) {
			return true
		}
		e.s.StepWhileBusy()
		return false
	}
}

// serveLoad is the slowFunc of a library body (FUNCTION LOAD, RESTORE, a
// snapshot's libraries) past its time limit: Redis fails the load then.
// A body stuck inside a Go function can't see the stop at once, so the
// loop serves the other clients meanwhile, as for a busy function.
func (e *Engine) serveLoad(c *server.Client) slowFunc {
	return func() bool {
		e.stop.Store(true)
		return e.s.ServeWhileBusy(c, false)
	}
}

// Kill is SCRIPT KILL (eval) and FUNCTION KILL: it stops the busy script
// unless it has written. It runs on the loop goroutine while the script
// waits (the worker holds no server lock), so r.wrote is settled.
func (e *Engine) Kill(eval bool) error {
	r := e.run
	switch {
	case r == nil && e.loading != nil && !eval:
		return nil // a library body past its time: already stopping
	case r == nil && e.loading != nil:
		return errBusyFunction
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
	e.stop.Store(true)
	e.s.Logf("warning", "Lua script killed by user with SCRIPT KILL.")
	return nil
}
