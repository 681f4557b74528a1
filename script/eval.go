package script

import (
	"errors"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"reddwarf/server"
)

var (
	errNoScript     = server.CodeError("NOSCRIPT", "No matching script. Please use EVAL.")
	errNotBusy      = server.CodeError("NOTBUSY", "No scripts in execution right now.")
	errUnkillable   = server.CodeError("UNKILLABLE", "Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
	errBusyEval     = server.CodeError("BUSY", "Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
	errBusyFunction = server.CodeError("BUSY", "Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
)

// Eval is EVAL, EVALSHA (bySHA) and their _RO forms (ro):
// args are script-or-sha numkeys key... arg....
func (e *Engine) Eval(x *server.Ctx, bySHA, ro bool) {
	x.FeedMonitors()
	keys, argv, err := splitKeys(x.Args[2], x.Args[3:])
	if err != nil {
		x.Error(err)
		return
	}
	var sc *evalScript
	var sha string
	if bySHA {
		sha = strings.ToLower(x.Arg(1))
		sc = e.scripts[sha]
		if sc == nil {
			x.Error(errNoScript)
			return
		}
	} else {
		body := x.Arg(1)
		sha = Sha1Hex(x.Args[1])
		if sc = e.scripts[sha]; sc == nil {
			if sc, err = e.compile(body, sha); err != nil {
				x.Error(err)
				return
			}
		}
	}
	e.runScript(x, e.eval, sc.fn, sha, true, sc.flags, ro, keys, argv)
}

// splitKeys reads numkeys and splits the rest into keys and arguments.
func splitKeys(numkeys []byte, rest [][]byte) (keys, argv [][]byte, err error) {
	n, perr := strconv.ParseInt(string(numkeys), 10, 64)
	switch {
	case perr != nil:
		return nil, nil, server.Errorf("value is not an integer or out of range")
	case n < 0:
		return nil, nil, server.Errorf("Number of keys can't be negative")
	case n > int64(len(rest)):
		return nil, nil, server.Errorf("Number of keys can't be greater than number of args")
	}
	return rest[:n], rest[n:], nil
}

// compile loads body into the EVAL interpreter and caches it by sha.
func (e *Engine) compile(body, sha string) (*evalScript, error) {
	f, code, err := parseShebang(body)
	if err != nil {
		return nil, err
	}
	fn, err := e.eval.L.Load(strings.NewReader(code), "user_script")
	if err != nil {
		return nil, server.Errorf("Error compiling script (new function): " + compileError(err))
	}
	fn.Env = e.eval.env
	// gopher-lua (as Lua 5.1 with its vararg compatibility) builds an
	// 'arg' table at every call of a vararg function; a chunk's has no
	// name to reach it by, so building it is pure cost (a fifth of a
	// short EVAL's time).
	fn.Proto.IsVarArg &^= lua.VarArgNeedsArg
	sc := &evalScript{body: body, fn: fn, flags: f}
	e.scripts[sha] = sc
	e.scriptsMem += int64(len(body))
	return sc, nil
}

// compileError is gopher-lua's parse error in Lua's own words
// ("user_script:1: unexpected symbol near '<eof>'") as far as they agree.
func compileError(err error) string {
	var ae *lua.ApiError
	if errors.As(err, &ae) && ae.Cause != nil {
		err = ae.Cause
	}
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "\n", " ")
	return msg
}

// runScript runs fn on behalf of x: EVAL's body with KEYS and ARGV set,
// or a function with keys and args as its two arguments. name is what
// errors and the busy log call it.
func (e *Engine) runScript(x *server.Ctx, v *vm, fn *lua.LFunction, name string, eval bool, f flags, ro bool, keys, argv [][]byte) {
	s := e.s
	if e.run != nil {
		// A script's command can't start another (EVAL is noscript), but
		// a busy script lets the loop run allow-busy commands.
		x.Error(server.Errorf("script already running"))
		return
	}
	if f&flagCompat == 0 {
		if f&flagNoWrites == 0 && ro {
			x.Error(server.Errorf("Can not execute a script with write flag using *_ro command."))
			return
		}
		if s.Config.MaxMemory > 0 && s.OOMAtCommand() && f&(flagAllowOOM|flagNoWrites) == 0 {
			x.Error(server.CodeError("OOM", "allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'"))
			return
		}
	}
	r := &runCtx{x: x, c: x.C, name: name, eval: eval, flags: f, resp: 2, repl: replAll, start: time.Now(), db: x.C.DB}
	r.readOnly = ro || (f&flagCompat == 0 && f&flagNoWrites != 0)
	e.run = r
	L := v.L
	L.SetTop(0)
	L.Push(fn)
	nargs := 0
	if eval {
		v.globals.RawSetString("KEYS", stringsTable(L, keys))
		v.globals.RawSetString("ARGV", stringsTable(L, argv))
	} else {
		L.Push(stringsTable(L, keys))
		L.Push(stringsTable(L, argv))
		nargs = 2
	}
	after := s.BusyThreshold()
	if after <= 0 {
		after = -1 // no threshold: the script is never interrupted
	}
	err := e.exec(func() error { return L.PCall(nargs, 1, v.errh) }, after, e.serveBusy(r))
	e.run = nil
	x.C.DB = r.db // a SELECT in the script is the script's own
	s.EndBusy()
	if err != nil {
		var obj lua.LValue = lua.LString(err.Error())
		var ae *lua.ApiError
		if errors.As(err, &ae) {
			obj = ae.Object
		}
		L.SetTop(0)
		reply := scriptError(obj, name, r.killed)
		if counted(obj) {
			x.ErrorCounted(reply)
		} else {
			x.Error(reply)
		}
		return
	}
	ret := L.Get(-1)
	L.SetTop(0)
	if t, ok := ret.(*lua.LTable); ok {
		if msg, ok := t.RawGetString("err").(lua.LString); ok {
			reply := server.RawError(strings.TrimPrefix(string(msg), "-"))
			if counted(t) {
				x.ErrorCounted(reply)
			} else {
				x.Error(reply)
			}
			return
		}
	}
	luaToReply(x.R, ret, r.resp, 0)
}

// scriptError is the reply for an error raised out of a script: the
// message with "script: NAME, on SOURCE:LINE." as Redis appends it.
func scriptError(obj lua.LValue, name string, killed bool) error {
	t, ok := obj.(*lua.LTable)
	if !ok {
		return server.Errorf("Error running script " + name + ", " + trunc(lua.LVAsString(obj), 100))
	}
	msg := lua.LVAsString(t.RawGetString("err"))
	if killed {
		msg = "ERR Script killed by user with SCRIPT KILL..."
	}
	msg = strings.TrimPrefix(msg, "-")
	src, line := t.RawGetString("source"), t.RawGetString("line")
	if src != lua.LNil && line != lua.LNil {
		msg += " script: " + name + ", on " + lua.LVAsString(src) + ":" + lua.LVAsString(line) + "."
	}
	return server.RawError(msg)
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func stringsTable(L *lua.LState, ss [][]byte) *lua.LTable {
	t := L.CreateTable(len(ss), 0)
	for i, s := range ss {
		t.RawSetInt(i+1, lua.LString(s))
	}
	return t
}

// ScriptLoad is SCRIPT LOAD: it compiles and caches body, returning its SHA.
func (e *Engine) ScriptLoad(body []byte) (string, error) {
	sha := Sha1Hex(body)
	if e.scripts[sha] == nil {
		if _, err := e.compile(string(body), sha); err != nil {
			return "", err
		}
	}
	return sha, nil
}

// ScriptExists is SCRIPT EXISTS.
func (e *Engine) ScriptExists(sha string) bool { return e.scripts[strings.ToLower(sha)] != nil }

// ScriptFlush is SCRIPT FLUSH: the cache and the interpreter start anew.
func (e *Engine) ScriptFlush() {
	e.eval.L.Close()
	e.scripts = map[string]*evalScript{}
	e.scriptsMem = 0
	e.eval = e.newVM(false)
}

// Stats are the figures INFO memory and FUNCTION STATS report.
func (e *Engine) NumScripts() int { return len(e.scripts) }

// ScriptsMemory is the bytes of the cached bodies (used_memory_scripts_eval).
func (e *Engine) ScriptsMemory() int64 { return e.scriptsMem }

// Running reports the script running now: its name, whether it is an
// EVAL, and for how long (FUNCTION STATS).
func (e *Engine) Running() (name string, eval bool, d time.Duration, ok bool) {
	if e.run == nil {
		return "", false, 0, false
	}
	return e.run.name, e.run.eval, time.Since(e.run.start), true
}

// math.random as Redis 7.0's: the classic 48-bit lrand48 generator,
// started from lrand48's own initial state when the server starts and
// never reseeded but by math.randomseed (scripts replicate their effects,
// so their random numbers need not repeat).
func (e *Engine) srand(seed int32) {
	e.rng = uint64(uint32(seed))<<16 | 0x330E
}

func (e *Engine) lrand48() int32 {
	e.rng = (0x5DEECE66D*e.rng + 0xB) & (1<<48 - 1)
	return int32(e.rng >> 17)
}

const lrandMax = 1<<31 - 1

func (e *Engine) mathRandom(L *lua.LState) int {
	if e.run == nil {
		L.RaiseError("math.random can only be called inside a script invocation")
	}
	r := float64(e.lrand48()%lrandMax) / float64(lrandMax)
	switch L.GetTop() {
	case 0:
		L.Push(lua.LNumber(r))
	case 1:
		u := checkInt(L, 1)
		if u < 1 {
			L.ArgError(1, "interval is empty")
		}
		L.Push(lua.LNumber(float64(int(r*float64(u)) + 1)))
	case 2:
		l, u := checkInt(L, 1), checkInt(L, 2)
		if l > u {
			L.ArgError(2, "interval is empty")
		}
		L.Push(lua.LNumber(float64(int(r*float64(u-l+1)) + l)))
	default:
		L.RaiseError("wrong number of arguments")
	}
	return 1
}

func (e *Engine) mathRandomSeed(L *lua.LState) int {
	e.srand(int32(checkInt(L, 1)))
	return 0
}

// checkInt is luaL_checkint: a number, or a string that reads as one.
func checkInt(L *lua.LState, i int) int {
	v := L.Get(i)
	if n, ok := v.(lua.LNumber); ok {
		return int(n)
	}
	if s, ok := v.(lua.LString); ok {
		if n, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64); err == nil {
			return int(n)
		}
	}
	L.TypeError(i, lua.LTNumber)
	return 0
}

// counted reports an error table of a redis.call error, already counted
// in the error statistics when the command failed.
func counted(v lua.LValue) bool {
	t, ok := v.(*lua.LTable)
	return ok && lua.LVAsBool(t.RawGetString("ignore_err_stats_update"))
}
