package server

import (
	"strconv"
)

// ObjType is the in-memory type of a value. It is not an on-disk number:
// rdb/format.go keeps its own, never-renumbered type codes.
type ObjType uint8

const (
	TypeString  ObjType = iota // bytes
	TypeKVState                // an inference session (see the sessions issue)
	TypeHash                   // *Hash
	TypeList                   // *List
	TypeSet                    // *Set
	TypeZSet                   // *ZSet
	TypeStream                 // *Stream
)

// TypeName is what TYPE replies and SCAN TYPE matches.
func (t ObjType) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeKVState:
		return "kvstate"
	case TypeHash:
		return "hash"
	case TypeList:
		return "list"
	case TypeSet:
		return "set"
	case TypeZSet:
		return "zset"
	case TypeStream:
		return "stream"
	}
	return "none"
}

// Value is a non-string value type (a session) that the keyspace holds
// without knowing its insides.
type Value interface {
	Encoding() string // OBJECT ENCODING
	MemoryUsage() int64
	// Clone returns an independent copy (COPY, FORK): cheap, copy-on-write.
	Clone() Value
	// Release is called when the keyspace drops the value (DEL, overwrite, expiry, FLUSH).
	Release()
}

// Object is one value in the keyspace with its access metadata.
type Object struct {
	Type ObjType
	Str  []byte // TypeString
	Val  Value  // other types
	// raw marks a string that was modified in place (APPEND, SETRANGE): Redis
	// reports such strings as "raw" whatever their length.
	raw bool
	// unshared: stored while an LRU/LFU policy had maxmemory set, when
	// Redis gives integers their own object (they carry access metadata).
	unshared bool
	lruMS    int64 // last access, unix ms (OBJECT IDLETIME)
	lfu      uint8 // logarithmic access counter (OBJECT FREQ)
	lfuMins  int64 // minutes timestamp of the last LFU decrement
}

// NewString makes a string object.
func NewString(b []byte) *Object { return &Object{Type: TypeString, Str: b} }

// smallStringMax is the longest value NewStringCopy keeps inside the
// object's own allocation.
const smallStringMax = 32

// smallString is a string object and its bytes in one allocation.
type smallString struct {
	Object
	buf [smallStringMax]byte
}

// NewStringCopy makes a string object holding a copy of b (SET, MSET...).
// Short values share the object's allocation: one allocation instead of
// two for most writes. Str's capacity is its length, so APPEND moves it out.
func NewStringCopy(b []byte) *Object {
	if len(b) <= smallStringMax {
		s := &smallString{}
		n := copy(s.buf[:], b)
		s.Object = Object{Type: TypeString, Str: s.buf[:n:n]}
		return &s.Object
	}
	return NewString(append([]byte(nil), b...))
}

// NewValue makes an object of a non-string type.
func NewValue(t ObjType, v Value) *Object { return &Object{Type: t, Val: v} }

// SetRaw marks a string as modified in place.
func (o *Object) SetRaw() { o.raw = true }

// Encoding is what OBJECT ENCODING replies.
func (o *Object) Encoding() string {
	if o.Type != TypeString {
		return o.Val.Encoding()
	}
	if !o.raw && len(o.Str) <= 20 {
		if _, ok := ParseInt(o.Str); ok {
			return "int"
		}
	}
	if !o.raw && len(o.Str) <= 44 {
		return "embstr"
	}
	return "raw"
}

// sharedInt reports whether Redis would hold this value as one of its shared
// integer objects (0..9999), whose refcount OBJECT REFCOUNT shows as INT_MAX.
func (o *Object) sharedInt() bool {
	if o.Type != TypeString || o.raw || o.unshared {
		return false
	}
	n, ok := ParseInt(o.Str)
	return ok && n >= 0 && n < 10000
}

// Refcount is what OBJECT REFCOUNT replies.
func (o *Object) Refcount() int64 {
	if o.sharedInt() {
		return 2147483647
	}
	return 1
}

// MemoryUsage approximates MEMORY USAGE as Redis counts it: the object, its
// key and the dictionary entry.
func (o *Object) MemoryUsage(key string) int64 {
	n := int64(16 + 24 + len(key) + 8) // dict entry + key sds
	switch o.Type {
	case TypeString:
		if o.Encoding() == "int" {
			return n + 16
		}
		return n + 16 + int64(len(o.Str)) + 3
	default:
		return n + 16 + o.Val.MemoryUsage()
	}
}

// Clone copies an object for COPY.
func (o *Object) Clone() *Object {
	c := &Object{Type: o.Type, raw: o.raw, lruMS: o.lruMS, lfu: o.lfu, lfuMins: o.lfuMins}
	if o.Type == TypeString {
		c.Str = append([]byte(nil), o.Str...)
	} else {
		c.Val = o.Val.Clone()
	}
	return c
}

func (o *Object) release() {
	if o.Val != nil {
		o.Val.Release()
	}
}

// IntValue parses a string object as an integer.
func (o *Object) IntValue() (int64, bool) {
	if o.Type != TypeString {
		return 0, false
	}
	return ParseInt(o.Str)
}

// FormatInt is the canonical text of an integer value.
func FormatInt(n int64) []byte { return strconv.AppendInt(nil, n, 10) }
