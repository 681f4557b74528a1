package script

import (
	"bytes"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"reddwarf/server"
)

// callLua runs fn(arg) in a fresh sandbox of e and returns its first
// result, or the error a script would see.
func callLua(t testing.TB, e *Engine, fn string, arg string) (lua.LValue, error) {
	t.Helper()
	L := e.eval.L
	f, err := L.Load(strings.NewReader("local a = ...; return ("+fn+")(a)"), "t")
	if err != nil {
		t.Fatal(err)
	}
	f.Env = e.eval.env
	L.SetTop(0)
	L.Push(f)
	L.Push(lua.LString(arg))
	err = L.PCall(1, 1, nil)
	defer L.SetTop(0)
	if err != nil {
		return nil, err
	}
	return L.Get(-1), nil
}

func TestCjsonRoundTrip(t *testing.T) {
	e := New(server.New(server.NewConfig()))
	for _, doc := range []string{`[1,2,{"a":"x\/y"}]`, `{"k":[true,false,null]}`, `"\u00e9\ud83d\ude00"`, `-5e3`} {
		v, err := callLua(t, e, "cjson.decode", doc)
		if err != nil {
			t.Fatalf("decode %s: %v", doc, err)
		}
		L := e.eval.L
		L.Push(L.GetField(L.GetGlobal("cjson"), "encode"))
		L.Push(v)
		if err := L.PCall(1, 1, nil); err != nil {
			t.Fatalf("encode %s: %v", doc, err)
		}
		back := L.Get(-1).String()
		L.SetTop(0)
		v2, err := callLua(t, e, "cjson.decode", back)
		if err != nil {
			t.Fatalf("%s encoded as %s, which does not decode: %v", doc, back, err)
		}
		if lua.LVAsString(v) != "" && lua.LVAsString(v) != lua.LVAsString(v2) {
			t.Errorf("%s: %v then %v", doc, v, v2)
		}
	}
	if _, err := callLua(t, e, "cjson.decode", `{"a":`); err == nil || !strings.Contains(err.Error(), "Expected value but found T_END") {
		t.Errorf("truncated JSON: %v", err)
	}
}

func TestFunctionPayloadRefusesCorruption(t *testing.T) {
	e := New(server.New(server.NewConfig()))
	if _, err := e.FunctionLoad(nil, "#!lua name=l\nredis.register_function('f', function() return 1 end)", false); err != nil {
		t.Fatal(err)
	}
	p := e.Dump()
	for i := range p {
		bad := bytes.Clone(p)
		bad[i] ^= 0x40
		if err := e.Restore(nil, bad, "replace"); err == nil {
			t.Errorf("byte %d flipped: restored", i)
		}
	}
	if err := e.Restore(nil, p, "flush"); err != nil || len(e.funcs) != 1 {
		t.Errorf("restore: %v, %d functions", err, len(e.funcs))
	}
}

// The decoders scripts feed untrusted bytes to end in a Lua error, never
// a Go panic (the interpreter would turn it into a crash of the call).
func FuzzDecoders(f *testing.F) {
	e := New(server.New(server.NewConfig()))
	f.Add([]byte(`{"a":[1,2,{"b":null}],"c":"\u0041"}`))
	f.Add([]byte{0x82, 0xa1, 0x79, 0x05, 0xa1, 0x78, 0x93, 0xc0, 0xc3, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fn := range []string{"cjson.decode", "cmsgpack.unpack", "function(s) return cmsgpack.unpack_limit(s, 2, 1) end"} {
			callLua(t, e, fn, string(b)) // an error is fine; a panic fails the fuzz run
		}
		e.Restore(nil, b, "append")
	})
}

func TestStringRepRefusesGiantResults(t *testing.T) {
	e := New(server.New(server.NewConfig()))
	if _, err := callLua(t, e, "function() return string.rep('ab', 1e12) end", ""); err == nil || !strings.Contains(err.Error(), "resulting string too large") {
		t.Errorf("string.rep of 2 TB: %v", err)
	}
	v, err := callLua(t, e, "function() return string.rep('ab', 3) end", "")
	if err != nil || v.String() != "ababab" {
		t.Errorf("string.rep('ab', 3) = %v, %v", v, err)
	}
}

// A kill reaches inside cjson, cmsgpack and struct: called straight from
// Go (no Lua instruction runs, so only the library's own check can see
// the stop), each raises the kill instead of finishing the value.
func TestGoLibrariesStopWhenKilled(t *testing.T) {
	e := New(server.New(server.NewConfig()))
	L := e.eval.L
	big := "[" + strings.Repeat("1,", 1000) + "1]"
	packed := string(append([]byte{0x93}, 1, 2, 3))
	for _, c := range []struct{ lib, fn, arg, arg2 string }{
		{"cjson", "decode", big, ""}, {"cmsgpack", "unpack", packed, ""}, {"struct", "unpack", "BBB", "abc"},
	} {
		fn := L.GetField(L.GetField(e.eval.globals, c.lib), c.fn)
		call := func() error {
			L.SetTop(0)
			args := []lua.LValue{lua.LString(c.arg)}
			if c.arg2 != "" {
				args = append(args, lua.LString(c.arg2))
			}
			return L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}, args...)
		}
		e.stop.Store(false)
		if err := call(); err != nil {
			t.Fatalf("%s.%s unstopped: %v", c.lib, c.fn, err)
		}
		e.stop.Store(true)
		if err := call(); err == nil || !strings.Contains(err.Error(), "Script killed by user") {
			t.Errorf("%s.%s stopped: %v, want the kill", c.lib, c.fn, err)
		}
	}
	e.stop.Store(false)
}
