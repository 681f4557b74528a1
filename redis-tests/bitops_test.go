package redistests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The bitmap commands (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
// BITFIELD_RO) and LCS, with the replies and errors of Redis 7.0; every test
// passes against redis-server too (REDDWARF_TARGET=redis).

// nonString makes key hold a value of another type than string: a session
// on reddwarf, a list on Redis.
func nonString(t *testing.T, c doer, key string) {
	t.Helper()
	if target == "redis" {
		do(t, c, "RPUSH", key, "x")
	} else {
		do(t, c, "PREFILL", key, "Once upon a time")
	}
}

func TestSetbitGetbitGrowTheStringAndReplyTheOldBit(t *testing.T) {
	c := client(t)
	want(t, c, int64(0), "SETBIT", "k", 1, 1)
	want(t, c, "@", "GET", "k")
	want(t, c, int64(1), "SETBIT", "k", 1, 0)
	want(t, c, int64(0), "SETBIT", "k", 100, 1)
	want(t, c, int64(13), "STRLEN", "k")
	want(t, c, "raw", "OBJECT", "ENCODING", "k")
	want(t, c, int64(1), "GETBIT", "k", 100)
	want(t, c, int64(0), "GETBIT", "k", 101)
	want(t, c, int64(0), "GETBIT", "k", 1<<20) // past the end
	want(t, c, int64(0), "GETBIT", "nosuch", 7)
	// An integer-encoded value is read as its decimal digits.
	do(t, c, "SET", "n", 1) // '1' = 0b00110001
	want(t, c, int64(1), "GETBIT", "n", 2)
	want(t, c, int64(0), "SETBIT", "n", 6, 1)
	want(t, c, "3", "GET", "n")
	// SETBIT keeps the TTL.
	do(t, c, "SET", "ttl", "x", "EX", 100)
	do(t, c, "SETBIT", "ttl", 0, 1)
	want(t, c, int64(100), "TTL", "ttl")
}

func TestSetbitGetbitRefuseBadOffsetsAndBits(t *testing.T) {
	c := client(t)
	const off = "ERR bit offset is not an integer or out of range"
	for _, o := range []any{-1, "4294967296", "1.5", "abc", "#1", "", "9223372036854775808"} {
		wantErr(t, c, off, "SETBIT", "k", o, 1)
		wantErr(t, c, off, "GETBIT", "k", o)
	}
	for _, v := range []any{2, -1, 10, "x", ""} {
		wantErr(t, c, "ERR bit is not an integer or out of range", "SETBIT", "k", 0, v)
	}
	want(t, c, int64(0), "EXISTS", "k")
	nonString(t, c, "s")
	wantErrPrefix(t, c, "WRONGTYPE", "SETBIT", "s", 0, 1)
	wantErrPrefix(t, c, "WRONGTYPE", "GETBIT", "s", 0)
	// The offset is checked before the key's type.
	wantErr(t, c, off, "GETBIT", "s", -1)
}

// The largest offset is bounded by proto-max-bulk-len, checked before the
// string is grown; so is the LCS table.
func TestBitOffsetsAndLcsTableAreBoundedByProtoMaxBulkLen(t *testing.T) {
	s := startServer(t, "--proto-max-bulk-len", "1mb")
	c := redisClientAt(t, s.Addr())
	const off = "ERR bit offset is not an integer or out of range"
	wantErr(t, c, off, "SETBIT", "k", 8<<20, 1)
	wantErr(t, c, off, "BITFIELD", "k", "SET", "u8", "#1048576", 1)
	wantErr(t, c, off, "BITFIELD", "k", "GET", "u8", 8<<20)
	want(t, c, int64(0), "EXISTS", "k")
	want(t, c, int64(0), "SETBIT", "k", 8<<20-1, 1)
	want(t, c, int64(1<<20), "STRLEN", "k")
	want(t, c, int64(1), "BITCOUNT", "k")
	want(t, c, int64(8<<20-1), "BITPOS", "k", 1)
	// A 600x600 table is 600*600*4 bytes > 1 MB.
	do(t, c, "SET", "a", strings.Repeat("a", 600))
	do(t, c, "SET", "b", strings.Repeat("b", 600))
	wantErr(t, c, "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len", "LCS", "a", "b")
	do(t, c, "SET", "b", strings.Repeat("a", 200))
	want(t, c, int64(200), "LCS", "a", "b", "LEN")
}

func TestBitcountCountsByteAndBitRanges(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "s", "foobar")
	want(t, c, int64(26), "BITCOUNT", "s")
	want(t, c, int64(4), "BITCOUNT", "s", 0, 0)
	want(t, c, int64(6), "BITCOUNT", "s", 1, 1)
	want(t, c, int64(18), "BITCOUNT", "s", 1, -2)
	want(t, c, int64(26), "BITCOUNT", "s", 0, 1000)
	want(t, c, int64(0), "BITCOUNT", "s", -2, 1)
	want(t, c, int64(6), "BITCOUNT", "s", 1, 1, "BYTE")
	want(t, c, int64(17), "BITCOUNT", "s", 5, 30, "BIT")
	want(t, c, int64(16), "BITCOUNT", "s", 5, -19, "bit")
	want(t, c, int64(26), "BITCOUNT", "s", "-9223372036854775808", "9223372036854775807", "BIT")
	want(t, c, int64(0), "BITCOUNT", "s", 48, 100, "BIT")
	// A missing key counts 0 whatever follows; two negative ends in the
	// wrong order count 0 before the unit is read.
	want(t, c, int64(0), "BITCOUNT", "nosuch", "a", "b", "c", "d")
	want(t, c, int64(0), "BITCOUNT", "s", -1, -2, "junk")
	wantErr(t, c, "ERR syntax error", "BITCOUNT", "s", 0)
	wantErr(t, c, "ERR syntax error", "BITCOUNT", "s", 0, 1, "junk")
	wantErr(t, c, "ERR syntax error", "BITCOUNT", "s", 0, 1, "BIT", "x")
	wantErr(t, c, "ERR value is not an integer or out of range", "BITCOUNT", "s", "x", 1)
	nonString(t, c, "l")
	wantErrPrefix(t, c, "WRONGTYPE", "BITCOUNT", "l")
}

func TestBitposFindsTheFirstSetOrClearBit(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "s", "\xff\xf0\x00")
	want(t, c, int64(12), "BITPOS", "s", 0)
	want(t, c, int64(0), "BITPOS", "s", 1)
	want(t, c, int64(12), "BITPOS", "s", 0, 1)
	want(t, c, int64(16), "BITPOS", "s", 0, 2)
	want(t, c, int64(12), "BITPOS", "s", 0, 0, -1, "BIT")
	want(t, c, int64(13), "BITPOS", "s", 0, 13, 13, "BIT")
	want(t, c, int64(-1), "BITPOS", "s", 1, 12, -1, "BIT")
	want(t, c, int64(-1), "BITPOS", "s", 0, 5)
	// A string of ones: without an end the right is zero-padded.
	do(t, c, "SET", "ones", "\xff\xff\xff")
	want(t, c, int64(24), "BITPOS", "ones", 0)
	want(t, c, int64(24), "BITPOS", "ones", 0, 0)
	want(t, c, int64(-1), "BITPOS", "ones", 0, 0, -1)
	want(t, c, int64(-1), "BITPOS", "ones", 0, 0, -1, "BIT")
	// A missing key is all zeros; an empty string has no bit at all.
	want(t, c, int64(0), "BITPOS", "nosuch", 0)
	want(t, c, int64(-1), "BITPOS", "nosuch", 1, "a", "b", "c")
	do(t, c, "SET", "empty", "")
	want(t, c, int64(-1), "BITPOS", "empty", 0)
	wantErr(t, c, "ERR The bit argument must be 1 or 0.", "BITPOS", "s", 2)
	wantErr(t, c, "ERR value is not an integer or out of range", "BITPOS", "s", "x")
	wantErr(t, c, "ERR syntax error", "BITPOS", "s", 1, 0, 1, "BIT", "x")
	wantErr(t, c, "ERR syntax error", "BITPOS", "s", 1, 0, "x", "junk") // the unit is read before the end
	nonString(t, c, "l")
	wantErrPrefix(t, c, "WRONGTYPE", "BITPOS", "l", 1)
}

func TestBitopCombinesZeroPaddedSources(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "a", "\x01\x02\xff\xff")
	do(t, c, "SET", "b", "\x01\x02\xff")
	want(t, c, int64(4), "BITOP", "AND", "r", "a", "b")
	want(t, c, "\x01\x02\xff\x00", "GET", "r")
	want(t, c, int64(4), "BITOP", "or", "r", "a", "b", "nosuch")
	want(t, c, "\x01\x02\xff\xff", "GET", "r")
	want(t, c, int64(4), "BITOP", "XOR", "r", "a", "b")
	want(t, c, "\x00\x00\x00\xff", "GET", "r")
	want(t, c, int64(3), "BITOP", "NOT", "b", "b")
	want(t, c, "\xfe\xfd\x00", "GET", "b")
	want(t, c, "raw", "OBJECT", "ENCODING", "b")
	// The destination is overwritten, TTL and type included; an empty
	// result deletes it.
	do(t, c, "SET", "r", "x", "EX", 100)
	do(t, c, "BITOP", "OR", "r", "a")
	want(t, c, int64(-1), "TTL", "r")
	want(t, c, int64(0), "BITOP", "AND", "r", "nosuch", "nosuch2")
	want(t, c, int64(0), "EXISTS", "r")
	do(t, c, "SET", "e", "")
	want(t, c, int64(0), "BITOP", "NOT", "r", "e")
	want(t, c, int64(0), "EXISTS", "r")
	wantErr(t, c, "ERR syntax error", "BITOP", "NAND", "r", "a")
	wantErr(t, c, "ERR BITOP NOT must be called with a single source key.", "BITOP", "NOT", "r", "a", "b")
	nonString(t, c, "l")
	wantErrPrefix(t, c, "WRONGTYPE", "BITOP", "OR", "r", "a", "l")
	want(t, c, int64(0), "EXISTS", "r")
	want(t, c, int64(4), "BITOP", "OR", "l", "nosuch", "a") // a non-string destination is replaced
	want(t, c, "string", "TYPE", "l")
}

func TestBitfieldGetSetIncrbyAndOverflow(t *testing.T) {
	c := client(t)
	want(t, c, "[0 -100 101]", "BITFIELD", "k", "SET", "i8", 0, -100, "SET", "i8", 0, 101, "GET", "i8", 0)
	want(t, c, "[0 99 99]", "BITFIELD", "u", "SET", "u8", 0, 255, "INCRBY", "u8", 0, 100, "GET", "u8", 0)
	// #n addresses the n-th field of the type's width.
	do(t, c, "BITFIELD", "abc", "SET", "u8", "#0", 65, "SET", "u8", "#1", 66, "SET", "u8", "#2", 67)
	want(t, c, "ABC", "GET", "abc")
	want(t, c, "[16706 1 -1]", "BITFIELD", "abc", "GET", "u16", 0, "GET", "u4", "#1", "GET", "i1", 7)
	// OVERFLOW applies to the operations after it.
	do(t, c, "SET", "o", "\x64") // 100
	want(t, c, "[101 255 <nil> 255 126]", "BITFIELD", "o", "INCRBY", "u8", 0, 257,
		"OVERFLOW", "SAT", "INCRBY", "u8", 0, 200,
		"OVERFLOW", "FAIL", "INCRBY", "u8", 0, 1, "GET", "u8", 0,
		"OVERFLOW", "WRAP", "INCRBY", "i8", 0, 127)
	want(t, c, "[0 127]", "BITFIELD", "q", "OVERFLOW", "SAT", "SET", "i8", 0, "-9223372036854775808", "GET", "i8", 0)
	want(t, c, "[0 255]", "BITFIELD", "q2", "OVERFLOW", "SAT", "SET", "u8", 0, -1, "GET", "u8", 0)
	want(t, c, "[0 -9223372036854775808]", "BITFIELD", "q3", "OVERFLOW", "SAT", "SET", "i64", 0, -5, "INCRBY", "i64", 0, "-9223372036854775808")
	want(t, c, "[0 0 60]", "BITFIELD", "m", "SET", "i8", 0, 10, "SET", "i8", 64, 10, "INCRBY", "i8", 10, 99900)
	// Reads of a missing key, of bits past the end, and of no operation.
	want(t, c, "[0]", "BITFIELD", "nosuch", "GET", "i64", 1000)
	want(t, c, int64(0), "EXISTS", "nosuch")
	want(t, c, "[]", "BITFIELD", "nosuch")
	want(t, c, "[99]", "BITFIELD_RO", "u", "GET", "u8", 0)
	want(t, c, "[]", "BITFIELD_RO", "u")
	// Writes grow the string to the farthest field, even when FAIL refuses.
	want(t, c, "[<nil>]", "BITFIELD", "f", "OVERFLOW", "FAIL", "SET", "u2", 30, 9)
	want(t, c, "\x00\x00\x00\x00", "GET", "f")
}

func TestBitfieldRefusesBadArguments(t *testing.T) {
	c := client(t)
	const typ = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
	for _, ty := range []string{"u64", "i65", "i0", "x8", "I8", "i", "u08"} {
		wantErr(t, c, typ, "BITFIELD", "k", "GET", ty, 0)
	}
	const off = "ERR bit offset is not an integer or out of range"
	for _, o := range []string{"-1", "#-1", "#", "x", "#x", "1.0"} {
		wantErr(t, c, off, "BITFIELD", "k", "GET", "u8", o)
	}
	wantErr(t, c, "ERR syntax error", "BITFIELD", "k", "GET", "u8")
	wantErr(t, c, "ERR syntax error", "BITFIELD", "k", "SET", "u8", 0)
	wantErr(t, c, "ERR syntax error", "BITFIELD", "k", "FOO", "u8", 0)
	wantErr(t, c, "ERR syntax error", "BITFIELD", "k", "OVERFLOW")
	wantErr(t, c, "ERR Invalid OVERFLOW type specified", "BITFIELD", "k", "OVERFLOW", "SATURATE")
	wantErr(t, c, "ERR value is not an integer or out of range", "BITFIELD", "k", "INCRBY", "u8", 0, "1.5")
	// Everything is parsed before anything runs.
	wantErr(t, c, "ERR syntax error", "BITFIELD", "k", "SET", "u8", 0, 1, "BOGUS")
	want(t, c, int64(0), "EXISTS", "k")
	wantErr(t, c, "ERR BITFIELD_RO only supports the GET subcommand", "BITFIELD_RO", "k", "GET", "u8", 0, "SET", "u8", 0, 1)
	wantErr(t, c, "ERR BITFIELD_RO only supports the GET subcommand", "BITFIELD_RO", "k", "INCRBY", "u8", 0, 1)
	nonString(t, c, "l")
	wantErrPrefix(t, c, "WRONGTYPE", "BITFIELD", "l", "GET", "u8", 0)
	wantErrPrefix(t, c, "WRONGTYPE", "BITFIELD", "l", "SET", "u8", 0, 1)
	wantErrPrefix(t, c, "WRONGTYPE", "BITFIELD_RO", "l", "GET", "u8", 0)
}

func TestLcsRepliesTheSubsequenceItsLengthOrItsRuns(t *testing.T) {
	c := client(t)
	do(t, c, "MSET", "a", "ohmytext", "b", "mynewtext")
	want(t, c, "mytext", "LCS", "a", "b")
	want(t, c, int64(6), "LCS", "a", "b", "LEN")
	want(t, c, "[matches [[[4 7] [5 8]] [[2 3] [0 1]]] len 6]", "LCS", "a", "b", "IDX")
	want(t, c, "[matches [[[4 7] [5 8] 4] [[2 3] [0 1] 2]] len 6]", "LCS", "a", "b", "IDX", "WITHMATCHLEN")
	want(t, c, "[matches [[[4 7] [5 8] 4]] len 6]", "LCS", "a", "b", "IDX", "MINMATCHLEN", 3, "WITHMATCHLEN")
	want(t, c, "[matches [[[4 7] [5 8]] [[2 3] [0 1]]] len 6]", "LCS", "a", "b", "idx", "minmatchlen", -4)
	want(t, c, "", "LCS", "a", "nosuch")
	want(t, c, "[matches [] len 0]", "LCS", "nosuch", "nosuch2", "IDX")
	wantErr(t, c, "ERR If you want both the length and indexes, please just use IDX.", "LCS", "a", "b", "LEN", "IDX")
	wantErr(t, c, "ERR syntax error", "LCS", "a", "b", "MINMATCHLEN")
	wantErr(t, c, "ERR syntax error", "LCS", "a", "b", "BOGUS")
	wantErr(t, c, "ERR value is not an integer or out of range", "LCS", "a", "b", "MINMATCHLEN", "x")
	nonString(t, c, "l")
	wantErr(t, c, "ERR The specified keys must contain string values", "LCS", "a", "l")
	wantErr(t, c, "ERR The specified keys must contain string values", "LCS", "l", "nosuch", "BOGUS")
	// RESP3: IDX is a map.
	c3 := client3(t)
	do(t, c3, "MSET", "a", "ohmytext", "b", "mynewtext")
	if m, ok := do(t, c3, "LCS", "a", "b", "IDX").(map[any]any); !ok || m["len"] != int64(6) || len(m["matches"].([]any)) != 2 {
		t.Errorf("LCS IDX over RESP3 = %#v", m)
	}
}

func TestSubstrIsGetrange(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "s", "Hello World")
	want(t, c, "Hello", "SUBSTR", "s", 0, 4)
	want(t, c, "World", "SUBSTR", "s", -5, -1)
	want(t, c, "", "SUBSTR", "s", 5, 3)
	want(t, c, "", "SUBSTR", "nosuch", 0, -1)
	wantErr(t, c, "ERR value is not an integer or out of range", "SUBSTR", "s", "a", 1)
}

// go-redis's typed bitmap and LCS commands parse the replies, over RESP2
// and RESP3.
func TestGoRedisTypedBitmapAndLcsApi(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			c := clientProto(t, proto)
			if v, err := c.SetBit(ctx, "k", 7, 1).Result(); err != nil || v != 0 {
				t.Errorf("SetBit = %v, %v", v, err)
			}
			if v, err := c.GetBit(ctx, "k", 7).Result(); err != nil || v != 1 {
				t.Errorf("GetBit = %v, %v", v, err)
			}
			if v, err := c.BitCount(ctx, "k", &redis.BitCount{Start: 0, End: 6, Unit: redis.BitCountIndexBit}).Result(); err != nil || v != 0 {
				t.Errorf("BitCount BIT = %v, %v", v, err)
			}
			if v, err := c.BitPosSpan(ctx, "k", 1, 0, -1, "bit").Result(); err != nil || v != 7 {
				t.Errorf("BitPosSpan = %v, %v", v, err)
			}
			if v, err := c.BitOpNot(ctx, "n", "k").Result(); err != nil || v != 1 {
				t.Errorf("BitOpNot = %v, %v", v, err)
			}
			if v, err := c.BitField(ctx, "f", "SET", "u8", 0, 200, "OVERFLOW", "FAIL", "INCRBY", "u8", 0, 100).Result(); err != nil || fmt.Sprint(v) != "[0 0]" {
				// A null (FAIL) reads as 0 in an IntSliceCmd.
				t.Errorf("BitField = %v, %v", v, err)
			}
			if v, err := c.BitFieldRO(ctx, "f", "u8", 0).Result(); err != nil || fmt.Sprint(v) != "[200]" {
				t.Errorf("BitFieldRO = %v, %v", v, err)
			}
			c.MSet(ctx, "a", "ohmytext", "b", "mynewtext")
			if v, err := c.LCS(ctx, &redis.LCSQuery{Key1: "a", Key2: "b"}).Result(); err != nil || v.MatchString != "mytext" {
				t.Errorf("LCS = %+v, %v", v, err)
			}
			v, err := c.LCS(ctx, &redis.LCSQuery{Key1: "a", Key2: "b", Idx: true, WithMatchLen: true}).Result()
			if err != nil || v.Len != 6 || len(v.Matches) != 2 || v.Matches[0].Key1.Start != 4 || v.Matches[0].Key2.End != 8 || v.Matches[1].MatchLen != 2 {
				t.Errorf("LCS IDX = %+v, %v", v, err)
			}
		})
	}
}

// SETBIT and BITFIELD publish "setbit" (class $) only when something
// changed; BITOP publishes "set", or "del" when its empty result removed
// the destination.
func TestBitmapWritesPublishKeyspaceEvents(t *testing.T) {
	c := client(t)
	want(t, c, "OK", "CONFIG", "SET", "notify-keyspace-events", "E$g")
	defer do(t, c, "CONFIG", "SET", "notify-keyspace-events", "")
	r := dialRaw(t, shared.Addr())
	r.send("PSUBSCRIBE __keyevent@0__:*\r\n")
	r.value()
	do(t, c, "SETBIT", "k", 3, 1)
	do(t, c, "SETBIT", "k", 3, 1)                   // no change: no event
	do(t, c, "BITFIELD", "k", "SET", "u4", 0, 1)    // the bits already hold 1
	do(t, c, "BITFIELD", "k", "GET", "u8", 0)       // a read
	do(t, c, "BITFIELD", "k", "INCRBY", "u4", 0, 1) // a change
	do(t, c, "BITOP", "NOT", "d", "k")              // set
	do(t, c, "BITOP", "AND", "d", "nosuch")         // del
	do(t, c, "BITOP", "AND", "d", "nosuch")         // nothing to delete
	do(t, c, "SETBIT", "last", 0, 0)                // a new key counts as a change
	var got []string
	for i := 0; i < 5; i++ {
		m := r.value().([]any)
		got = append(got, fmt.Sprint(m[2], " ", m[3]))
	}
	w := []string{"__keyevent@0__:setbit k", "__keyevent@0__:setbit k", "__keyevent@0__:set d", "__keyevent@0__:del d", "__keyevent@0__:setbit last"}
	if fmt.Sprint(got) != fmt.Sprint(w) {
		t.Errorf("bitmap events:\n got  %v\n want %v", got, w)
	}
}

// BITOP's keys: the destination, then the sources.
func TestBitmapCommandKeys(t *testing.T) {
	c := client(t)
	want(t, c, []any{"d", "a", "b"}, "COMMAND", "GETKEYS", "BITOP", "AND", "d", "a", "b")
	want(t, c, []any{"a", "b"}, "COMMAND", "GETKEYS", "LCS", "a", "b", "IDX")
	want(t, c, []any{"k"}, "COMMAND", "GETKEYS", "BITFIELD", "k", "GET", "u8", 0)
}

// COMMAND INFO of the bitmap commands and LCS, key specs included, is
// exactly a real redis-server 7.0's; so are BITOP's per-key flags.
func TestBitmapCommandInfoWithKeySpecsMatchesRedis70(t *testing.T) {
	c := client(t)
	ref := referenceRedis(t)
	for _, n := range []string{"setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro", "lcs", "substr"} {
		mine, theirs := fmt.Sprint(do(t, c, "COMMAND", "INFO", n)), fmt.Sprint(do(t, ref, "COMMAND", "INFO", n))
		if mine != theirs {
			t.Errorf("COMMAND INFO %s\n ours:  %s\n redis: %s", n, mine, theirs)
		}
	}
	args := []any{"COMMAND", "GETKEYSANDFLAGS", "BITOP", "OR", "d", "a", "b"}
	if mine, theirs := fmt.Sprint(do(t, c, args...)), fmt.Sprint(do(t, ref, args...)); mine != theirs {
		t.Errorf("%v\n ours:  %s\n redis: %s", args, mine, theirs)
	}
}
