package commands

import (
	"math"
	"math/big"
	"strconv"

	"reddwarf/server"
)

var hashCommands = []*server.Spec{
	{Name: "hset", Arity: -4, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "hash", Since: "2.0.0", Complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.", Args: "key field value [field value ...]", Summary: "Set the string value of a hash field", History: [][2]string{{"4.0.0", "Accepts multiple `field` and `value` arguments."}}, Handler: hsetCommand},
	{Name: "hsetnx", Arity: 4, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "INSERT"), Group: "hash", Since: "2.0.0", Complexity: "O(1)", Args: "key field value", Summary: "Set the value of a hash field, only if the field does not exist", Handler: hsetnxCommand},
	{Name: "hget", Arity: 3, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "hash", Since: "2.0.0", Complexity: "O(1)", Args: "key field", Summary: "Get the value of a hash field", Handler: hgetCommand},
	{Name: "hmset", Arity: -4, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "hash", Since: "2.0.0", Complexity: "O(N) where N is the number of fields being set.", Args: "key field value [field value ...]", Summary: "Set multiple hash fields to multiple values", DocFlags: []string{"deprecated"}, DeprecatedSince: "4.0.0", ReplacedBy: "`HSET` with multiple field-value pairs", Handler: hmsetCommand},
	{Name: "hmget", Arity: -3, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "hash", Since: "2.0.0", Complexity: "O(N) where N is the number of fields being requested.", Args: "key field [field ...]", Summary: "Get the values of all the given hash fields", Handler: hmgetCommand},
	{Name: "hdel", Arity: -3, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "DELETE"), Group: "hash", Since: "2.0.0", Complexity: "O(N) where N is the number of fields to be removed.", Args: "key field [field ...]", Summary: "Delete one or more hash fields", History: [][2]string{{"2.4.0", "Accepts multiple `field` arguments."}}, Handler: hdelCommand},
	{Name: "hlen", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO"), Group: "hash", Since: "2.0.0", Complexity: "O(1)", Args: "key", Summary: "Get the number of fields in a hash", Handler: hlenCommand},
	{Name: "hstrlen", Arity: 3, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO"), Group: "hash", Since: "3.2.0", Complexity: "O(1)", Args: "key field", Summary: "Get the length of the value of a hash field", Handler: hstrlenCommand},
	{Name: "hincrby", Arity: 4, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "hash", Since: "2.0.0", Complexity: "O(1)", Args: "key field increment", Summary: "Increment the integer value of a hash field by the given number", Handler: hincrbyCommand},
	{Name: "hincrbyfloat", Arity: 4, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "hash", Since: "2.6.0", Complexity: "O(1)", Args: "key field increment:double", Summary: "Increment the float value of a hash field by the given amount", Handler: hincrbyfloatCommand},
	{Name: "hkeys", Arity: 2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "hash", Since: "2.0.0", Complexity: "O(N) where N is the size of the hash.", Args: "key", Summary: "Get all the fields in a hash", Tips: []string{"nondeterministic_output_order"}, Handler: hkeysCommand},
	{Name: "hvals", Arity: 2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "hash", Since: "2.0.0", Complexity: "O(N) where N is the size of the hash.", Args: "key", Summary: "Get all the values in a hash", Tips: []string{"nondeterministic_output_order"}, Handler: hvalsCommand},
	{Name: "hgetall", Arity: 2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "hash", Since: "2.0.0", Complexity: "O(N) where N is the size of the hash.", Args: "key", Summary: "Get all the fields and values in a hash", Tips: []string{"nondeterministic_output_order"}, Handler: hgetallCommand},
	{Name: "hexists", Arity: 3, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO"), Group: "hash", Since: "2.0.0", Complexity: "O(1)", Args: "key field", Summary: "Determine if a hash field exists", Handler: hexistsCommand},
	{Name: "hrandfield", Arity: -2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "hash", Since: "6.2.0", Complexity: "O(N) where N is the number of fields returned", Args: "key [options: count [WITHVALUES]]", Summary: "Get one or multiple random fields from a hash", Tips: []string{"nondeterministic_output"}, Handler: hrandfieldCommand},
	{Name: "hscan", Arity: -3, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "hash", Since: "2.8.0", Complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", Args: "key cursor [MATCH pattern] [COUNT count]", Summary: "Incrementally iterate hash fields and associated values", Tips: []string{"nondeterministic_output"}, Handler: hscanCommand},
}

// lookupHash returns key's hash for a read: nil if missing, ErrWrongType
// if the key holds another type.
func lookupHash(x *server.Ctx, key string) (*server.Hash, error) {
	return hashOf(x.DB.Lookup(key))
}

// lookupHashWrite is lookupHash for a write (no hit/miss accounting).
func lookupHashWrite(x *server.Ctx, key string) (*server.Hash, error) {
	return hashOf(x.DB.LookupWrite(key))
}

func hashOf(o *server.Object) (*server.Hash, error) {
	if o == nil {
		return nil, nil
	}
	if o.Type != server.TypeHash {
		return nil, server.ErrWrongType
	}
	return o.Val.(*server.Hash), nil
}

// hashForWrite returns key's hash, creating an empty one (not yet stored)
// when the key is missing; created says whether it must be stored.
func hashForWrite(x *server.Ctx, key string) (h *server.Hash, created bool, err error) {
	h, err = lookupHashWrite(x, key)
	if err != nil || h != nil {
		return h, false, err
	}
	return server.NewHash(), true, nil
}

// storeIfNew stores a value made by a write on a missing key.
func storeIfNew(x *server.Ctx, key string, t server.ObjType, v server.Value, created bool) {
	if created {
		x.DB.Set(key, server.NewValue(t, v), false)
	}
}

// deleteIfEmpty removes a collection its write left empty, as Redis does,
// with the "del" event after the command's own.
func deleteIfEmpty(x *server.Ctx, key string, n int) {
	if n == 0 {
		x.DB.Delete(key)
		x.Notify("del", key)
	}
}

// HSET key field value [field value ...]
func hsetCommand(x *server.Ctx) { hsetGeneric(x, false) }

// HMSET key field value [field value ...]
func hmsetCommand(x *server.Ctx) { hsetGeneric(x, true) }

// hsetGeneric sets field/value pairs; HMSET (mset) replies OK, HSET the
// number of fields added.
func hsetGeneric(x *server.Ctx, mset bool) {
	if len(x.Args)%2 != 0 {
		x.Error(server.ErrWrongArgs(x.Cmd.Name))
		return
	}
	key := x.Arg(1)
	h, created, err := hashForWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	added := 0
	for i := 2; i < len(x.Args); i += 2 {
		if h.SetBytes(x.S.Config, x.Args[i], x.Args[i+1]) {
			added++
		}
	}
	storeIfNew(x, key, server.TypeHash, h, created)
	x.Modified(key)
	x.Notify("hset", key)
	if mset {
		x.R.OK()
	} else {
		x.R.Int(int64(added))
	}
}

// HSETNX key field value
func hsetnxCommand(x *server.Ctx) {
	key := x.Arg(1)
	h, created, err := hashForWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	if _, ok := h.Get(x.Arg(2)); ok {
		x.R.Int(0)
		return
	}
	h.Set(x.S.Config, x.Arg(2), x.Args[3])
	storeIfNew(x, key, server.TypeHash, h, created)
	x.Modified(key)
	x.Notify("hset", key)
	x.R.Int(1)
}

// HGET key field
func hgetCommand(x *server.Ctx) {
	h, err := lookupHash(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if h == nil {
		x.R.Null()
		return
	}
	if v, ok := h.Get(x.Arg(2)); ok {
		x.R.Bulk(v)
	} else {
		x.R.Null()
	}
}

// HMGET key field [field ...]
func hmgetCommand(x *server.Ctx) {
	h, err := lookupHash(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	x.R.Array(len(x.Args) - 2)
	for _, f := range x.Args[2:] {
		var v []byte
		ok := false
		if h != nil {
			v, ok = h.Get(string(f))
		}
		if ok {
			x.R.Bulk(v)
		} else {
			x.R.Null()
		}
	}
}

// HDEL key field [field ...]
func hdelCommand(x *server.Ctx) {
	key := x.Arg(1)
	h, err := lookupHashWrite(x, key)
	if err != nil || h == nil {
		replyErrOrZero(x, err)
		return
	}
	n := 0
	for _, f := range x.Args[2:] {
		if h.Delete(string(f)) {
			n++
		}
	}
	if n > 0 {
		x.Modified(key)
		x.Notify("hdel", key)
		deleteIfEmpty(x, key, h.Len())
	}
	x.R.Int(int64(n))
}

// replyErrOrZero replies err, or 0 when there is none (a missing key).
func replyErrOrZero(x *server.Ctx, err error) {
	if err != nil {
		x.Error(err)
	} else {
		x.R.Int(0)
	}
}

// HLEN key
func hlenCommand(x *server.Ctx) {
	h, err := lookupHash(x, x.Arg(1))
	if err != nil || h == nil {
		replyErrOrZero(x, err)
		return
	}
	x.R.Int(int64(h.Len()))
}

// HSTRLEN key field
func hstrlenCommand(x *server.Ctx) {
	h, err := lookupHash(x, x.Arg(1))
	if err != nil || h == nil {
		replyErrOrZero(x, err)
		return
	}
	v, _ := h.Get(x.Arg(2))
	x.R.Int(int64(len(v)))
}

// HEXISTS key field
func hexistsCommand(x *server.Ctx) {
	h, err := lookupHash(x, x.Arg(1))
	if err != nil || h == nil {
		replyErrOrZero(x, err)
		return
	}
	_, ok := h.Get(x.Arg(2))
	x.R.Int(b2i(ok))
}

// HINCRBY key field increment
func hincrbyCommand(x *server.Ctx) {
	by, err := intArg(x, 3)
	if err != nil {
		x.Error(err)
		return
	}
	key, field := x.Arg(1), x.Arg(2)
	h, created, err := hashForWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	var cur int64
	if v, ok := h.Get(field); ok {
		n, ok := server.ParseInt(v)
		if !ok {
			x.Error(server.Errorf("hash value is not an integer"))
			return
		}
		cur = n
	}
	if (by > 0 && cur > math.MaxInt64-by) || (by < 0 && cur < math.MinInt64-by) {
		x.Error(server.ErrOverflow)
		return
	}
	cur += by
	h.Set(x.S.Config, field, strconv.AppendInt(nil, cur, 10))
	storeIfNew(x, key, server.TypeHash, h, created)
	x.Modified(key)
	x.Notify("hincrby", key)
	x.R.Int(cur)
}

// HINCRBYFLOAT key field increment
func hincrbyfloatCommand(x *server.Ctx) {
	by, ok := parseLongDouble(x.Args[3])
	if !ok {
		x.Error(server.ErrNotFloat)
		return
	}
	if by.IsInf() {
		x.Error(server.Errorf("value is NaN or Infinity"))
		return
	}
	key, field := x.Arg(1), x.Arg(2)
	h, created, err := hashForWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	cur := new(big.Float).SetPrec(64)
	if v, ok := h.Get(field); ok {
		if cur, ok = parseLongDouble(v); !ok {
			x.Error(server.Errorf("hash value is not a float"))
			return
		}
	}
	sum := new(big.Float).SetPrec(64).Add(cur, by)
	if sum.IsInf() || sum.MantExp(nil) > 16384 {
		x.Error(server.Errorf("increment would produce NaN or Infinity"))
		return
	}
	str := formatLongDouble(sum)
	h.Set(x.S.Config, field, []byte(str))
	storeIfNew(x, key, server.TypeHash, h, created)
	x.Modified(key)
	x.Notify("hincrbyfloat", key)
	// Logged as the value it produced: float formatting must not differ on replay.
	x.Propagate([]byte("HSET"), []byte(key), []byte(field), []byte(str))
	x.R.BulkString(str)
}

// HKEYS key
func hkeysCommand(x *server.Ctx) { hgetallGeneric(x, true, false) }

// HVALS key
func hvalsCommand(x *server.Ctx) { hgetallGeneric(x, false, true) }

// HGETALL key
func hgetallCommand(x *server.Ctx) { hgetallGeneric(x, true, true) }

// hgetallGeneric replies the fields, the values or both (a map in RESP3).
func hgetallGeneric(x *server.Ctx, fields, vals bool) {
	h, err := lookupHash(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	n := 0
	if h != nil {
		n = h.Len()
	}
	if fields && vals {
		x.R.Map(n)
	} else {
		x.R.Array(n)
	}
	if h == nil {
		return
	}
	h.Each(func(f string, v []byte) bool {
		if fields {
			x.R.BulkString(f)
		}
		if vals {
			x.R.Bulk(v)
		}
		return true
	})
}

// HRANDFIELD key [count [WITHVALUES]]
func hrandfieldCommand(x *server.Ctx) {
	if len(x.Args) > 4 || (len(x.Args) == 4 && !is(x.Args[3], "WITHVALUES")) {
		x.Error(server.ErrSyntax)
		return
	}
	if len(x.Args) == 2 {
		h, err := lookupHash(x, x.Arg(1))
		switch {
		case err != nil:
			x.Error(err)
		case h == nil:
			x.R.Null()
		default:
			f, _ := h.At(h.Random())
			x.R.BulkString(f)
		}
		return
	}
	count, err := randCountArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	withValues := len(x.Args) == 4
	if withValues && (count > math.MaxInt64/2 || count < -math.MaxInt64/2) {
		x.Error(server.Errorf("value is out of range")) // the reply would have 2|count| items
		return
	}
	h, err := lookupHash(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if h == nil || count == 0 {
		x.R.Array(0)
		return
	}
	reply := func(i int) {
		f, v := h.At(i)
		if withValues && x.R.Resp() == 3 {
			x.R.Array(2)
		}
		x.R.BulkString(f)
		if withValues {
			x.R.Bulk(v)
		}
	}
	n := count
	if count < 0 {
		n = -count
	} else if count > int64(h.Len()) {
		n = int64(h.Len())
	}
	if withValues && x.R.Resp() == 2 {
		x.R.Array(int(2 * n))
	} else {
		x.R.Array(int(n))
	}
	if count < 0 {
		// Written as drawn: a huge count costs time, as in Redis, not a
		// slice of that size first.
		for ; n > 0; n-- {
			reply(h.Random())
		}
		return
	}
	for _, i := range randomPicks(h.Len(), count, h.Random) {
		reply(i)
	}
}

// randCountArg parses the count of HRANDFIELD, SRANDMEMBER and
// ZRANDMEMBER: any integer whose magnitude fits (a negative count allows
// repeats).
func randCountArg(x *server.Ctx, i int) (int64, error) {
	n, ok := server.ParseInt(x.Args[i])
	if !ok {
		return 0, server.ErrNotInteger
	}
	if n == math.MinInt64 {
		return 0, server.Errorf("value is out of range, value must between -9223372036854775807 and 9223372036854775807")
	}
	return n, nil
}

// randomPicks returns the indexes a random-members command replies for a
// collection of size n and a count >= 0: every index once when count >= n,
// otherwise count distinct random indexes.
func randomPicks(n int, count int64, random func() int) []int {
	if count >= int64(n) {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	seen := make(map[int]bool, count)
	out := make([]int, 0, count)
	for int64(len(out)) < count {
		i := random()
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

// HSCAN key cursor [MATCH pattern] [COUNT count]
func hscanCommand(x *server.Ctx) {
	h, err := lookupHash(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	collectionScan(x, func(cursor uint64, count int, emit func(name string, more ...string)) uint64 {
		if h == nil {
			return 0
		}
		return h.Scan(cursor, count, func(f string, v []byte) { emit(f, string(v)) })
	})
}

// scanFunc visits about count elements of a collection from cursor,
// emitting each one's name and what goes with it in the reply (a hash
// field's value, a member's score), and returns the next cursor.
type scanFunc func(cursor uint64, count int, emit func(name string, more ...string)) uint64

// collectionScan answers HSCAN, SSCAN and ZSCAN: it parses cursor, MATCH
// and COUNT (default 10), lets scan visit the elements, and replies the
// next cursor and those whose name matches. Like Redis, MATCH filters
// after the visit, so a call may return fewer than COUNT, even none.
func collectionScan(x *server.Ctx, scan scanFunc) {
	cursor, ok := parseCursor(x.Arg(2))
	if !ok {
		x.Error(server.Errorf("invalid cursor"))
		return
	}
	count, pattern := int64(10), ""
	for i := 3; i < len(x.Args); i += 2 {
		if i+1 >= len(x.Args) {
			x.Error(server.ErrSyntax)
			return
		}
		switch {
		case is(x.Args[i], "COUNT"):
			n, err := intArg(x, i+1)
			if err != nil {
				x.Error(err)
				return
			}
			if n < 1 {
				x.Error(server.ErrSyntax)
				return
			}
			count = n
		case is(x.Args[i], "MATCH"):
			pattern = x.Arg(i + 1)
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	var out []string
	next := scan(cursor, int(min(count, 1<<30)), func(name string, more ...string) {
		if pattern == "" || pattern == "*" || server.GlobMatch(pattern, name, false) {
			out = append(out, name)
			out = append(out, more...)
		}
	})
	x.R.Array(2)
	x.R.BulkString(strconv.FormatUint(next, 10))
	x.R.Strings(out)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
