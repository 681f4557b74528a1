package server

import (
	"os"
	"strconv"
	"time"
)

// Scripting support: what the script package (EVAL, FCALL) needs of the
// loop. A script runs inside its command's handler on the loop goroutine;
// redis.call runs a command through ScriptCall; a script past
// busy-reply-threshold lets the loop answer other clients from inside it
// (ServeWhileBusy, Redis's processEventsWhileBlocked), and they get -BUSY
// for every command not flagged allow-busy.

// busyScript is the script that went past busy-reply-threshold.
type busyScript struct {
	caller *Client
	eval   bool // EVAL (SCRIPT KILL) rather than FCALL (FUNCTION KILL)
}

var (
	errBusyEval     = CodeError("BUSY", "Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
	errBusyFunction = CodeError("BUSY", "Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
)

// busyRefusal returns -BUSY for a command that may not run while a
// script is busy: those not flagged allow-busy, and SHUTDOWN without
// NOSAVE (only NOSAVE may stop a server whose script is mid-way).
func (s *Server) busyRefusal(spec *Spec, args [][]byte) error {
	b := s.busy
	if b == nil {
		return nil
	}
	allowed := spec.Flags&FlagAllowBusy != 0
	if allowed && spec.Name == "shutdown" {
		allowed = false
		for _, a := range args[1:] {
			if EqualFold(a, "nosave") {
				allowed = true
			}
		}
	}
	if allowed {
		return nil
	}
	if b.eval {
		return errBusyEval
	}
	return errBusyFunction
}

// ScriptCall runs args for a script's redis.call as c, with the checks a
// queued command meets when EXEC runs it, and returns the reply encoded
// in RESP version resp; c's own output is left as it was. The caller has
// looked the command up and checked its arity and script flags. With
// propagate false (redis.set_repl(redis.REPL_NONE)) what the command
// changed is not logged.
func (s *Server) ScriptCall(c *Client, resp int, propagate bool, args [][]byte) []byte {
	saved := c.R
	c.R = Reply{resp: resp}
	mark := len(s.propOps)
	saved2 := s.scriptCmd
	s.scriptCmd = s.ctxStack[s.ctxDepth-1] // the EVAL or FCALL running the script
	s.inScript++
	s.Call(c, args)
	s.inScript--
	s.scriptCmd = saved2
	if !propagate {
		clear(s.propOps[mark:])
		s.propOps = s.propOps[:mark]
	}
	out := c.R.buf
	c.R = saved
	return out
}

// OOMAtCommand reports whether the running command found the server over
// maxmemory with nothing left to evict when it started (Redis's
// pre_command_oom_state): a script refuses its first DENYOOM call then.
func (s *Server) OOMAtCommand() bool { return s.oomAtCommand }

// BusyThreshold is busy-reply-threshold (lua-time-limit): how long a
// script runs before the loop answers other clients with -BUSY.
func (s *Server) BusyThreshold() time.Duration {
	n, _ := strconv.ParseInt(s.Config.Get("busy-reply-threshold"), 10, 64)
	return time.Duration(n) * time.Millisecond
}

// ScriptMaxMemory is script-max-memory: how many bytes a script may keep
// beyond what the heap held when it began (0: no limit).
func (s *Server) ScriptMaxMemory() int64 { return s.Config.Int("script-max-memory") }

// ServeWhileBusy is called while a script that went past
// busy-reply-threshold runs on the loop goroutine: the scripting engine's
// watchdog goroutine calls it every millisecond, the script kept off the
// server meanwhile. It runs what other clients
// sent (they get -BUSY but for allow-busy commands: SCRIPT KILL,
// FUNCTION KILL, SHUTDOWN NOSAVE...) and writes their replies. caller's
// own later commands wait behind the script. eval says which KILL the
// -BUSY names. It reports whether the server is stopping (SHUTDOWN
// NOSAVE ran): the script must end.
func (s *Server) ServeWhileBusy(caller *Client, eval bool) (stopping bool) {
	if s.busy == nil {
		s.busy = &busyScript{caller: caller, eval: eval}
	}
	var curArgs [][]byte
	if caller != nil { // nil: a snapshot's library body, loading
		curArgs = caller.curArgs
	}
	cur, start, now, depth := s.current, s.startNS, s.nowMS, s.ctxDepth
	chain := s.clock.chain
	if s.poller != nil {
		s.poller.wait(0, s.readClient, s.writeQueued)
	}
	s.takeQueued()
	s.flushWrites()
	s.current, s.startNS, s.nowMS, s.ctxDepth = cur, start, now, depth
	if caller != nil {
		caller.curArgs = curArgs
	}
	s.clock.chain = chain
	return s.stopAsked
}

// StepWhileBusy runs one engine step while a script is busy (the
// scripting watchdog calls it after ServeWhileBusy): running GEN and
// PREFILL jobs keep going, their STREAM pieces reach subscribers, and what
// a finished job writes, and the start of queued ones, wait for the
// script's end (session.Keyspace's ScriptBusy). Without it, every job would stall for as long as a script
// runs past the threshold.
func (s *Server) StepWhileBusy() {
	if s.hasWork() {
		s.step()
		s.flushWrites()
	}
}

// ExitStuck ends the process for SHUTDOWN NOSAVE when a busy script never
// gives the loop goroutine back (it sits inside a Go function the
// interpreter can't interrupt): Shutdown has run its hooks, and the loop
// can't reach its exit.
func (s *Server) ExitStuck() {
	s.logf("warning", "The script did not stop: exiting without it.")
	if s.logFile != nil {
		s.logFile.Close()
	}
	os.Exit(0) // SHUTDOWN's status
}

// EndBusy ends the busy state when the script returns.
func (s *Server) EndBusy() { s.busy = nil }

// ScriptBusy reports whether a script is running past the threshold.
func (s *Server) ScriptBusy() bool { return s.busy != nil }

// RawError is an error reply whose text already starts with its code (a
// script's {err="CODE msg"}).
func RawError(msg string) *Error { return &Error{msg} }

// InScript reports whether the command runs from a script's redis.call
// (Redis's CLIENT_SCRIPT): XREAD refuses BLOCK there.
func (x *Ctx) InScript() bool { return x.S.inScript > 0 }

// ScriptStats are the scripting figures of INFO memory.
type ScriptStats struct {
	Scripts, Functions, Libraries int
	EvalBytes, FunctionBytes      int64 // cached EVAL bodies, library code
}

// SetScriptStats registers where INFO reads the scripting figures.
func (s *Server) SetScriptStats(fn func() ScriptStats) { s.scriptStats = fn }

// ScriptRejected counts a command a script's redis.call refused before
// running it (unknown, noscript, a write from a read-only script, OOM):
// the error in the error statistics, the command's rejected_calls.
func (s *Server) ScriptRejected(spec *Spec, err error) {
	s.countError(err)
	if spec != nil {
		s.cmdStat(spec.Name).Rejected++
	}
}

// ErrorCounted replies err, already counted in the error statistics (a
// redis.call error the script raises again as its reply), and marks the
// call failed.
func (x *Ctx) ErrorCounted(err error) {
	x.failed = true
	x.R.Error(err)
}

// FeedMonitors shows x's command to MONITOR clients now: EVAL and FCALL
// (flagged skip_monitor) call it before their script runs, so the
// script's commands follow it, as Redis shows them.
func (x *Ctx) FeedMonitors() {
	if len(x.S.monitors) > 0 {
		x.S.feedMonitors(x.C, x.Args)
	}
}
