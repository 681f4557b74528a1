package commands

import (
	"bytes"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// The bitmap kernels are checked against references that work one bit at a
// time on a []byte of 0s and 1s, with Redis's documented semantics written
// out plainly (ranges as GETRANGE clamps them, BITFIELD in big.Int
// arithmetic). Random cases use fixed seeds; the Fuzz functions run their
// seed corpus in every `go test` and explore with -fuzz.

// toBits expands p into its bits, most significant bit of byte 0 first.
func toBits(p []byte) []byte {
	out := make([]byte, 0, len(p)*8)
	for _, c := range p {
		for k := 7; k >= 0; k-- {
			out = append(out, c>>k&1)
		}
	}
	return out
}

// refClamp is GETRANGE's inclusive range over n units: negative indexes
// count from the end, then both ends are clamped; ok false when empty.
func refClamp(start, end, n int64) (int64, int64, bool) {
	if start < 0 {
		start = n + start
	}
	if end < 0 {
		end = n + end
	}
	if start < 0 {
		start = 0
	}
	if end < 0 {
		end = 0
	}
	if end > n-1 {
		end = n - 1
	}
	return start, end, start <= end
}

// refBitcount is BITCOUNT key start end [BIT|BYTE] on an existing key.
func refBitcount(p []byte, start, end int64, isBit bool) int64 {
	if start < 0 && end < 0 && start > end {
		return 0
	}
	b := toBits(p)
	unit := int64(8)
	if isBit {
		unit = 1
	}
	s, e, ok := refClamp(start, end, int64(len(b))/unit)
	if !ok {
		return 0
	}
	var n int64
	for i := s * unit; i < (e+1)*unit; i++ {
		n += int64(b[i])
	}
	return n
}

// refBitpos is BITPOS key bit start [end [BIT|BYTE]] on an existing key;
// end < -1<<62 stands for "no end given".
func refBitpos(p []byte, bit byte, start, end int64, isBit bool) int64 {
	b := toBits(p)
	unit := int64(8)
	if isBit {
		unit = 1
	}
	n := int64(len(b)) / unit
	endGiven := end >= -1<<62
	if !endGiven {
		end = n - 1
	}
	s, e, ok := refClamp(start, end, n)
	if !ok {
		return -1
	}
	for i := s * unit; i < (e+1)*unit; i++ {
		if b[i] == bit {
			return i
		}
	}
	if bit == 0 && !endGiven {
		return (e + 1) * unit
	}
	return -1
}

// bitcountVia and bitposVia run the handlers' arithmetic on the kernels.
func bitcountVia(p []byte, start, end int64, isBit bool) int64 {
	if start < 0 && end < 0 && start > end {
		return 0
	}
	from, to, ok := bitRange(start, end, int64(len(p)), isBit)
	if !ok {
		return 0
	}
	return countBits(p, from, to)
}

func bitposVia(p []byte, bit byte, start, end int64, isBit bool) int64 {
	endGiven := end >= -1<<62
	if !endGiven {
		end = int64(len(p)) - 1
	}
	from, to, ok := bitRange(start, end, int64(len(p)), isBit)
	if !ok {
		return -1
	}
	pos := firstBit(p, from, to, int64(bit))
	if pos < 0 && bit == 0 && !endGiven {
		pos = to + 1
	}
	return pos
}

// randBitmap makes a string whose bytes are mostly 0x00 or 0xff, so that
// word-skipping paths are taken, with a few random bytes.
func randBitmap(rng *rand.Rand) []byte {
	p := make([]byte, rng.IntN(70))
	fill := byte(0)
	if rng.IntN(2) == 0 {
		fill = 0xff
	}
	for i := range p {
		p[i] = fill
		if rng.IntN(12) == 0 {
			p[i] = byte(rng.IntN(256))
		}
	}
	return p
}

func randIndex(rng *rand.Rand, n int64) int64 {
	switch rng.IntN(6) {
	case 0:
		return math.MinInt64 + rng.Int64N(3)
	case 1:
		return math.MaxInt64 - rng.Int64N(3)
	}
	return rng.Int64N(2*n+20) - n - 10
}

func checkBitcountBitpos(t *testing.T, p []byte, start, end int64, isBit bool, bit byte) {
	t.Helper()
	if end < -1<<62 {
		isBit = false // BIT needs an explicit end
	}
	if got, want := bitcountVia(p, start, end, isBit), refBitcount(p, start, end, isBit); got != want {
		t.Fatalf("BITCOUNT %x %d %d bit=%v: got %d, want %d", p, start, end, isBit, got, want)
	}
	if got, want := bitposVia(p, bit, start, end, isBit), refBitpos(p, bit, start, end, isBit); got != want {
		t.Fatalf("BITPOS %x %d %d %d bit=%v: got %d, want %d", p, bit, start, end, isBit, got, want)
	}
}

func TestBitcountBitposMatchBitByBitReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		p := randBitmap(rng)
		n := int64(len(p)) * 8
		start, end := randIndex(rng, n), randIndex(rng, n)
		if rng.IntN(4) == 0 {
			end = math.MinInt64 // BITPOS without an end
		}
		checkBitcountBitpos(t, p, start, end, rng.IntN(2) == 0, byte(rng.IntN(2)))
	}
	// Whole-string forms.
	for range 2000 {
		p := randBitmap(rng)
		if got, want := popcount(p), refBitcount(p, 0, -1, false); got != want {
			t.Fatalf("popcount %x = %d, want %d", p, got, want)
		}
	}
}

func FuzzBitcountBitpos(f *testing.F) {
	f.Add([]byte("foobar"), int64(1), int64(-2), false, byte(1))
	f.Add([]byte("\xff\xf0\x00"), int64(0), int64(-1), true, byte(0))
	f.Add([]byte("\x00\xff\x00"), int64(8), int64(8), true, byte(1))
	f.Add([]byte(""), int64(0), int64(math.MinInt64), false, byte(0))
	f.Add([]byte("\xff\xff\xff"), int64(0), int64(math.MinInt64), false, byte(0))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x0f"), int64(3), int64(-1), true, byte(0))
	f.Add([]byte("ab"), int64(math.MinInt64), int64(math.MaxInt64), true, byte(1))
	f.Fuzz(func(t *testing.T, p []byte, start, end int64, isBit bool, bit byte) {
		checkBitcountBitpos(t, p, start, end, isBit, bit&1)
	})
}

// refBitop computes BITOP bit by bit over zero-padded sources.
func refBitop(op int, srcs [][]byte) []byte {
	n := 0
	for _, s := range srcs {
		n = max(n, len(s))
	}
	res := make([]byte, n)
	for i := 0; i < n*8; i++ {
		v := bitAt(srcs[0], int64(i))
		for _, s := range srcs[1:] {
			switch op {
			case bitopAnd:
				v &= bitAt(s, int64(i))
			case bitopOr:
				v |= bitAt(s, int64(i))
			case bitopXor:
				v ^= bitAt(s, int64(i))
			}
		}
		if op == bitopNot {
			v ^= 1
		}
		setBit(res, int64(i), v)
	}
	return res
}

func TestBitopMatchesBitByBitReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		op := rng.IntN(4)
		srcs := [][]byte{randBitmap(rng)}
		if op != bitopNot {
			for k := rng.IntN(4); k > 0; k-- {
				srcs = append(srcs, randBitmap(rng))
			}
		}
		n := 0
		for _, s := range srcs {
			n = max(n, len(s))
		}
		if n == 0 {
			continue
		}
		if got, want := bitop(op, srcs, n), refBitop(op, srcs); !bytes.Equal(got, want) {
			t.Fatalf("BITOP %d %x: got %x, want %x", op, srcs, got, want)
		}
	}
}

// refField is one bitfield operation on a bit array, in big.Int arithmetic:
// it returns the reply (nil for an OVERFLOW FAIL) and writes the bits.
func refField(b []byte, op bitfieldOp) *big.Int {
	w := op.bits
	lo, hi := big.NewInt(0), new(big.Int).Lsh(big.NewInt(1), uint(w))
	if op.signed {
		lo.Neg(new(big.Int).Lsh(big.NewInt(1), uint(w-1)))
		hi.Lsh(big.NewInt(1), uint(w-1))
	}
	hi.Sub(hi, big.NewInt(1)) // the field holds lo..hi
	old := big.NewInt(0)
	for j := 0; j < w; j++ {
		old.Lsh(old, 1)
		if int(op.offset)+j < len(b) && b[int(op.offset)+j] == 1 {
			old.Or(old, big.NewInt(1))
		}
	}
	if op.signed && old.Cmp(hi) > 0 {
		old.Sub(old, new(big.Int).Lsh(big.NewInt(1), uint(w)))
	}
	if op.kind == fieldGet {
		return old
	}
	v := big.NewInt(op.value)
	if !op.signed && op.kind == fieldSet {
		v.SetUint64(uint64(op.value)) // SET's value is read as a uint64
	}
	if op.kind == fieldIncrby {
		v.Add(old, v)
	}
	if v.Cmp(lo) < 0 || v.Cmp(hi) > 0 {
		switch op.overflow {
		case overflowFail:
			return nil
		case overflowSat:
			if v.Cmp(lo) < 0 {
				v.Set(lo)
			} else {
				v.Set(hi)
			}
		case overflowWrap:
			m := new(big.Int).Lsh(big.NewInt(1), uint(w))
			v.Sub(v, lo).Mod(v, m).Add(v, lo)
		}
	}
	u := new(big.Int).Set(v)
	if u.Sign() < 0 {
		u.Add(u, new(big.Int).Lsh(big.NewInt(1), uint(w)))
	}
	for j := w - 1; j >= 0; j-- {
		b[int(op.offset)+j] = byte(u.Bit(w - 1 - j))
	}
	if op.kind == fieldSet {
		return old
	}
	return v
}

// runField runs op on p as BITFIELD does, growing p for a write.
func runField(p []byte, op bitfieldOp) ([]byte, *big.Int) {
	if op.kind == fieldGet {
		return p, big.NewInt(op.get(p))
	}
	if need := int(op.offset+int64(op.bits)-1)>>3 + 1; len(p) < need {
		p = append(p, make([]byte, need-len(p))...)
	}
	reply, ok, _ := op.apply(p)
	if !ok {
		return p, nil
	}
	if !op.signed {
		return p, new(big.Int).SetUint64(uint64(reply))
	}
	return p, big.NewInt(reply)
}

// quirkySet reports a SET that Redis's overflow check, in 64-bit
// wrap-around arithmetic, sees as overflowing upward though the value is
// below the minimum: a value so negative that max-value wraps.
func quirkySet(op bitfieldOp) bool {
	return op.signed && op.bits < 64 && op.kind == fieldSet &&
		op.value < math.MinInt64+(int64(1)<<(op.bits-1))
}

func randValue(rng *rand.Rand, width int) int64 {
	switch rng.IntN(5) {
	case 0:
		return rng.Int64()
	case 1:
		return -rng.Int64()
	case 2:
		return int64(rng.IntN(5)) - 2
	}
	// Near the field's limits.
	lim := int64(1)<<(min(width, 63)-1) - 1
	return lim + rng.Int64N(5) - 2 - 2*lim*int64(rng.IntN(2))
}

func checkFields(t *testing.T, ops []bitfieldOp) {
	t.Helper()
	var p []byte
	ref := make([]byte, 0)
	for i, op := range ops {
		if quirkySet(op) {
			continue
		}
		if need := int(op.offset) + op.bits; op.kind != fieldGet && len(ref) < need {
			ref = append(ref, make([]byte, need-len(ref))...)
		}
		var got *big.Int
		p, got = runField(p, op)
		want := refField(ref, op)
		if (got == nil) != (want == nil) || (got != nil && got.Cmp(want) != 0) {
			t.Fatalf("op %d %+v: got %v, want %v", i, op, got, want)
		}
		if bb := toBits(p); !bytes.Equal(bb[:min(len(bb), len(ref))], ref[:min(len(bb), len(ref))]) {
			t.Fatalf("op %d %+v: bits differ\n got %v\nwant %v", i, op, bb, ref)
		}
	}
}

func randFieldOp(rng *rand.Rand) bitfieldOp {
	op := bitfieldOp{kind: rng.IntN(3), signed: rng.IntN(2) == 0, overflow: rng.IntN(3)}
	if op.signed {
		op.bits = 1 + rng.IntN(64)
	} else {
		op.bits = 1 + rng.IntN(63)
	}
	op.offset = rng.Int64N(80)
	op.value = randValue(rng, op.bits)
	return op
}

func TestBitfieldMatchesBigIntReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 3000 {
		ops := make([]bitfieldOp, 1+rng.IntN(8))
		for i := range ops {
			ops[i] = randFieldOp(rng)
		}
		checkFields(t, ops)
	}
}

func FuzzBitfield(f *testing.F) {
	f.Add(true, uint8(8), int64(0), int64(-100), int64(101), uint8(0))
	f.Add(false, uint8(8), int64(0), int64(100), int64(257), uint8(1))
	f.Add(true, uint8(64), int64(3), int64(math.MaxInt64), int64(1), uint8(2))
	f.Add(true, uint8(64), int64(3), int64(-5), int64(math.MinInt64), uint8(1))
	f.Add(false, uint8(63), int64(1), int64(-1), int64(-1), uint8(0))
	f.Add(true, uint8(1), int64(7), int64(1), int64(1), uint8(1))
	f.Fuzz(func(t *testing.T, signed bool, width uint8, off, v, inc int64, mode uint8) {
		w := 1 + int(width)%64
		if !signed && w == 64 {
			w = 63
		}
		off = off & 127
		base := bitfieldOp{signed: signed, bits: w, offset: off, overflow: int(mode % 3)}
		set, incr, get := base, base, base
		set.kind, set.value = fieldSet, v
		incr.kind, incr.value = fieldIncrby, inc
		get.kind = fieldGet
		checkFields(t, []bitfieldOp{set, incr, get})
	})
}

func TestBitfieldOverflowQuirksAsRedis(t *testing.T) {
	// Replies seen from redis-server 7.0.15.
	cases := []struct {
		op   bitfieldOp
		want int64 // the stored value, read back
	}{
		// A SET of math.MinInt64 into i8 under SAT saturates at the maximum.
		{bitfieldOp{kind: fieldSet, signed: true, bits: 8, value: math.MinInt64, overflow: overflowSat}, 127},
		// A negative SET into an unsigned field overflows upward.
		{bitfieldOp{kind: fieldSet, bits: 8, value: -1, overflow: overflowSat}, 255},
		{bitfieldOp{kind: fieldSet, signed: true, bits: 8, value: -200, overflow: overflowSat}, -128},
	}
	for _, c := range cases {
		p := make([]byte, 1)
		if _, ok, _ := c.op.apply(p); !ok {
			t.Fatalf("%+v refused", c.op)
		}
		get := c.op
		get.kind = fieldGet
		if got := get.get(p); got != c.want {
			t.Errorf("%+v stored %d, want %d", c.op, got, c.want)
		}
	}
}

func TestBitfieldTypeArg(t *testing.T) {
	for _, ok := range []string{"i1", "i64", "u1", "u63", "i8", "u16"} {
		if _, _, err := bitfieldTypeArg([]byte(ok)); err != nil {
			t.Errorf("%s refused", ok)
		}
	}
	for _, bad := range []string{"", "i", "u", "u64", "i65", "i0", "u0", "I8", "x8", "i-1", "i+8", "i08", "i 8"} {
		if _, _, err := bitfieldTypeArg([]byte(bad)); err != errBitfieldType {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

// refLCSLen is the LCS length by the textbook recursion, memoised.
func refLCSLen(a, b []byte) int {
	memo := map[[2]int]int{}
	var f func(i, j int) int
	f = func(i, j int) int {
		if i == len(a) || j == len(b) {
			return 0
		}
		if v, ok := memo[[2]int{i, j}]; ok {
			return v
		}
		v := max(f(i+1, j), f(i, j+1))
		if a[i] == b[j] {
			v = max(v, 1+f(i+1, j+1))
		}
		memo[[2]int{i, j}] = v
		return v
	}
	return f(0, 0)
}

func TestLCSIsALongestCommonSubsequenceWithConsistentRuns(t *testing.T) {
	seq, runs := longestCommonSubsequence([]byte("ohmytext"), []byte("mynewtext"))
	if string(seq) != "mytext" || len(runs) != 2 || runs[0] != (lcsRun{4, 7, 5, 8}) || runs[1] != (lcsRun{2, 3, 0, 1}) {
		t.Fatalf("LCS ohmytext mynewtext = %q %v", seq, runs)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 2000 {
		a, b := make([]byte, rng.IntN(14)), make([]byte, rng.IntN(14))
		for i := range a {
			a[i] = 'a' + byte(rng.IntN(3))
		}
		for i := range b {
			b[i] = 'a' + byte(rng.IntN(3))
		}
		seq, runs := longestCommonSubsequence(a, b)
		if want := refLCSLen(a, b); len(seq) != want {
			t.Fatalf("LCS %q %q = %q, want length %d", a, b, seq, want)
		}
		// The runs, last first, spell the subsequence and match in both.
		var spelled []byte
		prevA, prevB := len(a), len(b)
		for _, r := range runs {
			if r.aEnd >= prevA || r.bEnd >= prevB || r.aEnd-r.aStart != r.bEnd-r.bStart {
				t.Fatalf("LCS %q %q: bad run %v in %v", a, b, r, runs)
			}
			if !bytes.Equal(a[r.aStart:r.aEnd+1], b[r.bStart:r.bEnd+1]) {
				t.Fatalf("LCS %q %q: run %v differs", a, b, r)
			}
			spelled = append(append([]byte(nil), a[r.aStart:r.aEnd+1]...), spelled...)
			prevA, prevB = r.aStart, r.bStart
		}
		if !bytes.Equal(spelled, seq) {
			t.Fatalf("LCS %q %q: runs %v spell %q, not %q", a, b, runs, spelled, seq)
		}
	}
}
