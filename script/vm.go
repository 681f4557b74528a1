package script

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// vm is one sandboxed interpreter. Scripts see the globals through env, a
// read-only proxy: reading a name that does not exist is an error, and so
// is every assignment (Redis 7.0 makes every table reachable from the
// globals read-only). Each library table the sandbox offers is such a
// proxy over the real one. gopher-lua has no read-only tables, so the
// proxies are empty tables whose metatable answers reads from the real
// table and refuses writes; setmetatable and rawset refuse them too.
type vm struct {
	L       *lua.LState
	globals *lua.LTable // the real globals, written only by us
	env     *lua.LTable // what scripts see as _G
	ro      map[*lua.LTable]bool
	errh    *lua.LFunction // the error handler (__redis__err__handler)
	hook    *hook
	loadAPI *lua.LTable // the globals a library's body sees (functions only)
	loading bool        // FUNCTION LOAD is running a library's body
	envMeta *lua.LTable // env's metatable: its __index is the globals, or loadAPI while loading
}

// setLoading switches what scripts' globals read: the load API while
// FUNCTION LOAD runs a library's body, else the globals.
func (v *vm) setLoading(on bool) {
	v.loading = on
	if on {
		v.envMeta.RawSetString("__index", v.loadAPI)
	} else {
		v.envMeta.RawSetString("__index", v.globals)
	}
}

const errReadonly = "Attempt to modify a readonly table"

// maxScriptString bounds what one string.rep may build.
const maxScriptString = 512 << 20

func (e *Engine) newVM(functions bool) *vm {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, CallStackSize: 256, RegistrySize: 1024, RegistryMaxSize: 1 << 22, RegistryGrowStep: 64})
	v := &vm{L: L, globals: L.G.Global, ro: map[*lua.LTable]bool{}}
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}, {lua.CoroutineLibName, lua.OpenCoroutine}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	g := v.globals
	// Not in Redis's sandbox: files, printing, modules, Go channels.
	for _, name := range []string{"dofile", "loadfile", "print", "require", "module", "package", "channel", "os", "io", "debug"} {
		g.RawSetString(name, lua.LNil)
	}
	if str, ok := g.RawGetString("string").(*lua.LTable); ok {
		str.RawSetString("dump", lua.LNil) // no bytecode: loadstring reads source only
		// string.rep is the one call that can ask for gigabytes at once,
		// and a failed allocation kills a Go process: results over
		// proto-max-bulk-len's maximum (512 MB) are refused, as Lua
		// refuses an overflowing one.
		rep := str.RawGetString("rep").(*lua.LFunction)
		str.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
			s, n := L.CheckString(1), L.CheckInt(2)
			if n > 0 && len(s) > 0 && int64(len(s))*int64(n) > maxScriptString {
				L.RaiseError("resulting string too large")
			}
			L.Push(rep)
			L.Push(lua.LString(s))
			L.Push(lua.LNumber(n))
			L.Call(2, 1)
			return 1
		}))
	}
	if m, ok := g.RawGetString("math").(*lua.LTable); ok {
		m.RawSetString("random", L.NewFunction(e.mathRandom))
		m.RawSetString("randomseed", L.NewFunction(e.mathRandomSeed))
	}
	v.hook = &hook{e: e}
	if co, ok := g.RawGetString("coroutine").(*lua.LTable); ok {
		// A coroutine's thread polls its own context, a child of the
		// hook that the hook can't reach: create gives it the hook
		// itself, so a script looping in a coroutine is still served
		// past the threshold and killable; wrap is rebuilt on create.
		create := co.RawGetString("create").(*lua.LFunction)
		co.RawSetString("create", L.NewFunction(func(L *lua.LState) int {
			L.Push(create)
			L.Push(L.Get(1))
			L.Call(1, 1)
			th := L.Get(-1)
			if t, ok := th.(*lua.LState); ok {
				t.SetContext(v.hook)
			}
			return 1
		}))
		wrap, err := L.LoadString(`local create, resume, error = ...
local function pass(ok, ...)
  if not ok then error((...), 2) end
  return ...
end
return function(f)
  local co = create(f)
  return function(...) return pass(resume(co, ...)) end
end`)
		if err == nil {
			L.Push(wrap)
			L.Push(co.RawGetString("create"))
			L.Push(co.RawGetString("resume"))
			L.Push(g.RawGetString("error"))
			L.Call(3, 1)
			co.RawSetString("wrap", L.Get(-1))
			L.Pop(1)
		}
	}
	g.RawSetString("cjson", openCjson(L))
	g.RawSetString("bit", openBit(L))
	g.RawSetString("cmsgpack", openCmsgpack(L))
	g.RawSetString("struct", openStruct(L))
	g.RawSetString("redis", e.redisLib(L))
	g.RawSetString("setmetatable", L.NewFunction(v.setmetatable))
	g.RawSetString("rawset", L.NewFunction(v.rawset))
	v.errh = L.NewFunction(v.errorHandler)
	g.RawSetString("__redis__err__handler", v.errh)

	// Every table reachable from the globals becomes a read-only proxy.
	for _, name := range []string{"string", "math", "table", "coroutine", "cjson", "bit", "cmsgpack", "struct", "redis"} {
		if t, ok := g.RawGetString(name).(*lua.LTable); ok {
			g.RawSetString(name, v.readonly(t))
		}
	}
	// Strings' methods ("x"):upper() read the real string library.
	v.env = L.NewTable()
	mt := L.NewTable()
	v.envMeta = mt
	if functions {
		// What a library's body sees while FUNCTION LOAD runs it: only
		// a reduced redis table.
		r := L.NewTable()
		r.RawSetString("register_function", L.NewFunction(e.registerFunction))
		r.RawSetString("log", L.NewFunction(e.redisLog))
		for _, name := range []string{"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING", "REDIS_VERSION", "REDIS_VERSION_NUM"} {
			r.RawSetString(name, L.GetField(g.RawGetString("redis"), name))
		}
		v.loadAPI = L.NewTable()
		v.loadAPI.RawSetString("redis", v.readonlyStrict(r))
	}
	// Reads of existing globals go table to table (no Go call); a missing
	// one reaches the real globals' own __index, which raises. While
	// FUNCTION LOAD runs a body, the load API's table stands in.
	missing := L.NewTable()
	missing.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", L.Get(2).String())
		return 0
	}))
	L.SetMetatable(g, missing)
	if v.loadAPI != nil {
		L.SetMetatable(v.loadAPI, missing)
	}
	mt.RawSetString("__index", g)
	mt.RawSetString("__newindex", L.NewFunction(refuseWrite))
	mt.RawSetString("__metatable", v.frozen())
	L.SetMetatable(v.env, mt)
	v.ro[v.env] = true
	g.RawSetString("_G", v.env)
	L.SetContext(v.hook)
	return v
}

func refuseWrite(L *lua.LState) int {
	L.RaiseError(errReadonly)
	return 0
}

// readonly returns a proxy of t: reads see t, writes fail.
func (v *vm) readonly(t *lua.LTable) *lua.LTable {
	return v.readonlyOnce(t, map[*lua.LTable]*lua.LTable{})
}

// readonlyStrict is readonly where reading a missing field is an error
// too (Redis's error metatable on the redis table a library's body sees).
func (v *vm) readonlyStrict(t *lua.LTable) *lua.LTable {
	p := v.readonly(t)
	mt := p.Metatable.(*lua.LTable) // GetMetatable would answer __metatable
	mt.RawSetString("__index", v.L.NewFunction(func(L *lua.LState) int {
		k := L.Get(2)
		val := t.RawGet(k)
		if val == lua.LNil {
			L.RaiseError("Script attempted to access nonexistent global variable '%s'", k.String())
		}
		L.Push(val)
		return 1
	}))
	return p
}

func (v *vm) readonlyOnce(t *lua.LTable, seen map[*lua.LTable]*lua.LTable) *lua.LTable {
	if p, ok := seen[t]; ok {
		return p // a table that holds itself (string.__index)
	}
	L := v.L
	p := L.NewTable()
	seen[t] = p
	// Nested tables are protected too.
	var subs []lua.LValue
	t.ForEach(func(k, val lua.LValue) {
		if sub, ok := val.(*lua.LTable); ok && !v.ro[sub] {
			subs = append(subs, k)
		}
	})
	for _, k := range subs {
		t.RawSet(k, v.readonlyOnce(t.RawGet(k).(*lua.LTable), seen))
	}
	mt := L.NewTable()
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", L.NewFunction(refuseWrite))
	mt.RawSetString("__metatable", v.frozen())
	L.SetMetatable(p, mt)
	v.ro[p] = true
	return p
}

// frozen is what getmetatable returns for a protected table: an empty
// table that refuses writes.
func (v *vm) frozen() *lua.LTable {
	L := v.L
	f := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__newindex", L.NewFunction(refuseWrite))
	mt.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(f, mt)
	v.ro[f] = true
	return f
}

// setmetatable is Lua's, refusing protected tables.
func (v *vm) setmetatable(L *lua.LState) int {
	t := L.CheckTable(1)
	if v.ro[t] {
		L.RaiseError(errReadonly)
	}
	mt := L.Get(2)
	if mt != lua.LNil {
		if _, ok := mt.(*lua.LTable); !ok {
			L.ArgError(2, "nil or table expected")
		}
	}
	if cur, ok := t.Metatable.(*lua.LTable); ok {
		if cur.RawGetString("__metatable") != lua.LNil {
			L.RaiseError("cannot change a protected metatable")
		}
	}
	L.SetMetatable(t, mt)
	L.Push(t)
	return 1
}

// rawset is Lua's, refusing protected tables.
func (v *vm) rawset(L *lua.LState) int {
	t := L.CheckTable(1)
	if v.ro[t] {
		L.RaiseError(errReadonly)
	}
	t.RawSet(L.CheckAny(2), L.CheckAny(3))
	L.Push(t)
	return 1
}

// errorHandler is Redis's __redis__err__handler: an error becomes a table
// {err=..., source=..., line=...}; a string error gets the ERR code.
func (v *vm) errorHandler(L *lua.LState) int {
	err := L.Get(1)
	t, ok := err.(*lua.LTable)
	if !ok || t.RawGetString("err").Type() != lua.LTString {
		msg := "ERR " + lua.LVAsString(L.ToStringMeta(err))
		t = L.NewTable()
		t.RawSetString("err", lua.LString(msg))
	}
	if t.RawGetString("source") == lua.LNil {
		// The innermost Lua function on the stack raised it, or called the
		// Go function that did.
		for level := 0; level < 8; level++ {
			dbg, ok := L.GetStack(level)
			if !ok {
				break
			}
			if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil || dbg.CurrentLine <= 0 || dbg.What == "G" {
				continue
			}
			src := dbg.Source
			if !strings.HasPrefix(src, "@") {
				src = "@" + src
			}
			t.RawSetString("source", lua.LString(src))
			t.RawSetString("line", lua.LNumber(dbg.CurrentLine))
			break
		}
	}
	L.Push(t)
	return 1
}
