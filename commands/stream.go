package commands

import (
	"math"
	"strconv"
	"strings"

	"reddwarf/server"
)

var streamCommands = []*server.Spec{
	{Name: "xadd", Arity: -5, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "UPDATE"}, Notes: "UPDATE instead of INSERT because of the optional trimming feature"}}, Group: "stream", Since: "5.0.0", Complexity: "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.", Args: "key [NOMKSTREAM]@6.2.0 [<strategy: MAXLEN | MINID@6.2.0> [operator: = | ~] threshold [LIMIT count]@6.2.0] <auto-id: * | id> field value [field value ...]", Summary: "Appends a new entry to a stream", History: [][2]string{{"6.2.0", "Added the `NOMKSTREAM` option, `MINID` trimming strategy and the `LIMIT` option."}, {"7.0.0", "Added support for the `<ms>-*` explicit ID form."}}, Tips: []string{"nondeterministic_output"}, Handler: xaddCommand},
	{Name: "xtrim", Arity: -4, Flags: w, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "DELETE"), Group: "stream", Since: "5.0.0", Complexity: "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.", Args: "key <strategy: MAXLEN | MINID@6.2.0> [operator: = | ~] threshold [LIMIT count]@6.2.0", Summary: "Trims the stream to (approximately if '~' is passed) a certain size", History: [][2]string{{"6.2.0", "Added the `MINID` trimming strategy and the `LIMIT` option."}}, Tips: []string{"nondeterministic_output"}, Handler: xtrimCommand},
	{Name: "xdel", Arity: -3, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "DELETE"), Group: "stream", Since: "5.0.0", Complexity: "O(1) for each single item to delete in the stream, regardless of the stream size.", Args: "key id [id ...]", Summary: "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", Handler: xdelCommand},
	{Name: "xlen", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO"), Group: "stream", Since: "5.0.0", Complexity: "O(1)", Args: "key", Summary: "Return the number of entries in a stream", Handler: xlenCommand},
	{Name: "xrange", Arity: -4, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "stream", Since: "5.0.0", Complexity: "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", Args: "key start:string end:string [COUNT count:integer]", Summary: "Return a range of elements in a stream, with IDs matching the specified IDs interval", History: [][2]string{{"6.2.0", "Added exclusive ranges."}}, Handler: xrangeCommand},
	{Name: "xrevrange", Arity: -4, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "stream", Since: "5.0.0", Complexity: "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", Args: "key end:string start:string [COUNT count:integer]", Summary: "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", History: [][2]string{{"6.2.0", "Added exclusive ranges."}}, Handler: xrevrangeCommand},
	{Name: "xread", Arity: -4, Flags: ro | server.FlagBlocking | server.FlagMovableKeys, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Keyword: "STREAMS", StartFrom: 1, LastKey: -1, Step: 1, Limit: 2}}, Group: "stream", Since: "5.0.0", Complexity: "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.", Args: "[COUNT count:integer] [BLOCK milliseconds:integer] STREAMS key [key ...] id [id ...]", Summary: "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", Handler: xreadCommand},
	{Name: "xreadgroup", Arity: -7, Flags: w | server.FlagBlocking | server.FlagMovableKeys, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Keyword: "STREAMS", StartFrom: 4, LastKey: -1, Step: 1, Limit: 2}}, Group: "stream", Since: "5.0.0", Complexity: "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.", Args: "GROUP group consumer [COUNT count:integer] [BLOCK milliseconds:integer] [NOACK] STREAMS key [key ...] id [id ...]", Summary: "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", Handler: xreadgroupCommand},
	{Name: "xack", Arity: -4, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "stream", Since: "5.0.0", Complexity: "O(1) for each message ID processed.", Args: "key group id [id ...]", Summary: "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", Handler: xackCommand},
	{Name: "xpending", Arity: -3, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "stream", Since: "5.0.0", Complexity: "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.", Args: "key group [filters: [IDLE min-idle-time:integer]@6.2.0 start:string end:string count:integer [consumer]]", Summary: "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", History: [][2]string{{"6.2.0", "Added the `IDLE` option and exclusive range intervals."}}, Tips: []string{"nondeterministic_output"}, Handler: xpendingCommand},
	{Name: "xclaim", Arity: -6, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "stream", Since: "5.0.0", Complexity: "O(log N) with N being the number of messages in the PEL of the consumer group.", Args: "key group consumer min-idle-time id [id ...] [IDLE ms:integer] [TIME unix-time-milliseconds:unix-time] [RETRYCOUNT count:integer] [FORCE] [JUSTID] [LASTID id]", Summary: "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", Tips: []string{"nondeterministic_output"}, Handler: xclaimCommand},
	{Name: "xautoclaim", Arity: -6, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "DELETE"), Group: "stream", Since: "6.2.0", Complexity: "O(1) if COUNT is small.", Args: "key group consumer min-idle-time start:string [COUNT count:integer] [JUSTID]", Summary: "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", History: [][2]string{{"7.0.0", "Added an element to the reply array, containing deleted entries the command cleared from the PEL"}}, Tips: []string{"nondeterministic_output"}, Handler: xautoclaimCommand},
	{Name: "xsetid", Arity: -3, Flags: w | dm | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "stream", Since: "5.0.0", Complexity: "O(1)", Args: "key last-id [ENTRIESADDED entries_added:integer]@7.0.0 [MAXDELETEDID max_deleted_entry_id]@7.0.0", Summary: "An internal command for replicating stream values", History: [][2]string{{"7.0.0", "Added the `entries_added` and `max_deleted_entry_id` arguments."}}, Handler: xsetidCommand},
	{Name: "xgroup", Arity: -2, Group: "stream", Since: "5.0.0", Summary: "A container for consumer groups commands", Complexity: "Depends on subcommand.", Sub: []*server.Spec{
		{Name: "xgroup|create", Arity: -5, Flags: w | dm, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "INSERT"}, Begin: 2, LastKey: 0}}, Group: "stream", Since: "5.0.0", Complexity: "O(1)", Args: "key groupname <id: id | $> [MKSTREAM] [ENTRIESREAD entries_read:integer]", Summary: "Create a consumer group.", History: [][2]string{{"7.0.0", "Added the `entries_read` named argument."}}, Handler: xgroupCommand},
		{Name: "xgroup|createconsumer", Arity: 5, Flags: w | dm, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "INSERT"}, Begin: 2, LastKey: 0}}, Group: "stream", Since: "6.2.0", Complexity: "O(1)", Args: "key groupname consumername", Summary: "Create a consumer in a consumer group.", Handler: xgroupCommand},
		{Name: "xgroup|delconsumer", Arity: 5, Flags: w, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "DELETE"}, Begin: 2, LastKey: 0}}, Group: "stream", Since: "5.0.0", Complexity: "O(1)", Args: "key groupname consumername", Summary: "Delete a consumer from a consumer group.", Handler: xgroupCommand},
		{Name: "xgroup|destroy", Arity: 4, Flags: w, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "DELETE"}, Begin: 2, LastKey: 0}}, Group: "stream", Since: "5.0.0", Complexity: "O(N) where N is the number of entries in the group's pending entries list (PEL).", Args: "key groupname", Summary: "Destroy a consumer group.", Handler: xgroupCommand},
		{Name: "xgroup|setid", Arity: -5, Flags: w, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RW", "UPDATE"}, Begin: 2, LastKey: 0}}, Group: "stream", Since: "5.0.0", Complexity: "O(1)", Args: "key groupname <id: id | $> [ENTRIESREAD entries_read:integer]", Summary: "Set a consumer group to an arbitrary last delivered ID value.", History: [][2]string{{"7.0.0", "Added the optional `entries_read` argument."}}, Handler: xgroupCommand},
		{Name: "xgroup|help", Arity: 2, Flags: loading | stale, Group: "stream", Since: "5.0.0", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands", Handler: xgroupHelpCommand},
	}},
	{Name: "xinfo", Arity: -2, Group: "stream", Since: "5.0.0", Summary: "A container for stream introspection commands", Complexity: "Depends on subcommand.", Sub: []*server.Spec{
		{Name: "xinfo|stream", Arity: -3, Flags: ro, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 2, LastKey: 0}}, Group: "stream", Since: "5.0.0", Complexity: "O(1)", Args: "key [FULL [COUNT count:integer]]", Summary: "Get information about a stream", History: [][2]string{{"6.0.0", "Added the `FULL` modifier."}, {"7.0.0", "Added the `max-deleted-entry-id`, `entries-added`, `recorded-first-entry-id`, `entries-read` and `lag` fields"}}, Handler: xinfoCommand},
		{Name: "xinfo|groups", Arity: 3, Flags: ro, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 2, LastKey: 0}}, Group: "stream", Since: "5.0.0", Complexity: "O(1)", Args: "key", Summary: "List the consumer groups of a stream", History: [][2]string{{"7.0.0", "Added the `entries-read` and `lag` fields"}}, Handler: xinfoCommand},
		{Name: "xinfo|consumers", Arity: 4, Flags: ro, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 2, LastKey: 0}}, Group: "stream", Since: "5.0.0", Complexity: "O(1)", Args: "key groupname", Summary: "List the consumers in a consumer group", Tips: []string{"nondeterministic_output"}, Handler: xinfoCommand},
		{Name: "xinfo|help", Arity: 2, Flags: loading | stale, Group: "stream", Since: "5.0.0", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands", Handler: xinfoHelpCommand},
	}},
}

var (
	errInvalidStreamID  = server.Errorf("Invalid stream ID specified as stream command argument")
	errStreamIDTooSmall = server.Errorf("The ID specified in XADD is equal or smaller than the target stream top item")
)

// lookupStream returns key's stream for a read: nil if missing,
// ErrWrongType if the key holds another type.
func lookupStream(x *server.Ctx, key string) (*server.Stream, error) {
	return streamOf(x.DB.Lookup(key))
}

// lookupStreamWrite is lookupStream for a write.
func lookupStreamWrite(x *server.Ctx, key string) (*server.Stream, error) {
	return streamOf(x.DB.LookupWrite(key))
}

func streamOf(o *server.Object) (*server.Stream, error) {
	if o == nil {
		return nil, nil
	}
	if o.Type != server.TypeStream {
		return nil, server.ErrWrongType
	}
	return o.Val.(*server.Stream), nil
}

// parseU64 is Redis's string2ull: a decimal unsigned 64-bit number.
func parseU64(b []byte) (uint64, bool) {
	if n, ok := server.ParseInt(b); ok {
		return uint64(n), n >= 0
	}
	u, err := strconv.ParseUint(string(b), 10, 64)
	return u, err == nil
}

// parseStreamID parses an ID as Redis's streamGenericParseIDOrReply: "-"
// and "+" (refused when strict), ms (seq = missingSeq) or ms-seq; with
// allowStarSeq, ms-* too (seqGiven false).
func parseStreamID(a []byte, missingSeq uint64, strict, allowStarSeq bool) (id server.StreamID, seqGiven bool, err error) {
	if len(a) > 127 {
		return id, false, errInvalidStreamID
	}
	if len(a) == 1 && (a[0] == '-' || a[0] == '+') {
		if strict {
			return id, false, errInvalidStreamID
		}
		if a[0] == '-' {
			return server.StreamID{}, true, nil
		}
		return server.MaxStreamID, true, nil
	}
	msPart, seqPart, dash := strings.Cut(string(a), "-")
	ms, ok := parseU64([]byte(msPart))
	if !ok {
		return id, false, errInvalidStreamID
	}
	seq, seqGiven := missingSeq, true
	if dash {
		if allowStarSeq && seqPart == "*" {
			seq, seqGiven = 0, false
		} else if seq, ok = parseU64([]byte(seqPart)); !ok {
			return id, false, errInvalidStreamID
		}
	}
	return server.StreamID{Ms: ms, Seq: seq}, seqGiven, nil
}

// strictID parses an ID where "-" and "+" are not IDs.
func strictID(a []byte) (server.StreamID, error) {
	id, _, err := parseStreamID(a, 0, true, false)
	return id, err
}

// intervalID parses a range end: "(" makes it exclusive, Redis's
// streamParseIntervalIDOrReply.
func intervalID(a []byte, missingSeq uint64) (server.StreamID, bool, error) {
	if len(a) > 1 && a[0] == '(' {
		id, _, err := parseStreamID(a[1:], missingSeq, true, false)
		return id, true, err
	}
	id, _, err := parseStreamID(a, missingSeq, false, false)
	return id, false, err
}

// rangeStart and rangeEnd parse an interval's ends, an exclusive one moved
// by one ID.
func rangeStart(a []byte) (server.StreamID, error) {
	id, ex, err := intervalID(a, 0)
	if err != nil {
		return id, err
	}
	if ex {
		var ok bool
		if id, ok = id.Incr(); !ok {
			return id, server.Errorf("invalid start ID for the interval")
		}
	}
	return id, nil
}

func rangeEnd(a []byte) (server.StreamID, error) {
	id, ex, err := intervalID(a, math.MaxUint64)
	if err != nil {
		return id, err
	}
	if ex {
		var ok bool
		if id, ok = id.Decr(); !ok {
			return id, server.Errorf("invalid end ID for the interval")
		}
	}
	return id, nil
}

func idBytes(id server.StreamID) []byte { return id.Append(nil) }

func replyID(r *server.Reply, id server.StreamID) { r.Bulk(id.Append(nil)) }

// replyEntry writes [id, [field, value, ...]].
func replyEntry(r *server.Reply, e *server.StreamEntry) {
	r.Array(2)
	replyID(r, e.ID)
	r.Array(len(e.Fields))
	for _, f := range e.Fields {
		r.Bulk(f)
	}
}

// replyRange writes the entries of [start, end] (count 0: all) as an
// array and returns how many.
func replyRange(r *server.Reply, s *server.Stream, start, end server.StreamID, count int64, rev bool) int64 {
	body := r.Deferred()
	var n int64
	s.Range(start, end, rev, func(e *server.StreamEntry) bool {
		replyEntry(body, e)
		n++
		return count == 0 || n < count
	})
	r.Array(int(n))
	r.Append(body)
	return n
}

// trimArgs is what XADD and XTRIM share: the trimming and, for XADD, the
// options before the ID.
type trimArgs struct {
	spec       server.TrimSpec
	nomkstream bool
	idPos      int // XADD: the ID's position
	id         server.StreamID
	idGiven    bool
	seqGiven   bool
}

// parseAddOrTrim reads XADD's options up to its ID, or XTRIM's, as
// Redis's streamParseAddOrTrimArgsOrReply.
func parseAddOrTrim(x *server.Ctx, xadd bool) (trimArgs, error) {
	t := trimArgs{seqGiven: true}
	limitGiven := false
	i := 2
	for ; i < len(x.Args); i++ {
		more := len(x.Args) - 1 - i
		a := x.Args[i]
		switch {
		case xadd && len(a) == 1 && a[0] == '*':
			t.idPos = i
			goto done
		case (is(a, "MAXLEN") || is(a, "MINID")) && more > 0:
			if t.spec.Strategy != server.TrimNone {
				return trimArgs{}, server.Errorf("syntax error, MAXLEN and MINID options at the same time are not compatible")
			}
			t.spec.Approx = false
			if next := x.Args[i+1]; more >= 2 && len(next) == 1 && (next[0] == '~' || next[0] == '=') {
				t.spec.Approx = next[0] == '~'
				i++
			}
			if is(a, "MAXLEN") {
				n, ok := server.ParseInt(x.Args[i+1])
				if !ok {
					return trimArgs{}, server.ErrNotInteger
				}
				if n < 0 {
					return trimArgs{}, server.Errorf("The MAXLEN argument must be >= 0.")
				}
				t.spec.Strategy, t.spec.MaxLen = server.TrimMaxLen, n
			} else {
				id, err := strictID(x.Args[i+1])
				if err != nil {
					return trimArgs{}, err
				}
				t.spec.Strategy, t.spec.MinID = server.TrimMinID, id
			}
			i++
		case is(a, "LIMIT") && more > 0:
			n, ok := server.ParseInt(x.Args[i+1])
			if !ok {
				return trimArgs{}, server.ErrNotInteger
			}
			if n < 0 {
				return trimArgs{}, server.Errorf("The LIMIT argument must be >= 0.")
			}
			t.spec.Limit, limitGiven = n, true
			i++
		case xadd && is(a, "NOMKSTREAM"):
			t.nomkstream = true
		case xadd:
			id, seqGiven, err := parseStreamID(a, 0, true, true)
			if err != nil {
				return trimArgs{}, err
			}
			t.id, t.seqGiven, t.idGiven, t.idPos = id, seqGiven, true, i
			goto done
		default:
			return trimArgs{}, server.ErrSyntax
		}
	}
	t.idPos = i
done:
	if t.spec.Limit != 0 && t.spec.Strategy == server.TrimNone {
		return trimArgs{}, server.Errorf("syntax error, LIMIT cannot be used without specifying a trimming strategy")
	}
	if !xadd && t.spec.Strategy == server.TrimNone {
		return trimArgs{}, server.Errorf("syntax error, XTRIM must be called with a trimming strategy")
	}
	switch {
	case limitGiven && !t.spec.Approx:
		return trimArgs{}, server.Errorf("syntax error, LIMIT cannot be used without the special ~ option")
	case !limitGiven && t.spec.Approx:
		// Approximate trimming is bounded so one call can't take long.
		t.spec.Limit = 100 * x.S.Config.StreamNodeMaxEntries
		if t.spec.Limit <= 0 || t.spec.Limit > 10000 {
			t.spec.Limit = 10000
		}
	case !t.spec.Approx:
		t.spec.Limit = 0
	}
	return t, nil
}

// trimPropagation is the exact trimming a replay must do to leave what an
// approximate or limited one left: MAXLEN = the length now, or MINID = the
// first entry's ID now (Redis's streamRewriteTrimArgument).
func trimPropagation(s *server.Stream, t *trimArgs) [][]byte {
	if t.spec.Strategy == server.TrimMaxLen {
		if !t.spec.Approx {
			return [][]byte{[]byte("MAXLEN"), []byte("="), strconv.AppendInt(nil, t.spec.MaxLen, 10)}
		}
		return [][]byte{[]byte("MAXLEN"), []byte("="), strconv.AppendInt(nil, s.Len(), 10)}
	}
	if !t.spec.Approx {
		return [][]byte{[]byte("MINID"), []byte("="), idBytes(t.spec.MinID)}
	}
	first, ok := s.First()
	if !ok {
		first = server.MaxStreamID
	}
	return [][]byte{[]byte("MINID"), []byte("="), idBytes(first)}
}

// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]
func xaddCommand(x *server.Ctx) {
	t, err := parseAddOrTrim(x, true)
	if err != nil {
		x.Error(err)
		return
	}
	fieldPos := t.idPos + 1
	if n := len(x.Args) - fieldPos; n < 2 || n%2 == 1 {
		x.Error(server.ErrWrongArgs("xadd"))
		return
	}
	if t.idGiven && t.seqGiven && t.id.IsZero() {
		x.Error(server.Errorf("The ID specified in XADD must be greater than 0-0"))
		return
	}
	key := x.Arg(1)
	s, err := lookupStreamWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	created := false
	if s == nil {
		if t.nomkstream {
			x.R.Null()
			return
		}
		s, created = server.NewStream(), true
	}
	if s.LastID == server.MaxStreamID {
		x.Error(server.Errorf("The stream has exhausted the last possible ID, unable to add more items"))
		return
	}
	var id server.StreamID
	switch {
	case t.idGiven && t.seqGiven:
		id = t.id
	case t.idGiven:
		// ms-*: the sequence follows the last ID's within the same ms.
		id = t.id
		if s.LastID.Ms == t.id.Ms {
			if s.LastID.Seq == math.MaxUint64 {
				x.Error(errStreamIDTooSmall)
				return
			}
			id = server.StreamID{Ms: t.id.Ms, Seq: s.LastID.Seq + 1}
		}
	default:
		now := uint64(x.S.Now())
		if now > s.LastID.Ms {
			id = server.StreamID{Ms: now}
		} else {
			id, _ = s.LastID.Incr()
		}
	}
	if id.Compare(s.LastID) <= 0 {
		x.Error(errStreamIDTooSmall)
		return
	}
	cfg := x.S.Config
	s.Append(id, x.Args[fieldPos:], cfg.StreamNodeMaxEntries, cfg.StreamNodeMaxBytes)
	if created {
		x.DB.Set(key, server.NewValue(server.TypeStream, s), false) // signals waiters
	} else {
		x.S.SignalKeyReady(x.DB, key)
	}
	idText := idBytes(id)
	x.R.Bulk(idText)
	x.Modified(key)
	x.Notify("xadd", key)
	// Logged with the ID it got and, for approximate trimming, the exact
	// trimming that leaves the same entries on replay.
	prop := x.PropagateArgs(7 + len(x.Args) - fieldPos)
	prop = append(prop, x.Args[0], x.Args[1])
	if t.nomkstream {
		prop = append(prop, []byte("NOMKSTREAM"))
	}
	if t.spec.Strategy != server.TrimNone {
		if s.Trim(t.spec) > 0 {
			x.Notify("xtrim", key)
		}
		prop = append(prop, trimPropagation(s, &t)...)
	}
	prop = append(prop, idText)
	x.Propagate(append(prop, x.Args[fieldPos:]...)...)
}

// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
func xtrimCommand(x *server.Ctx) {
	t, err := parseAddOrTrim(x, false)
	if err != nil {
		x.Error(err)
		return
	}
	key := x.Arg(1)
	s, err := lookupStreamWrite(x, key)
	if err != nil || s == nil {
		replyErrOrZero(x, err)
		return
	}
	n := s.Trim(t.spec)
	if n > 0 {
		x.Notify("xtrim", key)
		x.Modified(key)
		x.S.Dirty += n - 1
		x.Propagate(append([][]byte{[]byte("XTRIM"), x.Args[1]}, trimPropagation(s, &t)...)...)
	}
	x.R.Int(n)
}

// XDEL key id [id ...]
func xdelCommand(x *server.Ctx) {
	key := x.Arg(1)
	s, err := lookupStreamWrite(x, key)
	if err != nil || s == nil {
		replyErrOrZero(x, err)
		return
	}
	// Every ID is checked before any is deleted.
	ids := make([]server.StreamID, 0, len(x.Args)-2)
	for _, a := range x.Args[2:] {
		id, err := strictID(a)
		if err != nil {
			x.Error(err)
			return
		}
		ids = append(ids, id)
	}
	var deleted int64
	firstGone := false
	for _, id := range ids {
		if s.Delete(id) {
			if id == s.FirstID {
				firstGone = true
			}
			if id.Compare(s.MaxDeletedID) > 0 {
				s.MaxDeletedID = id
			}
			deleted++
		}
	}
	if deleted > 0 {
		if s.Len() == 0 {
			s.FirstID = server.StreamID{}
		} else if firstGone {
			s.ResetFirstID()
		}
		x.Notify("xdel", key)
		x.Modified(key)
		x.S.Dirty += deleted - 1
	}
	x.R.Int(deleted)
}

// XLEN key
func xlenCommand(x *server.Ctx) {
	s, err := lookupStream(x, x.Arg(1))
	if err != nil || s == nil {
		replyErrOrZero(x, err)
		return
	}
	x.R.Int(s.Len())
}

// XRANGE key start end [COUNT count]
func xrangeCommand(x *server.Ctx) { xrangeGeneric(x, false) }

// XREVRANGE key end start [COUNT count]
func xrevrangeCommand(x *server.Ctx) { xrangeGeneric(x, true) }

func xrangeGeneric(x *server.Ctx, rev bool) {
	startArg, endArg := x.Args[2], x.Args[3]
	if rev {
		startArg, endArg = endArg, startArg
	}
	start, err := rangeStart(startArg)
	if err != nil {
		x.Error(err)
		return
	}
	end, err := rangeEnd(endArg)
	if err != nil {
		x.Error(err)
		return
	}
	count := int64(-1)
	for j := 4; j < len(x.Args); j++ {
		if is(x.Args[j], "COUNT") && j+1 < len(x.Args) {
			n, ok := server.ParseInt(x.Args[j+1])
			if !ok {
				x.Error(server.ErrNotInteger)
				return
			}
			count = max(n, 0)
			j++
		} else {
			x.Error(server.ErrSyntax)
			return
		}
	}
	s, err := lookupStream(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if s == nil {
		x.R.Array(0)
		return
	}
	if count == 0 {
		x.R.NullArray()
		return
	}
	replyRange(x.R, s, start, end, max(count, 0), rev)
}

// xreadArgs is a parsed XREAD or XREADGROUP.
type xreadArgs struct {
	group, consumer string
	grouped         bool
	noack           bool
	count           int64
	block           bool
	deadline        int64
	keys            []string
	ids             []server.StreamID // ">" is MaxStreamID
	history         []bool            // XREADGROUP with an ID other than ">"
}

// xreadBlockedCount bounds what one blocked read is served when it gave
// no COUNT, as Redis's XREAD_BLOCKED_DEFAULT_COUNT.
const xreadBlockedCount = 1000

func parseXread(x *server.Ctx, grouped bool) (*xreadArgs, error) {
	a := &xreadArgs{}
	streamsAt := 0
	for i := 1; i < len(x.Args) && streamsAt == 0; i++ {
		more := len(x.Args) - 1 - i
		o := x.Args[i]
		switch {
		case is(o, "BLOCK") && more > 0:
			if x.InScript() {
				// Redis 7.0 refuses it rather than not blocking: BLOCK
				// makes no sense in a script.
				return nil, server.Errorf(x.Arg(0) + " command is not allowed with BLOCK option from scripts")
			}
			i++
			ms, ok := server.ParseInt(x.Args[i])
			if !ok {
				return nil, server.Errorf("timeout is not an integer or out of range")
			}
			if ms < 0 {
				return nil, server.Errorf("timeout is negative")
			}
			a.block = true
			if ms > 0 {
				now := x.S.Now()
				if ms > math.MaxInt64-now {
					return nil, server.Errorf("timeout is out of range")
				}
				a.deadline = now + ms
			}
		case is(o, "COUNT") && more > 0:
			i++
			n, ok := server.ParseInt(x.Args[i])
			if !ok {
				return nil, server.ErrNotInteger
			}
			a.count = max(n, 0)
		case is(o, "STREAMS") && more > 0:
			streamsAt = i + 1
			if (len(x.Args)-streamsAt)%2 != 0 {
				sym := "$"
				if grouped {
					sym = ">"
				}
				return nil, server.Errorf("Unbalanced '" + x.Cmd.Name + "' list of streams: for each stream key an ID or '" + sym + "' must be specified.")
			}
		case is(o, "GROUP") && more >= 2:
			if !grouped {
				return nil, server.Errorf("The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
			}
			a.group, a.consumer, a.grouped = string(x.Args[i+1]), string(x.Args[i+2]), true
			i += 2
		case is(o, "NOACK"):
			if !grouped {
				return nil, server.Errorf("The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
			}
			a.noack = true
		default:
			return nil, server.ErrSyntax
		}
	}
	if streamsAt == 0 {
		return nil, server.ErrSyntax
	}
	if grouped && !a.grouped {
		return nil, server.Errorf("Missing GROUP option for XREADGROUP")
	}
	n := (len(x.Args) - streamsAt) / 2
	for i := 0; i < n; i++ {
		key := x.Arg(streamsAt + i)
		idArg := x.Args[streamsAt+n+i]
		s, err := lookupStream(x, key)
		if err != nil {
			return nil, err
		}
		if a.grouped && (s == nil || s.Group(a.group) == nil) {
			return nil, server.CodeError("NOGROUP", "No such key '"+key+"' or consumer group '"+a.group+"' in XREADGROUP with GROUP option")
		}
		var id server.StreamID
		switch string(idArg) {
		case "$":
			if grouped {
				return nil, server.Errorf("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")
			}
			if s != nil {
				id = s.LastID
			}
		case ">":
			if !grouped {
				return nil, server.Errorf("The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
			}
			id = server.MaxStreamID
		default:
			var err error
			if id, err = strictID(idArg); err != nil {
				return nil, err
			}
		}
		a.keys = append(a.keys, key)
		a.ids = append(a.ids, id)
		a.history = append(a.history, grouped && id != server.MaxStreamID)
	}
	return a, nil
}

// XREAD [COUNT count] [BLOCK ms] STREAMS key [key ...] id [id ...]
func xreadCommand(x *server.Ctx) { xreadGeneric(x, false) }

// XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key [key ...] id [id ...]
func xreadgroupCommand(x *server.Ctx) { xreadGeneric(x, true) }

func xreadGeneric(x *server.Ctx, grouped bool) {
	a, err := parseXread(x, grouped)
	if err != nil {
		x.Error(err)
		return
	}
	// What a group read changed is logged by the commands that redo it
	// (XCLAIM, XGROUP SETID...), never as the read itself.
	x.NoPropagate()
	body := x.R.Deferred()
	served := 0
	for i, key := range a.keys {
		s, _ := lookupStream(x, key)
		if s == nil {
			continue
		}
		gt := a.ids[i]
		var g *server.StreamGroup
		serve := false
		if grouped {
			g = s.Group(a.group)
			if a.history[i] {
				serve = true
			} else if last, ok := s.Last(); ok && last.Compare(g.LastID) > 0 {
				serve, gt = true, g.LastID
			}
		} else if last, ok := s.Last(); ok && last.Compare(gt) > 0 {
			serve = true
		}
		if !serve {
			continue
		}
		served++
		streamReadReply(x, body, s, key, g, a, gt, a.history[i], a.count)
	}
	if served > 0 {
		if x.R.Resp() == 2 {
			x.R.Array(served)
		} else {
			x.R.Map(served)
		}
		x.R.Append(body)
		return
	}
	if !a.block {
		x.R.NullArray()
		return
	}
	if !x.CanBlock() {
		x.R.NullArray()
		return
	}
	ids := map[string]server.StreamID{}
	for i, k := range a.keys {
		if _, dup := ids[k]; !dup {
			ids[k] = a.ids[i]
		}
	}
	count := a.count
	if count == 0 {
		count = xreadBlockedCount
	}
	x.S.BlockOnKeys(x, "stream", &server.KeyWait{
		DB: x.DB, Keys: a.keys, Args: x.Args, Cmd: x.Cmd,
		Serve: func(x *server.Ctx, key string) bool {
			return serveBlockedRead(x, key, a, ids[key], count)
		},
		OnTimeout: func(r *server.Reply) { r.NullArray() },
	}, a.deadline)
}

// serveBlockedRead answers a blocked XREAD or XREADGROUP now that key may
// have new entries, as Redis's serveClientsBlockedOnStreamKey: a reader
// waits for an ID past the one it gave, a group reader for entries past
// its group's last delivered ID. A group reader whose stream or group is
// gone gets an error.
func serveBlockedRead(x *server.Ctx, key string, a *xreadArgs, gt server.StreamID, count int64) bool {
	s, err := lookupStreamWrite(x, key)
	if a.grouped && (s == nil || err != nil) {
		x.Error(server.CodeError("UNBLOCKED", "the stream key no longer exists"))
		x.S.BlockedWork(x.C, 0, true)
		return true
	}
	if s == nil {
		return false
	}
	var g *server.StreamGroup
	if a.grouped {
		if g = s.Group(a.group); g == nil {
			x.Error(server.CodeError("NOGROUP", "the consumer group this client was blocked on no longer exists"))
			x.S.BlockedWork(x.C, 0, true)
			return true
		}
		gt = g.LastID
	}
	if s.LastID.Compare(gt) <= 0 {
		return false
	}
	if x.R.Resp() == 2 {
		x.R.Array(1)
	} else {
		x.R.Map(1)
	}
	streamReadReply(x, x.R, s, key, g, a, gt, false, count)
	return true
}

// streamReadReply writes one stream's part of an XREAD/XREADGROUP reply:
// its name and the entries after gt; for a group, it delivers them
// (PEL, last delivered ID, read counter) and logs what it changed as
// Redis 7.0 propagates it: an XCLAIM per delivered entry, then an XGROUP
// SETID with the read counter. Redis 7.0.15 logs that SETID only with
// NOACK (the XCLAIMs' LASTID carry the ID); here it always follows, so a
// replayed group keeps its entries-read and lag too.
func streamReadReply(x *server.Ctx, r *server.Reply, s *server.Stream, key string, g *server.StreamGroup, a *xreadArgs, gt server.StreamID, history bool, count int64) {
	if r.Resp() == 2 {
		r.Array(2)
	}
	r.BulkString(key)
	start, _ := gt.Incr()
	if g == nil {
		replyRange(r, s, start, server.MaxStreamID, count, false)
		return
	}
	now := x.S.Now()
	c := g.Consumer(a.consumer)
	if c == nil {
		c = g.CreateConsumer(a.consumer, now)
		x.Notify("xgroup-createconsumer", key)
		if a.noack {
			// No XCLAIM will name it: the log creates it by itself.
			x.Propagate([]byte("XGROUP"), []byte("CREATECONSUMER"), []byte(key), []byte(a.group), []byte(a.consumer))
		}
	} else {
		c.SeenTime = now
	}
	x.S.Dirty++
	if history {
		replyConsumerHistory(r, s, c, start, count, now)
		return
	}
	body := r.Deferred()
	var n int64
	moved := false
	s.Range(start, server.MaxStreamID, false, func(e *server.StreamEntry) bool {
		if e.ID.Compare(g.LastID) > 0 {
			if g.EntriesRead != -1 && !s.TombstoneIn(e.ID) {
				g.EntriesRead++
			} else if s.EntriesAdded != 0 {
				g.EntriesRead = s.EstimateEntriesRead(e.ID)
			}
			g.LastID = e.ID
			moved = true
		}
		replyEntry(body, e)
		if !a.noack {
			nack := g.NACK(e.ID)
			if nack == nil {
				nack = &server.StreamNACK{ID: e.ID}
				g.PEL.Set(nack)
			}
			nack.DeliveryTime, nack.DeliveryCount = now, 1
			g.Assign(nack, c)
			propagateXclaim(x, key, a.group, g, nack)
		}
		n++
		return count == 0 || n < count
	})
	r.Array(int(n))
	r.Append(body)
	if moved {
		propagateGroupID(x, key, a.group, g)
	}
}

// replyConsumerHistory replies the entries of c's PEL from start on: an
// entry deleted meanwhile as [id, nil]; each one served counts as
// delivered again.
func replyConsumerHistory(r *server.Reply, s *server.Stream, c *server.StreamConsumer, start server.StreamID, count, now int64) {
	body := r.Deferred()
	var n int64
	c.PEL.Ascend(&server.StreamNACK{ID: start}, func(i interface{}) bool {
		if count != 0 && n >= count {
			return false
		}
		nack := i.(*server.StreamNACK)
		if e, ok := s.Get(nack.ID); ok {
			replyEntry(body, &e)
			nack.DeliveryTime = now
			nack.DeliveryCount++
		} else {
			body.Array(2)
			replyID(body, nack.ID)
			body.NullArray()
		}
		n++
		return true
	})
	r.Array(int(n))
	r.Append(body)
}

// propagateXclaim logs a PEL entry's state as the XCLAIM that recreates it
// (Redis's streamPropagateXCLAIM).
func propagateXclaim(x *server.Ctx, key, group string, g *server.StreamGroup, n *server.StreamNACK) {
	x.Propagate([]byte("XCLAIM"), []byte(key), []byte(group), []byte(n.Consumer.Name), []byte("0"), idBytes(n.ID),
		[]byte("TIME"), strconv.AppendInt(nil, n.DeliveryTime, 10), []byte("RETRYCOUNT"), strconv.AppendInt(nil, n.DeliveryCount, 10),
		[]byte("FORCE"), []byte("JUSTID"), []byte("LASTID"), idBytes(g.LastID))
}

// propagateGroupID logs a group's last ID and read counter.
func propagateGroupID(x *server.Ctx, key, group string, g *server.StreamGroup) {
	x.Propagate([]byte("XGROUP"), []byte("SETID"), []byte(key), []byte(group), idBytes(g.LastID),
		[]byte("ENTRIESREAD"), strconv.AppendInt(nil, g.EntriesRead, 10))
}

// errNoGroup is the error of a command naming a missing key or group.
func errNoGroup(key, group string) error {
	return server.CodeError("NOGROUP", "No such key '"+key+"' or consumer group '"+group+"'")
}

// XACK key group id [id ...]
func xackCommand(x *server.Ctx) {
	key := x.Arg(1)
	s, err := lookupStream(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	var g *server.StreamGroup
	if s != nil {
		g = s.Group(x.Arg(2))
	}
	if g == nil {
		x.R.Int(0)
		return
	}
	ids := make([]server.StreamID, 0, len(x.Args)-3)
	for _, a := range x.Args[3:] {
		id, err := strictID(a)
		if err != nil {
			x.Error(err)
			return
		}
		ids = append(ids, id)
	}
	var acked int64
	for _, id := range ids {
		if g.Ack(id) {
			acked++
		}
	}
	x.S.Dirty += acked
	x.R.Int(acked)
}

// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
func xpendingCommand(x *server.Ctx) {
	argc := len(x.Args)
	if argc != 3 && (argc < 6 || argc > 9) {
		x.Error(server.ErrSyntax)
		return
	}
	var start, end server.StreamID
	var count, minIdle int64
	var consumer string
	hasConsumer := false
	if argc >= 6 {
		at := 3
		if is(x.Args[3], "IDLE") {
			n, ok := server.ParseInt(x.Args[4])
			if !ok {
				x.Error(server.ErrNotInteger)
				return
			}
			minIdle = n
			if argc < 8 {
				x.Error(server.ErrSyntax)
				return
			}
			at += 2
		}
		n, ok := server.ParseInt(x.Args[at+2])
		if !ok {
			x.Error(server.ErrNotInteger)
			return
		}
		count = max(n, 0)
		var err error
		if start, err = rangeStart(x.Args[at]); err != nil {
			x.Error(err)
			return
		}
		if end, err = rangeEnd(x.Args[at+1]); err != nil {
			x.Error(err)
			return
		}
		if at+3 < argc {
			consumer, hasConsumer = x.Arg(at+3), true
		}
	}
	key, group := x.Arg(1), x.Arg(2)
	s, err := lookupStream(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	var g *server.StreamGroup
	if s != nil {
		g = s.Group(group)
	}
	if g == nil {
		x.Error(errNoGroup(key, group))
		return
	}
	if argc == 3 {
		x.R.Array(4)
		x.R.Int(int64(g.PEL.Len()))
		if g.PEL.Len() == 0 {
			x.R.Null()
			x.R.Null()
			x.R.NullArray()
			return
		}
		replyID(x.R, g.PEL.Min().(*server.StreamNACK).ID)
		replyID(x.R, g.PEL.Max().(*server.StreamNACK).ID)
		var owners []*server.StreamConsumer
		for _, c := range g.Consumers() {
			if c.PEL.Len() > 0 {
				owners = append(owners, c)
			}
		}
		x.R.Array(len(owners))
		for _, c := range owners {
			x.R.Array(2)
			x.R.BulkString(c.Name)
			x.R.Bulk(strconv.AppendInt(nil, int64(c.PEL.Len()), 10))
		}
		return
	}
	pel := g.PEL
	if hasConsumer {
		c := g.Consumer(consumer)
		if c == nil {
			x.R.Array(0)
			return
		}
		pel = c.PEL
	}
	now := x.S.Now()
	body := x.R.Deferred()
	n := 0
	pel.Ascend(&server.StreamNACK{ID: start}, func(i interface{}) bool {
		nack := i.(*server.StreamNACK)
		if count == 0 || nack.ID.Compare(end) > 0 {
			return false
		}
		idle := now - nack.DeliveryTime
		if minIdle != 0 && idle < minIdle {
			return true
		}
		count--
		n++
		body.Array(4)
		replyID(body, nack.ID)
		body.BulkString(nack.Consumer.Name)
		body.Int(max(idle, 0))
		body.Int(nack.DeliveryCount)
		return true
	})
	x.R.Array(n)
	x.R.Append(body)
}

// consumerFor returns group g's consumer name, created if missing (with
// its event), its seen time refreshed.
func consumerFor(x *server.Ctx, key string, g *server.StreamGroup, name string) *server.StreamConsumer {
	now := x.S.Now()
	c := g.Consumer(name)
	if c == nil {
		c = g.CreateConsumer(name, now)
		x.Notify("xgroup-createconsumer", key)
		x.S.Dirty++
		return c
	}
	c.SeenTime = now
	return c
}

// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID id]
func xclaimCommand(x *server.Ctx) {
	key, group := x.Arg(1), x.Arg(2)
	s, err := lookupStream(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	var g *server.StreamGroup
	if s != nil {
		g = s.Group(group)
	}
	if g == nil {
		x.Error(errNoGroup(key, group))
		return
	}
	minIdle, ok := server.ParseInt(x.Args[4])
	if !ok {
		x.Error(server.Errorf("Invalid min-idle-time argument for XCLAIM"))
		return
	}
	minIdle = max(minIdle, 0)
	j := 5
	var ids []server.StreamID
	for ; j < len(x.Args); j++ {
		id, err := strictID(x.Args[j])
		if err != nil {
			break
		}
		ids = append(ids, id)
	}
	now := x.S.Now()
	deliveryTime, retryCount := int64(-1), int64(-1)
	force, justID := false, false
	var lastID server.StreamID
	for ; j < len(x.Args); j++ {
		more := len(x.Args) - 1 - j
		opt := x.Args[j]
		switch {
		case is(opt, "FORCE"):
			force = true
		case is(opt, "JUSTID"):
			justID = true
		case is(opt, "IDLE") && more > 0:
			j++
			n, ok := server.ParseInt(x.Args[j])
			if !ok {
				x.Error(server.Errorf("Invalid IDLE option argument for XCLAIM"))
				return
			}
			deliveryTime = now - n
		case is(opt, "TIME") && more > 0:
			j++
			n, ok := server.ParseInt(x.Args[j])
			if !ok {
				x.Error(server.Errorf("Invalid TIME option argument for XCLAIM"))
				return
			}
			deliveryTime = n
		case is(opt, "RETRYCOUNT") && more > 0:
			j++
			n, ok := server.ParseInt(x.Args[j])
			if !ok {
				x.Error(server.Errorf("Invalid RETRYCOUNT option argument for XCLAIM"))
				return
			}
			retryCount = n
		case is(opt, "LASTID") && more > 0:
			j++
			id, err := strictID(x.Args[j])
			if err != nil {
				x.Error(err)
				return
			}
			lastID = id
		default:
			x.Error(server.Errorf("Unrecognized XCLAIM option '" + string(opt) + "'"))
			return
		}
	}
	propagateLast := false
	if lastID.Compare(g.LastID) > 0 {
		g.LastID = lastID
		propagateLast = true
	}
	// A delivery time in the future or before the epoch is taken as now:
	// clients compute it from their own clocks.
	if deliveryTime == -1 || deliveryTime < 0 || deliveryTime > now {
		deliveryTime = now
	}
	var c *server.StreamConsumer
	body := x.R.Deferred()
	n := 0
	for _, id := range ids {
		nack := g.NACK(id)
		if _, exists := s.Get(id); !exists {
			// The entry is gone: its pending entry goes too.
			if nack != nil {
				propagateXclaim(x, key, group, g, nack)
				propagateLast = false
				g.Ack(id)
				x.S.Dirty++
			}
			continue
		}
		if force && nack == nil {
			nack = &server.StreamNACK{ID: id, DeliveryTime: now, DeliveryCount: 1}
			g.PEL.Set(nack)
		}
		if nack == nil {
			continue
		}
		if nack.Consumer != nil && minIdle > 0 && now-nack.DeliveryTime < minIdle {
			continue
		}
		if c == nil {
			c = consumerFor(x, key, g, x.Arg(3))
		}
		g.Assign(nack, c)
		nack.DeliveryTime = deliveryTime
		if retryCount >= 0 {
			nack.DeliveryCount = retryCount
		} else if !justID {
			nack.DeliveryCount++
		}
		if justID {
			replyID(body, id)
		} else {
			e, _ := s.Get(id)
			replyEntry(body, &e)
		}
		n++
		propagateXclaim(x, key, group, g, nack)
		propagateLast = false
		x.S.Dirty++
	}
	if propagateLast {
		propagateGroupID(x, key, group, g)
		x.S.Dirty++
	}
	x.NoPropagate()
	x.R.Array(n)
	x.R.Append(body)
}

// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
func xautoclaimCommand(x *server.Ctx) {
	minIdle, ok := server.ParseInt(x.Args[4])
	if !ok {
		x.Error(server.Errorf("Invalid min-idle-time argument for XAUTOCLAIM"))
		return
	}
	minIdle = max(minIdle, 0)
	start, err := rangeStart(x.Args[5])
	if err != nil {
		x.Error(err)
		return
	}
	count, justID := int64(100), false
	const attemptsFactor = 10
	for j := 6; j < len(x.Args); j++ {
		more := len(x.Args) - 1 - j
		switch {
		case is(x.Args[j], "COUNT") && more > 0:
			n, ok := server.ParseInt(x.Args[j+1])
			if !ok || n < 1 || n > math.MaxInt64/attemptsFactor {
				x.Error(server.Errorf("COUNT must be > 0"))
				return
			}
			count = n
			j++
		case is(x.Args[j], "JUSTID"):
			justID = true
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	key, group := x.Arg(1), x.Arg(2)
	s, err := lookupStream(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	var g *server.StreamGroup
	if s != nil {
		g = s.Group(group)
	}
	if g == nil {
		x.Error(errNoGroup(key, group))
		return
	}
	attempts := count * attemptsFactor
	now := x.S.Now()
	var c *server.StreamConsumer
	body := x.R.Deferred()
	n := 0
	var deleted []server.StreamID
	// Walk the PEL from start, at most attempts entries and until count
	// were claimed or found deleted; then act on what was examined. The
	// cursor is the entry after the last one examined, 0-0 once the PEL
	// is exhausted.
	var examined []*server.StreamNACK
	g.PEL.Ascend(&server.StreamNACK{ID: start}, func(i interface{}) bool {
		if attempts == 0 || count == 0 {
			return false
		}
		attempts--
		nack := i.(*server.StreamNACK)
		examined = append(examined, nack)
		if _, ok := s.Get(nack.ID); !ok {
			count--
			return true
		}
		if minIdle > 0 && now-nack.DeliveryTime < minIdle {
			return true
		}
		count--
		return true
	})
	next := server.StreamID{}
	if len(examined) > 0 {
		last := examined[len(examined)-1].ID
		if after, ok := last.Incr(); ok {
			g.PEL.Ascend(&server.StreamNACK{ID: after}, func(i interface{}) bool {
				next = i.(*server.StreamNACK).ID
				return false
			})
		}
	}
	for _, nack := range examined {
		if _, ok := s.Get(nack.ID); !ok {
			propagateXclaim(x, key, group, g, nack)
			x.S.Dirty++
			g.Ack(nack.ID)
			deleted = append(deleted, nack.ID)
			continue
		}
		if minIdle > 0 && now-nack.DeliveryTime < minIdle {
			continue
		}
		if c == nil {
			c = consumerFor(x, key, g, x.Arg(3))
		}
		g.Assign(nack, c)
		nack.DeliveryTime = now
		if !justID {
			nack.DeliveryCount++
		}
		if justID {
			replyID(body, nack.ID)
		} else {
			e, _ := s.Get(nack.ID)
			replyEntry(body, &e)
		}
		n++
		propagateXclaim(x, key, group, g, nack)
		x.S.Dirty++
	}
	x.NoPropagate()
	x.R.Array(3)
	replyID(x.R, next)
	x.R.Array(n)
	x.R.Append(body)
	x.R.Array(len(deleted))
	for _, id := range deleted {
		replyID(x.R, id)
	}
}

// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
func xsetidCommand(x *server.Ctx) {
	id, err := strictID(x.Args[2])
	if err != nil {
		x.Error(err)
		return
	}
	entriesAdded := int64(-1)
	var maxDeleted server.StreamID
	for i := 3; i < len(x.Args); i += 2 {
		more := len(x.Args) - 1 - i
		switch {
		case is(x.Args[i], "ENTRIESADDED") && more > 0:
			n, ok := server.ParseInt(x.Args[i+1])
			if !ok {
				x.Error(server.ErrNotInteger)
				return
			}
			if n < 0 {
				x.Error(server.Errorf("entries_added must be positive"))
				return
			}
			entriesAdded = n
		case is(x.Args[i], "MAXDELETEDID") && more > 0:
			if maxDeleted, err = strictID(x.Args[i+1]); err != nil {
				x.Error(err)
				return
			}
			if id.Compare(maxDeleted) < 0 {
				x.Error(server.Errorf("The ID specified in XSETID is smaller than the provided max_deleted_entry_id"))
				return
			}
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	key := x.Arg(1)
	s, err := lookupStreamWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	if s == nil {
		x.Error(server.ErrNoSuchKey)
		return
	}
	if s.Len() > 0 {
		if last, _ := s.Last(); id.Compare(last) < 0 {
			x.Error(server.Errorf("The ID specified in XSETID is smaller than the target stream top item"))
			return
		}
		if entriesAdded != -1 && s.Len() > entriesAdded {
			x.Error(server.Errorf("The entries_added specified in XSETID is smaller than the target stream length"))
			return
		}
	}
	s.LastID = id
	if entriesAdded != -1 {
		s.EntriesAdded = entriesAdded
	}
	if !maxDeleted.IsZero() {
		s.MaxDeletedID = maxDeleted
	}
	x.R.OK()
	x.Modified(key)
	x.Notify("xsetid", key)
}

// subcommandSyntax is Redis's addReplySubcommandSyntaxError.
func subcommandSyntax(x *server.Ctx) error {
	return server.Errorf("unknown subcommand or wrong number of arguments for '" + x.Arg(1) + "'. Try " + strings.ToUpper(x.Arg(0)) + " HELP.")
}

// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER key group ...
func xgroupCommand(x *server.Ctx) {
	opt := x.Args[1]
	argc := len(x.Args)
	entriesRead := int64(-1)
	mkstream := false
	parseEntriesRead := func(i int) (int, error) {
		n, ok := server.ParseInt(x.Args[i+1])
		if !ok {
			return 0, server.ErrNotInteger
		}
		if n < 0 && n != -1 {
			return 0, server.Errorf("value for ENTRIESREAD must be positive or -1")
		}
		entriesRead = n
		return i + 2, nil
	}
	for i := 5; i < argc; {
		var err error
		switch {
		case is(opt, "CREATE") && is(x.Args[i], "MKSTREAM"):
			mkstream = true
			i++
		case (is(opt, "CREATE") || is(opt, "SETID")) && is(x.Args[i], "ENTRIESREAD") && i+1 < argc:
			i, err = parseEntriesRead(i)
		default:
			err = subcommandSyntax(x)
		}
		if err != nil {
			x.Error(err)
			return
		}
	}
	key, group := x.Arg(2), x.Arg(3)
	s, err := lookupStreamWrite(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	var g *server.StreamGroup
	if !mkstream {
		if s == nil {
			x.Error(server.Errorf("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."))
			return
		}
		if g = s.Group(group); g == nil && (is(opt, "SETID") || is(opt, "CREATECONSUMER") || is(opt, "DELCONSUMER")) {
			x.Error(server.CodeError("NOGROUP", "No such consumer group '"+group+"' for key name '"+key+"'"))
			return
		}
	}
	switch {
	case is(opt, "CREATE") && argc >= 5 && argc <= 8:
		var id server.StreamID
		if x.Arg(4) == "$" {
			if s != nil {
				id = s.LastID
			}
		} else if id, err = strictID(x.Args[4]); err != nil {
			x.Error(err)
			return
		}
		if s == nil {
			s = server.NewStream()
			x.DB.Set(key, server.NewValue(server.TypeStream, s), false)
			x.Modified(key)
		}
		if s.CreateGroup(group, id, entriesRead) == nil {
			x.Error(server.CodeError("BUSYGROUP", "Consumer Group name already exists"))
			return
		}
		x.R.OK()
		x.S.Dirty++
		x.Notify("xgroup-create", key)
	case is(opt, "SETID") && (argc == 5 || argc == 7):
		var id server.StreamID
		if x.Arg(4) == "$" {
			id = s.LastID
		} else if id, _, err = parseStreamID(x.Args[4], 0, false, false); err != nil {
			x.Error(err)
			return
		}
		g.LastID, g.EntriesRead = id, entriesRead
		x.R.OK()
		x.S.Dirty++
		x.Notify("xgroup-setid", key)
	case is(opt, "DESTROY") && argc == 4:
		if g == nil || !s.DestroyGroup(group) {
			x.R.Int(0)
			return
		}
		x.R.Int(1)
		x.S.Dirty++
		x.Notify("xgroup-destroy", key)
		x.S.SignalKeyReady(x.DB, key) // its blocked readers get -NOGROUP
	case is(opt, "CREATECONSUMER") && argc == 5:
		if g.CreateConsumer(x.Arg(4), x.S.Now()) == nil {
			x.R.Int(0)
			return
		}
		x.R.Int(1)
		x.S.Dirty++
		x.Notify("xgroup-createconsumer", key)
	case is(opt, "DELCONSUMER") && argc == 5:
		pending := g.DeleteConsumer(x.Arg(4))
		if pending < 0 {
			x.R.Int(0)
			return
		}
		x.R.Int(pending)
		x.S.Dirty++
		x.Notify("xgroup-delconsumer", key)
	default:
		x.Error(subcommandSyntax(x))
	}
}

// XGROUP HELP
func xgroupHelpCommand(x *server.Ctx) {
	helpReply(x, "xgroup", []string{
		"CREATE <key> <group> <id>|$ [MKSTREAM] [ENTRIESREAD <n>]",
		"    Add a group that delivers entries after <id> ($: the last one).",
		"    MKSTREAM makes an empty stream when <key> is missing; ENTRIESREAD",
		"    sets the group's read counter (used by replication and the log).",
		"CREATECONSUMER <key> <group> <consumer>",
		"    Add a consumer to the group; 0 when it is there already.",
		"DELCONSUMER <key> <group> <consumer>",
		"    Drop a consumer and its pending entries; replies how many it had.",
		"DESTROY <key> <group>",
		"    Drop the group; its blocked readers get NOGROUP.",
		"SETID <key> <group> <id>|$ [ENTRIESREAD <n>]",
		"    Move the group's last delivered ID (and read counter).",
	})
}

// XINFO HELP
func xinfoHelpCommand(x *server.Ctx) {
	helpReply(x, "xinfo", []string{
		"CONSUMERS <key> <group>",
		"    Each consumer of the group: name, pending count, idle ms.",
		"GROUPS <key>",
		"    Each group of the stream, with its counters and lag.",
		"STREAM <key> [FULL [COUNT <n>]]",
		"    The stream's counters, first and last entries; FULL lists entries,",
		"    groups, PELs and consumers (COUNT of each, default 10, 0 all).",
	})
}

// XINFO STREAM|GROUPS|CONSUMERS key ...
func xinfoCommand(x *server.Ctx) {
	key := x.Arg(2)
	s, err := lookupStream(x, key)
	if err != nil {
		x.Error(err)
		return
	}
	if s == nil {
		x.Error(server.ErrNoSuchKey)
		return
	}
	switch {
	case is(x.Args[1], "CONSUMERS") && len(x.Args) == 4:
		group := x.Arg(3)
		g := s.Group(group)
		if g == nil {
			x.Error(server.CodeError("NOGROUP", "No such consumer group '"+group+"' for key name '"+key+"'"))
			return
		}
		now := x.S.Now()
		cs := g.Consumers()
		x.R.Array(len(cs))
		for _, c := range cs {
			x.R.Map(3)
			x.R.BulkString("name")
			x.R.BulkString(c.Name)
			x.R.BulkString("pending")
			x.R.Int(int64(c.PEL.Len()))
			x.R.BulkString("idle")
			x.R.Int(max(now-c.SeenTime, 0))
		}
	case is(x.Args[1], "GROUPS") && len(x.Args) == 3:
		gs := s.Groups()
		x.R.Array(len(gs))
		for _, g := range gs {
			x.R.Map(6)
			x.R.BulkString("name")
			x.R.BulkString(g.Name)
			x.R.BulkString("consumers")
			x.R.Int(int64(g.NumConsumers()))
			x.R.BulkString("pending")
			x.R.Int(int64(g.PEL.Len()))
			x.R.BulkString("last-delivered-id")
			replyID(x.R, g.LastID)
			replyGroupCounters(x.R, s, g)
		}
	case is(x.Args[1], "STREAM"):
		xinfoStream(x, s)
	default:
		x.Error(subcommandSyntax(x))
	}
}

// replyGroupCounters writes a group's entries-read and lag (null when
// unknown).
func replyGroupCounters(r *server.Reply, s *server.Stream, g *server.StreamGroup) {
	r.BulkString("entries-read")
	if g.EntriesRead != -1 {
		r.Int(g.EntriesRead)
	} else {
		r.Null()
	}
	r.BulkString("lag")
	if lag, ok := s.Lag(g); ok {
		r.Int(lag)
	} else {
		r.Null()
	}
}

// xinfoStream is XINFO STREAM key [FULL [COUNT count]].
func xinfoStream(x *server.Ctx, s *server.Stream) {
	opts := x.Args[3:]
	full, count := len(opts) > 0, int64(10)
	if full {
		if (len(opts) != 1 && len(opts) != 3) || !is(opts[0], "FULL") || (len(opts) == 3 && !is(opts[1], "COUNT")) {
			x.Error(subcommandSyntax(x))
			return
		}
		if len(opts) == 3 {
			n, ok := server.ParseInt(opts[2])
			if !ok {
				x.Error(server.ErrNotInteger)
				return
			}
			count = max(n, 0)
		}
	}
	r := x.R
	if full {
		r.Map(9)
	} else {
		r.Map(10)
	}
	r.BulkString("length")
	r.Int(s.Len())
	r.BulkString("radix-tree-keys")
	r.Int(int64(s.Nodes()))
	r.BulkString("radix-tree-nodes")
	r.Int(int64(s.RaxNodes()))
	r.BulkString("last-generated-id")
	replyID(r, s.LastID)
	r.BulkString("max-deleted-entry-id")
	replyID(r, s.MaxDeletedID)
	r.BulkString("entries-added")
	r.Int(s.EntriesAdded)
	r.BulkString("recorded-first-entry-id")
	replyID(r, s.FirstID)
	if !full {
		r.BulkString("groups")
		r.Int(int64(s.NumGroups()))
		for _, rev := range []bool{false, true} {
			if rev {
				r.BulkString("last-entry")
			} else {
				r.BulkString("first-entry")
			}
			found := false
			s.Range(server.StreamID{}, server.MaxStreamID, rev, func(e *server.StreamEntry) bool {
				replyEntry(r, e)
				found = true
				return false
			})
			if !found {
				r.Null()
			}
		}
		return
	}
	r.BulkString("entries")
	replyRange(r, s, server.StreamID{}, server.MaxStreamID, count, false)
	r.BulkString("groups")
	gs := s.Groups()
	r.Array(len(gs))
	for _, g := range gs {
		r.Map(7)
		r.BulkString("name")
		r.BulkString(g.Name)
		r.BulkString("last-delivered-id")
		replyID(r, g.LastID)
		replyGroupCounters(r, s, g)
		r.BulkString("pel-count")
		r.Int(int64(g.PEL.Len()))
		r.BulkString("pending")
		body := r.Deferred()
		n := int64(0)
		g.PEL.Ascend(nil, func(i interface{}) bool {
			if count != 0 && n >= count {
				return false
			}
			nack := i.(*server.StreamNACK)
			body.Array(4)
			replyID(body, nack.ID)
			body.BulkString(nack.Consumer.Name)
			body.Int(nack.DeliveryTime)
			body.Int(nack.DeliveryCount)
			n++
			return true
		})
		r.Array(int(n))
		r.Append(body)
		r.BulkString("consumers")
		cs := g.Consumers()
		r.Array(len(cs))
		for _, c := range cs {
			r.Map(4)
			r.BulkString("name")
			r.BulkString(c.Name)
			r.BulkString("seen-time")
			r.Int(c.SeenTime)
			r.BulkString("pel-count")
			r.Int(int64(c.PEL.Len()))
			r.BulkString("pending")
			body := r.Deferred()
			n := int64(0)
			c.PEL.Ascend(nil, func(i interface{}) bool {
				if count != 0 && n >= count {
					return false
				}
				nack := i.(*server.StreamNACK)
				body.Array(3)
				replyID(body, nack.ID)
				body.Int(nack.DeliveryTime)
				body.Int(nack.DeliveryCount)
				n++
				return true
			})
			r.Array(int(n))
			r.Append(body)
		}
	}
}
