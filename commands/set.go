package commands

import (
	"math"

	"reddwarf/server"
)

var setCommands = []*server.Spec{
	{Name: "sadd", Arity: -3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "INSERT"), Group: "set", Since: "1.0.0", Complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", Args: "key member [member ...]", Summary: "Add one or more members to a set", History: [][2]string{{"2.4.0", "Accepts multiple `member` arguments."}}, Handler: saddCommand},
	{Name: "srem", Arity: -3, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "DELETE"), Group: "set", Since: "1.0.0", Complexity: "O(N) where N is the number of members to be removed.", Args: "key member [member ...]", Summary: "Remove one or more members from a set", History: [][2]string{{"2.4.0", "Accepts multiple `member` arguments."}}, Handler: sremCommand},
	{Name: "smove", Arity: 4, Flags: w | ft, FirstKey: 1, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "ACCESS", "DELETE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RW", "INSERT"}, Begin: 2, LastKey: 0}}, Group: "set", Since: "1.0.0", Complexity: "O(1)", Args: "source destination member", Summary: "Move a member from one set to another", Handler: smoveCommand},
	{Name: "sismember", Arity: 3, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO"), Group: "set", Since: "1.0.0", Complexity: "O(1)", Args: "key member", Summary: "Determine if a given value is a member of a set", Handler: sismemberCommand},
	{Name: "smismember", Arity: -3, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "set", Since: "6.2.0", Complexity: "O(N) where N is the number of elements being checked for membership", Args: "key member [member ...]", Summary: "Returns the membership associated with the given elements for a set", Handler: smismemberCommand},
	{Name: "scard", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO"), Group: "set", Since: "1.0.0", Complexity: "O(1)", Args: "key", Summary: "Get the number of members in a set", Handler: scardCommand},
	{Name: "smembers", Arity: 2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "set", Since: "1.0.0", Complexity: "O(N) where N is the set cardinality.", Args: "key", Summary: "Get all the members in a set", Tips: []string{"nondeterministic_output_order"}, Handler: smembersCommand},
	{Name: "srandmember", Arity: -2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "set", Since: "1.0.0", Complexity: "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.", Args: "key [count]@2.6.0", Summary: "Get one or multiple random members from a set", History: [][2]string{{"2.6.0", "Added the optional `count` argument."}}, Tips: []string{"nondeterministic_output"}, Handler: srandmemberCommand},
	{Name: "spop", Arity: -2, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "DELETE"), Group: "set", Since: "1.0.0", Complexity: "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.", Args: "key [count]@3.2.0", Summary: "Remove and return one or multiple random members from a set", History: [][2]string{{"3.2.0", "Added the `count` argument."}}, Tips: []string{"nondeterministic_output"}, Handler: spopCommand},
	{Name: "sinter", Arity: -2, Flags: ro, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "set", Since: "1.0.0", Complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", Args: "key [key ...]", Summary: "Intersect multiple sets", Tips: []string{"nondeterministic_output_order"}, Handler: sinterCommand},
	{Name: "sintercard", Arity: -3, Flags: ro | server.FlagMovableKeys, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 1, KeyNum: true}}, Group: "set", Since: "7.0.0", Complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", Args: "numkeys:integer key [key ...] [LIMIT limit:integer]", Summary: "Intersect multiple sets and return the cardinality of the result", Handler: sintercardCommand},
	{Name: "sinterstore", Arity: -3, Flags: w | dm, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "UPDATE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RO", "ACCESS"}, Begin: 2, LastKey: -1}}, Group: "set", Since: "1.0.0", Complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", Args: "destination key [key ...]", Summary: "Intersect multiple sets and store the resulting set in a key", Handler: sinterstoreCommand},
	{Name: "sunion", Arity: -2, Flags: ro, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "set", Since: "1.0.0", Complexity: "O(N) where N is the total number of elements in all given sets.", Args: "key [key ...]", Summary: "Add multiple sets", Tips: []string{"nondeterministic_output_order"}, Handler: sunionCommand},
	{Name: "sunionstore", Arity: -3, Flags: w | dm, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"OW", "UPDATE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RO", "ACCESS"}, Begin: 2, LastKey: -1}}, Group: "set", Since: "1.0.0", Complexity: "O(N) where N is the total number of elements in all given sets.", Args: "destination key [key ...]", Summary: "Add multiple sets and store the resulting set in a key", Handler: sunionstoreCommand},
	{Name: "sdiff", Arity: -2, Flags: ro, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "set", Since: "1.0.0", Complexity: "O(N) where N is the total number of elements in all given sets.", Args: "key [key ...]", Summary: "Subtract multiple sets", Tips: []string{"nondeterministic_output_order"}, Handler: sdiffCommand},
	{Name: "sdiffstore", Arity: -3, Flags: w | dm, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"OW", "UPDATE"}, Begin: 1, LastKey: 0}, {Flags: []string{"RO", "ACCESS"}, Begin: 2, LastKey: -1}}, Group: "set", Since: "1.0.0", Complexity: "O(N) where N is the total number of elements in all given sets.", Args: "destination key [key ...]", Summary: "Subtract multiple sets and store the resulting set in a key", Handler: sdiffstoreCommand},
	{Name: "sscan", Arity: -3, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "set", Since: "2.8.0", Complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", Args: "key cursor [MATCH pattern] [COUNT count]", Summary: "Incrementally iterate Set elements", Tips: []string{"nondeterministic_output"}, Handler: sscanCommand},
}

// lookupSet returns key's set for a read: nil if missing, ErrWrongType if
// the key holds another type.
func lookupSet(x *server.Ctx, key string) (*server.Set, error) { return setOf(x.DB.Lookup(key)) }

// lookupSetWrite is lookupSet for a write.
func lookupSetWrite(x *server.Ctx, key string) (*server.Set, error) {
	return setOf(x.DB.LookupWrite(key))
}

func setOf(o *server.Object) (*server.Set, error) {
	if o == nil {
		return nil, nil
	}
	if o.Type != server.TypeSet {
		return nil, server.ErrWrongType
	}
	return o.Val.(*server.Set), nil
}

// SADD key member [member ...]
func saddCommand(x *server.Ctx) {
	key := x.Arg(1)
	s, err := lookupSetWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	created := s == nil
	if created {
		s = server.NewSet()
	}
	added := 0
	for _, m := range x.Args[2:] {
		// A member already there is found without a string of its own
		// (the conversion does not escape); one is made only to store.
		if !s.Has(string(m)) && s.Add(x.S.Config, string(m)) {
			added++
		}
	}
	if created {
		x.DB.Set(key, server.NewValue(server.TypeSet, s), false)
	}
	if added > 0 {
		x.Modified(key)
		x.Notify("sadd", key)
	}
	x.R.Int(int64(added))
}

// SREM key member [member ...]
func sremCommand(x *server.Ctx) {
	key := x.Arg(1)
	s, err := lookupSetWrite(x, key)
	if err != nil || s == nil {
		replyErrOrZero(x, err)
		return
	}
	n := 0
	for _, m := range x.Args[2:] {
		if s.Remove(string(m)) {
			n++
		}
	}
	if n > 0 {
		x.Modified(key)
		x.Notify("srem", key)
		deleteIfEmpty(x, key, s.Len())
	}
	x.R.Int(int64(n))
}

// SMOVE source destination member
func smoveCommand(x *server.Ctx) {
	src, dst, m := x.Arg(1), x.Arg(2), x.Arg(3)
	// A missing source answers 0 before the types are checked, as Redis.
	if x.DB.LookupWrite(src) == nil {
		x.R.Int(0)
		return
	}
	ss, err := lookupSetWrite(x, src)
	if err != nil {
		x.Error(err)
		return
	}
	ds, err := lookupSetWrite(x, dst)
	if err != nil {
		x.Error(err)
		return
	}
	if src == dst {
		x.R.Int(b2i(ss.Has(m)))
		return
	}
	if !ss.Remove(m) {
		x.R.Int(0)
		return
	}
	x.Notify("srem", src)
	deleteIfEmpty(x, src, ss.Len())
	x.Modified(src)
	if ds == nil {
		ds = server.NewSet()
		x.DB.Set(dst, server.NewValue(server.TypeSet, ds), false)
	}
	if ds.Add(x.S.Config, m) {
		// Only a real addition touches the destination (WATCH, events).
		x.Modified(dst)
		x.Notify("sadd", dst)
	}
	x.R.Int(1)
}

// SISMEMBER key member
func sismemberCommand(x *server.Ctx) {
	s, err := lookupSet(x, x.Arg(1))
	if err != nil || s == nil {
		replyErrOrZero(x, err)
		return
	}
	x.R.Int(b2i(s.Has(x.Arg(2))))
}

// SMISMEMBER key member [member ...]
func smismemberCommand(x *server.Ctx) {
	s, err := lookupSet(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	x.R.Array(len(x.Args) - 2)
	for _, m := range x.Args[2:] {
		x.R.Int(b2i(s != nil && s.Has(string(m))))
	}
}

// SCARD key
func scardCommand(x *server.Ctx) {
	s, err := lookupSet(x, x.Arg(1))
	if err != nil || s == nil {
		replyErrOrZero(x, err)
		return
	}
	x.R.Int(int64(s.Len()))
}

// SMEMBERS key
func smembersCommand(x *server.Ctx) {
	s, err := lookupSet(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	var ms []string
	if s != nil {
		ms = s.Members()
	}
	replySet(x, ms)
}

// replySet replies members as a set (an array in RESP2).
func replySet(x *server.Ctx, ms []string) {
	x.R.Set(len(ms))
	for _, m := range ms {
		x.R.BulkString(m)
	}
}

// SRANDMEMBER key [count]
func srandmemberCommand(x *server.Ctx) {
	if len(x.Args) > 3 {
		x.Error(server.ErrSyntax)
		return
	}
	if len(x.Args) == 2 {
		s, err := lookupSet(x, x.Arg(1))
		switch {
		case err != nil:
			x.Error(err)
		case s == nil:
			x.R.Null()
		default:
			x.R.BulkString(s.At(s.Random()))
		}
		return
	}
	count, err := randCountArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	s, err := lookupSet(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if s == nil || count == 0 {
		x.R.Array(0)
		return
	}
	if count < 0 {
		x.R.Array(int(-count))
		for n := -count; n > 0; n-- {
			x.R.BulkString(s.At(s.Random()))
		}
		return
	}
	picks := randomPicks(s.Len(), count, s.Random)
	x.R.Array(len(picks))
	for _, i := range picks {
		x.R.BulkString(s.At(i))
	}
}

// SPOP key [count]
func spopCommand(x *server.Ctx) {
	if len(x.Args) > 3 {
		x.Error(server.ErrSyntax)
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
	s, err := lookupSetWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	if s == nil {
		if count >= 0 {
			x.R.Array(0)
		} else {
			x.R.Null()
		}
		return
	}
	if count == 0 {
		x.R.Array(0)
		return
	}
	// A random pop is logged as the SREM of what it popped.
	srem := [][]byte{[]byte("SREM"), []byte(key)}
	if count < 0 {
		i := s.Random()
		m := s.At(i)
		x.R.BulkString(m)
		s.RemoveAt(i)
		srem = append(srem, []byte(m))
	} else {
		n := int(min(count, int64(s.Len())))
		x.R.Set(n)
		for ; n > 0; n-- {
			i := s.Random()
			m := s.At(i)
			x.R.BulkString(m)
			s.RemoveAt(i)
			srem = append(srem, []byte(m))
		}
	}
	x.Propagate(srem...)
	x.Modified(key)
	x.Notify("spop", key)
	deleteIfEmpty(x, key, s.Len())
}

// setsOf looks up keys as sets for a read (a missing key is an empty set,
// nil in the result).
func setsOf(x *server.Ctx, keys [][]byte, write bool) ([]*server.Set, error) {
	out := make([]*server.Set, len(keys))
	for i, k := range keys {
		var err error
		if write {
			out[i], err = lookupSetWrite(x, string(k))
		} else {
			out[i], err = lookupSet(x, string(k))
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// setOp computes SINTER (op 'i'), SUNION ('u') or SDIFF ('d') of sets,
// in the order Redis produces: the intersection walks the smallest set,
// union and difference the first set first. limit > 0 stops an
// intersection after that many members (SINTERCARD).
func setOp(op byte, sets []*server.Set, limit int) []string {
	var out []string
	switch op {
	case 'i':
		for _, s := range sets {
			if s == nil {
				return nil
			}
		}
		small := 0
		for i, s := range sets {
			if s.Len() < sets[small].Len() {
				small = i
			}
		}
		for _, m := range sets[small].Members() {
			in := true
			for i, s := range sets {
				if i != small && !s.Has(m) {
					in = false
					break
				}
			}
			if in {
				out = append(out, m)
				if limit > 0 && len(out) >= limit {
					break
				}
			}
		}
	case 'u':
		seen := map[string]bool{}
		for _, s := range sets {
			if s == nil {
				continue
			}
			for _, m := range s.Members() {
				if !seen[m] {
					seen[m] = true
					out = append(out, m)
				}
			}
		}
	case 'd':
		if sets[0] == nil {
			return nil
		}
		for _, m := range sets[0].Members() {
			in := false
			for _, s := range sets[1:] {
				if s != nil && s.Has(m) {
					in = true
					break
				}
			}
			if !in {
				out = append(out, m)
			}
		}
	}
	return out
}

// SINTER key [key ...]
func sinterCommand(x *server.Ctx) { setOpGeneric(x, 'i', false) }

// SUNION key [key ...]
func sunionCommand(x *server.Ctx) { setOpGeneric(x, 'u', false) }

// SDIFF key [key ...]
func sdiffCommand(x *server.Ctx) { setOpGeneric(x, 'd', false) }

// SINTERSTORE destination key [key ...]
func sinterstoreCommand(x *server.Ctx) { setOpGeneric(x, 'i', true) }

// SUNIONSTORE destination key [key ...]
func sunionstoreCommand(x *server.Ctx) { setOpGeneric(x, 'u', true) }

// SDIFFSTORE destination key [key ...]
func sdiffstoreCommand(x *server.Ctx) { setOpGeneric(x, 'd', true) }

// setOpGeneric replies the result of op, or with store writes it to the
// destination (deleted when empty) and replies its size.
func setOpGeneric(x *server.Ctx, op byte, store bool) {
	first := 1
	if store {
		first = 2
	}
	sets, err := setsOf(x, x.Args[first:], store)
	if err != nil {
		x.Error(err)
		return
	}
	res := setOp(op, sets, 0)
	if !store {
		replySet(x, res)
		return
	}
	dst := x.Arg(1)
	event := map[byte]string{'i': "sinterstore", 'u': "sunionstore", 'd': "sdiffstore"}[op]
	if len(res) == 0 {
		if x.DB.Delete(dst) {
			x.Modified(dst)
			x.Notify("del", dst)
		}
		x.R.Int(0)
		return
	}
	s := server.NewSet()
	for _, m := range res {
		s.Add(x.S.Config, m)
	}
	x.DB.Set(dst, server.NewValue(server.TypeSet, s), false)
	x.Modified(dst)
	x.Notify(event, dst)
	x.R.Int(int64(len(res)))
}

// SINTERCARD numkeys key [key ...] [LIMIT limit]
func sintercardCommand(x *server.Ctx) {
	n, ok := server.ParseInt(x.Args[1])
	if !ok || n <= 0 {
		x.Error(server.Errorf("numkeys should be greater than 0"))
		return
	}
	if n > int64(len(x.Args)-2) {
		x.Error(server.Errorf("Number of keys can't be greater than number of args"))
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
	sets, err := setsOf(x, x.Args[2:2+n], false)
	if err != nil {
		x.Error(err)
		return
	}
	x.R.Int(int64(len(setOp('i', sets, int(min(limit, math.MaxInt32))))))
}

// SSCAN key cursor [MATCH pattern] [COUNT count]
func sscanCommand(x *server.Ctx) {
	s, err := lookupSet(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	collectionScan(x, func(cursor uint64, count int, emit func(name string, more ...string)) uint64 {
		if s == nil {
			return 0
		}
		return s.Scan(cursor, count, func(m string) { emit(m) })
	})
}
