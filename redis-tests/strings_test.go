package redistests

import (
	"strings"
	"testing"
	"time"
)

func TestSetAndGetRoundTripBinaryValues(t *testing.T) {
	c := client(t)
	v := "a\x00b\r\n\xff"
	want(t, c, "OK", "SET", "k", v)
	want(t, c, v, "GET", "k")
	want(t, c, nil, "GET", "nosuch")
	want(t, c, "OK", "SET", "empty", "")
	want(t, c, "", "GET", "empty")
}

func TestSetNxAndXxAreConditional(t *testing.T) {
	c := client(t)
	want(t, c, nil, "SET", "k", "1", "XX")
	want(t, c, "OK", "SET", "k", "1", "NX")
	want(t, c, nil, "SET", "k", "2", "NX")
	want(t, c, "OK", "SET", "k", "3", "XX")
	want(t, c, "3", "GET", "k")
}

func TestSetGetReturnsTheOldValue(t *testing.T) {
	c := client(t)
	want(t, c, nil, "SET", "k", "1", "GET")
	want(t, c, "1", "SET", "k", "2", "GET")
	want(t, c, "2", "SET", "k", "3", "NX", "GET") // NX with GET is allowed since 7.0
	want(t, c, "2", "GET", "k")
	want(t, c, nil, "SET", "new", "1", "XX", "GET")
	want(t, c, int64(0), "EXISTS", "new")
}

func TestSetExpiryOptions(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "ex", "v", "EX", 100)
	want(t, c, int64(100), "TTL", "ex")
	do(t, c, "SET", "px", "v", "PX", 100000)
	if p := do(t, c, "PTTL", "px").(int64); p < 99000 || p > 100000 {
		t.Errorf("PTTL after PX = %d", p)
	}
	at := time.Now().Unix() + 500
	do(t, c, "SET", "exat", "v", "EXAT", at)
	want(t, c, at, "EXPIRETIME", "exat")
	do(t, c, "SET", "pxat", "v", "PXAT", at*1000+7)
	want(t, c, at*1000+7, "PEXPIRETIME", "pxat")
	do(t, c, "SET", "ex", "w", "KEEPTTL")
	if ttl := do(t, c, "TTL", "ex").(int64); ttl <= 0 {
		t.Errorf("TTL after KEEPTTL = %d", ttl)
	}
	do(t, c, "SET", "ex", "w")
	want(t, c, int64(-1), "TTL", "ex")
	do(t, c, "SET", "short", "v", "PX", 50)
	time.Sleep(120 * time.Millisecond)
	want(t, c, nil, "GET", "short")
}

func TestSetRejectsConflictingOrBadOptions(t *testing.T) {
	c := client(t)
	for _, args := range [][]any{
		{"SET", "k", "v", "NX", "XX"},
		{"SET", "k", "v", "EX", 10, "PX", 100},
		{"SET", "k", "v", "EX", 10, "KEEPTTL"},
		{"SET", "k", "v", "EXAT", 10, "PXAT", 100},
		{"SET", "k", "v", "EX"},
		{"SET", "k", "v", "BOGUS"},
		{"SET", "k", "v", "KEEPTTL", "PX", 5},
	} {
		wantErr(t, c, "ERR syntax error", args...)
	}
	wantErr(t, c, "ERR invalid expire time in 'set' command", "SET", "k", "v", "EX", 0)
	wantErr(t, c, "ERR invalid expire time in 'set' command", "SET", "k", "v", "PX", -5)
	wantErr(t, c, "ERR invalid expire time in 'set' command", "SET", "k", "v", "EX", "9223372036854775807")
	wantErr(t, c, "ERR value is not an integer or out of range", "SET", "k", "v", "EX", "ten")
	wantErr(t, c, "ERR wrong number of arguments for 'set' command", "SET", "k")
	want(t, c, int64(0), "EXISTS", "k")
}

func TestGetdelReturnsAndRemoves(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "k", "v")
	want(t, c, "v", "GETDEL", "k")
	want(t, c, nil, "GETDEL", "k")
	want(t, c, int64(0), "EXISTS", "k")
}

func TestGetexChangesTheTtl(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "k", "v")
	want(t, c, "v", "GETEX", "k", "EX", 100)
	want(t, c, int64(100), "TTL", "k")
	want(t, c, "v", "GETEX", "k", "PERSIST")
	want(t, c, int64(-1), "TTL", "k")
	want(t, c, "v", "GETEX", "k", "PX", 5000)
	want(t, c, "v", "GETEX", "k")
	if ttl := do(t, c, "PTTL", "k").(int64); ttl <= 0 {
		t.Errorf("GETEX with no option changed the TTL: %d", ttl)
	}
	want(t, c, nil, "GETEX", "nosuch", "EX", 10)
	wantErr(t, c, "ERR syntax error", "GETEX", "k", "EX", 10, "PERSIST")
	wantErr(t, c, "ERR syntax error", "GETEX", "k", "BOGUS")
	wantErr(t, c, "ERR invalid expire time in 'getex' command", "GETEX", "k", "EX", 0)
}

func TestGetsetReplacesAndClearsTtl(t *testing.T) {
	c := client(t)
	want(t, c, nil, "GETSET", "k", "1")
	do(t, c, "EXPIRE", "k", 100)
	want(t, c, "1", "GETSET", "k", "2")
	want(t, c, int64(-1), "TTL", "k")
}

func TestMgetMsetAndMsetnx(t *testing.T) {
	c := client(t)
	want(t, c, "OK", "MSET", "a", "1", "b", "2")
	want(t, c, []any{"1", "2", nil}, "MGET", "a", "b", "c")
	wantErr(t, c, "ERR wrong number of arguments for 'mset' command", "MSET", "a", "1", "b")
	want(t, c, int64(0), "MSETNX", "c", "3", "a", "x")
	want(t, c, int64(0), "EXISTS", "c")
	want(t, c, int64(1), "MSETNX", "c", "3", "d", "4")
	want(t, c, []any{"1", "3", "4"}, "MGET", "a", "c", "d")
	wantErr(t, c, "ERR wrong number of arguments for 'msetnx' command", "MSETNX", "a")
}

func TestSetnxSetexAndPsetex(t *testing.T) {
	c := client(t)
	want(t, c, int64(1), "SETNX", "k", "1")
	want(t, c, int64(0), "SETNX", "k", "2")
	want(t, c, "OK", "SETEX", "e", 100, "v")
	want(t, c, int64(100), "TTL", "e")
	want(t, c, "OK", "PSETEX", "p", 100000, "v")
	if p := do(t, c, "PTTL", "p").(int64); p < 99000 {
		t.Errorf("PTTL = %d", p)
	}
	wantErr(t, c, "ERR invalid expire time in 'setex' command", "SETEX", "e", 0, "v")
	wantErr(t, c, "ERR invalid expire time in 'psetex' command", "PSETEX", "e", -1, "v")
	wantErr(t, c, "ERR value is not an integer or out of range", "SETEX", "e", "x", "v")
}

func TestAppendAndStrlen(t *testing.T) {
	c := client(t)
	want(t, c, int64(5), "APPEND", "k", "hello")
	want(t, c, int64(11), "APPEND", "k", " world")
	want(t, c, "hello world", "GET", "k")
	want(t, c, int64(11), "STRLEN", "k")
	want(t, c, int64(0), "STRLEN", "nosuch")
	do(t, c, "SET", "n", 12)
	want(t, c, int64(3), "APPEND", "n", "3")
	want(t, c, "123", "GET", "n")
}

func TestGetrangeHandlesNegativeAndOutOfRangeIndexes(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "k", "Hello World")
	cases := []struct {
		s, e int
		w    string
	}{{0, 4, "Hello"}, {-5, -1, "World"}, {0, -1, "Hello World"}, {5, 3, ""}, {0, 100, "Hello World"}, {-100, 2, "Hel"}, {20, 30, ""}}
	for _, cs := range cases {
		want(t, c, cs.w, "GETRANGE", "k", cs.s, cs.e)
	}
	want(t, c, "", "GETRANGE", "nosuch", 0, -1)
	wantErr(t, c, "ERR value is not an integer or out of range", "GETRANGE", "k", "a", 1)
}

func TestSetrangePadsWithZerosAndLimitsSize(t *testing.T) {
	c := client(t)
	want(t, c, int64(11), "SETRANGE", "k", 6, "World")
	want(t, c, "\x00\x00\x00\x00\x00\x00World", "GET", "k")
	want(t, c, int64(11), "SETRANGE", "k", 0, "Hello!")
	want(t, c, "Hello!World", "GET", "k")
	want(t, c, int64(0), "SETRANGE", "empty", 5, "")
	want(t, c, int64(0), "EXISTS", "empty")
	wantErr(t, c, "ERR offset is out of range", "SETRANGE", "k", -1, "x")
	wantErr(t, c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)", "SETRANGE", "k", 512*1024*1024, "x")
	wantErr(t, c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)", "SETRANGE", "new", 536870911, "xy")
	// offset + length must not overflow before the size check.
	wantErr(t, c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)", "SETRANGE", "new", "9223372036854775807", "A")
	wantErr(t, c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)", "SETRANGE", "k", "9223372036854775807", "A")
	wantErr(t, c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)", "SETRANGE", "new", "2147483647", "A")
	wantErr(t, c, "ERR value is not an integer or out of range", "SETRANGE", "k", "x", "x")
}

func TestIncrDecrFamily(t *testing.T) {
	c := client(t)
	want(t, c, int64(1), "INCR", "n")
	want(t, c, int64(11), "INCRBY", "n", 10)
	want(t, c, int64(10), "DECR", "n")
	want(t, c, int64(-5), "DECRBY", "n", 15)
	want(t, c, "-5", "GET", "n")
	do(t, c, "SET", "n", " 1")
	wantErr(t, c, "ERR value is not an integer or out of range", "INCR", "n")
	do(t, c, "SET", "n", "1.5")
	wantErr(t, c, "ERR value is not an integer or out of range", "INCR", "n")
	do(t, c, "SET", "n", "9223372036854775807")
	wantErr(t, c, "ERR increment or decrement would overflow", "INCR", "n")
	do(t, c, "SET", "n", "-9223372036854775808")
	wantErr(t, c, "ERR increment or decrement would overflow", "DECR", "n")
	wantErr(t, c, "ERR increment or decrement would overflow", "INCRBY", "n", -1)
	wantErr(t, c, "ERR decrement would overflow", "DECRBY", "x", "-9223372036854775808")
	wantErr(t, c, "ERR value is not an integer or out of range", "INCRBY", "n", "x")
	do(t, c, "SET", "big", "99999999999999999999")
	wantErr(t, c, "ERR value is not an integer or out of range", "INCR", "big")
}

func TestIncrbyfloat(t *testing.T) {
	c := client(t)
	want(t, c, "10.5", "INCRBYFLOAT", "f", 10.5)
	want(t, c, "10.6", "INCRBYFLOAT", "f", "0.1")
	do(t, c, "SET", "g", "5.0e3")
	want(t, c, "5200", "INCRBYFLOAT", "g", "2.0e2")
	want(t, c, "3", "INCRBYFLOAT", "h", "3.0")
	want(t, c, "-1.5", "INCRBYFLOAT", "h", "-4.5")
	do(t, c, "SET", "s", "abc")
	wantErr(t, c, "ERR value is not a valid float", "INCRBYFLOAT", "s", 1)
	wantErr(t, c, "ERR value is not a valid float", "INCRBYFLOAT", "f", "x")
	wantErr(t, c, "ERR increment would produce NaN or Infinity", "INCRBYFLOAT", "f", "+inf")
}

func TestLongValuesRoundTrip(t *testing.T) {
	c := client(t)
	v := strings.Repeat("0123456789", 100000)
	do(t, c, "SET", "big", v)
	if got := do(t, c, "GET", "big").(string); got != v {
		t.Errorf("1 MB value did not round-trip (len %d)", len(got))
	}
	want(t, c, int64(len(v)), "STRLEN", "big")
}

func TestIncrbyfloatFormatsLikeRedisLongDouble(t *testing.T) {
	c := client(t)
	// Redis adds in long double and prints with 17 fixed decimals, trailing
	// zeros removed: 1.1+2.2 is "3.3", and tiny values round to "0".
	want(t, c, "1.1", "INCRBYFLOAT", "a", "1.1")
	want(t, c, "3.3", "INCRBYFLOAT", "a", "2.2")
	want(t, c, "0.1", "INCRBYFLOAT", "b", "0.1")
	want(t, c, "0.3", "INCRBYFLOAT", "b", "0.2")
	want(t, c, "100000000000000000000", "INCRBYFLOAT", "c", "1e20")
	want(t, c, "0", "INCRBYFLOAT", "d", "5e-20")
	want(t, c, "10.5", "INCRBYFLOAT", "e", "10.50")
}
