package commands

import (
	"encoding/binary"
	"math"
	"math/bits"

	"reddwarf/server"
)

// Bitmap commands, Redis's bitops.c: a string is an array of bits, the most
// significant bit of byte 0 first, so bit i is (s[i>>3] >> (7 - i&7)) & 1.
// Reads see the bits past the end as 0; writes grow the string with zero
// bytes, never past proto-max-bulk-len, which bitOffsetArg checks before
// anything is allocated.

// bm files a command under Redis's @bitmap ACL category.
var bm = []string{"@bitmap"}

var bitmapCommands = []*server.Spec{
	{Name: "setbit", Arity: 4, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "bitmap", Since: "2.2.0", Complexity: "O(1)", Args: "key offset value:integer", Summary: "Sets or clears the bit at offset in the string value stored at key", ACL: bm, Handler: setbitCommand},
	{Name: "getbit", Arity: 3, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "bitmap", Since: "2.2.0", Complexity: "O(1)", Args: "key offset", Summary: "Returns the bit value at offset in the string value stored at key", ACL: bm, Handler: getbitCommand},
	{Name: "bitcount", Arity: -2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "bitmap", Since: "2.6.0", Complexity: "O(N)", Args: "key [index: start end [index_unit: BYTE | BIT]@7.0.0]", Summary: "Count set bits in a string", History: [][2]string{{"7.0.0", "Added the `BYTE|BIT` option."}}, ACL: bm, Handler: bitcountCommand},
	{Name: "bitpos", Arity: -3, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "bitmap", Since: "2.8.7", Complexity: "O(N)", Args: "key bit:integer [index: start [end_index: end [index_unit: BYTE | BIT]@7.0.0]]", Summary: "Find first bit set or clear in a string", History: [][2]string{{"7.0.0", "Added the `BYTE|BIT` option."}}, ACL: bm, Handler: bitposCommand},
	{Name: "bitop", Arity: -4, Flags: w | dm, FirstKey: 2, LastKey: -1, Step: 1, KeySpecs: bitopKeySpecs, Group: "bitmap", Since: "2.6.0", Complexity: "O(N)", Args: "operation destkey key [key ...]", Summary: "Perform bitwise operations between strings", ACL: bm, Handler: bitopCommand},
	{Name: "bitfield", Arity: -2, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "UPDATE", "VARIABLE_FLAGS"}, Notes: "This command allows both access and modification of the key"}}, KeyFlags: bitfieldKeyFlags, Group: "bitmap", Since: "3.2.0", Complexity: "O(1) for each subcommand specified", Args: "key [GET encoding offset] [OVERFLOW WRAP | SAT | FAIL] [SET encoding offset value] [INCRBY encoding offset increment]", Summary: "Perform arbitrary bitfield integer operations on strings", ACL: bm, Handler: bitfieldCommand},
	{Name: "bitfield_ro", Arity: -2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "bitmap", Since: "6.0.0", Complexity: "O(1) for each subcommand specified", Args: "key [GET encoding offset [GET encoding offset ...]]", Summary: "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD", ACL: bm, Handler: bitfieldroCommand},
}

// bitopKeySpecs: BITOP overwrites its destination and reads its sources.
var bitopKeySpecs = []server.KeySpec{
	{Flags: []string{"OW", "UPDATE"}, Begin: 2, LastKey: 0},
	{Flags: []string{"RO", "ACCESS"}, Begin: 3, LastKey: -1},
}

// Errors of the bitmap commands, with Redis 7.0's text.
var (
	errBitOffset    = server.Errorf("bit offset is not an integer or out of range")
	errBitValue     = server.Errorf("bit is not an integer or out of range")
	errBitArg       = server.Errorf("The bit argument must be 1 or 0.")
	errBitopNot     = server.Errorf("BITOP NOT must be called with a single source key.")
	errBitfieldType = server.Errorf("Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
	errOverflowType = server.Errorf("Invalid OVERFLOW type specified")
	errBitfieldRO   = server.Errorf("BITFIELD_RO only supports the GET subcommand")
)

// bitOffsetArg parses a bit offset. With bits > 0 (BITFIELD), "#n" means
// the n-th field of that width, bit n*bits. The offset's byte must lie below
// proto-max-bulk-len: that bounds what a write may allocate.
func bitOffsetArg(x *server.Ctx, arg []byte, bits int) (int64, error) {
	hash := bits > 0 && len(arg) > 0 && arg[0] == '#'
	if hash {
		arg = arg[1:]
	}
	n, ok := server.ParseInt(arg)
	if !ok {
		return 0, errBitOffset
	}
	if hash {
		if n > math.MaxInt64/int64(bits) || n < math.MinInt64/int64(bits) {
			return 0, errBitOffset
		}
		n *= int64(bits)
	}
	if n < 0 || n>>3 >= x.S.Config.ProtoMaxBulkLen {
		return 0, errBitOffset
	}
	return n, nil
}

// stringForBitWrite returns key's string grown to hold bit maxbit, creating
// it (zero-filled) when missing. grown reports that the key was created or
// lengthened, which counts as a change even when no bit flips. As Redis
// (dbUnshareStringValue), the value is "raw" from then on.
func stringForBitWrite(x *server.Ctx, key string, maxbit int64) (o *server.Object, grown bool, err error) {
	o = x.DB.LookupWrite(key)
	if o != nil && o.Type != server.TypeString {
		return nil, false, server.ErrWrongType
	}
	need := int(maxbit>>3) + 1
	switch {
	case o == nil:
		o = server.NewString(make([]byte, need))
		x.DB.Set(key, o, true)
		grown = true
	case len(o.Str) < need:
		o.Str = append(o.Str, make([]byte, need-len(o.Str))...)
		grown = true
	}
	o.SetRaw()
	return o, grown, nil
}

// bitAt returns bit i of p, 0 past the end.
func bitAt(p []byte, i int64) uint64 {
	if i>>3 >= int64(len(p)) {
		return 0
	}
	return uint64(p[i>>3]>>(7-i&7)) & 1
}

// setBit sets bit i of p (inside p) to v (0 or 1).
func setBit(p []byte, i int64, v uint64) {
	mask := byte(1) << (7 - i&7)
	if v != 0 {
		p[i>>3] |= mask
	} else {
		p[i>>3] &^= mask
	}
}

// SETBIT key offset value
func setbitCommand(x *server.Ctx) {
	off, err := bitOffsetArg(x, x.Args[2], 0)
	if err != nil {
		x.Error(err)
		return
	}
	on, ok := server.ParseInt(x.Args[3])
	if !ok || on&^1 != 0 {
		x.Error(errBitValue)
		return
	}
	key := x.Arg(1)
	o, grown, err := stringForBitWrite(x, key, off)
	if err != nil {
		x.Error(err)
		return
	}
	old := bitAt(o.Str, off)
	if grown || old != uint64(on) {
		setBit(o.Str, off, uint64(on))
		x.Modified(key)
		x.Notify("setbit", key)
	}
	x.R.Int(int64(old))
}

// GETBIT key offset
func getbitCommand(x *server.Ctx) {
	off, err := bitOffsetArg(x, x.Args[2], 0)
	if err != nil {
		x.Error(err)
		return
	}
	o, err := lookupString(x, x.Arg(1))
	switch {
	case err != nil:
		x.Error(err)
	case o == nil:
		x.R.Int(0)
	default:
		x.R.Int(int64(bitAt(o.Str, off)))
	}
}

// unitArg parses BITCOUNT's and BITPOS's BYTE | BIT: true for BIT.
func unitArg(a []byte) (bool, error) {
	switch {
	case is(a, "BIT"):
		return true, nil
	case is(a, "BYTE"):
		return false, nil
	}
	return false, server.ErrSyntax
}

// bitRange turns a BITCOUNT/BITPOS start and end (inclusive, negative
// counting from the end, in bytes or with isBit in bits) over a string of n
// bytes into the inclusive bit range [from, to] inside it; ok is false when
// the range is empty. Out-of-range ends are clamped, as GETRANGE does.
func bitRange(start, end, n int64, isBit bool) (from, to int64, ok bool) {
	total := n
	if isBit {
		total = n << 3
	}
	if start < 0 {
		start += total
	}
	if end < 0 {
		end += total
	}
	start = max(start, 0)
	end = max(end, 0)
	end = min(end, total-1)
	if start > end {
		return 0, 0, false
	}
	if isBit {
		return start, end, true
	}
	return start << 3, end<<3 + 7, true
}

// BITCOUNT key [start end [BYTE | BIT]]
//
// As Redis, a missing key counts 0 before the range is even parsed, and two
// negative ends in the wrong order count 0 before the unit is.
func bitcountCommand(x *server.Ctx) {
	o, err := lookupString(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if o == nil {
		x.R.Int(0)
		return
	}
	n := int64(len(o.Str))
	from, to, ok := int64(0), n<<3-1, n > 0
	switch len(x.Args) {
	case 2:
	case 4, 5:
		start, err := intArg(x, 2)
		if err != nil {
			x.Error(err)
			return
		}
		end, err := intArg(x, 3)
		if err != nil {
			x.Error(err)
			return
		}
		if start < 0 && end < 0 && start > end {
			x.R.Int(0)
			return
		}
		isBit := false
		if len(x.Args) == 5 {
			if isBit, err = unitArg(x.Args[4]); err != nil {
				x.Error(err)
				return
			}
		}
		from, to, ok = bitRange(start, end, n, isBit)
	default:
		x.Error(server.ErrSyntax)
		return
	}
	if !ok {
		x.R.Int(0)
		return
	}
	x.R.Int(countBits(o.Str, from, to))
}

// BITPOS key bit [start [end [BYTE | BIT]]]
//
// A missing key is an endless run of zeros: 0 for bit 0, -1 for bit 1.
// Without an explicit end, a string of ones is taken as zero-padded on the
// right, so looking for a 0 finds the first bit past the range.
func bitposCommand(x *server.Ctx) {
	bit, err := intArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	if bit != 0 && bit != 1 {
		x.Error(errBitArg)
		return
	}
	o, err := lookupString(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if o == nil {
		x.R.Int(-bit)
		return
	}
	n := int64(len(o.Str))
	from, to, ok := int64(0), n<<3-1, n > 0
	endGiven := false
	switch len(x.Args) {
	case 3:
	case 4, 5, 6:
		start, err := intArg(x, 3)
		if err != nil {
			x.Error(err)
			return
		}
		isBit := false
		if len(x.Args) == 6 {
			if isBit, err = unitArg(x.Args[5]); err != nil {
				x.Error(err)
				return
			}
		}
		end := n - 1
		if len(x.Args) >= 5 {
			if end, err = intArg(x, 4); err != nil {
				x.Error(err)
				return
			}
			endGiven = true
		}
		from, to, ok = bitRange(start, end, n, isBit)
	default:
		x.Error(server.ErrSyntax)
		return
	}
	if !ok {
		x.R.Int(-1)
		return
	}
	pos := firstBit(o.Str, from, to, bit)
	if pos < 0 && bit == 0 && !endGiven {
		pos = to + 1
	}
	x.R.Int(pos)
}

// popcount counts the 1 bits of p.
func popcount(p []byte) int64 {
	n := 0
	for ; len(p) >= 8; p = p[8:] {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(p))
	}
	for _, c := range p {
		n += bits.OnesCount8(c)
	}
	return int64(n)
}

// countBits counts the 1 bits of p in the bit range [from, to] (inclusive,
// inside p).
func countBits(p []byte, from, to int64) int64 {
	fb, lb := from>>3, to>>3
	n := popcount(p[fb : lb+1])
	// Take off the edge bytes' bits outside the range: the from&7 high
	// bits of the first, the 7-to&7 low bits of the last.
	n -= int64(bits.OnesCount8(p[fb] >> (8 - from&7)))
	n -= int64(bits.OnesCount8(p[lb] & (0xff >> (to&7 + 1))))
	return n
}

// firstBit returns the position of the first bit equal to bit (0 or 1) in
// p's bit range [from, to] (inclusive, inside p), or -1 if there is none.
func firstBit(p []byte, from, to, bit int64) int64 {
	fb, lb := from>>3, to>>3
	skip := uint64(0) // a word with no bit of interest
	if bit == 0 {
		skip = math.MaxUint64
	}
	for i := fb; i <= lb; i++ {
		// Whole words strictly inside the range are skipped in one step.
		if i > fb && i+8 <= lb && binary.LittleEndian.Uint64(p[i:]) == skip {
			i += 7
			continue
		}
		v := p[i]
		if bit == 0 {
			v = ^v
		}
		if i == fb {
			v &= 0xff >> (from & 7)
		}
		if i == lb {
			v &^= 0xff >> (to&7 + 1)
		}
		if v != 0 {
			return i<<3 + int64(bits.LeadingZeros8(v))
		}
	}
	return -1
}

// The bitwise operations of BITOP.
const (
	bitopAnd = iota
	bitopOr
	bitopXor
	bitopNot
)

// BITOP AND | OR | XOR | NOT destkey key [key ...]
//
// Missing sources are empty strings and shorter ones are zero-padded to the
// longest. An empty result deletes destkey. The reply is the result's length.
func bitopCommand(x *server.Ctx) {
	var op int
	switch a := x.Args[1]; {
	case is(a, "AND"):
		op = bitopAnd
	case is(a, "OR"):
		op = bitopOr
	case is(a, "XOR"):
		op = bitopXor
	case is(a, "NOT"):
		op = bitopNot
	default:
		x.Error(server.ErrSyntax)
		return
	}
	if op == bitopNot && len(x.Args) != 4 {
		x.Error(errBitopNot)
		return
	}
	srcs := make([][]byte, 0, len(x.Args)-3)
	maxLen := 0
	for _, k := range x.Args[3:] {
		o, err := lookupString(x, string(k))
		if err != nil {
			x.Error(err)
			return
		}
		var s []byte
		if o != nil {
			s = o.Str
		}
		srcs = append(srcs, s)
		maxLen = max(maxLen, len(s))
	}
	dest := x.Arg(2)
	if maxLen == 0 {
		if x.DB.Delete(dest) {
			x.Modified(dest)
			x.Notify("del", dest)
		}
		x.R.Int(0)
		return
	}
	res := bitop(op, srcs, maxLen)
	o := server.NewString(res)
	o.SetRaw()
	x.DB.Set(dest, o, false)
	x.Modified(dest)
	x.Notify("set", dest)
	x.R.Int(int64(maxLen))
}

// bitop computes op over srcs, each zero-padded to n bytes, into a new
// string of n bytes.
func bitop(op int, srcs [][]byte, n int) []byte {
	res := make([]byte, n)
	copy(res, srcs[0])
	if op == bitopNot {
		for i := range res {
			res[i] = ^res[i]
		}
		return res
	}
	for _, s := range srcs[1:] {
		switch op {
		case bitopAnd:
			for i, c := range s {
				res[i] &= c
			}
			clear(res[len(s):])
		case bitopOr:
			for i, c := range s {
				res[i] |= c
			}
		case bitopXor:
			for i, c := range s {
				res[i] ^= c
			}
		}
	}
	return res
}

// BITFIELD's overflow behaviours.
const (
	overflowWrap = iota // wrap around, modulo 2^bits (two's complement for signed)
	overflowSat         // saturate at the type's minimum or maximum
	overflowFail        // refuse the write and reply null
)

// BITFIELD's operations.
const (
	fieldGet = iota
	fieldSet
	fieldIncrby
)

// bitfieldOp is one parsed GET, SET or INCRBY of BITFIELD.
type bitfieldOp struct {
	kind     int   // fieldGet, fieldSet, fieldIncrby
	offset   int64 // first bit of the field
	bits     int   // width: 1..64 signed, 1..63 unsigned
	signed   bool
	value    int64 // SET's value or INCRBY's increment
	overflow int   // the OVERFLOW in force when the op was given
}

// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment] [OVERFLOW WRAP|SAT|FAIL] ...
func bitfieldCommand(x *server.Ctx) { bitfieldGeneric(x, false) }

// BITFIELD_RO key [GET type offset ...]
func bitfieldroCommand(x *server.Ctx) { bitfieldGeneric(x, true) }

// bitfieldKeyFlags is BITFIELD's key access for COMMAND GETKEYSANDFLAGS:
// RO ACCESS when the line is only complete GET and OVERFLOW operations
// (none at all included), RW ACCESS UPDATE as soon as an operation writes
// or is cut short or unknown, as Redis decides without parsing types or
// offsets.
func bitfieldKeyFlags(args [][]byte, _ int) []string {
	for i := 2; i < len(args); i++ {
		rest := len(args) - i - 1 // arguments after the operation's name
		switch {
		case is(args[i], "GET") && rest >= 2:
			i += 2
		case is(args[i], "OVERFLOW") && rest >= 1:
			i++
		default:
			return []string{"RW", "ACCESS", "UPDATE"}
		}
	}
	return []string{"RO", "ACCESS"}
}

// bitfieldGeneric parses every operation, then runs them in order on one
// string. With readOnly (BITFIELD_RO) only GET is allowed. A write grows the
// string to its farthest field first; the key counts as changed once per
// operation that changed a value (or every one, if the string grew), as
// Redis's dirty counter does.
func bitfieldGeneric(x *server.Ctx, readOnly bool) {
	ops, highest, err := parseBitfield(x)
	if err != nil {
		x.Error(err)
		return
	}
	key := x.Arg(1)
	var p []byte
	grown := false
	if highest < 0 {
		o, err := lookupString(x, key)
		if err != nil {
			x.Error(err)
			return
		}
		if o != nil {
			p = o.Str
		}
	} else {
		if readOnly {
			x.Error(errBitfieldRO)
			return
		}
		o, g, err := stringForBitWrite(x, key, highest)
		if err != nil {
			x.Error(err)
			return
		}
		p, grown = o.Str, g
	}
	changes := 0
	x.R.Array(len(ops))
	for i := range ops {
		op := &ops[i]
		if op.kind == fieldGet {
			x.R.Int(op.get(p))
			continue
		}
		reply, ok, changed := op.apply(p)
		if !ok {
			x.R.Null()
			continue
		}
		x.R.Int(reply)
		if grown || changed {
			changes++
		}
	}
	if changes > 0 {
		x.Modified(key) // counts one change
		x.S.Dirty += int64(changes - 1)
		x.Notify("setbit", key)
	}
}

// parseBitfield reads BITFIELD's operations from args[2:]. highest is the
// last bit a SET or INCRBY touches, -1 when there are only GETs.
func parseBitfield(x *server.Ctx) (ops []bitfieldOp, highest int64, err error) {
	highest = -1
	overflow := overflowWrap
	for j := 2; j < len(x.Args); j++ {
		rest := len(x.Args) - j - 1
		a := x.Args[j]
		op := bitfieldOp{overflow: overflow}
		switch {
		case is(a, "GET") && rest >= 2:
			op.kind = fieldGet
		case is(a, "SET") && rest >= 3:
			op.kind = fieldSet
		case is(a, "INCRBY") && rest >= 3:
			op.kind = fieldIncrby
		case is(a, "OVERFLOW") && rest >= 1:
			j++
			switch t := x.Args[j]; {
			case is(t, "WRAP"):
				overflow = overflowWrap
			case is(t, "SAT"):
				overflow = overflowSat
			case is(t, "FAIL"):
				overflow = overflowFail
			default:
				return nil, 0, errOverflowType
			}
			continue
		default:
			return nil, 0, server.ErrSyntax
		}
		if op.signed, op.bits, err = bitfieldTypeArg(x.Args[j+1]); err != nil {
			return nil, 0, err
		}
		if op.offset, err = bitOffsetArg(x, x.Args[j+2], op.bits); err != nil {
			return nil, 0, err
		}
		j += 2
		if op.kind != fieldGet {
			highest = max(highest, op.offset+int64(op.bits)-1)
			j++
			var ok bool
			if op.value, ok = server.ParseInt(x.Args[j]); !ok {
				return nil, 0, server.ErrNotInteger
			}
		}
		ops = append(ops, op)
	}
	return ops, highest, nil
}

// bitfieldTypeArg parses a field type: i1..i64 or u1..u63.
func bitfieldTypeArg(a []byte) (signed bool, width int, err error) {
	if len(a) == 0 || (a[0] != 'i' && a[0] != 'u') {
		return false, 0, errBitfieldType
	}
	signed = a[0] == 'i'
	n, ok := server.ParseInt(a[1:])
	if !ok || n < 1 || (signed && n > 64) || (!signed && n > 63) {
		return false, 0, errBitfieldType
	}
	return signed, int(n), nil
}

// getField reads width bits at bit offset off as a big-endian unsigned
// number; bits past the end of p read as 0.
func getField(p []byte, off int64, width int) uint64 {
	var v uint64
	for j := int64(0); j < int64(width); j++ {
		v = v<<1 | bitAt(p, off+j)
	}
	return v
}

// setField writes v's low width bits at bit offset off (inside p).
func setField(p []byte, off int64, width int, v uint64) {
	for j := 0; j < width; j++ {
		setBit(p, off+int64(j), v>>(width-1-j)&1)
	}
}

// signExtend reads v's low width bits as a two's complement number.
func signExtend(v uint64, width int) int64 {
	if width < 64 && v>>(width-1)&1 == 1 {
		v |= math.MaxUint64 << width
	}
	return int64(v)
}

// get is a GET's reply.
func (op *bitfieldOp) get(p []byte) int64 {
	v := getField(p, op.offset, op.bits)
	if op.signed {
		return signExtend(v, op.bits)
	}
	return int64(v)
}

// apply runs a SET or INCRBY on p, which already holds the field. It
// returns the reply (SET: the old value, INCRBY: the new one), ok false when
// OVERFLOW FAIL refused the write (p unchanged), and whether the field's
// value changed.
func (op *bitfieldOp) apply(p []byte) (reply int64, ok, changed bool) {
	raw := getField(p, op.offset, op.bits)
	var stored uint64
	if op.signed {
		old := signExtend(raw, op.bits)
		v, inc := op.value, int64(0)
		if op.kind == fieldIncrby {
			v, inc = old, op.value
		}
		over, limit := signedOverflow(v, inc, op.bits, op.overflow)
		if over && op.overflow == overflowFail {
			return 0, false, false
		}
		nv := v + inc
		if over {
			nv = limit
		}
		reply, changed, stored = old, old != nv, uint64(nv)
		if op.kind == fieldIncrby {
			reply = nv
		}
	} else {
		v, inc := uint64(op.value), int64(0)
		if op.kind == fieldIncrby {
			v, inc = raw, op.value
		}
		over, limit := unsignedOverflow(v, inc, op.bits, op.overflow)
		if over && op.overflow == overflowFail {
			return 0, false, false
		}
		nv := v + uint64(inc)
		if over {
			nv = limit
		}
		reply, changed, stored = int64(raw), raw != nv, nv
		if op.kind == fieldIncrby {
			reply = int64(nv)
		}
	}
	setField(p, op.offset, op.bits, stored)
	return reply, true, changed
}

// unsignedOverflow reports whether value+incr leaves the range of a width
// bit unsigned field (value itself may be outside it: SET's argument, read
// as uint64), and the result WRAP or SAT gives then. As Redis, a SET of a
// negative number is an overflow upward (it reads as a huge uint64), so SAT
// stores the maximum.
func unsignedOverflow(value uint64, incr int64, width, mode int) (bool, uint64) {
	maxv := uint64(1)<<width - 1
	maxIncr := int64(maxv - value)
	minIncr := -int64(value)
	wrapped := (value + uint64(incr)) & maxv
	switch {
	case value > maxv || (incr > 0 && incr > maxIncr):
		if mode == overflowSat {
			return true, maxv
		}
		return true, wrapped
	case incr < 0 && incr < minIncr:
		if mode == overflowSat {
			return true, 0
		}
		return true, wrapped
	}
	return false, 0
}

// signedOverflow is unsignedOverflow for a width bit two's complement
// field. The differences are computed with 64-bit wrap-around exactly as
// Redis's C does, so the same out-of-range SET values saturate the same way
// (a SET of math.MinInt64 into i8 saturates at 127, as in Redis).
func signedOverflow(value, incr int64, width, mode int) (bool, int64) {
	maxv := int64(math.MaxInt64)
	if width < 64 {
		maxv = int64(1)<<(width-1) - 1
	}
	minv := -maxv - 1
	maxIncr := int64(uint64(maxv) - uint64(value))
	minIncr := minv - value
	switch {
	case value > maxv || (width != 64 && incr > maxIncr) || (value >= 0 && incr > 0 && incr > maxIncr):
		if mode == overflowSat {
			return true, maxv
		}
		return true, signedWrap(value, incr, width)
	case value < minv || (width != 64 && incr < minIncr) || (value < 0 && incr < 0 && incr < minIncr):
		if mode == overflowSat {
			return true, minv
		}
		return true, signedWrap(value, incr, width)
	}
	return false, 0
}

// signedWrap is value+incr modulo 2^width, as a two's complement number.
func signedWrap(value, incr int64, width int) int64 {
	return signExtend((uint64(value)+uint64(incr))&(math.MaxUint64>>(64-width)), width)
}
