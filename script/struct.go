package script

import (
	"math"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The struct library Redis bundles (Roberto Ierusalimschy's lua_struct):
// struct.pack(fmt, ...), struct.unpack(fmt, s [, pos]), struct.size(fmt),
// with the sizes of a 64-bit little-endian machine, as Redis runs on.
// Format: < > (endianness, little by default), !n (maximum alignment, a
// power of 2; ! alone is 8), b/B h/H l/L T i/In/I/In (signed/unsigned
// integers of 1, 2, 8, 8 and n bytes, n ≤ 32, default 4), f d (float,
// double), x (a zero byte), cn (n bytes; c0 in unpack takes its length
// from the previous number, in pack the whole string), s (zero-ended
// string), spaces.
const (
	structMaxInt   = 32
	structMaxAlign = 8
)

type structFmt struct {
	L      *lua.LState
	f      string
	i      int
	big    bool
	align  int
	packed bool // pack: c0 means the whole string
}

func openStruct(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("pack", L.NewFunction(structPack))
	t.RawSetString("unpack", L.NewFunction(structUnpack))
	t.RawSetString("size", L.NewFunction(structSize))
	return t
}

// num reads the digits after an option, def without any.
func (s *structFmt) num(def int) int {
	if s.i >= len(s.f) || s.f[s.i] < '0' || s.f[s.i] > '9' {
		return def
	}
	n := 0
	for s.i < len(s.f) && s.f[s.i] >= '0' && s.f[s.i] <= '9' {
		if n > (math.MaxInt32-int(s.f[s.i]-'0'))/10 {
			s.L.RaiseError("integral size overflow")
		}
		n = n*10 + int(s.f[s.i]-'0')
		s.i++
	}
	return n
}

// size of option opt (reading its digits).
func (s *structFmt) size(opt byte) int {
	switch opt {
	case 'b', 'B', 'x':
		return 1
	case 'h', 'H':
		return 2
	case 'l', 'L', 'T', 'd':
		return 8
	case 'f':
		return 4
	case 'c':
		return s.num(1)
	case 'i', 'I':
		n := s.num(4)
		if n > structMaxInt {
			s.L.RaiseError("integral size %d is larger than limit of %d", n, structMaxInt)
		}
		return n
	}
	return 0
}

// pad is the bytes to skip at pos before an item of size.
func (s *structFmt) pad(pos, size int, opt byte) int {
	if size == 0 || opt == 'c' {
		return 0
	}
	size = min(size, s.align)
	return (size - pos&(size-1)) & (size - 1)
}

// control applies a non-data option.
func (s *structFmt) control(opt byte) {
	switch opt {
	case ' ':
	case '>':
		s.big = true
	case '<':
		s.big = false
	case '!':
		a := s.num(structMaxAlign)
		if a <= 0 || a&(a-1) != 0 {
			s.L.RaiseError("alignment %d is not a power of 2", a)
		}
		s.align = a
	default:
		s.L.ArgError(1, "invalid format option '"+string(opt)+"'")
	}
}

func isIntOpt(opt byte) bool { return strings.IndexByte("bBhHlLTiI", opt) >= 0 }

func structPack(L *lua.LState) int {
	s := &structFmt{L: L, f: L.CheckString(1), align: 1}
	arg := 2
	var out []byte
	for s.i < len(s.f) {
		checkStop(L)
		opt := s.f[s.i]
		s.i++
		size := s.size(opt)
		for p := s.pad(len(out), size, opt); p > 0; p-- {
			out = append(out, 0)
		}
		switch {
		case isIntOpt(opt):
			n := float64(L.CheckNumber(arg))
			arg++
			var v uint64
			if n < 0 {
				v = uint64(int64(n))
			} else {
				v = uint64(n)
			}
			out = s.put(out, v, size)
		case opt == 'x':
			out = append(out, 0)
		case opt == 'f':
			out = s.put(out, uint64(math.Float32bits(float32(L.CheckNumber(arg)))), 4)
			arg++
		case opt == 'd':
			out = s.put(out, math.Float64bits(float64(L.CheckNumber(arg))), 8)
			arg++
		case opt == 'c' || opt == 's':
			str := L.CheckString(arg)
			arg++
			if size == 0 || opt == 's' {
				size = len(str)
			}
			if len(str) < size {
				L.ArgError(arg, "string too short")
			}
			out = append(out, str[:size]...)
			if opt == 's' {
				out = append(out, 0)
			}
		default:
			s.control(opt)
		}
	}
	L.Push(lua.LString(out))
	return 1
}

func structUnpack(L *lua.LState) int {
	s := &structFmt{L: L, f: L.CheckString(1), align: 1}
	data := L.CheckString(2)
	pos := L.OptInt(3, 1)
	if pos < 1 {
		L.ArgError(3, "offset must be 1 or greater")
	}
	pos--
	var out []lua.LValue
	for s.i < len(s.f) {
		checkStop(L)
		opt := s.f[s.i]
		s.i++
		size := s.size(opt)
		pos += s.pad(pos, size, opt)
		if size > len(data) || pos > len(data)-size {
			L.ArgError(2, "data string too short")
		}
		switch {
		case isIntOpt(opt):
			v := s.get(data[pos:], size)
			if opt >= 'a' && size < 8 && size > 0 && v&(1<<(size*8-1)) != 0 {
				v |= ^uint64(0) << (size * 8)
			}
			if opt >= 'a' {
				out = append(out, lua.LNumber(float64(int64(v))))
			} else {
				out = append(out, lua.LNumber(float64(v)))
			}
		case opt == 'x':
		case opt == 'f':
			out = append(out, lua.LNumber(math.Float32frombits(uint32(s.get(data[pos:], 4)))))
		case opt == 'd':
			out = append(out, lua.LNumber(math.Float64frombits(s.get(data[pos:], 8))))
		case opt == 'c':
			if size == 0 {
				if len(out) == 0 {
					L.RaiseError("format 'c0' needs a previous size")
				}
				n, ok := out[len(out)-1].(lua.LNumber)
				if !ok {
					L.RaiseError("format 'c0' needs a previous size")
				}
				out = out[:len(out)-1]
				size = int(n)
				if size < 0 || size > len(data) || pos > len(data)-size {
					L.ArgError(2, "data string too short")
				}
			}
			out = append(out, lua.LString(data[pos:pos+size]))
		case opt == 's':
			e := strings.IndexByte(data[pos:], 0)
			if e < 0 {
				L.RaiseError("unfinished string in data")
			}
			out = append(out, lua.LString(data[pos:pos+e]))
			size = e + 1
		default:
			s.control(opt)
		}
		pos += size
	}
	for _, v := range out {
		L.Push(v)
	}
	L.Push(lua.LNumber(pos + 1))
	return len(out) + 1
}

func structSize(L *lua.LState) int {
	s := &structFmt{L: L, f: L.CheckString(1), align: 1}
	pos := 0
	for s.i < len(s.f) {
		checkStop(L)
		opt := s.f[s.i]
		s.i++
		size := s.size(opt)
		pos += s.pad(pos, size, opt)
		switch {
		case opt == 's':
			L.ArgError(1, "option 's' has no fixed size")
		case opt == 'c' && size == 0:
			L.ArgError(1, "option 'c0' has no fixed size")
		}
		if !(opt >= 'a' && opt <= 'z' || opt >= 'A' && opt <= 'Z' || opt >= '0' && opt <= '9') {
			s.control(opt)
		}
		pos += size
	}
	L.Push(lua.LNumber(pos))
	return 1
}

// put appends the low size bytes of v in the format's byte order.
func (s *structFmt) put(out []byte, v uint64, size int) []byte {
	n := len(out)
	out = append(out, make([]byte, size)...)
	for k := 0; k < size; k++ {
		idx := k
		if s.big {
			idx = size - 1 - k
		}
		out[n+idx] = byte(v)
		v >>= 8
	}
	return out
}

// get reads size bytes of b in the format's byte order.
func (s *structFmt) get(b string, size int) uint64 {
	var v uint64
	for k := 0; k < size; k++ {
		idx := size - 1 - k
		if s.big {
			idx = k
		}
		v = v<<8 | uint64(b[idx])
	}
	return v
}
