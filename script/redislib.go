package script

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"reddwarf/server"
)

// Replication flags of redis.set_repl (Redis's PROPAGATE_*). reddwarf has
// no replicas: REPL_AOF decides whether a call reaches the append-only log.
const (
	replNone    = 0
	replAOF     = 1
	replReplica = 2
	replAll     = 3
)

// redisLib builds the redis table scripts and functions see.
func (e *Engine) redisLib(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	set := func(name string, fn lua.LGFunction) { t.RawSetString(name, L.NewFunction(fn)) }
	set("call", e.redisCall(true))
	set("pcall", e.redisCall(false))
	set("error_reply", redisErrorReply)
	set("status_reply", redisStatusReply)
	set("sha1hex", redisSha1hex)
	set("log", e.redisLog)
	set("setresp", e.redisSetresp)
	set("set_repl", e.redisSetRepl)
	set("replicate_commands", func(L *lua.LState) int { L.Push(lua.LTrue); return 1 })
	set("breakpoint", func(L *lua.LState) int { L.Push(lua.LFalse); return 1 })
	set("debug", func(L *lua.LState) int { return 0 })
	set("acl_check_cmd", e.redisACLCheck)
	for name, n := range map[string]int{"REPL_NONE": replNone, "REPL_AOF": replAOF, "REPL_SLAVE": replReplica, "REPL_REPLICA": replReplica, "REPL_ALL": replAll,
		"LOG_DEBUG": 0, "LOG_VERBOSE": 1, "LOG_NOTICE": 2, "LOG_WARNING": 3} {
		t.RawSetString(name, lua.LNumber(n))
	}
	t.RawSetString("REDIS_VERSION", lua.LString(server.RedisVersion))
	t.RawSetString("REDIS_VERSION_NUM", lua.LNumber(versionNum(server.RedisVersion)))
	return t
}

// versionNum is 0x00MMmmpp for "M.m.p".
func versionNum(v string) int {
	n := 0
	for _, p := range strings.SplitN(v, ".", 3) {
		x, _ := strconv.Atoi(p)
		n = n<<8 | x
	}
	return n
}

// errorTable is Redis's luaPushErrorBuff: "-CODE msg" keeps its code,
// "msg" gets ERR; trailing newlines go.
func errorTable(L *lua.LState, e string) *lua.LTable {
	code, msg := "ERR", e
	if strings.HasPrefix(e, "-") {
		if c, m, ok := strings.Cut(e[1:], " "); ok {
			code, msg = c, m
		} else {
			msg = e[1:]
		}
	}
	msg = strings.TrimRight(msg, "\r\n")
	t := L.NewTable()
	t.RawSetString("err", lua.LString(code+" "+msg))
	return t
}

// raise raises the error table of e.
func raise(L *lua.LState, e string) int {
	L.Error(errorTable(L, e), 0)
	return 0
}

// redisCall is redis.call (raiseErr) and redis.pcall.
func (e *Engine) redisCall(raiseErr bool) lua.LGFunction {
	return func(L *lua.LState) int {
		r := e.run
		if r == nil {
			return raise(L, "redis.call/pcall can only be called inside a script invocation")
		}
		n := L.GetTop()
		if n == 0 {
			return raise(L, "Please specify at least one argument for this redis lib call")
		}
		args := make([][]byte, n)
		for i := 1; i <= n; i++ {
			switch v := L.Get(i).(type) {
			case lua.LString:
				args[i-1] = []byte(v)
			case lua.LNumber:
				// %.17g, as Redis: Lua's own conversion loses precision.
				args[i-1] = strconv.AppendFloat(nil, float64(v), 'g', 17, 64)
			default:
				if raiseErr {
					return raise(L, "Lua redis lib command arguments must be strings or integers")
				}
				L.Push(errorTable(L, "Lua redis lib command arguments must be strings or integers"))
				return 1
			}
		}
		reply, refused := e.callCommand(r, args)
		var v lua.LValue
		if refused != "" {
			v = errorTable(L, refused)
		} else {
			v, _ = respToLua(L, reply, 0)
		}
		if t, ok := v.(*lua.LTable); ok && (refused != "" || isErrorReply(reply)) {
			// Counted where it happened: not again as the script's reply.
			t.RawSetString("ignore_err_stats_update", lua.LTrue)
		}
		if raiseErr {
			if t, ok := v.(*lua.LTable); ok && t.RawGetString("err").Type() == lua.LTString && refused == "" && isErrorReply(reply) {
				L.Error(t, 0)
			} else if refused != "" {
				L.Error(v, 0)
			}
		}
		L.Push(v)
		return 1
	}
}

func isErrorReply(b []byte) bool { return len(b) > 0 && b[0] == '-' }

// callCommand is Redis's scriptCall: the checks a script's command meets
// before it runs, then the command. refused is the error of a command
// that did not run.
func (e *Engine) callCommand(r *runCtx, args [][]byte) (reply []byte, refused string) {
	defer e.lockedServer()()
	s := e.s
	spec := s.Commands.Lookup(args[0])
	if spec != nil && len(spec.Sub) > 0 && len(args) >= 2 {
		if sub := spec.Subcommand(args[1]); sub != nil {
			spec = sub
		}
	}
	refused = e.refusal(r, spec, args)
	if refused != "" {
		t := errorText(refused)
		s.ScriptRejected(spec, server.RawError(t))
		return nil, refused
	}
	if spec.Flags&server.FlagWrite != 0 {
		r.wrote = true
	}
	return s.ScriptCall(r.c, r.resp, r.repl&replAOF != 0, args), ""
}

// errorText is the reply text of a refusal: "-CODE msg" or "ERR msg".
func errorText(e string) string {
	if strings.HasPrefix(e, "-") {
		return e[1:]
	}
	return "ERR " + e
}

// refusal is why a script's command may not run, or "".
func (e *Engine) refusal(r *runCtx, spec *server.Spec, args [][]byte) string {
	s := e.s
	if spec == nil || (spec.Arity > 0 && len(args) != spec.Arity) || len(args) < -spec.Arity {
		if spec == nil {
			return "Unknown Redis command called from script"
		}
		return "Wrong number of args calling Redis command from script"
	}
	if spec.Flags&server.FlagNoscript != 0 {
		return "This Redis command is not allowed from script"
	}
	if r.readOnly && spec.Flags&(server.FlagWrite|server.FlagMayReplicate) != 0 {
		return "Write commands are not allowed from read-only scripts."
	}
	if r.flags&flagAllowOOM == 0 && s.Config.MaxMemory > 0 && !r.wrote && s.OOMAtCommand() && spec.Flags&server.FlagDenyOOM != 0 {
		return "-OOM command not allowed when used memory > 'maxmemory'."
	}
	return ""
}

func redisErrorReply(L *lua.LState) int {
	if L.GetTop() != 1 || L.Get(1).Type() != lua.LTString {
		L.Push(errorTable(L, "wrong number or type of arguments"))
		return 1
	}
	msg := L.ToString(1)
	if !strings.HasPrefix(msg, "-") {
		msg = "-" + msg
	}
	L.Push(errorTable(L, msg))
	return 1
}

func redisStatusReply(L *lua.LState) int {
	if L.GetTop() != 1 || L.Get(1).Type() != lua.LTString {
		L.Push(errorTable(L, "wrong number or type of arguments"))
		return 1
	}
	t := L.NewTable()
	t.RawSetString("ok", L.Get(1))
	L.Push(t)
	return 1
}

func redisSha1hex(L *lua.LState) int {
	if L.GetTop() != 1 {
		return raise(L, "wrong number of arguments")
	}
	L.Push(lua.LString(Sha1Hex([]byte(L.ToString(1)))))
	return 1
}

var logLevels = []string{"debug", "verbose", "notice", "warning"}

func (e *Engine) redisLog(L *lua.LState) int {
	n := L.GetTop()
	if n < 2 {
		return raise(L, "redis.log() requires two arguments or more.")
	}
	lv, ok := L.Get(1).(lua.LNumber)
	if !ok {
		return raise(L, "First argument must be a number (log level).")
	}
	if lv < 0 || int(lv) >= len(logLevels) {
		return raise(L, "Invalid debug level.")
	}
	var b strings.Builder
	for i := 2; i <= n; i++ {
		if i > 2 {
			b.WriteByte(' ')
		}
		b.WriteString(L.ToString(i))
	}
	defer e.lockedServer()()
	e.s.Logf(logLevels[int(lv)], "%s", b.String())
	return 0
}

func (e *Engine) redisSetresp(L *lua.LState) int {
	r := e.run
	if r == nil {
		return raise(L, "redis.setresp can only be called inside a script invocation")
	}
	if L.GetTop() != 1 {
		return raise(L, "redis.setresp() requires one argument.")
	}
	v := L.ToInt(1)
	if v != 2 && v != 3 {
		return raise(L, "RESP version must be 2 or 3.")
	}
	r.resp = v
	return 0
}

func (e *Engine) redisSetRepl(L *lua.LState) int {
	r := e.run
	if r == nil {
		return raise(L, "redis.set_repl can only be called inside a script invocation")
	}
	if L.GetTop() != 1 {
		return raise(L, "redis.set_repl() requires two arguments.")
	}
	f := L.ToInt(1)
	if f&^replAll != 0 {
		return raise(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
	}
	r.repl = f
	return 0
}

// redisACLCheck: reddwarf has one user with every right; the command
// must exist.
func (e *Engine) redisACLCheck(L *lua.LState) int {
	if e.run == nil {
		return raise(L, "redis.acl_check_cmd can only be called inside a script invocation")
	}
	defer e.lockedServer()()
	if L.GetTop() < 1 || e.s.Commands.Lookup([]byte(L.ToString(1))) == nil {
		return raise(L, "Invalid command passed to redis.acl_check_cmd()")
	}
	L.Push(lua.LTrue)
	return 1
}
