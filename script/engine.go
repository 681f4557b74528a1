// Package script runs Lua scripts as Redis 7.0 does: EVAL and EVALSHA
// (a script cache by SHA1), FCALL over libraries loaded with FUNCTION
// LOAD, redis.call/pcall into the command table, the reply conversions
// both ways, and a sandbox (read-only globals and libraries, no os/io/
// loadfile). The interpreter is gopher-lua (Lua 5.1, as Redis embeds).
//
// Everything runs on the loop goroutine inside the calling command's
// handler: a script is atomic because the loop runs nothing else, except
// past busy-reply-threshold, where the instruction hook (hook.go) lets the
// loop answer other clients with -BUSY and run SCRIPT KILL, FUNCTION KILL
// and SHUTDOWN NOSAVE.
package script

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"reddwarf/server"
)

// Engine is the scripting state of one server: one Lua interpreter for
// EVAL (reset by SCRIPT FLUSH), the script cache, and the functions'
// libraries with their own interpreter.
type Engine struct {
	s    *server.Server
	eval *vm
	fn   *vm // the functions' interpreter (FUNCTION LOAD)

	scripts    map[string]*evalScript // SHA1 (lower-case hex) → script
	scriptsMem int64

	libs  map[string]*library // FUNCTION LOAD'ed libraries by name
	funcs map[string]*function

	run *runCtx // the script running now, nil between scripts
	rng uint64  // math.random's state

	loading *library // the library FUNCTION LOAD is running

	srv   sync.Mutex  // the server, between the loop goroutine and the watchdog (run.go)
	watch watch       // under srv
	stop  atomic.Bool // the running script or library body must stop (hook.go)
	oom   atomic.Bool // why: it kept more than script-max-memory (memory.go)
}

// evalScript is one cached EVAL body.
type evalScript struct {
	body  string
	fn    *lua.LFunction
	flags flags
}

// New returns the scripting engine of s.
func New(s *server.Server) *Engine {
	e := &Engine{s: s, scripts: map[string]*evalScript{}, libs: map[string]*library{}, funcs: map[string]*function{}, rng: 0x1234ABCD330E}
	e.eval = e.newVM(false)
	e.fn = e.newVM(true)
	s.SetScriptStats(e.stats)
	return e
}

// Sha1Hex is redis.sha1hex and the script cache's key.
func Sha1Hex(b []byte) string {
	h := sha1.Sum(b)
	return hex.EncodeToString(h[:])
}

// flags are a script's shebang flags (#!lua flags=...) or a function's.
type flags uint8

const (
	flagNoWrites flags = 1 << iota
	flagAllowOOM
	flagAllowStale
	flagNoCluster
	flagAllowCrossSlot
	// flagCompat: an EVAL body without a shebang (Redis's
	// SCRIPT_FLAG_EVAL_COMPAT_MODE): the script's command flags are
	// EVAL's own, writes are checked call by call.
	flagCompat
)

var flagNames = []struct {
	f    flags
	name string
}{
	{flagNoWrites, "no-writes"}, {flagAllowOOM, "allow-oom"}, {flagAllowStale, "allow-stale"},
	{flagNoCluster, "no-cluster"}, {flagAllowCrossSlot, "allow-cross-slot-keys"},
}

// parseShebang reads the flags of a body that starts with "#!". It
// returns the body with the shebang line blanked (so line numbers stay).
func parseShebang(body string) (flags, string, error) {
	if !strings.HasPrefix(body, "#!") {
		return flagCompat, body, nil
	}
	end := strings.IndexByte(body, '\n')
	if end < 0 {
		return 0, "", server.Errorf("Invalid script shebang")
	}
	parts, err := server.SplitArgs(body[:end])
	if err != nil || len(parts) == 0 {
		return 0, "", server.Errorf("Invalid engine in script shebang")
	}
	if parts[0] != "#!lua" {
		return 0, "", server.Errorf("Unexpected engine in script shebang: " + parts[0])
	}
	var f flags
	for _, p := range parts[1:] {
		v, ok := strings.CutPrefix(p, "flags=")
		if !ok {
			return 0, "", server.Errorf("Unknown lua shebang option: " + p)
		}
		for _, name := range strings.Split(v, ",") {
			if name == "" {
				continue
			}
			fl, ok := flagByName(name)
			if !ok {
				return 0, "", server.Errorf("Unexpected flag in script shebang: " + name)
			}
			f |= fl
		}
	}
	return f, body[end:], nil
}

func flagByName(name string) (flags, bool) {
	for _, fn := range flagNames {
		if fn.name == name {
			return fn.f, true
		}
	}
	return 0, false
}

// names lists f's names, as FUNCTION LIST prints them.
func (f flags) names() []string {
	out := []string{}
	for _, fn := range flagNames {
		if f&fn.f != 0 {
			out = append(out, fn.name)
		}
	}
	return out
}

// runCtx is the state of the running script (Redis's scriptRunCtx).
type runCtx struct {
	x        *server.Ctx
	c        *server.Client
	name     string // the SHA for EVAL, the function's name for FCALL
	eval     bool
	flags    flags
	readOnly bool // EVAL_RO/FCALL_RO or a no-writes script
	resp     int  // redis.setresp
	repl     int  // redis.set_repl: REPL_AOF logs the calls
	wrote    bool // a write command ran: SCRIPT KILL can't stop it now
	killed   bool // by SCRIPT KILL or FUNCTION KILL (the reply names the kill)
	start    time.Time
	db       *server.DB // the caller's database, given back at the end
	busy     bool       // past the threshold: the loop serves others
}

func (e *Engine) stats() server.ScriptStats {
	st := server.ScriptStats{Scripts: len(e.scripts), Functions: len(e.funcs), Libraries: len(e.libs), EvalBytes: e.scriptsMem}
	for _, lib := range e.libs {
		st.FunctionBytes += int64(len(lib.code))
	}
	return st
}

// Hooks are the engine's server hooks: its libraries in snapshots and in
// the append-only log's base.
func (e *Engine) Hooks() server.Hooks {
	return server.Hooks{
		Name: "script",
		Functions: func() []byte {
			if len(e.libs) == 0 {
				return nil
			}
			return e.Dump()
		},
		RestoreFunctions: func(p []byte) error { return e.Restore(nil, p, "replace") },
	}
}
