package commands

import (
	"math"
	"math/big"
	"strconv"
	"strings"

	"reddwarf/server"
)

const (
	w  = server.FlagWrite
	ro = server.FlagReadonly
	dm = server.FlagDenyOOM
	ft = server.FlagFast
)

var stringCommands = []*server.Spec{
	{Name: "get", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "string", Since: "1.0.0", Complexity: "O(1)", Args: "key", Summary: "Get the value of a key", Handler: getCommand},
	{Name: "set", Arity: -3, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "UPDATE", "VARIABLE_FLAGS"}, Notes: "RW and ACCESS due to the optional `GET` argument"}}, KeyFlags: setKeyFlags, Group: "string", Since: "1.0.0", Complexity: "O(1)", Args: "key value [condition: NX | XX]@2.6.12 [GET]@6.2.0 [expiration: EX seconds@2.6.12 | PX milliseconds@2.6.12 | EXAT unix-time-seconds@6.2.0 | PXAT unix-time-milliseconds@6.2.0 | KEEPTTL@6.0.0]", Summary: "Set the string value of a key", History: [][2]string{{"2.6.12", "Added the `EX`, `PX`, `NX` and `XX` options."}, {"6.0.0", "Added the `KEEPTTL` option."}, {"6.2.0", "Added the `GET`, `EXAT` and `PXAT` option."}, {"7.0.0", "Allowed the `NX` and `GET` options to be used together."}}, Handler: setCommand},
	{Name: "setnx", Arity: 3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("OW", "INSERT"), Group: "string", Since: "1.0.0", Complexity: "O(1)", Args: "key value", Summary: "Set the value of a key, only if the key does not exist", Handler: setnxCommand},
	{Name: "setex", Arity: 4, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("OW", "UPDATE"), Group: "string", Since: "2.0.0", Complexity: "O(1)", Args: "key seconds value", Summary: "Set the value and expiration of a key", Handler: setexCommand},
	{Name: "psetex", Arity: 4, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("OW", "UPDATE"), Group: "string", Since: "2.6.0", Complexity: "O(1)", Args: "key milliseconds value", Summary: "Set the value and expiration in milliseconds of a key", Handler: psetexCommand},
	{Name: "getset", Arity: 3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "string", Since: "1.0.0", Complexity: "O(1)", Args: "key value", Summary: "Set the string value of a key and return its old value", DocFlags: []string{"deprecated"}, DeprecatedSince: "6.2.0", ReplacedBy: "`SET` with the `!GET` argument", Handler: getsetCommand},
	{Name: "getdel", Arity: 2, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "DELETE"), Group: "string", Since: "6.2.0", Complexity: "O(1)", Args: "key", Summary: "Get the value of a key and delete the key", Handler: getdelCommand},
	{Name: "getex", Arity: -2, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "UPDATE"}, Notes: "RW and UPDATE because it changes the TTL"}}, Group: "string", Since: "6.2.0", Complexity: "O(1)", Args: "key [expiration: EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]", Summary: "Get the value of a key and optionally set its expiration", Handler: getexCommand},
	{Name: "mget", Arity: -2, Flags: ro | ft, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "string", Since: "1.0.0", Complexity: "O(N) where N is the number of keys to retrieve.", Args: "key [key ...]", Summary: "Get the values of all the given keys", Tips: []string{"request_policy:multi_shard"}, Handler: mgetCommand},
	{Name: "mset", Arity: -3, Flags: w | dm, FirstKey: 1, LastKey: -1, Step: 2, KeySpecs: keys("OW", "UPDATE"), Group: "string", Since: "1.0.1", Complexity: "O(N) where N is the number of keys to set.", Args: "key value [key value ...]", Summary: "Set multiple keys to multiple values", Tips: []string{"request_policy:multi_shard", "response_policy:all_succeeded"}, Handler: msetCommand},
	{Name: "msetnx", Arity: -3, Flags: w | dm, FirstKey: 1, LastKey: -1, Step: 2, KeySpecs: keys("OW", "INSERT"), Group: "string", Since: "1.0.1", Complexity: "O(N) where N is the number of keys to set.", Args: "key value [key value ...]", Summary: "Set multiple keys to multiple values, only if none of the keys exist", Tips: []string{"request_policy:multi_shard", "response_policy:agg_min"}, Handler: msetnxCommand},
	{Name: "append", Arity: 3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "INSERT"), Group: "string", Since: "2.0.0", Complexity: "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.", Args: "key value", Summary: "Append a value to a key", Handler: appendCommand},
	{Name: "strlen", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO"), Group: "string", Since: "2.2.0", Complexity: "O(1)", Args: "key", Summary: "Get the length of the value stored in a key", Handler: strlenCommand},
	{Name: "getrange", Arity: 4, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "string", Since: "2.4.0", Complexity: "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.", Args: "key start end", Summary: "Get a substring of the string stored at a key", Handler: getrangeCommand},
	{Name: "substr", Arity: 4, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "string", Since: "1.0.0", Complexity: "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.", Args: "key start end", Summary: "Get a substring of the string stored at a key", DocFlags: []string{"deprecated"}, DeprecatedSince: "2.0.0", ReplacedBy: "`GETRANGE`", Handler: getrangeCommand},
	{Name: "setrange", Arity: 4, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "string", Since: "2.2.0", Complexity: "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.", Args: "key offset value", Summary: "Overwrite part of a string at key starting at the specified offset", Handler: setrangeCommand},
	{Name: "incr", Arity: 2, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "string", Since: "1.0.0", Complexity: "O(1)", Args: "key", Summary: "Increment the integer value of a key by one", Handler: incrCommand},
	{Name: "decr", Arity: 2, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "string", Since: "1.0.0", Complexity: "O(1)", Args: "key", Summary: "Decrement the integer value of a key by one", Handler: decrCommand},
	{Name: "incrby", Arity: 3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "string", Since: "1.0.0", Complexity: "O(1)", Args: "key increment", Summary: "Increment the integer value of a key by the given amount", Handler: incrbyCommand},
	{Name: "decrby", Arity: 3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "string", Since: "1.0.0", Complexity: "O(1)", Args: "key decrement", Summary: "Decrement the integer value of a key by the given number", Handler: decrbyCommand},
	{Name: "incrbyfloat", Arity: 3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "string", Since: "2.6.0", Complexity: "O(1)", Args: "key increment:double", Summary: "Increment the float value of a key by the given amount", Handler: incrbyfloatCommand},
	{Name: "lcs", Arity: -3, Flags: ro, FirstKey: 1, LastKey: 2, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "string", Since: "7.0.0", Complexity: "O(N*M) where N and M are the lengths of s1 and s2, respectively", Args: "key1 key2 [LEN] [IDX] [MINMATCHLEN len:integer] [WITHMATCHLEN]", Summary: "Find longest common substring", Handler: lcsCommand},
}

// GET key
func getCommand(x *server.Ctx) {
	o, err := lookupString(x, x.Arg(1))
	switch {
	case err != nil:
		x.Error(err)
	case o == nil:
		x.R.Null()
	default:
		x.R.Bulk(o.Str)
	}
}

// setOptions are SET's parsed flags; setGeneric acts on them.
type setOptions struct {
	nx, xx, get, keepTTL bool
	expireAt             int64 // absolute unix ms; 0 = none
}

const (
	unitSeconds = 1000
	unitMillis  = 1
)

// parseSetOptions reads SET's options from args[3:], refusing conflicts.
func parseSetOptions(x *server.Ctx) (setOptions, error) {
	var o setOptions
	expireSeen := false
	for i := 3; i < len(x.Args); i++ {
		a := x.Args[i]
		next := i+1 < len(x.Args)
		switch {
		case is(a, "NX") && !o.xx:
			o.nx = true
		case is(a, "XX") && !o.nx:
			o.xx = true
		case is(a, "GET"):
			o.get = true
		case is(a, "KEEPTTL") && !expireSeen:
			o.keepTTL = true
		case (is(a, "EX") || is(a, "PX") || is(a, "EXAT") || is(a, "PXAT")) && !o.keepTTL && !expireSeen && next:
			expireSeen = true
			i++
			at, err := expireArg(x, i, string(a), "set")
			if err != nil {
				return o, err
			}
			o.expireAt = at
		default:
			return o, server.ErrSyntax
		}
	}
	return o, nil
}

// expireArg parses argument i as a time in the unit that kind (EX PX EXAT
// PXAT) implies and returns it as absolute unix ms, with Redis's errors.
func expireArg(x *server.Ctx, i int, kind, cmd string) (int64, error) {
	n, ok := server.ParseInt(x.Args[i])
	if !ok {
		return 0, server.ErrNotInteger
	}
	bad := server.Errorf("invalid expire time in '" + cmd + "' command")
	if n <= 0 {
		return 0, bad
	}
	unit := int64(unitMillis)
	if is([]byte(kind), "EX") || is([]byte(kind), "EXAT") {
		unit = unitSeconds
		if n > math.MaxInt64/1000 {
			return 0, bad
		}
	}
	ms := n * unit
	if is([]byte(kind), "EX") || is([]byte(kind), "PX") {
		now := x.S.Now()
		if ms > math.MaxInt64-now {
			return 0, bad
		}
		ms += now
	}
	return ms, nil
}

// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL]
func setCommand(x *server.Ctx) {
	o, err := parseSetOptions(x)
	if err != nil {
		x.Error(err)
		return
	}
	setGeneric(x, x.Arg(1), x.Args[2], o)
}

// setKeyFlags is SET's key access for COMMAND GETKEYSANDFLAGS: a plain SET
// only overwrites (OW UPDATE); with GET anywhere among its options it also
// reads the old value (RW ACCESS UPDATE). The line needn't parse: Redis
// looks for the word alone, and so do cluster proxies that ask.
func setKeyFlags(args [][]byte, _ int) []string {
	for _, a := range args[min(3, len(args)):] {
		if is(a, "GET") {
			return []string{"RW", "ACCESS", "UPDATE"}
		}
	}
	return []string{"OW", "UPDATE"}
}

// setGeneric is SET with its options already parsed: NX/XX make the write
// conditional, GET replies the old value instead of OK, expireAt/keepTTL
// decide the TTL. The reply is OK, null (condition failed) or the old value.
func setGeneric(x *server.Ctx, key string, val []byte, o setOptions) {
	var old *server.Object
	if o.get {
		var err error
		old, err = lookupString(x, key)
		if err != nil {
			x.Error(err)
			return
		}
	}
	exists := x.DB.LookupWrite(key) != nil
	if (o.nx && exists) || (o.xx && !exists) {
		if o.get {
			replyOld(x, old)
		} else {
			x.R.Null()
		}
		return
	}
	x.DB.Set(key, server.NewStringCopy(val), o.keepTTL)
	if o.expireAt != 0 {
		x.DB.SetExpire(key, o.expireAt)
	}
	switch {
	case o.expireAt != 0:
		// A relative expiry replays wrong later: logged as an absolute
		// one, the command's other options dropped (it succeeded), as
		// Redis 7.0 propagates SET, SETEX and PSETEX.
		x.Propagate([]byte("SET"), []byte(key), val, []byte("PXAT"), strconv.AppendInt(nil, o.expireAt, 10))
	case o.get:
		// The old value is the reply's business, not the log's: SET ...
		// GET is logged without GET, GETSET (three arguments) as SET.
		args := [][]byte{[]byte("SET"), []byte(key), val}
		for _, a := range x.Args[min(3, len(x.Args)):] {
			if !is(a, "GET") {
				args = append(args, a)
			}
		}
		x.Propagate(args...)
	}
	x.Modified(key)
	x.Notify("set", key)
	if o.expireAt != 0 {
		x.Notify("expire", key)
	}
	if o.get {
		replyOld(x, old)
	} else {
		x.R.OK()
	}
}

func replyOld(x *server.Ctx, old *server.Object) {
	if old == nil {
		x.R.Null()
	} else {
		x.R.Bulk(old.Str)
	}
}

// SETNX key value
func setnxCommand(x *server.Ctx) {
	if x.DB.LookupWrite(x.Arg(1)) != nil {
		x.R.Int(0)
		return
	}
	x.DB.Set(x.Arg(1), server.NewStringCopy(x.Args[2]), false)
	x.Modified(x.Arg(1))
	x.Notify("set", x.Arg(1))
	x.R.Int(1)
}

// SETEX key seconds value
func setexCommand(x *server.Ctx) { setexGeneric(x, "EX", "setex") }

// PSETEX key milliseconds value
func psetexCommand(x *server.Ctx) { setexGeneric(x, "PX", "psetex") }

func setexGeneric(x *server.Ctx, unit, name string) {
	at, err := expireArg(x, 2, unit, name)
	if err != nil {
		x.Error(err)
		return
	}
	setGeneric(x, x.Arg(1), x.Args[3], setOptions{expireAt: at})
}

// GETSET key value
func getsetCommand(x *server.Ctx) {
	setGeneric(x, x.Arg(1), x.Args[2], setOptions{get: true})
}

// GETDEL key
func getdelCommand(x *server.Ctx) {
	o, err := lookupString(x, x.Arg(1))
	switch {
	case err != nil:
		x.Error(err)
	case o == nil:
		x.R.Null()
	default:
		x.R.Bulk(o.Str)
		x.DB.Delete(x.Arg(1))
		x.Propagate([]byte("DEL"), x.Args[1])
		x.Modified(x.Arg(1))
		x.Notify("del", x.Arg(1))
	}
}

// GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]
func getexCommand(x *server.Ctx) {
	var at int64
	persist, seen := false, false
	for i := 2; i < len(x.Args); i++ {
		a := x.Args[i]
		switch {
		case is(a, "PERSIST") && !seen:
			persist, seen = true, true
		case (is(a, "EX") || is(a, "PX") || is(a, "EXAT") || is(a, "PXAT")) && !seen && i+1 < len(x.Args):
			seen = true
			i++
			var err error
			if at, err = expireArg(x, i, string(a), "getex"); err != nil {
				x.Error(err)
				return
			}
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	key := x.Arg(1)
	o, err := lookupString(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	if o == nil {
		x.R.Null()
		return
	}
	x.R.Bulk(o.Str)
	switch {
	case at != 0 && at <= x.S.Now():
		x.DB.Delete(key)
		x.Propagate([]byte("DEL"), x.Args[1])
		x.Modified(key)
		x.Notify("del", key)
	case at != 0:
		x.DB.SetExpire(key, at)
		x.Propagate([]byte("PEXPIREAT"), x.Args[1], strconv.AppendInt(nil, at, 10))
		x.Modified(key)
		x.Notify("expire", key)
	case persist:
		if x.DB.Persist(key) {
			x.Propagate([]byte("PERSIST"), x.Args[1])
			x.Modified(key)
			x.Notify("persist", key)
		}
	}
}

// MGET key [key ...]
func mgetCommand(x *server.Ctx) {
	x.R.Array(len(x.Args) - 1)
	for _, k := range x.Args[1:] {
		o := x.DB.Lookup(string(k))
		if o == nil || o.Type != server.TypeString {
			x.R.Null()
		} else {
			x.R.Bulk(o.Str)
		}
	}
}

// MSET key value [key value ...]
func msetCommand(x *server.Ctx) { msetGeneric(x, false) }

// MSETNX key value [key value ...]
func msetnxCommand(x *server.Ctx) { msetGeneric(x, true) }

// msetGeneric sets every pair; with nx it sets none if any key exists and
// replies 0/1 instead of OK.
func msetGeneric(x *server.Ctx, nx bool) {
	if len(x.Args)%2 == 0 {
		x.Error(server.ErrWrongArgs(x.Cmd.Name))
		return
	}
	if nx {
		for i := 1; i < len(x.Args); i += 2 {
			if x.DB.LookupWrite(string(x.Args[i])) != nil {
				x.R.Int(0)
				return
			}
		}
	}
	for i := 1; i < len(x.Args); i += 2 {
		k := string(x.Args[i])
		x.DB.Set(k, server.NewStringCopy(x.Args[i+1]), false)
		x.Modified(k)
		x.Notify("set", k)
	}
	if nx {
		x.R.Int(1)
	} else {
		x.R.OK()
	}
}

// checkStringLength refuses results longer than proto-max-bulk-len.
func checkStringLength(x *server.Ctx, n int64) error {
	if n > x.S.Config.ProtoMaxBulkLen {
		return server.ErrStringTooLong
	}
	return nil
}

// APPEND key value
func appendCommand(x *server.Ctx) {
	key := x.Arg(1)
	o := x.DB.LookupWrite(key)
	if o == nil {
		o = server.NewStringCopy(x.Args[2])
		x.DB.Set(key, o, true)
	} else {
		if o.Type != server.TypeString {
			x.Error(server.ErrWrongType)
			return
		}
		if err := checkStringLength(x, int64(len(o.Str)+len(x.Args[2]))); err != nil {
			x.Error(err)
			return
		}
		o.Str = append(o.Str, x.Args[2]...)
		o.SetRaw()
	}
	x.Modified(key)
	x.Notify("append", key)
	x.R.Int(int64(len(o.Str)))
}

// STRLEN key
func strlenCommand(x *server.Ctx) {
	o, err := lookupString(x, x.Arg(1))
	switch {
	case err != nil:
		x.Error(err)
	case o == nil:
		x.R.Int(0)
	default:
		x.R.Int(int64(len(o.Str)))
	}
}

// GETRANGE key start end (inclusive, negative counts from the end)
func getrangeCommand(x *server.Ctx) {
	start, err1 := intArg(x, 2)
	end, err2 := intArg(x, 3)
	if err1 != nil || err2 != nil {
		x.Error(server.ErrNotInteger)
		return
	}
	o, err := lookupString(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if o == nil {
		x.R.BulkString("")
		return
	}
	n := int64(len(o.Str))
	if start < 0 && end < 0 && start > end {
		x.R.BulkString("")
		return
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	if start < 0 {
		start = 0
	}
	if end < 0 {
		end = 0
	}
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		x.R.BulkString("")
		return
	}
	x.R.Bulk(o.Str[start : end+1])
}

// SETRANGE key offset value
func setrangeCommand(x *server.Ctx) {
	off, ok := server.ParseInt(x.Args[2])
	if !ok {
		x.Error(server.ErrNotInteger)
		return
	}
	if off < 0 {
		x.Error(server.Errorf("offset is out of range"))
		return
	}
	key, val := x.Arg(1), x.Args[3]
	o := x.DB.LookupWrite(key)
	if o != nil && o.Type != server.TypeString {
		x.Error(server.ErrWrongType)
		return
	}
	cur := 0
	if o != nil {
		cur = len(o.Str)
	}
	if len(val) == 0 {
		x.R.Int(int64(cur))
		return
	}
	if off > x.S.Config.ProtoMaxBulkLen-int64(len(val)) {
		x.Error(server.ErrStringTooLong)
		return
	}
	if err := checkStringLength(x, off+int64(len(val))); err != nil {
		x.Error(err)
		return
	}
	if o == nil {
		o = server.NewString(nil)
		x.DB.Set(key, o, true)
	}
	if need := int(off) + len(val); need > len(o.Str) {
		o.Str = append(o.Str, make([]byte, need-len(o.Str))...)
	}
	copy(o.Str[off:], val)
	o.SetRaw()
	x.Modified(key)
	x.Notify("setrange", key)
	x.R.Int(int64(len(o.Str)))
}

// INCR key
func incrCommand(x *server.Ctx) { incrDecr(x, 1) }

// DECR key
func decrCommand(x *server.Ctx) { incrDecr(x, -1) }

// INCRBY key increment
func incrbyCommand(x *server.Ctx) {
	n, err := intArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	incrDecr(x, n)
}

// DECRBY key decrement
func decrbyCommand(x *server.Ctx) {
	n, err := intArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	if n == math.MinInt64 {
		x.Error(server.Errorf("decrement would overflow"))
		return
	}
	incrDecr(x, -n)
}

// incrDecr adds by to the integer at key (0 if missing), keeping its TTL.
func incrDecr(x *server.Ctx, by int64) {
	key := x.Arg(1)
	o := x.DB.LookupWrite(key)
	var cur int64
	if o != nil {
		if o.Type != server.TypeString {
			x.Error(server.ErrWrongType)
			return
		}
		n, ok := o.IntValue()
		if !ok {
			x.Error(server.ErrNotInteger)
			return
		}
		cur = n
	}
	if (by < 0 && cur < 0 && by < math.MinInt64-cur) || (by > 0 && cur > 0 && by > math.MaxInt64-cur) {
		x.Error(server.ErrOverflow)
		return
	}
	cur += by
	x.DB.Set(key, server.NewString(server.FormatInt(cur)), true)
	x.Modified(key)
	x.Notify("incrby", key)
	x.R.Int(cur)
}

// INCRBYFLOAT key increment
//
// Redis adds in C's long double (x87 80-bit: a 64-bit mantissa) and prints
// the sum with 17 decimals, trailing zeros trimmed. A big.Float of 64-bit
// precision rounds exactly as that does, so 1.1+2.2 gives "3.3" as in
// Redis, not float64's 3.3000000000000003.
func incrbyfloatCommand(x *server.Ctx) {
	by, ok := parseLongDouble(x.Args[2])
	if !ok {
		x.Error(server.ErrNotFloat)
		return
	}
	key := x.Arg(1)
	o := x.DB.LookupWrite(key)
	cur := new(big.Float).SetPrec(64)
	if o != nil {
		if o.Type != server.TypeString {
			x.Error(server.ErrWrongType)
			return
		}
		if cur, ok = parseLongDouble(o.Str); !ok {
			x.Error(server.ErrNotFloat)
			return
		}
	}
	sum := new(big.Float).SetPrec(64).Add(cur, by)
	if sum.IsInf() || sum.MantExp(nil) > 16384 {
		x.Error(server.Errorf("increment would produce NaN or Infinity"))
		return
	}
	str := formatLongDouble(sum)
	x.DB.Set(key, server.NewString([]byte(str)), true)
	// The result, not the increment: replaying a float sum may round
	// differently elsewhere (Redis 7.0 logs SET KEEPTTL).
	x.Propagate([]byte("SET"), x.Args[1], []byte(str), []byte("KEEPTTL"))
	x.Modified(key)
	x.Notify("incrbyfloat", key)
	x.R.BulkString(str)
}

// parseLongDouble parses a float argument at long double precision (no
// spaces, no NaN; inf is accepted so that adding it can be refused).
func parseLongDouble(b []byte) (*big.Float, bool) {
	s := string(b)
	if s == "" || strings.TrimSpace(s) != s || strings.ContainsAny(s, "nN_") && !strings.EqualFold(strings.TrimLeft(s, "+-"), "inf") {
		return nil, false
	}
	f, _, err := big.ParseFloat(s, 10, 64, big.ToNearestEven)
	if err != nil {
		return nil, false
	}
	return f, true
}

// formatLongDouble prints like "%.17Lf" with trailing zeros and point removed.
func formatLongDouble(f *big.Float) string {
	s := f.Text('f', 17)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// Errors of LCS, with Redis 7.0's text.
var (
	errLCSType     = server.Errorf("The specified keys must contain string values")
	errLCSLenIdx   = server.Errorf("If you want both the length and indexes, please just use IDX.")
	errLCSTooLong  = server.Errorf("String too long for LCS")
	errLCSTooBig   = server.Errorf("Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
	errLCSNoMemory = server.Errorf("Insufficient memory, failed allocating transient memory for LCS")
)

// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]
//
// Missing keys are empty strings. The reply is the longest common
// subsequence itself, its length (LEN), or (IDX) its runs from the end of
// the strings backward with the length, each run as [[a-start, a-end],
// [b-start, b-end]] (inclusive) plus its length with WITHMATCHLEN, runs
// shorter than MINMATCHLEN left out.
func lcsCommand(x *server.Ctx) {
	oa, ob := x.DB.Lookup(x.Arg(1)), x.DB.Lookup(x.Arg(2))
	if (oa != nil && oa.Type != server.TypeString) || (ob != nil && ob.Type != server.TypeString) {
		x.Error(errLCSType)
		return
	}
	var a, b []byte
	if oa != nil {
		a = oa.Str
	}
	if ob != nil {
		b = ob.Str
	}
	var getLen, getIdx, withLen bool
	var minLen int64
	for j := 3; j < len(x.Args); j++ {
		switch o := x.Args[j]; {
		case is(o, "IDX"):
			getIdx = true
		case is(o, "LEN"):
			getLen = true
		case is(o, "WITHMATCHLEN"):
			withLen = true
		case is(o, "MINMATCHLEN") && j+1 < len(x.Args):
			j++
			n, err := intArg(x, j)
			if err != nil {
				x.Error(err)
				return
			}
			minLen = max(n, 0)
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	if getLen && getIdx {
		x.Error(errLCSLenIdx)
		return
	}
	if len(a) >= math.MaxUint32-1 || len(b) >= math.MaxUint32-1 {
		x.Error(errLCSTooLong)
		return
	}
	// The table holds (len(a)+1)*(len(b)+1) uint32s; it is checked against
	// proto-max-bulk-len before it is allocated.
	cells := uint64(len(a)+1) * uint64(len(b)+1)
	if cells > math.MaxUint64/4 || cells > math.MaxInt/4 {
		x.Error(errLCSNoMemory)
		return
	}
	if cells*4 > uint64(x.S.Config.ProtoMaxBulkLen) {
		x.Error(errLCSTooBig)
		return
	}
	seq, runs := longestCommonSubsequence(a, b)
	switch {
	case getIdx:
		shown := runs[:0:0]
		for _, r := range runs {
			if int64(r.aEnd-r.aStart+1) >= minLen {
				shown = append(shown, r)
			}
		}
		x.R.Map(2)
		x.R.BulkString("matches")
		x.R.Array(len(shown))
		for _, r := range shown {
			if withLen {
				x.R.Array(3)
			} else {
				x.R.Array(2)
			}
			x.R.Array(2)
			x.R.Int(int64(r.aStart))
			x.R.Int(int64(r.aEnd))
			x.R.Array(2)
			x.R.Int(int64(r.bStart))
			x.R.Int(int64(r.bEnd))
			if withLen {
				x.R.Int(int64(r.aEnd - r.aStart + 1))
			}
		}
		x.R.BulkString("len")
		x.R.Int(int64(len(seq)))
	case getLen:
		x.R.Int(int64(len(seq)))
	default:
		x.R.Bulk(seq)
	}
}

// lcsRun is a run of the common subsequence: a[aStart..aEnd] equals
// b[bStart..bEnd] (inclusive).
type lcsRun struct{ aStart, aEnd, bStart, bEnd int }

// longestCommonSubsequence returns an LCS of a and b and its runs, last run
// first. It is Redis's dynamic program, walked back from the end with the
// same tie-break (a's index moves back only when that keeps a longer LCS),
// so the same subsequence and runs come out.
func longestCommonSubsequence(a, b []byte) ([]byte, []lcsRun) {
	w := len(b) + 1
	// t[i*w+j] is the LCS length of a[:i] and b[:j].
	t := make([]uint32, (len(a)+1)*w)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1]:
				t[i*w+j] = t[(i-1)*w+j-1] + 1
			default:
				t[i*w+j] = max(t[(i-1)*w+j], t[i*w+j-1])
			}
		}
	}
	n := int(t[len(a)*w+len(b)])
	seq := make([]byte, n)
	var runs []lcsRun
	var cur lcsRun
	open := false
	for i, j := len(a), len(b); i > 0 && j > 0; {
		if a[i-1] == b[j-1] {
			n--
			seq[n] = a[i-1]
			if open {
				cur.aStart, cur.bStart = i-1, j-1 // a match right before the run extends it
			} else {
				cur, open = lcsRun{i - 1, i - 1, j - 1, j - 1}, true
			}
			i, j = i-1, j-1
			if i == 0 || j == 0 {
				runs = append(runs, cur)
			}
			continue
		}
		if t[(i-1)*w+j] > t[i*w+j-1] {
			i--
		} else {
			j--
		}
		if open {
			runs, open = append(runs, cur), false
		}
	}
	return seq, runs
}
