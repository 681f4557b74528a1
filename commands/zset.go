package commands

import (
	"math"
	"strconv"
	"strings"

	"reddwarf/server"
)

var zsetCommands = []*server.Spec{
	{Name: "zadd", Arity: -4, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "sorted-set", Since: "1.2.0", Complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.", Args: "key [condition: NX | XX]@3.0.2 [comparison: GT | LT]@6.2.0 [change: CH]@3.0.2 [increment: INCR]@3.0.2 score:double member [score:double member ...]", Summary: "Add one or more members to a sorted set, or update its score if it already exists", History: [][2]string{{"2.4.0", "Accepts multiple elements."}, {"3.0.2", "Added the `XX`, `NX`, `CH` and `INCR` options."}, {"6.2.0", "Added the `GT` and `LT` options."}}, Handler: zaddCommand},
	{Name: "zincrby", Arity: 4, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "sorted-set", Since: "1.2.0", Complexity: "O(log(N)) where N is the number of elements in the sorted set.", Args: "key increment member", Summary: "Increment the score of a member in a sorted set", Handler: zincrbyCommand},
	{Name: "zrem", Arity: -3, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "DELETE"), Group: "sorted-set", Since: "1.2.0", Complexity: "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.", Args: "key member [member ...]", Summary: "Remove one or more members from a sorted set", History: [][2]string{{"2.4.0", "Accepts multiple elements."}}, Handler: zremCommand},
	{Name: "zremrangebyscore", Arity: 4, Flags: w, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "DELETE"), Group: "sorted-set", Since: "1.2.0", Complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", Args: "key min:double max:double", Summary: "Remove all members in a sorted set within the given scores", Handler: zremrangebyscoreCommand},
	{Name: "zremrangebyrank", Arity: 4, Flags: w, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "DELETE"), Group: "sorted-set", Since: "2.0.0", Complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", Args: "key start stop:integer", Summary: "Remove all members in a sorted set within the given indexes", Handler: zremrangebyrankCommand},
	{Name: "zremrangebylex", Arity: 4, Flags: w, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "DELETE"), Group: "sorted-set", Since: "2.8.9", Complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", Args: "key min max", Summary: "Remove all members in a sorted set between the given lexicographical range", Handler: zremrangebylexCommand},
	{Name: "zunionstore", Arity: -4, Flags: w | dm | server.FlagMovableKeys, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"OW", "UPDATE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RO", "ACCESS"}, Begin: 2, KeyNum: true}}, Group: "sorted-set", Since: "2.0.0", Complexity: "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", Args: "destination numkeys:integer key [key ...] [WEIGHTS weight:integer [weight:integer ...]] [AGGREGATE <SUM | MIN | MAX>]", Summary: "Add multiple sorted sets and store the resulting sorted set in a new key", Handler: zunionstoreCommand},
	{Name: "zinterstore", Arity: -4, Flags: w | dm | server.FlagMovableKeys, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"OW", "UPDATE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RO", "ACCESS"}, Begin: 2, KeyNum: true}}, Group: "sorted-set", Since: "2.0.0", Complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", Args: "destination numkeys:integer key [key ...] [WEIGHTS weight:integer [weight:integer ...]] [AGGREGATE <SUM | MIN | MAX>]", Summary: "Intersect multiple sorted sets and store the resulting sorted set in a new key", Handler: zinterstoreCommand},
	{Name: "zdiffstore", Arity: -4, Flags: w | dm | server.FlagMovableKeys, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"OW", "UPDATE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RO", "ACCESS"}, Begin: 2, KeyNum: true}}, Group: "sorted-set", Since: "6.2.0", Complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", Args: "destination numkeys:integer key [key ...]", Summary: "Subtract multiple sorted sets and store the resulting sorted set in a new key", Handler: zdiffstoreCommand},
	{Name: "zunion", Arity: -3, Flags: ro | server.FlagMovableKeys, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 1, KeyNum: true}}, Group: "sorted-set", Since: "6.2.0", Complexity: "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", Args: "numkeys:integer key [key ...] [WEIGHTS weight:integer [weight:integer ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]", Summary: "Add multiple sorted sets", Handler: zunionCommand},
	{Name: "zinter", Arity: -3, Flags: ro | server.FlagMovableKeys, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 1, KeyNum: true}}, Group: "sorted-set", Since: "6.2.0", Complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", Args: "numkeys:integer key [key ...] [WEIGHTS weight:integer [weight:integer ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]", Summary: "Intersect multiple sorted sets", Handler: zinterCommand},
	{Name: "zintercard", Arity: -3, Flags: ro | server.FlagMovableKeys, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 1, KeyNum: true}}, Group: "sorted-set", Since: "7.0.0", Complexity: "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.", Args: "numkeys:integer key [key ...] [LIMIT limit:integer]", Summary: "Intersect multiple sorted sets and return the cardinality of the result", Handler: zintercardCommand},
	{Name: "zdiff", Arity: -3, Flags: ro | server.FlagMovableKeys, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 1, KeyNum: true}}, Group: "sorted-set", Since: "6.2.0", Complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", Args: "numkeys:integer key [key ...] [WITHSCORES]", Summary: "Subtract multiple sorted sets", Handler: zdiffCommand},
	{Name: "zrange", Arity: -4, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "1.2.0", Complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", Args: "key start:string stop [sortby: BYSCORE | BYLEX]@6.2.0 [REV]@6.2.0 [LIMIT offset count]@6.2.0 [WITHSCORES]", Summary: "Return a range of members in a sorted set", History: [][2]string{{"6.2.0", "Added the `REV`, `BYSCORE`, `BYLEX` and `LIMIT` options."}}, Handler: zrangeCommand},
	{Name: "zrangestore", Arity: -5, Flags: w | dm, FirstKey: 1, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"OW", "UPDATE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RO", "ACCESS"}, Begin: 2, LastKey: 0}}, Group: "sorted-set", Since: "6.2.0", Complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.", Args: "dst:key src:key min max [sortby: BYSCORE | BYLEX] [REV] [LIMIT offset count]", Summary: "Store a range of members from sorted set into another key", Handler: zrangestoreCommand},
	{Name: "zrangebyscore", Arity: -4, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "1.0.5", Complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", Args: "key min:double max:double [WITHSCORES]@2.0.0 [LIMIT offset count]", Summary: "Return a range of members in a sorted set, by score", DocFlags: []string{"deprecated"}, DeprecatedSince: "6.2.0", ReplacedBy: "`ZRANGE` with the `BYSCORE` argument", History: [][2]string{{"2.0.0", "Added the `WITHSCORES` modifier."}}, Handler: zrangebyscoreCommand},
	{Name: "zrevrangebyscore", Arity: -4, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "2.2.0", Complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", Args: "key max:double min:double [WITHSCORES] [LIMIT offset count]", Summary: "Return a range of members in a sorted set, by score, with scores ordered from high to low", DocFlags: []string{"deprecated"}, DeprecatedSince: "6.2.0", ReplacedBy: "`ZRANGE` with the `REV` and `BYSCORE` arguments", History: [][2]string{{"2.1.6", "`min` and `max` can be exclusive."}}, Handler: zrevrangebyscoreCommand},
	{Name: "zrangebylex", Arity: -4, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "2.8.9", Complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", Args: "key min max [LIMIT offset count]", Summary: "Return a range of members in a sorted set, by lexicographical range", DocFlags: []string{"deprecated"}, DeprecatedSince: "6.2.0", ReplacedBy: "`ZRANGE` with the `BYLEX` argument", Handler: zrangebylexCommand},
	{Name: "zrevrangebylex", Arity: -4, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "2.8.9", Complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", Args: "key max min [LIMIT offset count]", Summary: "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", DocFlags: []string{"deprecated"}, DeprecatedSince: "6.2.0", ReplacedBy: "`ZRANGE` with the `REV` and `BYLEX` arguments", Handler: zrevrangebylexCommand},
	{Name: "zcount", Arity: 4, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "2.0.0", Complexity: "O(log(N)) with N being the number of elements in the sorted set.", Args: "key min:double max:double", Summary: "Count the members in a sorted set with scores within the given values", Handler: zcountCommand},
	{Name: "zlexcount", Arity: 4, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "2.8.9", Complexity: "O(log(N)) with N being the number of elements in the sorted set.", Args: "key min max", Summary: "Count the number of members in a sorted set between a given lexicographical range", Handler: zlexcountCommand},
	{Name: "zrevrange", Arity: -4, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "1.2.0", Complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", Args: "key start stop:integer [WITHSCORES]", Summary: "Return a range of members in a sorted set, by index, with scores ordered from high to low", DocFlags: []string{"deprecated"}, DeprecatedSince: "6.2.0", ReplacedBy: "`ZRANGE` with the `REV` argument", Handler: zrevrangeCommand},
	{Name: "zcard", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO"), Group: "sorted-set", Since: "1.2.0", Complexity: "O(1)", Args: "key", Summary: "Get the number of members in a sorted set", Handler: zcardCommand},
	{Name: "zscore", Arity: 3, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "1.2.0", Complexity: "O(1)", Args: "key member", Summary: "Get the score associated with the given member in a sorted set", Handler: zscoreCommand},
	{Name: "zmscore", Arity: -3, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "6.2.0", Complexity: "O(N) where N is the number of members being requested.", Args: "key member [member ...]", Summary: "Get the score associated with the given members in a sorted set", Handler: zmscoreCommand},
	{Name: "zrank", Arity: 3, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "2.0.0", Complexity: "O(log(N))", Args: "key member", Summary: "Determine the index of a member in a sorted set", Handler: zrankCommand},
	{Name: "zrevrank", Arity: 3, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "2.0.0", Complexity: "O(log(N))", Args: "key member", Summary: "Determine the index of a member in a sorted set, with scores ordered from high to low", Handler: zrevrankCommand},
	{Name: "zscan", Arity: -3, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "2.8.0", Complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", Args: "key cursor [MATCH pattern] [COUNT count]", Summary: "Incrementally iterate sorted sets elements and associated scores", Tips: []string{"nondeterministic_output"}, Handler: zscanCommand},
	{Name: "zpopmin", Arity: -2, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "DELETE"), Group: "sorted-set", Since: "5.0.0", Complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", Args: "key [count]", Summary: "Remove and return members with the lowest scores in a sorted set", Handler: zpopminCommand},
	{Name: "zpopmax", Arity: -2, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "DELETE"), Group: "sorted-set", Since: "5.0.0", Complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", Args: "key [count]", Summary: "Remove and return members with the highest scores in a sorted set", Handler: zpopmaxCommand},
	{Name: "zmpop", Arity: -4, Flags: w | server.FlagMovableKeys, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "DELETE"}, Begin: 1, KeyNum: true}}, Group: "sorted-set", Since: "7.0.0", Complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", Args: "numkeys:integer key [key ...] <where: MIN | MAX> [COUNT count]", Summary: "Remove and return members with scores in a sorted set", Handler: zmpopCommand},
	{Name: "bzpopmin", Arity: -3, Flags: w | server.FlagNoscript | server.FlagBlocking | ft, FirstKey: 1, LastKey: -2, Step: 1, KeySpecs: keys("RW", "ACCESS", "DELETE"), Group: "sorted-set", Since: "5.0.0", Complexity: "O(log(N)) with N being the number of elements in the sorted set.", Args: "key [key ...] timeout:double", Summary: "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available", History: [][2]string{{"6.0.0", "`timeout` is interpreted as a double instead of an integer."}}, Handler: bzpopminCommand},
	{Name: "bzpopmax", Arity: -3, Flags: w | server.FlagNoscript | server.FlagBlocking | ft, FirstKey: 1, LastKey: -2, Step: 1, KeySpecs: keys("RW", "ACCESS", "DELETE"), Group: "sorted-set", Since: "5.0.0", Complexity: "O(log(N)) with N being the number of elements in the sorted set.", Args: "key [key ...] timeout:double", Summary: "Remove and return the member with the highest score from one or more sorted sets, or block until one is available", History: [][2]string{{"6.0.0", "`timeout` is interpreted as a double instead of an integer."}}, Handler: bzpopmaxCommand},
	{Name: "bzmpop", Arity: -5, Flags: w | server.FlagBlocking | server.FlagMovableKeys, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "DELETE"}, Begin: 2, KeyNum: true}}, Group: "sorted-set", Since: "7.0.0", Complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", Args: "timeout:double numkeys:integer key [key ...] <where: MIN | MAX> [COUNT count]", Summary: "Remove and return members with scores in a sorted set or block until one is available", Handler: bzmpopCommand},
	{Name: "zrandmember", Arity: -2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "sorted-set", Since: "6.2.0", Complexity: "O(N) where N is the number of elements returned", Args: "key [options: count [WITHSCORES]]", Summary: "Get one or multiple random elements from a sorted set", Tips: []string{"nondeterministic_output"}, Handler: zrandmemberCommand},
}

// lookupZSet returns key's sorted set for a read: nil if missing,
// ErrWrongType if the key holds another type.
func lookupZSet(x *server.Ctx, key string) (*server.ZSet, error) { return zsetOf(x.DB.Lookup(key)) }

// lookupZSetWrite is lookupZSet for a write.
func lookupZSetWrite(x *server.Ctx, key string) (*server.ZSet, error) {
	return zsetOf(x.DB.LookupWrite(key))
}

func zsetOf(o *server.Object) (*server.ZSet, error) {
	if o == nil {
		return nil, nil
	}
	if o.Type != server.TypeZSet {
		return nil, server.ErrWrongType
	}
	return o.Val.(*server.ZSet), nil
}

// zscoreArg parses a score (a float; inf allowed, NaN refused).
func zscoreArg(b []byte) (float64, bool) {
	f, ok := server.ParseFloat(b)
	return f, ok && !math.IsNaN(f)
}

// zaddOptions are ZADD's flags.
type zaddOptions struct{ nx, xx, gt, lt, ch, incr bool }

// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
func zaddCommand(x *server.Ctx) {
	var o zaddOptions
	i := 2
	for ; i < len(x.Args); i++ {
		a := x.Args[i]
		switch {
		case is(a, "NX"):
			o.nx = true
		case is(a, "XX"):
			o.xx = true
		case is(a, "GT"):
			o.gt = true
		case is(a, "LT"):
			o.lt = true
		case is(a, "CH"):
			o.ch = true
		case is(a, "INCR"):
			o.incr = true
		default:
			goto pairs
		}
	}
pairs:
	rest := x.Args[i:]
	switch {
	case len(rest) == 0 || len(rest)%2 != 0:
		x.Error(server.ErrSyntax)
		return
	case o.nx && o.xx:
		x.Error(server.Errorf("XX and NX options at the same time are not compatible"))
		return
	case (o.gt && o.nx) || (o.lt && o.nx) || (o.gt && o.lt):
		x.Error(server.Errorf("GT, LT, and/or NX options at the same time are not compatible"))
		return
	case o.incr && len(rest) > 2:
		x.Error(server.Errorf("INCR option supports a single increment-element pair"))
		return
	}
	scores := make([]float64, len(rest)/2)
	for j := range scores {
		f, ok := zscoreArg(rest[2*j])
		if !ok {
			x.Error(server.ErrNotFloat)
			return
		}
		scores[j] = f
	}
	zaddGeneric(x, o, scores, rest)
}

// zaddGeneric applies scores to the members rest[1], rest[3]... with
// ZADD's flags; ZINCRBY is ZADD INCR.
func zaddGeneric(x *server.Ctx, o zaddOptions, scores []float64, rest [][]byte) {
	key := x.Arg(1)
	z, err := lookupZSetWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	created := z == nil
	if created {
		if o.xx {
			if o.incr {
				x.R.Null()
			} else {
				x.R.Int(0)
			}
			return
		}
		z = server.NewZSet()
	}
	added, changed := 0, 0
	var last float64
	lastOK := false
	for j, s := range scores {
		// The member is looked up without a string of its own (the
		// conversion does not escape) and copied only to be stored.
		cur, exists := z.Score(string(rest[2*j+1]))
		if (o.nx && exists) || (o.xx && !exists) {
			continue
		}
		if exists && o.incr {
			s += cur
			if math.IsNaN(s) {
				x.Error(server.Errorf("resulting score is not a number (NaN)"))
				return
			}
		}
		if exists && ((o.gt && s <= cur) || (o.lt && s >= cur)) {
			continue
		}
		last, lastOK = s, true
		switch {
		case !exists:
			added++
		case s != cur:
			changed++
		default:
			continue // the score it has: nothing changes
		}
		z.Add(x.S.Config, string(rest[2*j+1]), s)
	}
	if created && z.Len() > 0 {
		x.DB.Set(key, server.NewValue(server.TypeZSet, z), false)
	}
	if added+changed > 0 {
		x.Modified(key)
		event := "zadd"
		if o.incr {
			event = "zincr"
		}
		x.Notify(event, key)
	}
	switch {
	case o.incr && !lastOK:
		x.R.Null()
	case o.incr:
		x.R.Double(last)
	case o.ch:
		x.R.Int(int64(added + changed))
	default:
		x.R.Int(int64(added))
	}
}

// ZINCRBY key increment member
func zincrbyCommand(x *server.Ctx) {
	f, ok := zscoreArg(x.Args[2])
	if !ok {
		x.Error(server.ErrNotFloat)
		return
	}
	zaddGeneric(x, zaddOptions{incr: true}, []float64{f}, x.Args[2:])
}

// ZREM key member [member ...]
func zremCommand(x *server.Ctx) {
	key := x.Arg(1)
	z, err := lookupZSetWrite(x, key)
	if err != nil || z == nil {
		replyErrOrZero(x, err)
		return
	}
	n := 0
	for _, m := range x.Args[2:] {
		if z.Remove(string(m)) {
			n++
		}
	}
	if n > 0 {
		x.Modified(key)
		x.Notify("zrem", key)
		deleteIfEmpty(x, key, z.Len())
	}
	x.R.Int(int64(n))
}

// scoreRange is a ZRANGEBYSCORE interval.
type scoreRange struct {
	min, max         float64
	minExcl, maxExcl bool
}

func parseScoreBound(b []byte) (float64, bool, bool) {
	excl := len(b) > 0 && b[0] == '('
	if excl {
		b = b[1:]
	}
	f, ok := server.ParseFloat(b)
	return f, excl, ok && !math.IsNaN(f)
}

func parseScoreRange(min, max []byte) (scoreRange, error) {
	var r scoreRange
	var ok1, ok2 bool
	r.min, r.minExcl, ok1 = parseScoreBound(min)
	r.max, r.maxExcl, ok2 = parseScoreBound(max)
	if !ok1 || !ok2 {
		return r, server.Errorf("min or max is not a float")
	}
	return r, nil
}

func (r scoreRange) inMax(s float64) bool {
	if r.maxExcl {
		return s < r.max
	}
	return s <= r.max
}

func (r scoreRange) inMin(s float64) bool {
	if r.minExcl {
		return s > r.min
	}
	return s >= r.min
}

// lexRange is a ZRANGEBYLEX interval; "-" and "+" are the open ends.
type lexRange struct {
	min, max         string
	minExcl, maxExcl bool
	minInf, maxInf   bool // "-" for min, "+" for max (or the reverse: empty range)
	minPlus, maxNeg  bool
}

func parseLexBound(b []byte) (s string, excl, neg, pos, ok bool) {
	switch {
	case len(b) == 1 && b[0] == '-':
		return "", false, true, false, true
	case len(b) == 1 && b[0] == '+':
		return "", false, false, true, true
	case len(b) > 0 && (b[0] == '(' || b[0] == '['):
		return string(b[1:]), b[0] == '(', false, false, true
	}
	return "", false, false, false, false
}

func parseLexRange(min, max []byte) (lexRange, error) {
	var r lexRange
	var neg1, pos1, neg2, pos2, ok1, ok2 bool
	r.min, r.minExcl, neg1, pos1, ok1 = parseLexBound(min)
	r.max, r.maxExcl, neg2, pos2, ok2 = parseLexBound(max)
	if !ok1 || !ok2 {
		return r, server.Errorf("min or max not valid string range item")
	}
	r.minInf, r.minPlus = neg1, pos1
	r.maxInf, r.maxNeg = pos2, neg2
	return r, nil
}

func (r lexRange) inMin(m string) bool {
	switch {
	case r.minInf:
		return true
	case r.minPlus:
		return false
	case r.minExcl:
		return m > r.min
	}
	return m >= r.min
}

func (r lexRange) inMax(m string) bool {
	switch {
	case r.maxInf:
		return true
	case r.maxNeg:
		return false
	case r.maxExcl:
		return m < r.max
	}
	return m <= r.max
}

// zrangeSpec is a parsed ZRANGE-family query.
type zrangeSpec struct {
	by            byte // 'r' rank, 's' score, 'l' lex
	rev           bool
	start, stop   int64 // by rank
	score         scoreRange
	lex           lexRange
	offset, count int64 // LIMIT; count < 0: no limit
	withScores    bool
}

// zrangeSelect returns the entries a query selects, in reply order.
func zrangeSelect(z *server.ZSet, q zrangeSpec) []server.ZEntry {
	var out []server.ZEntry
	if z == nil {
		return nil
	}
	switch q.by {
	case 'r':
		from, to, ok := rangeIndexes(q.start, q.stop, z.Len())
		if !ok {
			return nil
		}
		if q.rev {
			n := z.Len()
			z.EachRev(n-1-from, func(e server.ZEntry) bool {
				out = append(out, e)
				return len(out) < to-from+1
			})
			return out
		}
		z.Each(from, func(e server.ZEntry) bool {
			out = append(out, e)
			return len(out) < to-from+1
		})
		return out
	}
	in := func(e server.ZEntry) (bool, bool) { // in range, past the far end
		if q.by == 's' {
			if q.rev {
				return q.score.inMax(e.Score) && q.score.inMin(e.Score), !q.score.inMin(e.Score)
			}
			return q.score.inMin(e.Score) && q.score.inMax(e.Score), !q.score.inMax(e.Score)
		}
		if q.rev {
			return q.lex.inMax(e.Member) && q.lex.inMin(e.Member), !q.lex.inMin(e.Member)
		}
		return q.lex.inMin(e.Member) && q.lex.inMax(e.Member), !q.lex.inMax(e.Member)
	}
	skip := q.offset
	visit := func(e server.ZEntry) bool {
		ok, past := in(e)
		if past {
			return false
		}
		if !ok {
			return true
		}
		if skip > 0 {
			skip--
			return true
		}
		if q.count >= 0 && int64(len(out)) >= q.count {
			return false
		}
		out = append(out, e)
		return true
	}
	if q.offset < 0 {
		return nil
	}
	if q.rev {
		start := z.Len() - 1
		if q.by == 's' {
			start = z.FirstAtLeast(q.score.max, !q.score.maxExcl) - 1
		} else if !q.lex.maxInf && !q.lex.maxNeg {
			start = z.FirstLexAtLeast(q.lex.max, !q.lex.maxExcl) - 1
		}
		if start >= 0 {
			z.EachRev(start, visit)
		}
		return out
	}
	start := 0
	if q.by == 's' {
		start = z.FirstAtLeast(q.score.min, q.score.minExcl)
	} else if !q.lex.minInf && !q.lex.minPlus {
		start = z.FirstLexAtLeast(q.lex.min, q.lex.minExcl)
	}
	z.Each(start, visit)
	return out
}

// replyEntries replies entries, with their scores if asked: flat in RESP2,
// [member, score] pairs in RESP3.
func replyEntries(x *server.Ctx, es []server.ZEntry, withScores bool) {
	if !withScores {
		x.R.Array(len(es))
		for _, e := range es {
			x.R.BulkString(e.Member)
		}
		return
	}
	if x.R.Resp() == 3 {
		x.R.Array(len(es))
		for _, e := range es {
			x.R.Array(2)
			x.R.BulkString(e.Member)
			x.R.Double(e.Score)
		}
		return
	}
	x.R.Array(2 * len(es))
	for _, e := range es {
		x.R.BulkString(e.Member)
		x.R.Double(e.Score)
	}
}

// parseZrange reads ZRANGE-style arguments from args[at:]: min max and the
// options the command allows. by and rev are preset by the older commands
// (ZRANGEBYSCORE, ZREVRANGE...), for which allowBy is false.
func parseZrange(x *server.Ctx, at int, q zrangeSpec, allowBy, allowWithScores bool) (zrangeSpec, error) {
	q.count = -1
	limit := false
	for i := at + 2; i < len(x.Args); i++ {
		a := x.Args[i]
		switch {
		case allowBy && is(a, "BYSCORE"):
			q.by = 's'
		case allowBy && is(a, "BYLEX"):
			q.by = 'l'
		case allowBy && is(a, "REV"):
			q.rev = true
		case allowWithScores && is(a, "WITHSCORES"):
			q.withScores = true
		case is(a, "LIMIT") && i+2 < len(x.Args):
			off, ok1 := server.ParseInt(x.Args[i+1])
			cnt, ok2 := server.ParseInt(x.Args[i+2])
			if !ok1 || !ok2 {
				return q, server.ErrNotInteger
			}
			q.offset, q.count, limit = off, cnt, true
			i += 2
		default:
			return q, server.ErrSyntax
		}
	}
	if limit && q.by == 'r' {
		return q, server.Errorf("syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
	}
	if q.withScores && q.by == 'l' {
		return q, server.Errorf("syntax error, WITHSCORES not supported in combination with BYLEX")
	}
	min, max := x.Args[at], x.Args[at+1]
	if q.rev && q.by != 'r' {
		min, max = max, min // BYSCORE REV takes max first
	}
	var err error
	switch q.by {
	case 'r':
		var ok1, ok2 bool
		q.start, ok1 = server.ParseInt(x.Args[at])
		q.stop, ok2 = server.ParseInt(x.Args[at+1])
		if !ok1 || !ok2 {
			return q, server.ErrNotInteger
		}
	case 's':
		q.score, err = parseScoreRange(min, max)
	case 'l':
		q.lex, err = parseLexRange(min, max)
	}
	return q, err
}

// zrangeGeneric answers the ZRANGE family: arguments from at, preset
// query fields, and which options the command has.
func zrangeGeneric(x *server.Ctx, at int, q zrangeSpec, allowBy bool) {
	q, err := parseZrange(x, at, q, allowBy, q.by != 'l' || allowBy)
	if err != nil {
		x.Error(err)
		return
	}
	z, err := lookupZSet(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	replyEntries(x, zrangeSelect(z, q), q.withScores)
}

// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
func zrangeCommand(x *server.Ctx) { zrangeGeneric(x, 2, zrangeSpec{by: 'r'}, true) }

// ZREVRANGE key start stop [WITHSCORES]
func zrevrangeCommand(x *server.Ctx) {
	zrangeGeneric(x, 2, zrangeSpec{by: 'r', rev: true}, false)
}

// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
func zrangebyscoreCommand(x *server.Ctx) { zrangeGeneric(x, 2, zrangeSpec{by: 's'}, false) }

// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
func zrevrangebyscoreCommand(x *server.Ctx) {
	zrangeGeneric(x, 2, zrangeSpec{by: 's', rev: true}, false)
}

// ZRANGEBYLEX key min max [LIMIT offset count]
func zrangebylexCommand(x *server.Ctx) { zrangeGeneric(x, 2, zrangeSpec{by: 'l'}, false) }

// ZREVRANGEBYLEX key max min [LIMIT offset count]
func zrevrangebylexCommand(x *server.Ctx) {
	zrangeGeneric(x, 2, zrangeSpec{by: 'l', rev: true}, false)
}

// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
func zrangestoreCommand(x *server.Ctx) {
	q, err := parseZrange(x, 3, zrangeSpec{by: 'r'}, true, false)
	if err != nil {
		x.Error(err)
		return
	}
	z, err := lookupZSet(x, x.Arg(2))
	if err != nil {
		x.Error(err)
		return
	}
	storeZSet(x, x.Arg(1), zrangeSelect(z, q), "zrangestore")
}

// storeZSet writes entries to dst (deleting it when empty) and replies
// their number.
func storeZSet(x *server.Ctx, dst string, es []server.ZEntry, event string) {
	if len(es) == 0 {
		if x.DB.Delete(dst) {
			x.Modified(dst)
			x.Notify("del", dst)
		}
		x.R.Int(0)
		return
	}
	z := server.NewZSet()
	for _, e := range es {
		z.Add(x.S.Config, e.Member, e.Score)
	}
	x.DB.Set(dst, server.NewValue(server.TypeZSet, z), false)
	x.Modified(dst)
	x.Notify(event, dst)
	x.R.Int(int64(z.Len()))
}

// ZCOUNT key min max
func zcountCommand(x *server.Ctx) {
	r, err := parseScoreRange(x.Args[2], x.Args[3])
	if err != nil {
		x.Error(err)
		return
	}
	z, err := lookupZSet(x, x.Arg(1))
	if err != nil || z == nil {
		replyErrOrZero(x, err)
		return
	}
	n := 0
	z.Each(z.FirstAtLeast(r.min, r.minExcl), func(e server.ZEntry) bool {
		if !r.inMax(e.Score) {
			return false
		}
		n++
		return true
	})
	x.R.Int(int64(n))
}

// ZLEXCOUNT key min max
func zlexcountCommand(x *server.Ctx) {
	r, err := parseLexRange(x.Args[2], x.Args[3])
	if err != nil {
		x.Error(err)
		return
	}
	z, err := lookupZSet(x, x.Arg(1))
	if err != nil || z == nil {
		replyErrOrZero(x, err)
		return
	}
	x.R.Int(int64(len(zrangeSelect(z, zrangeSpec{by: 'l', lex: r, count: -1}))))
}

// ZCARD key
func zcardCommand(x *server.Ctx) {
	z, err := lookupZSet(x, x.Arg(1))
	if err != nil || z == nil {
		replyErrOrZero(x, err)
		return
	}
	x.R.Int(int64(z.Len()))
}

// ZSCORE key member
func zscoreCommand(x *server.Ctx) {
	z, err := lookupZSet(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if z == nil {
		x.R.Null()
		return
	}
	if s, ok := z.Score(x.Arg(2)); ok {
		x.R.Double(s)
	} else {
		x.R.Null()
	}
}

// ZMSCORE key member [member ...]
func zmscoreCommand(x *server.Ctx) {
	z, err := lookupZSet(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	x.R.Array(len(x.Args) - 2)
	for _, m := range x.Args[2:] {
		if z == nil {
			x.R.Null()
		} else if s, ok := z.Score(string(m)); ok {
			x.R.Double(s)
		} else {
			x.R.Null()
		}
	}
}

// ZRANK key member
func zrankCommand(x *server.Ctx) { zrankGeneric(x, false) }

// ZREVRANK key member
func zrevrankCommand(x *server.Ctx) { zrankGeneric(x, true) }

func zrankGeneric(x *server.Ctx, rev bool) {
	z, err := lookupZSet(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if z == nil {
		x.R.Null()
		return
	}
	r, ok := z.Rank(x.Arg(2))
	if !ok {
		x.R.Null()
		return
	}
	if rev {
		r = z.Len() - 1 - r
	}
	x.R.Int(int64(r))
}

// ZREMRANGEBYRANK key start stop
func zremrangebyrankCommand(x *server.Ctx) {
	start, err := intArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	stop, err := intArg(x, 3)
	if err != nil {
		x.Error(err)
		return
	}
	zremGeneric(x, zrangeSpec{by: 'r', start: start, stop: stop, count: -1}, "zremrangebyrank")
}

// ZREMRANGEBYSCORE key min max
func zremrangebyscoreCommand(x *server.Ctx) {
	r, err := parseScoreRange(x.Args[2], x.Args[3])
	if err != nil {
		x.Error(err)
		return
	}
	zremGeneric(x, zrangeSpec{by: 's', score: r, count: -1}, "zremrangebyscore")
}

// ZREMRANGEBYLEX key min max
func zremrangebylexCommand(x *server.Ctx) {
	r, err := parseLexRange(x.Args[2], x.Args[3])
	if err != nil {
		x.Error(err)
		return
	}
	zremGeneric(x, zrangeSpec{by: 'l', lex: r, count: -1}, "zremrangebylex")
}

func zremGeneric(x *server.Ctx, q zrangeSpec, event string) {
	key := x.Arg(1)
	z, err := lookupZSetWrite(x, key)
	if err != nil || z == nil {
		replyErrOrZero(x, err)
		return
	}
	es := zrangeSelect(z, q)
	for _, e := range es {
		z.Remove(e.Member)
	}
	if len(es) > 0 {
		x.Modified(key)
		x.Notify(event, key)
		deleteIfEmpty(x, key, z.Len())
	}
	x.R.Int(int64(len(es)))
}

// zsetOpArgs are ZUNION/ZINTER/ZDIFF's parsed arguments.
type zsetOpArgs struct {
	keys       []string
	weights    []float64
	agg        byte // 's' sum, 'n' min, 'x' max
	withScores bool
}

// parseZsetOp reads "numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE a]
// [WITHSCORES]" from args[at:]; ZDIFF allows neither weights nor
// aggregate, the STORE forms no WITHSCORES.
func parseZsetOp(x *server.Ctx, at int, diff, store bool) (zsetOpArgs, error) {
	o := zsetOpArgs{agg: 's'}
	n, ok := server.ParseInt(x.Args[at])
	if !ok {
		return o, server.ErrNotInteger
	}
	if n < 1 {
		return o, server.Errorf("at least 1 input key is needed for '" + x.Cmd.Name + "' command")
	}
	if n > int64(len(x.Args)-at-1) {
		return o, server.ErrSyntax
	}
	for _, k := range x.Args[at+1 : at+1+int(n)] {
		o.keys = append(o.keys, string(k))
	}
	o.weights = make([]float64, n)
	for i := range o.weights {
		o.weights[i] = 1
	}
	for i := at + 1 + int(n); i < len(x.Args); i++ {
		a := x.Args[i]
		left := len(x.Args) - i - 1
		switch {
		case !diff && is(a, "WEIGHTS") && left >= int(n):
			for j := range o.weights {
				w, ok := server.ParseFloat(x.Args[i+1+j])
				if !ok {
					return o, server.Errorf("weight value is not a float")
				}
				o.weights[j] = w
			}
			i += int(n)
		case !diff && is(a, "AGGREGATE") && left >= 1:
			switch b := x.Args[i+1]; {
			case is(b, "SUM"):
				o.agg = 's'
			case is(b, "MIN"):
				o.agg = 'n'
			case is(b, "MAX"):
				o.agg = 'x'
			default:
				return o, server.ErrSyntax
			}
			i++
		case !store && is(a, "WITHSCORES"):
			o.withScores = true
		default:
			return o, server.ErrSyntax
		}
	}
	return o, nil
}

// zsetInput reads a key as a sorted set or a plain set (every score 1),
// as ZUNIONSTORE does; missing keys are empty.
func zsetInput(x *server.Ctx, key string, write bool) ([]server.ZEntry, bool, error) {
	var o *server.Object
	if write {
		o = x.DB.LookupWrite(key)
	} else {
		o = x.DB.Lookup(key)
	}
	if o == nil {
		return nil, false, nil
	}
	switch o.Type {
	case server.TypeZSet:
		return o.Val.(*server.ZSet).Entries(), true, nil
	case server.TypeSet:
		var es []server.ZEntry
		for _, m := range o.Val.(*server.Set).Members() {
			es = append(es, server.ZEntry{Member: m, Score: 1})
		}
		return es, true, nil
	}
	return nil, false, server.ErrWrongType
}

// zsetOp computes op ('u' union, 'i' inter, 'd' diff) over the inputs and
// returns the result in score order.
func zsetOp(x *server.Ctx, op byte, o zsetOpArgs, write bool) ([]server.ZEntry, error) {
	inputs := make([][]server.ZEntry, len(o.keys))
	exists := make([]bool, len(o.keys))
	for i, k := range o.keys {
		es, ok, err := zsetInput(x, k, write)
		if err != nil {
			return nil, err
		}
		inputs[i], exists[i] = es, ok
	}
	aggregate := func(a, b float64) float64 {
		switch o.agg {
		case 'n':
			return math.Min(a, b)
		case 'x':
			return math.Max(a, b)
		}
		s := a + b
		if math.IsNaN(s) {
			return 0 // +inf + -inf: Redis makes it 0
		}
		return s
	}
	weighted := func(s, w float64) float64 {
		v := s * w
		if math.IsNaN(v) {
			return 0
		}
		return v
	}
	acc := map[string]float64{}
	var order []string
	switch op {
	case 'u':
		for i, es := range inputs {
			for _, e := range es {
				v := weighted(e.Score, o.weights[i])
				if cur, ok := acc[e.Member]; ok {
					acc[e.Member] = aggregate(cur, v)
				} else {
					acc[e.Member] = v
					order = append(order, e.Member)
				}
			}
		}
	case 'i':
		for _, e := range inputs[0] {
			acc[e.Member] = weighted(e.Score, o.weights[0])
			order = append(order, e.Member)
		}
		for i, es := range inputs[1:] {
			next := map[string]float64{}
			for _, e := range es {
				if cur, ok := acc[e.Member]; ok {
					next[e.Member] = aggregate(cur, weighted(e.Score, o.weights[i+1]))
				}
			}
			acc = next
		}
	case 'd':
		for _, e := range inputs[0] {
			acc[e.Member] = e.Score
			order = append(order, e.Member)
		}
		for _, es := range inputs[1:] {
			for _, e := range es {
				delete(acc, e.Member)
			}
		}
	}
	z := server.NewZSet()
	for _, m := range order {
		if s, ok := acc[m]; ok {
			z.Add(x.S.Config, m, s)
		}
	}
	return z.Entries(), nil
}

func zsetOpCommand(x *server.Ctx, op byte, store bool) {
	at := 1
	if store {
		at = 2
	}
	o, err := parseZsetOp(x, at, op == 'd', store)
	if err != nil {
		x.Error(err)
		return
	}
	es, err := zsetOp(x, op, o, store)
	if err != nil {
		x.Error(err)
		return
	}
	if store {
		storeZSet(x, x.Arg(1), es, map[byte]string{'u': "zunionstore", 'i': "zinterstore", 'd': "zdiffstore"}[op])
		return
	}
	replyEntries(x, es, o.withScores)
}

// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
func zunionstoreCommand(x *server.Ctx) { zsetOpCommand(x, 'u', true) }

// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
func zinterstoreCommand(x *server.Ctx) { zsetOpCommand(x, 'i', true) }

// ZDIFFSTORE destination numkeys key [key ...]
func zdiffstoreCommand(x *server.Ctx) { zsetOpCommand(x, 'd', true) }

// ZUNION numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES]
func zunionCommand(x *server.Ctx) { zsetOpCommand(x, 'u', false) }

// ZINTER numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES]
func zinterCommand(x *server.Ctx) { zsetOpCommand(x, 'i', false) }

// ZDIFF numkeys key [key ...] [WITHSCORES]
func zdiffCommand(x *server.Ctx) { zsetOpCommand(x, 'd', false) }

// ZINTERCARD numkeys key [key ...] [LIMIT limit]
func zintercardCommand(x *server.Ctx) {
	n, ok := server.ParseInt(x.Args[1])
	switch {
	case !ok:
		x.Error(server.ErrNotInteger)
		return
	case n < 1:
		x.Error(server.Errorf("at least 1 input key is needed for 'zintercard' command"))
		return
	case n > int64(len(x.Args)-2):
		x.Error(server.ErrSyntax)
		return
	}
	limit := int64(0)
	rest := x.Args[2+n:]
	switch {
	case len(rest) == 0:
	case len(rest) == 2 && is(rest[0], "LIMIT"):
		l, ok := server.ParseInt(rest[1])
		if !ok || l < 0 {
			x.Error(server.Errorf("LIMIT can't be negative"))
			return
		}
		limit = l
	default:
		x.Error(server.ErrSyntax)
		return
	}
	o := zsetOpArgs{agg: 's', weights: make([]float64, n)}
	for _, k := range x.Args[2 : 2+n] {
		o.keys = append(o.keys, string(k))
	}
	es, err := zsetOp(x, 'i', o, false)
	if err != nil {
		x.Error(err)
		return
	}
	if limit > 0 && int64(len(es)) > limit {
		es = es[:limit]
	}
	x.R.Int(int64(len(es)))
}

// ZSCAN key cursor [MATCH pattern] [COUNT count]
func zscanCommand(x *server.Ctx) {
	z, err := lookupZSet(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	collectionScan(x, func(cursor uint64, count int, emit func(name string, more ...string)) uint64 {
		if z == nil {
			return 0
		}
		return z.Scan(cursor, count, func(e server.ZEntry) { emit(e.Member, string(server.AppendDouble(nil, e.Score))) })
	})
}

// zpop removes up to count entries from the low (min) or high end and
// returns them in pop order.
func zpop(z *server.ZSet, min bool, count int) []server.ZEntry {
	var out []server.ZEntry
	for len(out) < count && z.Len() > 0 {
		i := 0
		if !min {
			i = z.Len() - 1
		}
		e := z.At(i)
		z.Remove(e.Member)
		out = append(out, e)
	}
	return out
}

// ZPOPMIN key [count]
func zpopminCommand(x *server.Ctx) { zpopGeneric(x, true) }

// ZPOPMAX key [count]
func zpopmaxCommand(x *server.Ctx) { zpopGeneric(x, false) }

func zpopGeneric(x *server.Ctx, min bool) {
	if len(x.Args) > 3 {
		x.Error(server.ErrSyntax)
		return
	}
	count, hasCount := int64(1), len(x.Args) == 3
	if hasCount {
		n, ok := server.ParseInt(x.Args[2])
		if !ok || n < 0 {
			x.Error(server.ErrNotPositive)
			return
		}
		count = n
	}
	key := x.Arg(1)
	z, err := lookupZSetWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	if z == nil || count == 0 {
		x.R.Array(0)
		return
	}
	es := zpop(z, min, int(minInt64(count, int64(z.Len()))))
	x.Modified(key)
	x.Notify(zpopEvent(min), key)
	deleteIfEmpty(x, key, z.Len())
	if hasCount && x.R.Resp() == 3 {
		replyEntries(x, es, true)
		return
	}
	x.R.Array(2 * len(es))
	for _, e := range es {
		x.R.BulkString(e.Member)
		x.R.Double(e.Score)
	}
}

func zpopEvent(min bool) string {
	if min {
		return "zpopmin"
	}
	return "zpopmax"
}

func zwhereArg(a []byte) (bool, bool) {
	switch {
	case is(a, "MIN"):
		return true, true
	case is(a, "MAX"):
		return false, true
	}
	return false, false
}

// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
func zmpopCommand(x *server.Ctx) {
	m, err := parseMpop(x, 1)
	if err != nil {
		x.Error(err)
		return
	}
	min, ok := zwhereArg(m.where)
	if !ok {
		x.Error(server.ErrSyntax)
		return
	}
	if !zmpopOnce(x, m.keys, min, m.count) {
		x.R.NullArray()
	}
}

// zmpopOnce pops from the first non-empty sorted set of keys and replies
// [key, [[member, score] ...]]; false (nothing replied) when none exists.
func zmpopOnce(x *server.Ctx, keys []string, min bool, count int64) bool {
	for _, k := range keys {
		z, err := lookupZSetWrite(x, k)
		if err != nil {
			x.Error(err)
			return true
		}
		if z == nil {
			continue
		}
		es := zpop(z, min, int(minInt64(count, int64(z.Len()))))
		x.Propagate([]byte(strings.ToUpper(zpopEvent(min))), []byte(k), strconv.AppendInt(nil, int64(len(es)), 10))
		x.Modified(k)
		x.Notify(zpopEvent(min), k)
		deleteIfEmpty(x, k, z.Len())
		x.R.Array(2)
		x.R.BulkString(k)
		x.R.Array(len(es))
		for _, e := range es {
			x.R.Array(2)
			x.R.BulkString(e.Member)
			x.R.Double(e.Score)
		}
		return true
	}
	return false
}

// BZPOPMIN key [key ...] timeout
func bzpopminCommand(x *server.Ctx) { bzpopGeneric(x, true) }

// BZPOPMAX key [key ...] timeout
func bzpopmaxCommand(x *server.Ctx) { bzpopGeneric(x, false) }

func bzpopGeneric(x *server.Ctx, min bool) {
	keys, deadline, err := keysThenTimeout(x)
	if err != nil {
		x.Error(err)
		return
	}
	blockingPop{typ: server.TypeZSet, keys: keys, deadline: deadline, pop: func(x *server.Ctx, key string) bool {
		z, err := lookupZSetWrite(x, key)
		if err != nil || z == nil {
			return false
		}
		e := zpop(z, min, 1)[0]
		x.Propagate([]byte(strings.ToUpper(zpopEvent(min))), []byte(key)) // BZPOPMIN is logged as ZPOPMIN
		x.Modified(key)
		x.Notify(zpopEvent(min), key)
		deleteIfEmpty(x, key, z.Len())
		x.R.Array(3)
		x.R.BulkString(key)
		x.R.BulkString(e.Member)
		x.R.Double(e.Score)
		return true
	}}.run(x)
}

// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
func bzmpopCommand(x *server.Ctx) {
	deadline, err := timeoutArg(x, 1)
	if err != nil {
		x.Error(err)
		return
	}
	m, err := parseMpop(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	min, ok := zwhereArg(m.where)
	if !ok {
		x.Error(server.ErrSyntax)
		return
	}
	blockingPop{typ: server.TypeZSet, keys: m.keys, deadline: deadline, pop: func(x *server.Ctx, key string) bool {
		return zmpopOnce(x, []string{key}, min, m.count)
	}}.run(x)
}

// ZRANDMEMBER key [count [WITHSCORES]]
func zrandmemberCommand(x *server.Ctx) {
	if len(x.Args) > 4 || (len(x.Args) == 4 && !is(x.Args[3], "WITHSCORES")) {
		x.Error(server.ErrSyntax)
		return
	}
	if len(x.Args) == 2 {
		z, err := lookupZSet(x, x.Arg(1))
		switch {
		case err != nil:
			x.Error(err)
		case z == nil:
			x.R.Null()
		default:
			x.R.BulkString(z.At(z.Random()).Member)
		}
		return
	}
	count, err := randCountArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	withScores := len(x.Args) == 4
	if withScores && (count > math.MaxInt64/2 || count < -math.MaxInt64/2) {
		x.Error(server.Errorf("value is out of range"))
		return
	}
	z, err := lookupZSet(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if z == nil || count == 0 {
		x.R.Array(0)
		return
	}
	var es []server.ZEntry
	if count < 0 {
		for n := -count; n > 0; n-- {
			es = append(es, z.At(z.Random()))
		}
	} else {
		for _, i := range randomPicks(z.Len(), count, z.Random) {
			es = append(es, z.At(i))
		}
	}
	replyEntries(x, es, withScores)
}

// minInt64 is min for the functions whose min/max flag shadows the builtin.
func minInt64(a, b int64) int64 { return min(a, b) }
