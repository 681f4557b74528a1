package script

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"reddwarf/server"
)

// respToLua converts one reply at b[pos:] into a Lua value as Redis
// documents it: integer → number, bulk → string, null bulk and null
// array → false, array → table, status → {ok=...}, error → {err=...};
// RESP3 (redis.setresp(3)): map → {map={...}}, set → {set={k=true}},
// null → nil, boolean → boolean, double → {double=n}, big number →
// {big_number="..."}, verbatim → {verbatim_string={format=..., string=...}}.
// It returns the value and the position after it. The bytes are the
// server's own encoding, so they are well formed.
func respToLua(L *lua.LState, b []byte, pos int) (lua.LValue, int) {
	if pos >= len(b) {
		return lua.LNil, pos
	}
	end := bytes.Index(b[pos:], []byte("\r\n"))
	if end < 0 {
		return lua.LNil, len(b)
	}
	line := string(b[pos+1 : pos+end])
	next := pos + end + 2
	switch b[pos] {
	case '+':
		t := L.NewTable()
		t.RawSetString("ok", lua.LString(line))
		return t, next
	case '-':
		t := L.NewTable()
		t.RawSetString("err", lua.LString(line))
		return t, next
	case ':':
		n, _ := strconv.ParseInt(line, 10, 64)
		return lua.LNumber(n), next
	case '$', '=':
		n, _ := strconv.Atoi(line)
		if n < 0 {
			return lua.LFalse, next
		}
		s := string(b[next : next+n])
		next += n + 2
		if b[pos] == '=' {
			t, v := L.NewTable(), L.NewTable()
			if len(s) >= 4 {
				v.RawSetString("format", lua.LString(s[:3]))
				v.RawSetString("string", lua.LString(s[4:]))
			}
			t.RawSetString("verbatim_string", v)
			return t, next
		}
		return lua.LString(s), next
	case '*', '~', '%', '>':
		n, _ := strconv.Atoi(line)
		if n < 0 {
			return lua.LFalse, next
		}
		inner := L.NewTable()
		var v, k lua.LValue
		for i := 0; i < n; i++ {
			switch b[pos] {
			case '%':
				k, next = respToLua(L, b, next)
				v, next = respToLua(L, b, next)
				inner.RawSet(k, v)
			case '~':
				v, next = respToLua(L, b, next)
				inner.RawSet(v, lua.LTrue)
			default:
				v, next = respToLua(L, b, next)
				inner.RawSetInt(i+1, v)
			}
		}
		switch b[pos] {
		case '%':
			t := L.NewTable()
			t.RawSetString("map", inner)
			return t, next
		case '~':
			t := L.NewTable()
			t.RawSetString("set", inner)
			return t, next
		}
		return inner, next
	case '_':
		return lua.LNil, next
	case '#':
		return lua.LBool(line == "t"), next
	case ',':
		f, _ := strconv.ParseFloat(line, 64)
		switch line {
		case "inf":
			f = math.Inf(1)
		case "-inf":
			f = math.Inf(-1)
		}
		t := L.NewTable()
		t.RawSetString("double", lua.LNumber(f))
		return t, next
	case '(':
		t := L.NewTable()
		t.RawSetString("big_number", lua.LString(line))
		return t, next
	}
	return lua.LNil, next
}

// maxReplyDepth bounds a reply's nesting (a table that holds itself).
const maxReplyDepth = 1000

// luaToReply writes v as the reply of the script, as Redis's
// luaReplyToRedisReply: string → bulk, number → integer (truncated),
// boolean → 1 / null (RESP3 scripts: a boolean), {err=...} → error,
// {ok=...} → status, {double=...}, {big_number=...}, {map=...}, {set=...}
// as RESP3 types (the caller's protocol decides their encoding), any
// other table → array of its elements up to the first nil.
func luaToReply(r *server.Reply, v lua.LValue, scriptResp int, depth int) {
	if depth > maxReplyDepth {
		r.Error(server.Errorf("reached lua stack limit"))
		return
	}
	switch v := v.(type) {
	case lua.LString:
		r.BulkString(string(v))
	case lua.LBool:
		if scriptResp == 2 {
			if v {
				r.Int(1)
			} else {
				r.Null()
			}
		} else {
			r.Bool(bool(v))
		}
	case lua.LNumber:
		r.Int(luaInt(v))
	case *lua.LTable:
		if e, ok := v.RawGetString("err").(lua.LString); ok {
			msg := string(e)
			if !strings.HasPrefix(msg, "-") {
				msg = "-" + msg
			}
			r.Error(server.RawError(msg[1:]))
			return
		}
		if s, ok := v.RawGetString("ok").(lua.LString); ok {
			r.Status(strings.NewReplacer("\r", " ", "\n", " ").Replace(string(s)))
			return
		}
		if d, ok := v.RawGetString("double").(lua.LNumber); ok {
			r.Double(float64(d))
			return
		}
		if s, ok := v.RawGetString("big_number").(lua.LString); ok {
			if r.Resp() == 3 {
				r.Raw([]byte("(" + strings.NewReplacer("\r", " ", "\n", " ").Replace(string(s)) + "\r\n"))
			} else {
				r.BulkString(string(s))
			}
			return
		}
		if m, ok := v.RawGetString("map").(*lua.LTable); ok {
			var keys, vals []lua.LValue
			m.ForEach(func(k, val lua.LValue) { keys, vals = append(keys, k), append(vals, val) })
			r.Map(len(keys))
			for i := range keys {
				luaToReply(r, keys[i], scriptResp, depth+1)
				luaToReply(r, vals[i], scriptResp, depth+1)
			}
			return
		}
		if set, ok := v.RawGetString("set").(*lua.LTable); ok {
			var keys []lua.LValue
			set.ForEach(func(k, _ lua.LValue) { keys = append(keys, k) })
			r.Set(len(keys))
			for _, k := range keys {
				luaToReply(r, k, scriptResp, depth+1)
			}
			return
		}
		n := 0
		for v.RawGetInt(n+1) != lua.LNil {
			n++
		}
		r.Array(n)
		for i := 1; i <= n; i++ {
			luaToReply(r, v.RawGetInt(i), scriptResp, depth+1)
		}
	default:
		r.Null()
	}
}

// luaInt truncates a Lua number as C's (long long) cast does.
func luaInt(n lua.LNumber) int64 {
	f := float64(n)
	if math.IsNaN(f) {
		return math.MinInt64
	}
	if f >= 9.2233720368547758e18 || f < -9.2233720368547758e18 {
		return math.MinInt64
	}
	return int64(f)
}
