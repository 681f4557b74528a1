package commands

import (
	"sort"
	"strings"

	"reddwarf/server"
)

var sortCommands = []*server.Spec{
	{Name: "sort", Arity: -2, Flags: w | dm | server.FlagMovableKeys, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 1, LastKey: 0}, {Flags: []string{"RO", "ACCESS"}, Unknown: true, Notes: "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"}, {Flags: []string{"OW", "UPDATE"}, Unknown: true, Notes: "For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array"}}, Group: "generic", Since: "1.0.0", Complexity: "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", Args: "key [BY pattern] [LIMIT offset count] [GET pattern [pattern ...]] [order: ASC | DESC] [sorting: ALPHA] [STORE destination]", Summary: "Sort the elements in a list, set or sorted set", ACL: []string{"-@keyspace", "@set", "@sortedset", "@list", "@dangerous"}, GetKeys: sortGetKeys, KeyFlags: sortKeyFlags, Handler: sortCommand},
	{Name: "sort_ro", Arity: -2, Flags: ro | server.FlagMovableKeys, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 1, LastKey: 0}, {Flags: []string{"RO", "ACCESS"}, Unknown: true, Notes: "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"}}, Group: "generic", Since: "7.0.0", Complexity: "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", Args: "key [BY pattern] [LIMIT offset count] [GET pattern [pattern ...]] [order: ASC | DESC] [sorting: ALPHA]", Summary: "Sort the elements in a list, set or sorted set. Read-only variant of SORT.", ACL: []string{"-@keyspace", "@set", "@sortedset", "@list", "@dangerous"}, GetKeys: sortGetKeys, Handler: sortroCommand},
}

// sortGetKeys is SORT's key positions: the sorted key, and the STORE
// destination when there is one (the last STORE wins), skipping the
// arguments of the other options as Redis's sortGetKeys does.
func sortGetKeys(args [][]byte) []int {
	out := []int{1}
	store := 0
	for i := 2; i < len(args); i++ {
		switch a := args[i]; {
		case is(a, "LIMIT"):
			i += 2
		case is(a, "GET"), is(a, "BY"):
			i++
		case is(a, "STORE") && i+1 < len(args):
			store = i + 1
			i++
		}
	}
	if store > 0 {
		out = append(out, store)
	}
	return out
}

// sortKeyFlags gives the STORE destination OW UPDATE, the sorted key RO ACCESS.
func sortKeyFlags(_ [][]byte, i int) []string {
	if i == 1 {
		return []string{"RO", "ACCESS"}
	}
	return []string{"OW", "UPDATE"}
}

// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE destination]
func sortCommand(x *server.Ctx) { sortGeneric(x, false) }

// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
func sortroCommand(x *server.Ctx) { sortGeneric(x, true) }

// sortElem is one element being sorted with its weight.
type sortElem struct {
	val   string
	score float64
	cmp   string // ALPHA: the string compared
}

// sortLookup resolves a BY or GET pattern for elem: "#" is the element,
// "key*" a string key, "key*->field" a hash field; ok false when missing.
func sortLookup(x *server.Ctx, pattern, elem string) (string, bool) {
	if pattern == "#" {
		return elem, true
	}
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return "", false
	}
	field := ""
	key := pattern
	if arrow := strings.Index(pattern[star:], "->"); arrow >= 0 && star+arrow+2 < len(pattern) {
		key, field = pattern[:star+arrow], pattern[star+arrow+2:]
	}
	key = key[:star] + elem + key[star+1:]
	o := x.DB.Lookup(key)
	if o == nil {
		return "", false
	}
	if field != "" {
		if o.Type != server.TypeHash {
			return "", false
		}
		v, ok := o.Val.(*server.Hash).Get(field)
		return string(v), ok
	}
	if o.Type != server.TypeString {
		return "", false
	}
	return string(o.Str), true
}

func sortGeneric(x *server.Ctx, readonly bool) {
	desc, alpha := false, false
	by, store := "", ""
	var gets []string
	offset, count := int64(0), int64(-1)
	for i := 2; i < len(x.Args); i++ {
		a := x.Args[i]
		left := len(x.Args) - i - 1
		switch {
		case is(a, "ASC"):
			desc = false
		case is(a, "DESC"):
			desc = true
		case is(a, "ALPHA"):
			alpha = true
		case is(a, "LIMIT") && left >= 2:
			o, ok1 := server.ParseInt(x.Args[i+1])
			c, ok2 := server.ParseInt(x.Args[i+2])
			if !ok1 || !ok2 {
				x.Error(server.ErrNotInteger)
				return
			}
			offset, count = o, c
			i += 2
		case !readonly && is(a, "STORE") && left >= 1:
			store = x.Arg(i + 1)
			i++
		case is(a, "BY") && left >= 1:
			by = x.Arg(i + 1)
			i++
		case is(a, "GET") && left >= 1:
			gets = append(gets, x.Arg(i+1))
			i++
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	// The elements, in the value's own order.
	var elems []string
	o := x.DB.Lookup(x.Arg(1))
	ordered := false // a list or sorted set: BY nosort keeps (or with DESC reverses) its order
	if o != nil {
		switch o.Type {
		case server.TypeList:
			ordered = true
			for _, it := range o.Val.(*server.List).Items() {
				elems = append(elems, string(it))
			}
		case server.TypeSet:
			elems = o.Val.(*server.Set).Members()
		case server.TypeZSet:
			ordered = true
			for _, e := range o.Val.(*server.ZSet).Entries() {
				elems = append(elems, e.Member)
			}
		default:
			x.Error(server.ErrWrongType)
			return
		}
	}
	nosort := by != "" && !strings.Contains(by, "*")
	if nosort && o != nil && o.Type == server.TypeSet && (store != "" || x.InScript()) {
		// A set's own order is its hash table's: what a script reads or
		// STORE writes must not depend on it, so Redis sorts it ALPHA.
		nosort, alpha, by = false, true, ""
	}
	if nosort && ordered && desc {
		// A list or sorted set without a sort keeps its order, reversed by DESC.
		for i, j := 0, len(elems)-1; i < j; i, j = i+1, j-1 {
			elems[i], elems[j] = elems[j], elems[i]
		}
	}
	if !nosort {
		es := make([]sortElem, len(elems))
		for i, e := range elems {
			w, ok := e, true
			if by != "" {
				w, ok = sortLookup(x, by, e)
			}
			es[i] = sortElem{val: e, cmp: w}
			if !alpha {
				if !ok || w == "" {
					continue
				}
				f, fok := server.ParseFloat([]byte(w))
				if !fok {
					x.Error(server.Errorf("One or more scores can't be converted into double"))
					return
				}
				es[i].score = f
			}
		}
		sort.SliceStable(es, func(i, j int) bool {
			a, b := es[i], es[j]
			var less, more bool
			if alpha {
				less, more = a.cmp < b.cmp, a.cmp > b.cmp
			} else {
				less, more = a.score < b.score, a.score > b.score
			}
			if !less && !more && !alpha {
				// Equal scores: by the element, as Redis's sortCompare
				// (equal ALPHA weights keep their order: a stable sort).
				less = a.val < b.val
				more = a.val > b.val
			}
			if desc {
				return more
			}
			return less
		})
		for i := range es {
			elems[i] = es[i].val
		}
	}
	// LIMIT, clamped as Redis does.
	n := int64(len(elems))
	if offset < 0 {
		offset = 0
	}
	if offset > n {
		offset = n
	}
	if count < 0 || offset+count > n {
		count = n - offset
	}
	elems = elems[offset : offset+count]
	// The reply: the elements, or for each the GET lookups.
	var out []string
	var present []bool
	for _, e := range elems {
		if len(gets) == 0 {
			out, present = append(out, e), append(present, true)
			continue
		}
		for _, g := range gets {
			v, ok := sortLookup(x, g, e)
			out, present = append(out, v), append(present, ok)
		}
	}
	if store == "" {
		x.R.Array(len(out))
		for i, v := range out {
			if present[i] {
				x.R.BulkString(v)
			} else {
				x.R.Null()
			}
		}
		return
	}
	if len(out) == 0 {
		if x.DB.Delete(store) {
			x.Modified(store)
			x.Notify("del", store)
		}
		x.R.Int(0)
		return
	}
	l := server.NewList()
	for _, v := range out {
		l.PushRight([]byte(v))
	}
	x.DB.Set(store, server.NewValue(server.TypeList, l), false)
	x.Modified(store)
	x.Notify("sortstore", store)
	x.R.Int(int64(len(out)))
}
