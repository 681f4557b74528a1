package commands

import (
	"math"
	"strconv"
	"strings"

	"reddwarf/server"
)

var listCommands = []*server.Spec{
	{Name: "lpush", Arity: -3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "INSERT"), Group: "list", Since: "1.0.0", Complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", Args: "key element [element ...]", Summary: "Prepend one or multiple elements to a list", History: [][2]string{{"2.4.0", "Accepts multiple `element` arguments."}}, Handler: lpushCommand},
	{Name: "rpush", Arity: -3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "INSERT"), Group: "list", Since: "1.0.0", Complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", Args: "key element [element ...]", Summary: "Append one or multiple elements to a list", History: [][2]string{{"2.4.0", "Accepts multiple `element` arguments."}}, Handler: rpushCommand},
	{Name: "lpushx", Arity: -3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "INSERT"), Group: "list", Since: "2.2.0", Complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", Args: "key element [element ...]", Summary: "Prepend an element to a list, only if the list exists", History: [][2]string{{"4.0.0", "Accepts multiple `element` arguments."}}, Handler: lpushxCommand},
	{Name: "rpushx", Arity: -3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "INSERT"), Group: "list", Since: "2.2.0", Complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", Args: "key element [element ...]", Summary: "Append an element to a list, only if the list exists", History: [][2]string{{"4.0.0", "Accepts multiple `element` arguments."}}, Handler: rpushxCommand},
	{Name: "linsert", Arity: 5, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "INSERT"), Group: "list", Since: "2.2.0", Complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).", Args: "key <where: BEFORE | AFTER> pivot element", Summary: "Insert an element before or after another element in a list", Handler: linsertCommand},
	{Name: "llen", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO"), Group: "list", Since: "1.0.0", Complexity: "O(1)", Args: "key", Summary: "Get the length of a list", Handler: llenCommand},
	{Name: "lindex", Arity: 3, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "list", Since: "1.0.0", Complexity: "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).", Args: "key index:integer", Summary: "Get an element from a list by its index", Handler: lindexCommand},
	{Name: "lset", Arity: 4, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "list", Since: "1.0.0", Complexity: "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).", Args: "key index:integer element", Summary: "Set the value of an element in a list by its index", Handler: lsetCommand},
	{Name: "lrange", Arity: 4, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "list", Since: "1.0.0", Complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.", Args: "key start stop:integer", Summary: "Get a range of elements from a list", Handler: lrangeCommand},
	{Name: "ltrim", Arity: 4, Flags: w, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "DELETE"), Group: "list", Since: "1.0.0", Complexity: "O(N) where N is the number of elements to be removed by the operation.", Args: "key start stop:integer", Summary: "Trim a list to the specified range", Handler: ltrimCommand},
	{Name: "lrem", Arity: 4, Flags: w, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "DELETE"), Group: "list", Since: "1.0.0", Complexity: "O(N+M) where N is the length of the list and M is the number of elements removed.", Args: "key count element", Summary: "Remove elements from a list", Handler: lremCommand},
	{Name: "lpop", Arity: -2, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "DELETE"), Group: "list", Since: "1.0.0", Complexity: "O(N) where N is the number of elements returned", Args: "key [count]@6.2.0", Summary: "Remove and get the first elements in a list", History: [][2]string{{"6.2.0", "Added the `count` argument."}}, Handler: lpopCommand},
	{Name: "rpop", Arity: -2, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "DELETE"), Group: "list", Since: "1.0.0", Complexity: "O(N) where N is the number of elements returned", Args: "key [count]@6.2.0", Summary: "Remove and get the last elements in a list", History: [][2]string{{"6.2.0", "Added the `count` argument."}}, Handler: rpopCommand},
	{Name: "rpoplpush", Arity: 3, Flags: w | dm, FirstKey: 1, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "DELETE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RW", "INSERT"}, Begin: 2, LastKey: 0}}, Group: "list", Since: "1.2.0", Complexity: "O(1)", Args: "source destination", Summary: "Remove the last element in a list, prepend it to another list and return it", DocFlags: []string{"deprecated"}, DeprecatedSince: "6.2.0", ReplacedBy: "`LMOVE` with the `RIGHT` and `LEFT` arguments", Handler: rpoplpushCommand},
	{Name: "lmove", Arity: 5, Flags: w | dm, FirstKey: 1, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "DELETE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RW", "INSERT"}, Begin: 2, LastKey: 0}}, Group: "list", Since: "6.2.0", Complexity: "O(1)", Args: "source destination <wherefrom: LEFT | RIGHT> <whereto: LEFT | RIGHT>", Summary: "Pop an element from a list, push it to another list and return it", Handler: lmoveCommand},
	{Name: "lpos", Arity: -3, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "list", Since: "6.0.6", Complexity: "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.", Args: "key element [RANK rank:integer] [COUNT num-matches:integer] [MAXLEN len:integer]", Summary: "Return the index of matching elements on a list", Handler: lposCommand},
	{Name: "lmpop", Arity: -4, Flags: w | server.FlagMovableKeys, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "DELETE"}, Begin: 1, KeyNum: true}}, Group: "list", Since: "7.0.0", Complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.", Args: "numkeys:integer key [key ...] <where: LEFT | RIGHT> [COUNT count]", Summary: "Pop elements from a list", Handler: lmpopCommand},
	{Name: "blpop", Arity: -3, Flags: w | server.FlagNoscript | server.FlagBlocking, FirstKey: 1, LastKey: -2, Step: 1, KeySpecs: keys("RW", "ACCESS", "DELETE"), Group: "list", Since: "2.0.0", Complexity: "O(N) where N is the number of provided keys.", Args: "key [key ...] timeout:double", Summary: "Remove and get the first element in a list, or block until one is available", History: [][2]string{{"6.0.0", "`timeout` is interpreted as a double instead of an integer."}}, Handler: blpopCommand},
	{Name: "brpop", Arity: -3, Flags: w | server.FlagNoscript | server.FlagBlocking, FirstKey: 1, LastKey: -2, Step: 1, KeySpecs: keys("RW", "ACCESS", "DELETE"), Group: "list", Since: "2.0.0", Complexity: "O(N) where N is the number of provided keys.", Args: "key [key ...] timeout:double", Summary: "Remove and get the last element in a list, or block until one is available", History: [][2]string{{"6.0.0", "`timeout` is interpreted as a double instead of an integer."}}, Handler: brpopCommand},
	{Name: "brpoplpush", Arity: 4, Flags: w | dm | server.FlagNoscript | server.FlagBlocking, FirstKey: 1, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "DELETE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RW", "INSERT"}, Begin: 2, LastKey: 0}}, Group: "list", Since: "2.2.0", Complexity: "O(1)", Args: "source destination timeout:double", Summary: "Pop an element from a list, push it to another list and return it; or block until one is available", DocFlags: []string{"deprecated"}, DeprecatedSince: "6.2.0", ReplacedBy: "`BLMOVE` with the `RIGHT` and `LEFT` arguments", History: [][2]string{{"6.0.0", "`timeout` is interpreted as a double instead of an integer."}}, Handler: brpoplpushCommand},
	{Name: "blmove", Arity: 6, Flags: w | dm | server.FlagNoscript | server.FlagBlocking, FirstKey: 1, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "DELETE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RW", "INSERT"}, Begin: 2, LastKey: 0}}, Group: "list", Since: "6.2.0", Complexity: "O(1)", Args: "source destination <wherefrom: LEFT | RIGHT> <whereto: LEFT | RIGHT> timeout:double", Summary: "Pop an element from a list, push it to another list and return it; or block until one is available", Handler: blmoveCommand},
	{Name: "blmpop", Arity: -5, Flags: w | server.FlagBlocking | server.FlagMovableKeys, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "DELETE"}, Begin: 2, KeyNum: true}}, Group: "list", Since: "7.0.0", Complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.", Args: "timeout:double numkeys:integer key [key ...] <where: LEFT | RIGHT> [COUNT count]", Summary: "Pop elements from a list, or block until one is available", Handler: blmpopCommand},
}

// lookupList returns key's list for a read: nil if missing, ErrWrongType
// if the key holds another type.
func lookupList(x *server.Ctx, key string) (*server.List, error) {
	return listOf(x.DB.Lookup(key))
}

// lookupListWrite is lookupList for a write.
func lookupListWrite(x *server.Ctx, key string) (*server.List, error) {
	return listOf(x.DB.LookupWrite(key))
}

func listOf(o *server.Object) (*server.List, error) {
	if o == nil {
		return nil, nil
	}
	if o.Type != server.TypeList {
		return nil, server.ErrWrongType
	}
	return o.Val.(*server.List), nil
}

const (
	listHead = true
	listTail = false
)

// whereArg parses LEFT or RIGHT (true for LEFT, the head).
func whereArg(a []byte) (bool, bool) {
	switch {
	case is(a, "LEFT"):
		return listHead, true
	case is(a, "RIGHT"):
		return listTail, true
	}
	return false, false
}

// LPUSH key element [element ...]
func lpushCommand(x *server.Ctx) { pushGeneric(x, listHead, false) }

// RPUSH key element [element ...]
func rpushCommand(x *server.Ctx) { pushGeneric(x, listTail, false) }

// LPUSHX key element [element ...]
func lpushxCommand(x *server.Ctx) { pushGeneric(x, listHead, true) }

// RPUSHX key element [element ...]
func rpushxCommand(x *server.Ctx) { pushGeneric(x, listTail, true) }

// pushGeneric pushes the elements at the head or tail, one by one (so
// LPUSH a b c leaves c first); with xx only onto an existing list.
func pushGeneric(x *server.Ctx, head, xx bool) {
	key := x.Arg(1)
	l, err := lookupListWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	if l == nil {
		if xx {
			x.R.Int(0)
			return
		}
		l = server.NewList()
		defer x.DB.Set(key, server.NewValue(server.TypeList, l), false) // after the pushes: waiters see them
	}
	for _, e := range x.Args[2:] {
		if head {
			l.PushLeft(e)
		} else {
			l.PushRight(e)
		}
	}
	x.Modified(key)
	x.Notify(pushEvent(head), key)
	x.R.Int(int64(l.Len()))
}

func pushEvent(head bool) string {
	if head {
		return "lpush"
	}
	return "rpush"
}

func popEvent(head bool) string {
	if head {
		return "lpop"
	}
	return "rpop"
}

// LINSERT key BEFORE|AFTER pivot element
func linsertCommand(x *server.Ctx) {
	var after bool
	switch {
	case is(x.Args[2], "AFTER"):
		after = true
	case !is(x.Args[2], "BEFORE"):
		x.Error(server.ErrSyntax)
		return
	}
	key := x.Arg(1)
	l, err := lookupListWrite(x, key)
	if err != nil || l == nil {
		replyErrOrZero(x, err)
		return
	}
	pivot := x.Arg(3)
	for i := 0; i < l.Len(); i++ {
		if string(l.Index(i)) == pivot {
			if after {
				i++
			}
			l.Insert(i, x.Args[4])
			x.Modified(key)
			x.Notify("linsert", key)
			x.R.Int(int64(l.Len()))
			return
		}
	}
	x.R.Int(-1)
}

// LLEN key
func llenCommand(x *server.Ctx) {
	l, err := lookupList(x, x.Arg(1))
	if err != nil || l == nil {
		replyErrOrZero(x, err)
		return
	}
	x.R.Int(int64(l.Len()))
}

// listIndex maps a possibly negative index to [0, n), or -1.
func listIndex(i int64, n int) int {
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return -1
	}
	return int(i)
}

// LINDEX key index
func lindexCommand(x *server.Ctx) {
	i, err := intArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	l, err := lookupList(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if l == nil {
		x.R.Null()
		return
	}
	if j := listIndex(i, l.Len()); j >= 0 {
		x.R.Bulk(l.Index(j))
	} else {
		x.R.Null()
	}
}

// LSET key index element
func lsetCommand(x *server.Ctx) {
	i, err := intArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	key := x.Arg(1)
	l, err := lookupListWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	if l == nil {
		x.Error(server.ErrNoSuchKey)
		return
	}
	j := listIndex(i, l.Len())
	if j < 0 {
		x.Error(server.Errorf("index out of range"))
		return
	}
	l.Set(j, x.Args[3])
	x.Modified(key)
	x.Notify("lset", key)
	x.R.OK()
}

// rangeIndexes clamps LRANGE/LTRIM/ZRANGE-style start and stop (negative
// from the end) to a collection of n: the inclusive [from, to], or ok
// false when the range is empty.
func rangeIndexes(start, stop int64, n int) (from, to int, ok bool) {
	ln := int64(n)
	if start < 0 {
		start += ln
	}
	if stop < 0 {
		stop += ln
	}
	if start < 0 {
		start = 0
	}
	if start > stop || start >= ln {
		return 0, 0, false
	}
	if stop >= ln {
		stop = ln - 1
	}
	return int(start), int(stop), true
}

// LRANGE key start stop
func lrangeCommand(x *server.Ctx) {
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
	l, err := lookupList(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if l == nil {
		x.R.Array(0)
		return
	}
	from, to, ok := rangeIndexes(start, stop, l.Len())
	if !ok {
		x.R.Array(0)
		return
	}
	x.R.Array(to - from + 1)
	for i := from; i <= to; i++ {
		x.R.Bulk(l.Index(i))
	}
}

// LTRIM key start stop
func ltrimCommand(x *server.Ctx) {
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
	key := x.Arg(1)
	l, err := lookupListWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	if l == nil {
		x.R.OK()
		return
	}
	from, to, ok := rangeIndexes(start, stop, l.Len())
	if !ok {
		l.Replace(nil)
	} else {
		for i := l.Len() - 1; i > to; i-- {
			l.PopRight()
		}
		for i := 0; i < from; i++ {
			l.PopLeft()
		}
	}
	x.Modified(key)
	x.Notify("ltrim", key)
	deleteIfEmpty(x, key, l.Len())
	x.R.OK()
}

// LREM key count element
func lremCommand(x *server.Ctx) {
	count, err := intArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	key := x.Arg(1)
	l, err := lookupListWrite(x, key)
	if err != nil || l == nil {
		replyErrOrZero(x, err)
		return
	}
	elem := x.Arg(3)
	items := l.Items()
	removed := int64(0)
	keep := make([][]byte, 0, len(items))
	if count >= 0 {
		for _, it := range items {
			if string(it) == elem && (count == 0 || removed < count) {
				removed++
				continue
			}
			keep = append(keep, it)
		}
	} else {
		drop := make([]bool, len(items))
		for i := len(items) - 1; i >= 0 && removed < -count; i-- {
			if string(items[i]) == elem {
				removed++
				drop[i] = true
			}
		}
		for i, it := range items {
			if !drop[i] {
				keep = append(keep, it)
			}
		}
	}
	if removed > 0 {
		l.Replace(keep)
		x.Modified(key)
		x.Notify("lrem", key)
		deleteIfEmpty(x, key, l.Len())
	}
	x.R.Int(removed)
}

// LPOP key [count]
func lpopCommand(x *server.Ctx) { popGeneric(x, listHead) }

// RPOP key [count]
func rpopCommand(x *server.Ctx) { popGeneric(x, listTail) }

// popGeneric pops one element (a bulk reply) or, given a count, up to
// count of them (an array; a missing key is a null array).
func popGeneric(x *server.Ctx, head bool) {
	if len(x.Args) > 3 {
		x.Error(server.ErrWrongArgs(x.Cmd.Name))
		return
	}
	count := int64(-1)
	if len(x.Args) == 3 {
		n, ok := server.ParseInt(x.Args[2])
		if !ok || n < 0 {
			x.Error(server.ErrNotPositive)
			return
		}
		count = n
	}
	key := x.Arg(1)
	l, err := lookupListWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	if l == nil {
		if count >= 0 {
			x.R.NullArray()
		} else {
			x.R.Null()
		}
		return
	}
	if count == 0 {
		x.R.Array(0)
		return
	}
	if count < 0 {
		x.R.Bulk(popOne(l, head))
	} else {
		popMany(x, l, head, count)
	}
	x.Modified(key)
	x.Notify(popEvent(head), key)
	deleteIfEmpty(x, key, l.Len())
}

func popOne(l *server.List, head bool) []byte {
	if head {
		return l.PopLeft()
	}
	return l.PopRight()
}

// popMany replies up to count elements popped from one end, as an array.
func popMany(x *server.Ctx, l *server.List, head bool, count int64) {
	n := int(min(count, int64(l.Len())))
	x.R.Array(n)
	for i := 0; i < n; i++ {
		x.R.Bulk(popOne(l, head))
	}
}

// RPOPLPUSH source destination
func rpoplpushCommand(x *server.Ctx) { lmoveGeneric(x, listTail, listHead) }

// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
func lmoveCommand(x *server.Ctx) {
	from, ok1 := whereArg(x.Args[3])
	to, ok2 := whereArg(x.Args[4])
	if !ok1 || !ok2 {
		x.Error(server.ErrSyntax)
		return
	}
	lmoveGeneric(x, from, to)
}

// lmoveGeneric moves one element from source's end `from` to
// destination's end `to`, replying it, or null when source is missing.
func lmoveGeneric(x *server.Ctx, from, to bool) {
	if moved, err := lmoveOnce(x, x.Arg(1), x.Arg(2), from, to); err != nil {
		x.Error(err)
	} else if !moved {
		x.R.Null()
	}
}

// lmoveOnce does LMOVE's work and replies the element; moved is false
// (nothing replied) when source is missing.
func lmoveOnce(x *server.Ctx, src, dst string, from, to bool) (moved bool, err error) {
	sl, err := lookupListWrite(x, src)
	if err != nil || sl == nil {
		return false, err
	}
	dl, err := lookupListWrite(x, dst)
	if err != nil {
		return false, err
	}
	v := popOne(sl, from)
	x.Modified(src)
	x.Notify(popEvent(from), src)
	created := dl == nil
	if created {
		dl = server.NewList()
	}
	if to == listHead {
		dl.PushLeft(v)
	} else {
		dl.PushRight(v)
	}
	if src != dst {
		deleteIfEmpty(x, src, sl.Len())
	}
	if created {
		x.DB.Set(dst, server.NewValue(server.TypeList, dl), false)
	}
	x.Modified(dst)
	x.Notify(pushEvent(to), dst)
	x.R.Bulk(v)
	return true, nil
}

// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
func lposCommand(x *server.Ctx) {
	rank, count, maxlen := int64(1), int64(-1), int64(0)
	for i := 3; i < len(x.Args); i += 2 {
		if i+1 >= len(x.Args) {
			x.Error(server.ErrSyntax)
			return
		}
		n, err := intArg(x, i+1)
		if err != nil {
			x.Error(err)
			return
		}
		switch a := x.Args[i]; {
		case is(a, "RANK"):
			if n == 0 {
				x.Error(server.Errorf("RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"))
				return
			}
			rank = n
		case is(a, "COUNT"):
			if n < 0 {
				x.Error(server.Errorf("COUNT can't be negative"))
				return
			}
			count = n
		case is(a, "MAXLEN"):
			if n < 0 {
				x.Error(server.Errorf("MAXLEN can't be negative"))
				return
			}
			maxlen = n
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	l, err := lookupList(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	var found []int64
	if l != nil {
		elem := x.Arg(2)
		n := l.Len()
		skip := rank - 1 // matches to pass over before the first reported
		step, i := 1, 0
		if rank < 0 {
			skip, step, i = -rank-1, -1, n-1
			if rank == math.MinInt64 {
				skip = math.MaxInt64
			}
		}
		for seen := int64(0); i >= 0 && i < n && (maxlen == 0 || seen < maxlen); i, seen = i+step, seen+1 {
			if string(l.Index(i)) != elem {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			found = append(found, int64(i))
			if count >= 0 && (count == 0 || int64(len(found)) < count) {
				continue
			}
			break
		}
	}
	if count < 0 {
		if len(found) == 0 {
			x.R.Null()
		} else {
			x.R.Int(found[0])
		}
		return
	}
	x.R.Array(len(found))
	for _, f := range found {
		x.R.Int(f)
	}
}

// mpopArgs are LMPOP/ZMPOP's parsed arguments after the numkeys position.
type mpopArgs struct {
	keys  []string
	where []byte // LEFT/RIGHT or MIN/MAX, checked by the caller
	count int64
}

// parseMpop reads "numkeys key [key ...] <where> [COUNT count]" from
// args[at:], with Redis's errors.
func parseMpop(x *server.Ctx, at int) (mpopArgs, error) {
	var m mpopArgs
	n, ok := server.ParseInt(x.Args[at])
	if !ok || n <= 0 {
		return m, server.Errorf("numkeys should be greater than 0")
	}
	if n > int64(len(x.Args)-at-2) {
		return m, server.ErrSyntax
	}
	for _, k := range x.Args[at+1 : at+1+int(n)] {
		m.keys = append(m.keys, string(k))
	}
	i := at + 1 + int(n)
	m.where = x.Args[i]
	m.count = 1
	rest := x.Args[i+1:]
	switch {
	case len(rest) == 0:
	case len(rest) == 2 && is(rest[0], "COUNT"):
		c, ok := server.ParseInt(rest[1])
		if !ok || c <= 0 {
			return m, server.Errorf("count should be greater than 0")
		}
		m.count = c
	default:
		return m, server.ErrSyntax
	}
	return m, nil
}

// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
func lmpopCommand(x *server.Ctx) {
	m, head, err := parseLmpop(x, 1)
	if err != nil {
		x.Error(err)
		return
	}
	if !lmpopOnce(x, m.keys, head, m.count) {
		x.R.NullArray()
	}
}

func parseLmpop(x *server.Ctx, at int) (mpopArgs, bool, error) {
	m, err := parseMpop(x, at)
	if err != nil {
		return m, false, err
	}
	head, ok := whereArg(m.where)
	if !ok {
		return m, false, server.ErrSyntax
	}
	return m, head, nil
}

// lmpopOnce pops from the first non-empty list of keys and replies
// [key, [elements]]; false (nothing replied) when none exists. A key of
// another type is an error reply (replied, true).
func lmpopOnce(x *server.Ctx, keys []string, head bool, count int64) bool {
	for _, k := range keys {
		l, err := lookupListWrite(x, k)
		if err != nil {
			x.Error(err)
			return true
		}
		if l == nil {
			continue
		}
		x.R.Array(2)
		x.R.BulkString(k)
		n := min(count, int64(l.Len()))
		popMany(x, l, head, count)
		// Logged as LPOP/RPOP with the count popped (BLMPOP must not block on replay).
		x.Propagate([]byte(strings.ToUpper(popEvent(head))), []byte(k), strconv.AppendInt(nil, n, 10))
		x.Modified(k)
		x.Notify(popEvent(head), k)
		deleteIfEmpty(x, k, l.Len())
		return true
	}
	return false
}

// keysThenTimeout reads the arguments of BLPOP, BRPOP, BZPOPMIN and
// BZPOPMAX (key [key ...] timeout): the keys and the deadline.
func keysThenTimeout(x *server.Ctx) ([]string, int64, error) {
	deadline, err := timeoutArg(x, len(x.Args)-1)
	if err != nil {
		return nil, 0, err
	}
	keys := make([]string, 0, len(x.Args)-2)
	for _, k := range x.Args[1 : len(x.Args)-1] {
		keys = append(keys, string(k))
	}
	return keys, deadline, nil
}

// timeoutArg parses a blocking command's timeout (seconds, a double) into
// an absolute unix-ms deadline, 0 for "forever".
func timeoutArg(x *server.Ctx, i int) (int64, error) {
	f, ok := server.ParseFloat(x.Args[i])
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, server.Errorf("timeout is not a float or out of range")
	}
	if f < 0 {
		return 0, server.Errorf("timeout is negative")
	}
	ms := f * 1000
	if ms > float64(math.MaxInt64/2) {
		return 0, server.Errorf("timeout is negative") // Redis's overflow check lands here too
	}
	if ms == 0 {
		return 0, nil
	}
	return x.S.Now() + int64(math.Ceil(ms)), nil
}

// blockingPop is what every blocking pop (BLPOP, BRPOP, BLMOVE,
// BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP) is made of: the
// commands differ only in their arguments and in pop. run is their one
// path, now and when a key they wait on is filled.
type blockingPop struct {
	typ      server.ObjType // what the keys must hold: TypeList or TypeZSet
	keys     []string       // in the order they are tried
	deadline int64          // unix ms, 0 for forever
	// pop pops from key, which holds typ or is absent, and replies; false
	// (nothing replied) when there is nothing to pop. An error of another
	// key than this one (BLMOVE's destination) it replies itself, true.
	pop func(x *server.Ctx, key string) bool
}

// run tries the keys in order: the first that holds another type is an
// error, the first with something to pop answers. Otherwise the client
// blocks on them all (in MULTI it gets the timeout's null array at once).
// When a key is filled meanwhile, pop answers if the key holds typ; a key
// made another type is waited on still, as Redis does.
func (b blockingPop) run(x *server.Ctx) {
	for _, k := range b.keys {
		if err := b.check(x, k); err != nil {
			x.Error(err)
			return
		}
		if b.pop(x, k) {
			return
		}
	}
	if !x.CanBlock() {
		x.R.NullArray()
		return
	}
	reason := "list"
	if b.typ == server.TypeZSet {
		reason = "zset"
	}
	x.S.BlockOnKeys(x, reason, &server.KeyWait{
		DB: x.DB, Keys: b.keys, Args: x.Args, Cmd: x.Cmd,
		Serve:     func(x *server.Ctx, key string) bool { return b.check(x, key) == nil && b.pop(x, key) },
		OnTimeout: func(r *server.Reply) { r.NullArray() },
	}, b.deadline)
}

// check is WRONGTYPE for a key holding another type than b's.
func (b blockingPop) check(x *server.Ctx, key string) error {
	if o := x.DB.Peek(key); o != nil && o.Type != b.typ {
		return server.ErrWrongType
	}
	return nil
}

// BLPOP key [key ...] timeout
func blpopCommand(x *server.Ctx) { bpopGeneric(x, listHead) }

// BRPOP key [key ...] timeout
func brpopCommand(x *server.Ctx) { bpopGeneric(x, listTail) }

// bpopGeneric pops one element from the first non-empty list, replying
// [key, element], or blocks until a push to one of the keys.
func bpopGeneric(x *server.Ctx, head bool) {
	keys, deadline, err := keysThenTimeout(x)
	if err != nil {
		x.Error(err)
		return
	}
	blockingPop{typ: server.TypeList, keys: keys, deadline: deadline, pop: func(x *server.Ctx, key string) bool {
		l, err := lookupListWrite(x, key)
		if err != nil || l == nil {
			return false
		}
		x.R.Array(2)
		x.R.BulkString(key)
		x.R.Bulk(popOne(l, head))
		x.Modified(key)
		x.Notify(popEvent(head), key)
		x.Propagate([]byte(strings.ToUpper(popEvent(head))), []byte(key)) // BLPOP is logged as LPOP
		deleteIfEmpty(x, key, l.Len())
		return true
	}}.run(x)
}

// BRPOPLPUSH source destination timeout
func brpoplpushCommand(x *server.Ctx) { blmoveGeneric(x, listTail, listHead, 3) }

// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
func blmoveCommand(x *server.Ctx) {
	from, ok1 := whereArg(x.Args[3])
	to, ok2 := whereArg(x.Args[4])
	if !ok1 || !ok2 {
		x.Error(server.ErrSyntax)
		return
	}
	blmoveGeneric(x, from, to, 5)
}

// blmoveGeneric is LMOVE that waits for source to be filled.
func blmoveGeneric(x *server.Ctx, from, to bool, timeoutAt int) {
	deadline, err := timeoutArg(x, timeoutAt)
	if err != nil {
		x.Error(err)
		return
	}
	src, dst := x.Arg(1), x.Arg(2)
	blockingPop{typ: server.TypeList, keys: []string{src}, deadline: deadline, pop: func(x *server.Ctx, _ string) bool {
		moved, err := lmoveOnce(x, src, dst, from, to)
		if err != nil {
			x.Error(err) // the destination holds another type: Redis replies the error
			return true
		}
		if moved {
			x.Propagate([]byte("LMOVE"), []byte(src), []byte(dst), whereName(from), whereName(to))
		}
		return moved
	}}.run(x)
}

// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
func blmpopCommand(x *server.Ctx) {
	deadline, err := timeoutArg(x, 1)
	if err != nil {
		x.Error(err)
		return
	}
	m, head, err := parseLmpop(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	blockingPop{typ: server.TypeList, keys: m.keys, deadline: deadline, pop: func(x *server.Ctx, key string) bool {
		return lmpopOnce(x, []string{key}, head, m.count)
	}}.run(x)
}

func whereName(head bool) []byte {
	if head {
		return []byte("LEFT")
	}
	return []byte("RIGHT")
}
