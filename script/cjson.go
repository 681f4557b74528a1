package script

import (
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// cjson is the lua-cjson library Redis bundles (cjson.encode,
// cjson.decode, cjson.null and its settings), written here in Go: tables
// whose keys are 1..n encode as arrays (holes as null unless excessively
// sparse), others as objects with string or number keys; numbers use
// %.14g; JSON null decodes to cjson.null.
type cjson struct {
	null              *lua.LUserData
	encodeMaxDepth    int
	decodeMaxDepth    int
	encodeInvalidNums bool
	decodeInvalidNums bool
	sparseConvert     bool
	sparseRatio       int
	sparseSafe        int
}

func openCjson(L *lua.LState) *lua.LTable {
	j := &cjson{null: L.NewUserData(), encodeMaxDepth: 1000, decodeMaxDepth: 1000, decodeInvalidNums: true, sparseRatio: 2, sparseSafe: 10}
	t := L.NewTable()
	t.RawSetString("encode", L.NewFunction(j.encode))
	t.RawSetString("decode", L.NewFunction(j.decode))
	t.RawSetString("null", j.null)
	t.RawSetString("_NAME", lua.LString("cjson"))
	t.RawSetString("_VERSION", lua.LString("2.1.0"))
	intSetting := func(p *int) lua.LGFunction {
		return func(L *lua.LState) int {
			if L.GetTop() >= 1 {
				n := L.CheckInt(1)
				if n < 1 {
					L.ArgError(1, "expected integer between 1 and 2147483647")
				}
				*p = n
			}
			L.Push(lua.LNumber(*p))
			return 1
		}
	}
	boolSetting := func(p *bool) lua.LGFunction {
		return func(L *lua.LState) int {
			if L.GetTop() >= 1 {
				*p = lua.LVAsBool(L.Get(1))
			}
			L.Push(lua.LBool(*p))
			return 1
		}
	}
	t.RawSetString("encode_max_depth", L.NewFunction(intSetting(&j.encodeMaxDepth)))
	t.RawSetString("decode_max_depth", L.NewFunction(intSetting(&j.decodeMaxDepth)))
	t.RawSetString("encode_invalid_numbers", L.NewFunction(boolSetting(&j.encodeInvalidNums)))
	t.RawSetString("decode_invalid_numbers", L.NewFunction(boolSetting(&j.decodeInvalidNums)))
	keep := true
	t.RawSetString("encode_keep_buffer", L.NewFunction(boolSetting(&keep)))
	t.RawSetString("encode_number_precision", L.NewFunction(func(L *lua.LState) int { L.Push(lua.LNumber(14)); return 1 }))
	t.RawSetString("encode_sparse_array", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() >= 1 {
			j.sparseConvert = lua.LVAsBool(L.Get(1))
		}
		if L.GetTop() >= 2 {
			j.sparseRatio = L.CheckInt(2)
		}
		if L.GetTop() >= 3 {
			j.sparseSafe = L.CheckInt(3)
		}
		L.Push(lua.LBool(j.sparseConvert))
		L.Push(lua.LNumber(j.sparseRatio))
		L.Push(lua.LNumber(j.sparseSafe))
		return 3
	}))
	return t
}

func (j *cjson) encode(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.ArgError(1, "expected 1 argument")
	}
	var b strings.Builder
	j.encodeValue(L, &b, L.Get(1), 0)
	L.Push(lua.LString(b.String()))
	return 1
}

func (j *cjson) encodeValue(L *lua.LState, b *strings.Builder, v lua.LValue, depth int) {
	checkStop(L)
	switch v := v.(type) {
	case lua.LString:
		encodeJSONString(b, string(v))
	case lua.LNumber:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			if !j.encodeInvalidNums {
				L.RaiseError("Cannot serialise number: must not be NaN or Inf")
			}
			switch {
			case math.IsNaN(f):
				b.WriteString("nan")
			case f > 0:
				b.WriteString("inf")
			default:
				b.WriteString("-inf")
			}
			return
		}
		b.WriteString(fmtG14(f))
	case lua.LBool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case *lua.LNilType:
		b.WriteString("null")
	case *lua.LUserData:
		if v == j.null {
			b.WriteString("null")
			return
		}
		L.RaiseError("Cannot serialise userdata: type not supported")
	case *lua.LTable:
		depth++
		if depth > j.encodeMaxDepth {
			L.RaiseError("Cannot serialise, excessive nesting (%d)", depth)
		}
		if n, ok := j.arrayLen(L, v); ok {
			b.WriteByte('[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					b.WriteByte(',')
				}
				j.encodeValue(L, b, v.RawGetInt(i), depth)
			}
			b.WriteByte(']')
			return
		}
		b.WriteByte('{')
		first := true
		v.ForEach(func(k, val lua.LValue) {
			if !first {
				b.WriteByte(',')
			}
			first = false
			switch k := k.(type) {
			case lua.LString:
				encodeJSONString(b, string(k))
			case lua.LNumber:
				b.WriteByte('"')
				b.WriteString(fmtG14(float64(k)))
				b.WriteByte('"')
			default:
				L.RaiseError("Cannot serialise %s: table key must be a number or string", k.Type().String())
			}
			b.WriteByte(':')
			j.encodeValue(L, b, val, depth)
		})
		b.WriteByte('}')
	default:
		L.RaiseError("Cannot serialise %s: type not supported", v.Type().String())
	}
}

// arrayLen is lua-cjson's lua_array_length: the table is an array when
// every key is a positive integer; an excessively sparse one is an error
// (or an object when sparse conversion is on). An empty table is an object.
func (j *cjson) arrayLen(L *lua.LState, t *lua.LTable) (int, bool) {
	max, items := 0, 0
	array := true
	t.ForEach(func(k, _ lua.LValue) {
		n, ok := k.(lua.LNumber)
		if !ok || float64(n) < 1 || float64(n) != math.Floor(float64(n)) {
			array = false
			return
		}
		if int(n) > max {
			max = int(n)
		}
		items++
	})
	if !array || items == 0 {
		return 0, false
	}
	if j.sparseRatio > 0 && max > items*j.sparseRatio && max > j.sparseSafe {
		if !j.sparseConvert {
			L.RaiseError("Cannot serialise table: excessively sparse array")
		}
		return 0, false
	}
	return max, true
}

func fmtG14(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e14 {
		return strconv.FormatInt(int64(f), 10)
	}
	s := strconv.FormatFloat(f, 'g', 14, 64)
	// C's %.14g drops trailing zeros of the mantissa, Go's 'g' with a
	// precision keeps them.
	if mant, exp, ok := strings.Cut(s, "e"); ok {
		if strings.Contains(mant, ".") {
			mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
		}
		return mant + "e" + exp
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func encodeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '/':
			b.WriteString(`\/`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				b.WriteString(`\u00`)
				b.WriteByte("0123456789abcdef"[c>>4])
				b.WriteByte("0123456789abcdef"[c&15])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// decode is cjson.decode: a hand-written parser, so errors name the
// character as lua-cjson's do and depth is bounded.
func (j *cjson) decode(L *lua.LState) int {
	s := L.CheckString(1)
	d := &jsonDecoder{L: L, s: s, j: j}
	d.skip()
	v := d.value(0)
	d.skip()
	if d.i < len(d.s) {
		d.fail("the end")
	}
	L.Push(v)
	return 1
}

type jsonDecoder struct {
	L *lua.LState
	s string
	i int
	j *cjson
}

func (d *jsonDecoder) fail(what string) {
	tok := "invalid token"
	if d.i >= len(d.s) {
		tok = "T_END"
	}
	d.L.RaiseError("Expected %s but found %s at character %d", what, tok, d.i+1)
}

func (d *jsonDecoder) skip() {
	for d.i < len(d.s) && strings.IndexByte(" \t\r\n", d.s[d.i]) >= 0 {
		d.i++
	}
}

func (d *jsonDecoder) value(depth int) lua.LValue {
	checkStop(d.L)
	if d.i >= len(d.s) {
		d.fail("value")
	}
	switch c := d.s[d.i]; {
	case c == '{':
		depth++
		if depth > d.j.decodeMaxDepth {
			d.L.RaiseError("Found too many nested data structures (%d) at character %d", depth, d.i+1)
		}
		d.i++
		t := d.L.NewTable()
		d.skip()
		if d.i < len(d.s) && d.s[d.i] == '}' {
			d.i++
			return t
		}
		for {
			d.skip()
			if d.i >= len(d.s) || d.s[d.i] != '"' {
				d.fail("object key string")
			}
			k := d.str()
			d.skip()
			if d.i >= len(d.s) || d.s[d.i] != ':' {
				d.fail("colon")
			}
			d.i++
			d.skip()
			t.RawSetString(k, d.value(depth))
			if d.itemEnds('}', "comma or object end") {
				return t
			}
		}
	case c == '[':
		depth++
		if depth > d.j.decodeMaxDepth {
			d.L.RaiseError("Found too many nested data structures (%d) at character %d", depth, d.i+1)
		}
		d.i++
		t := d.L.NewTable()
		d.skip()
		if d.i < len(d.s) && d.s[d.i] == ']' {
			d.i++
			return t
		}
		for n := 1; ; n++ {
			d.skip()
			t.RawSetInt(n, d.value(depth))
			if d.itemEnds(']', "comma or array end") {
				return t
			}
		}
	case c == '"':
		return lua.LString(d.str())
	case strings.HasPrefix(d.s[d.i:], "true"):
		d.i += 4
		return lua.LTrue
	case strings.HasPrefix(d.s[d.i:], "false"):
		d.i += 5
		return lua.LFalse
	case strings.HasPrefix(d.s[d.i:], "null"):
		d.i += 4
		return d.j.null
	default:
		start := d.i
		for d.i < len(d.s) && strings.IndexByte("+-0123456789.eExXabcdefABCDEFinfatyINFATY", d.s[d.i]) >= 0 {
			d.i++
		}
		tok := d.s[start:d.i]
		f, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			if n, err2 := strconv.ParseInt(tok, 0, 64); err2 == nil {
				return lua.LNumber(n)
			}
			d.i = start
			d.fail("value")
		}
		if (math.IsNaN(f) || math.IsInf(f, 0)) && !d.j.decodeInvalidNums {
			d.i = start
			d.fail("value")
		}
		return lua.LNumber(f)
	}
}

// str reads a JSON string at d.i (on its opening quote).
func (d *jsonDecoder) str() string {
	d.i++
	var b strings.Builder
	for {
		if d.i >= len(d.s) {
			d.fail("string end")
		}
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return b.String()
		case c == '\\':
			d.i++
			if d.i >= len(d.s) {
				d.fail("escape")
			}
			e := d.s[d.i]
			d.i++
			switch e {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r := d.hex4()
				if r >= 0xd800 && r < 0xdc00 && strings.HasPrefix(d.s[d.i:], `\u`) {
					d.i += 2
					lo := d.hex4()
					r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
				}
				b.WriteRune(rune(r))
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			d.i++
		}
	}
}

func (d *jsonDecoder) hex4() int {
	if d.i+4 > len(d.s) {
		d.fail("unicode escape")
	}
	n, err := strconv.ParseUint(d.s[d.i:d.i+4], 16, 32)
	if err != nil {
		d.fail("unicode escape")
	}
	d.i += 4
	return int(n)
}

// itemEnds reads what follows an object's or array's item: a comma (false:
// another item comes) or the closing byte (true); anything else fails as
// what.
func (d *jsonDecoder) itemEnds(closing byte, what string) bool {
	d.skip()
	if d.i < len(d.s) && d.s[d.i] == ',' {
		d.i++
		return false
	}
	if d.i < len(d.s) && d.s[d.i] == closing {
		d.i++
		return true
	}
	d.fail(what)
	return false
}
