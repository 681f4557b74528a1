package script

import (
	"encoding/binary"
	"hash/crc64"
	"slices"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"reddwarf/server"
)

// Functions (Redis 7.0): FUNCTION LOAD runs a library's body once, in
// the functions' interpreter, where the only global is a reduced redis
// table (register_function, log, the LOG_* levels, the version); the
// callbacks it registers run later through FCALL, with the full sandbox.

// library is one FUNCTION LOAD'ed library.
type library struct {
	name  string
	code  string // the whole payload, shebang included (FUNCTION LIST WITHCODE)
	funcs map[string]*function
}

// function is one redis.register_function'ed function.
type function struct {
	name  string
	lib   *library
	fn    *lua.LFunction
	flags flags
	desc  *string
}

// loadTimeout bounds a library body's run (Redis: 500 ms): it should
// only register functions.
const loadTimeout = 500 * time.Millisecond

// registerFunction is redis.register_function, valid only while FUNCTION
// LOAD runs a library's body.
func (e *Engine) registerFunction(L *lua.LState) int {
	lib := e.loading
	if lib == nil {
		return raise(L, "redis.register_function can only be called on FUNCTION LOAD command")
	}
	f := &function{lib: lib}
	switch L.GetTop() {
	case 1:
		t, ok := L.Get(1).(*lua.LTable)
		if !ok {
			return raise(L, "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
		}
		var bad string
		t.ForEach(func(k, v lua.LValue) {
			if bad != "" {
				return
			}
			ks, ok := k.(lua.LString)
			if !ok {
				bad = "named argument key given to redis.register_function is not a string"
				return
			}
			switch strings.ToLower(string(ks)) {
			case "function_name":
				if s, ok := v.(lua.LString); ok {
					f.name = string(s)
				} else {
					bad = "function_name argument given to redis.register_function must be a string"
				}
			case "description":
				if s, ok := v.(lua.LString); ok {
					d := string(s)
					f.desc = &d
				} else {
					bad = "description argument given to redis.register_function must be a string"
				}
			case "callback":
				if fn, ok := v.(*lua.LFunction); ok {
					f.fn = fn
				} else {
					bad = "callback argument given to redis.register_function must be a function"
				}
			case "flags":
				ft, ok := v.(*lua.LTable)
				if !ok {
					bad = "flags argument to redis.register_function must be a table representing function flags"
					return
				}
				ft.ForEach(func(_, fv lua.LValue) {
					s, ok := fv.(lua.LString)
					fl, known := flagByName(strings.ToLower(string(s)))
					if !ok || !known {
						bad = "unknown flag given"
						return
					}
					f.flags |= fl
				})
			default:
				bad = "unknown argument given to redis.register_function"
			}
		})
		if bad != "" {
			return raise(L, bad)
		}
		if f.name == "" && f.fn != nil || f.name == "" {
			if f.name == "" {
				return raise(L, "redis.register_function must get a function name argument")
			}
		}
		if f.fn == nil {
			return raise(L, "redis.register_function must get a callback argument")
		}
	case 2:
		s, ok := L.Get(1).(lua.LString)
		if !ok {
			return raise(L, "first argument to redis.register_function must be a string")
		}
		fn, ok := L.Get(2).(*lua.LFunction)
		if !ok {
			return raise(L, "second argument to redis.register_function must be a function")
		}
		f.name, f.fn = string(s), fn
	default:
		return raise(L, "wrong number of arguments to redis.register_function")
	}
	if !validName(f.name) {
		return raise(L, "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
	}
	if lib.funcs[f.name] != nil {
		return raise(L, "Function already exists in the library")
	}
	lib.funcs[f.name] = f
	return 0
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// parseLibrary reads "#!lua name=<name>" and compiles and runs the body,
// returning the library with its functions. c is the client that asked
// (nil for a snapshot's libraries): the one whose commands wait if the
// body outruns its time inside a Go function.
func (e *Engine) parseLibrary(c *server.Client, code string) (*library, error) {
	if !strings.HasPrefix(code, "#!") {
		return nil, server.Errorf("Missing library metadata")
	}
	end := strings.IndexByte(code, '\n')
	if end < 0 {
		return nil, server.Errorf("Invalid library metadata")
	}
	parts, err := server.SplitArgs(code[:end])
	if err != nil || len(parts) == 0 {
		return nil, server.Errorf("Invalid library metadata")
	}
	engine := parts[0][2:]
	name, named := "", false
	for _, p := range parts[1:] {
		if len(p) >= 5 && strings.EqualFold(p[:5], "name=") {
			if named {
				return nil, server.Errorf("Invalid metadata value, name argument was given multiple times")
			}
			name, named = p[5:], true
			// name="foo": Redis's argument splitting takes quotes
			// inside a word too.
			if uq, err := strconv.Unquote(name); err == nil && strings.HasPrefix(name, `"`) {
				name = uq
			}
			continue
		}
		return nil, server.Errorf("Invalid metadata value given: " + p)
	}
	if !named {
		return nil, server.Errorf("Library name was not given")
	}
	if !validName(name) {
		return nil, server.Errorf("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
	}
	if !strings.EqualFold(engine, "lua") {
		return nil, server.Errorf("Engine '" + engine + "' not found")
	}
	v := e.fn
	fn, err := v.L.Load(strings.NewReader(code[end:]), "user_function")
	if err != nil {
		return nil, server.Errorf("Error compiling function: " + compileError(err))
	}
	fn.Env = v.env
	lib := &library{name: name, code: code, funcs: map[string]*function{}}
	e.loading = lib
	v.setLoading(true)
	v.L.SetTop(0)
	v.L.Push(fn)
	err = e.exec(func() error { return v.L.PCall(0, 0, v.errh) }, loadTimeout, e.serveLoad(c))
	e.loading = nil
	e.s.EndBusy()
	v.setLoading(false)
	v.L.SetTop(0)
	if err != nil && e.stop.Load() {
		// Redis's words, without the line the interpreter adds.
		return nil, server.Errorf("Error registering functions: ERR " + errLoadTimeout.Error())
	}
	if err != nil {
		msg := err.Error()
		if ae, ok := err.(*lua.ApiError); ok {
			if t, ok := ae.Object.(*lua.LTable); ok {
				msg = lua.LVAsString(t.RawGetString("err"))
			} else {
				msg = lua.LVAsString(ae.Object)
			}
		}
		return nil, server.Errorf("Error registering functions: " + msg)
	}
	if len(lib.funcs) == 0 {
		return nil, server.Errorf("No functions registered")
	}
	return lib, nil
}

// link adds libs to the registry, replacing same-named ones when replace
// is set; a name or function clash refuses them all.
func (e *Engine) link(libs []*library, replace bool) error {
	for _, lib := range libs {
		if old := e.libs[lib.name]; old != nil && !replace {
			return server.Errorf("Library '" + lib.name + "' already exists")
		}
	}
	for _, lib := range libs {
		for name := range lib.funcs {
			if f := e.funcs[strings.ToLower(name)]; f != nil && !(replace && slices.ContainsFunc(libs, func(l *library) bool { return l.name == f.lib.name })) {
				return server.Errorf("Function " + name + " already exists")
			}
		}
	}
	for _, lib := range libs {
		if old := e.libs[lib.name]; old != nil {
			for name := range old.funcs {
				delete(e.funcs, strings.ToLower(name))
			}
		}
		e.libs[lib.name] = lib
		for name, f := range lib.funcs {
			e.funcs[strings.ToLower(name)] = f
		}
	}
	return nil
}

// FunctionLoad is FUNCTION LOAD [REPLACE] code.
func (e *Engine) FunctionLoad(c *server.Client, code string, replace bool) (string, error) {
	lib, err := e.parseLibrary(c, code)
	if err != nil {
		return "", err
	}
	if err := e.link([]*library{lib}, replace); err != nil {
		return "", err
	}
	return lib.name, nil
}

// FunctionDelete is FUNCTION DELETE.
func (e *Engine) FunctionDelete(name string) error {
	lib := e.libs[name]
	if lib == nil {
		return server.Errorf("Library not found")
	}
	for f := range lib.funcs {
		delete(e.funcs, strings.ToLower(f))
	}
	delete(e.libs, name)
	return nil
}

// FunctionFlush is FUNCTION FLUSH: every library goes, and the
// interpreter starts anew.
func (e *Engine) FunctionFlush() {
	e.libs = map[string]*library{}
	e.funcs = map[string]*function{}
	e.fn.L.Close()
	e.fn = e.newVM(true)
}

// FCall is FCALL and FCALL_RO (ro).
func (e *Engine) FCall(x *server.Ctx, ro bool) {
	x.FeedMonitors()
	f := e.funcs[strings.ToLower(x.Arg(1))] // names are case-insensitive, as Redis's
	if f == nil {
		x.Error(server.Errorf("Function not found"))
		return
	}
	keys, argv, err := splitKeys(x.Args[2], x.Args[3:])
	if err != nil {
		if err.Error() == "ERR value is not an integer or out of range" {
			err = server.Errorf("Bad number of keys provided")
		}
		x.Error(err)
		return
	}
	e.runScript(x, e.fn, f.fn, f.name, false, f.flags, ro, keys, argv)
}

// List is FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern].
func (e *Engine) List(r *server.Reply, pattern string, usePattern, withCode bool) {
	names := make([]string, 0, len(e.libs))
	for name := range e.libs {
		if usePattern && !server.GlobMatch(pattern, name, true) {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	r.Array(len(names))
	for _, name := range names {
		lib := e.libs[name]
		if withCode {
			r.Map(4)
		} else {
			r.Map(3)
		}
		r.BulkString("library_name")
		r.BulkString(lib.name)
		r.BulkString("engine")
		r.BulkString("LUA")
		r.BulkString("functions")
		fnames := make([]string, 0, len(lib.funcs))
		for n := range lib.funcs {
			fnames = append(fnames, n)
		}
		slices.Sort(fnames)
		r.Array(len(fnames))
		for _, n := range fnames {
			f := lib.funcs[n]
			r.Map(3)
			r.BulkString("name")
			r.BulkString(f.name)
			r.BulkString("description")
			if f.desc != nil {
				r.BulkString(*f.desc)
			} else {
				r.Null()
			}
			r.BulkString("flags")
			fl := f.flags.names()
			r.Set(len(fl))
			for _, s := range fl {
				r.Status(s)
			}
		}
		if withCode {
			r.BulkString("library_code")
			r.BulkString(lib.code)
		}
	}
}

// Stats is FUNCTION STATS.
func (e *Engine) Stats(r *server.Reply) {
	r.Map(2)
	r.BulkString("running_script")
	if e.run == nil {
		r.Null()
	} else {
		r.Map(3)
		r.BulkString("name")
		r.BulkString(e.run.name)
		r.BulkString("command")
		r.Array(len(e.run.x.Args))
		for _, a := range e.run.x.Args {
			r.Bulk(a)
		}
		r.BulkString("duration_ms")
		r.Int(time.Since(e.run.start).Milliseconds())
	}
	r.BulkString("engines")
	r.Map(1)
	r.BulkString("LUA")
	r.Map(2)
	r.BulkString("libraries_count")
	r.Int(int64(len(e.libs)))
	r.BulkString("functions_count")
	r.Int(int64(len(e.funcs)))
}

// Dump format (FUNCTION DUMP, and the snapshot's record of the
// libraries): for each library, in name order, the byte 0xF5 (Redis's
// RDB_OPCODE_FUNCTION2) then its code as a uvarint length and the bytes;
// then a two-byte little-endian format version (1) and the CRC-64 (ECMA)
// of everything before it, little-endian. Ours, not Redis's RDB: a
// payload moves between reddwarf servers, as DUMP's do.
const (
	dumpOpFunction = 0xF5
	dumpVersion    = 1
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// Dump is FUNCTION DUMP.
func (e *Engine) Dump() []byte {
	names := make([]string, 0, len(e.libs))
	for n := range e.libs {
		names = append(names, n)
	}
	slices.Sort(names)
	var b []byte
	for _, n := range names {
		code := e.libs[n].code
		b = append(b, dumpOpFunction)
		b = binary.AppendUvarint(b, uint64(len(code)))
		b = append(b, code...)
	}
	b = binary.LittleEndian.AppendUint16(b, dumpVersion)
	return binary.LittleEndian.AppendUint64(b, crc64.Checksum(b, crcTable))
}

// Restore is FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
func (e *Engine) Restore(c *server.Client, p []byte, policy string) error {
	if len(p) < 10 || binary.LittleEndian.Uint64(p[len(p)-8:]) != crc64.Checksum(p[:len(p)-8], crcTable) ||
		binary.LittleEndian.Uint16(p[len(p)-10:]) != dumpVersion {
		return server.Errorf("DUMP payload version or checksum are wrong")
	}
	body := p[:len(p)-10]
	var codes []string
	for len(body) > 0 {
		if body[0] != dumpOpFunction {
			return server.Errorf("given type is not a function")
		}
		n, k := binary.Uvarint(body[1:])
		if k <= 0 || n > uint64(len(body)-1-k) {
			return server.Errorf("failed loading the given functions payload")
		}
		codes = append(codes, string(body[1+k:1+k+int(n)]))
		body = body[1+k+int(n):]
	}
	return e.restoreCodes(c, codes, policy)
}

// restoreCodes loads libraries from their code under a policy: FLUSH
// drops the current ones first, APPEND refuses any clash, REPLACE
// replaces same-named libraries. Nothing changes on an error.
func (e *Engine) restoreCodes(c *server.Client, codes []string, policy string) error {
	var libs []*library
	seen := map[string]bool{}
	for _, code := range codes {
		lib, err := e.parseLibrary(c, code)
		if err != nil {
			return err
		}
		if seen[lib.name] {
			return server.Errorf("Library " + lib.name + " already exists")
		}
		seen[lib.name] = true
		libs = append(libs, lib)
	}
	if policy == "flush" {
		e.libs, e.funcs = map[string]*library{}, map[string]*function{}
	}
	if policy == "append" {
		for _, lib := range libs {
			if e.libs[lib.name] != nil {
				return server.Errorf("Library " + lib.name + " already exists")
			}
		}
	}
	oldLibs, oldFuncs := e.libs, e.funcs
	e.libs, e.funcs = maps(oldLibs), mapf(oldFuncs)
	if err := e.link(libs, policy == "replace"); err != nil {
		e.libs, e.funcs = oldLibs, oldFuncs
		return err
	}
	return nil
}

func maps(m map[string]*library) map[string]*library {
	out := make(map[string]*library, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func mapf(m map[string]*function) map[string]*function {
	out := make(map[string]*function, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Libraries returns every library's code in name order (snapshots).
func (e *Engine) Libraries() []string {
	names := make([]string, 0, len(e.libs))
	for n := range e.libs {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = e.libs[n].code
	}
	return out
}
