package commands

import (
	"strconv"
	"strings"

	"reddwarf/server"
)

var keyspaceCommands = []*server.Spec{
	{Name: "del", Arity: -2, Flags: w, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: keys("RM", "DELETE"), Group: "generic", Since: "1.0.0", Complexity: "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).", Args: "key [key ...]", Summary: "Delete a key", Tips: []string{"request_policy:multi_shard", "response_policy:agg_sum"}, Handler: delCommand},
	{Name: "unlink", Arity: -2, Flags: w | ft, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: keys("RM", "DELETE"), Group: "generic", Since: "4.0.0", Complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.", Args: "key [key ...]", Summary: "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", Tips: []string{"request_policy:multi_shard", "response_policy:agg_sum"}, Handler: delCommand},
	{Name: "exists", Arity: -2, Flags: ro | ft, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: keys("RO"), Group: "generic", Since: "1.0.0", Complexity: "O(N) where N is the number of keys to check.", Args: "key [key ...]", Summary: "Determine if a key exists", History: [][2]string{{"3.0.3", "Accepts multiple `key` arguments."}}, Tips: []string{"request_policy:multi_shard", "response_policy:agg_sum"}, Handler: existsCommand},
	{Name: "type", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO"), Group: "generic", Since: "1.0.0", Complexity: "O(1)", Args: "key", Summary: "Determine the type stored at key", Handler: typeCommand},
	{Name: "keys", Arity: 2, Flags: ro, Group: "generic", Since: "1.0.0", Complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.", Args: "pattern", Summary: "Find all keys matching the given pattern", Tips: []string{"request_policy:all_shards", "nondeterministic_output_order"}, ACL: []string{"@dangerous"}, Handler: keysCommand},
	{Name: "scan", Arity: -2, Flags: ro, Group: "generic", Since: "2.8.0", Complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", Args: "cursor [MATCH pattern] [COUNT count] [TYPE type]@6.0.0", Summary: "Incrementally iterate the keys space", History: [][2]string{{"6.0.0", "Added the `TYPE` subcommand."}}, Tips: []string{"nondeterministic_output", "request_policy:special"}, Handler: scanCommand},
	{Name: "randomkey", Arity: 1, Flags: ro, Group: "generic", Since: "1.0.0", Complexity: "O(1)", Summary: "Return a random key from the keyspace", Tips: []string{"request_policy:all_shards", "nondeterministic_output"}, Handler: randomkeyCommand},
	{Name: "rename", Arity: 3, Flags: w, FirstKey: 1, LastKey: 2, Step: 1, KeySpecs: sourceDest([]string{"RW", "ACCESS", "DELETE"}, []string{"OW", "UPDATE"}), Group: "generic", Since: "1.0.0", Complexity: "O(1)", Args: "key newkey", Summary: "Rename a key", Handler: renameCommand},
	{Name: "renamenx", Arity: 3, Flags: w | ft, FirstKey: 1, LastKey: 2, Step: 1, KeySpecs: sourceDest([]string{"RW", "ACCESS", "DELETE"}, []string{"OW", "INSERT"}), Group: "generic", Since: "1.0.0", Complexity: "O(1)", Args: "key newkey", Summary: "Rename a key, only if the new key does not exist", History: [][2]string{{"3.2.0", "The command no longer returns an error when source and destination names are the same."}}, Handler: renamenxCommand},
	{Name: "copy", Arity: -3, Flags: w | dm | server.FlagQueueBehindJob, FirstKey: 1, LastKey: 2, Step: 1, KeySpecs: sourceDest([]string{"RO", "ACCESS"}, []string{"OW", "UPDATE"}), Group: "generic", Since: "6.2.0", Complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.", Args: "source destination [DB destination-db:integer] [REPLACE]", Summary: "Copy a key", Handler: copyCommand},
	{Name: "move", Arity: 3, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "generic", Since: "1.0.0", Complexity: "O(1)", Args: "key db", Summary: "Move a key to another database", Handler: moveCommand},
	{Name: "swapdb", Arity: 3, Flags: w | ft, Group: "server", Since: "4.0.0", Complexity: "O(N) where N is the count of clients watching or blocking on keys from both databases.", Args: "index1 index2", Summary: "Swaps two Redis databases", ACL: []string{"@keyspace", "@dangerous"}, Handler: swapdbCommand},
	{Name: "touch", Arity: -2, Flags: ro | ft, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: keys("RO"), Group: "generic", Since: "3.2.1", Complexity: "O(N) where N is the number of keys that will be touched.", Args: "key [key ...]", Summary: "Alters the last access time of a key(s). Returns the number of existing keys specified.", Tips: []string{"request_policy:multi_shard", "response_policy:agg_sum"}, Handler: touchCommand},
	{Name: "object", Arity: -2, Group: "generic", Since: "2.2.3", Summary: "A container for object introspection commands", Complexity: "Depends on subcommand.", Sub: []*server.Spec{
		{Name: "object|encoding", Arity: 3, Flags: ro, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: keys("RO"), Group: "generic", Since: "2.2.3", Complexity: "O(1)", Args: "key", Summary: "Inspect the internal encoding of a Redis object", Tips: []string{"nondeterministic_output"}, Handler: objectCommand},
		{Name: "object|freq", Arity: 3, Flags: ro, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: keys("RO"), Group: "generic", Since: "4.0.0", Complexity: "O(1)", Args: "key", Summary: "Get the logarithmic access frequency counter of a Redis object", Tips: []string{"nondeterministic_output"}, Handler: objectCommand},
		{Name: "object|idletime", Arity: 3, Flags: ro, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: keys("RO"), Group: "generic", Since: "2.2.3", Complexity: "O(1)", Args: "key", Summary: "Get the time since a Redis object was last accessed", Tips: []string{"nondeterministic_output"}, Handler: objectCommand},
		{Name: "object|refcount", Arity: 3, Flags: ro, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: keys("RO"), Group: "generic", Since: "2.2.3", Complexity: "O(1)", Args: "key", Summary: "Get the number of references to the value of the key", Tips: []string{"nondeterministic_output"}, Handler: objectCommand},
		{Name: "object|help", Arity: 2, Flags: server.FlagLoading | server.FlagStale, Group: "generic", Since: "6.2.0", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands", Handler: objectHelpCommand},
	}},
	{Name: "memory", Arity: -2, Group: "server", Since: "4.0.0", Summary: "A container for memory diagnostics commands", Complexity: "Depends on subcommand.", Sub: []*server.Spec{
		{Name: "memory|usage", Arity: -3, Flags: ro, FirstKey: 2, LastKey: 2, Step: 1, KeySpecs: keys("RO"), Group: "server", Since: "4.0.0", Complexity: "O(N) where N is the number of samples.", Args: "key [SAMPLES count]", Summary: "Estimate the memory usage of a key", ACL: []string{"@read"}, Handler: memoryUsageCommand},
		{Name: "memory|stats", Arity: 2, Group: "server", Since: "4.0.0", Complexity: "O(1)", Summary: "Show memory usage details", Tips: []string{"nondeterministic_output", "request_policy:all_shards", "response_policy:special"}, Handler: memoryStatsCommand},
		{Name: "memory|doctor", Arity: 2, Group: "server", Since: "4.0.0", Complexity: "O(1)", Summary: "Outputs memory problems report", Tips: []string{"nondeterministic_output", "request_policy:all_shards", "response_policy:special"}, Handler: memoryDoctorCommand},
		{Name: "memory|purge", Arity: 2, Group: "server", Since: "4.0.0", Complexity: "Depends on how much memory is allocated, could be slow", Summary: "Ask the allocator to release memory", Tips: []string{"request_policy:all_shards", "response_policy:all_succeeded"}, Handler: memoryPurgeCommand},
		{Name: "memory|malloc-stats", Arity: 2, Group: "server", Since: "4.0.0", Complexity: "Depends on how much memory is allocated, could be slow", Summary: "Show allocator internal stats", Tips: []string{"nondeterministic_output", "request_policy:all_shards", "response_policy:special"}, Handler: memoryMallocStatsCommand},
		{Name: "memory|help", Arity: 2, Flags: server.FlagLoading | server.FlagStale, Group: "server", Since: "4.0.0", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands", Handler: memoryHelpCommand},
	}},
	{Name: "flushdb", Arity: -1, Flags: w, Group: "server", Since: "1.0.0", Complexity: "O(N) where N is the number of keys in the selected database", Args: "[async: ASYNC@4.0.0 | SYNC@6.2.0]", Summary: "Remove all keys from the current database", History: [][2]string{{"4.0.0", "Added the `ASYNC` flushing mode modifier."}, {"6.2.0", "Added the `SYNC` flushing mode modifier."}}, Tips: []string{"request_policy:all_shards", "response_policy:all_succeeded"}, ACL: []string{"@keyspace", "@dangerous"}, Handler: flushdbCommand},
	{Name: "flushall", Arity: -1, Flags: w, Group: "server", Since: "1.0.0", Complexity: "O(N) where N is the total number of keys in all databases", Args: "[async: ASYNC@4.0.0 | SYNC@6.2.0]", Summary: "Remove all keys from all databases", History: [][2]string{{"4.0.0", "Added the `ASYNC` flushing mode modifier."}, {"6.2.0", "Added the `SYNC` flushing mode modifier."}}, Tips: []string{"request_policy:all_shards", "response_policy:all_succeeded"}, ACL: []string{"@keyspace", "@dangerous"}, Handler: flushallCommand},
	{Name: "dbsize", Arity: 1, Flags: ro | ft, Group: "server", Since: "1.0.0", Complexity: "O(1)", Summary: "Return the number of keys in the selected database", Tips: []string{"request_policy:all_shards", "response_policy:agg_sum"}, ACL: []string{"@keyspace", "@read"}, Handler: dbsizeCommand},
}

// DEL key [key ...] and UNLINK key [key ...]
func delCommand(x *server.Ctx) {
	// A session with a GEN running or queued can't go away under it: the
	// whole command is refused before any key is deleted.
	for _, k := range x.Args[1:] {
		if err := x.S.CheckBusy(x.DB, string(k)); err != nil {
			x.Error(err)
			return
		}
	}
	n := 0
	for _, k := range x.Args[1:] {
		if x.DB.Delete(string(k)) {
			x.Modified(string(k))
			x.Notify("del", string(k))
			n++
		}
	}
	x.R.Int(int64(n))
}

// EXISTS key [key ...] (a key named twice counts twice)
func existsCommand(x *server.Ctx) {
	n := 0
	for _, k := range x.Args[1:] {
		if x.DB.Exists(string(k)) {
			n++
		}
	}
	x.R.Int(int64(n))
}

// TYPE key
func typeCommand(x *server.Ctx) {
	o := x.DB.Peek(x.Arg(1))
	if o == nil {
		x.R.Status("none")
		return
	}
	x.R.Status(o.Type.String())
}

// KEYS pattern
func keysCommand(x *server.Ctx) {
	pat := x.Arg(1)
	all := pat == "*"
	var out []string
	for _, k := range x.DB.Keys() {
		if (all || server.GlobMatch(pat, k, false)) && x.DB.Exists(k) {
			out = append(out, k)
		}
	}
	x.R.Strings(out)
}

// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
func scanCommand(x *server.Ctx) {
	cursor, ok := parseCursor(x.Arg(1))
	if !ok {
		x.Error(server.Errorf("invalid cursor"))
		return
	}
	count, pattern, typ := int64(10), "", ""
	for i := 2; i < len(x.Args); i += 2 {
		if i+1 >= len(x.Args) {
			x.Error(server.ErrSyntax)
			return
		}
		switch a := x.Args[i]; {
		case is(a, "COUNT"):
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
		case is(a, "MATCH"):
			pattern = x.Arg(i + 1)
		case is(a, "TYPE"):
			typ = strings.ToLower(x.Arg(i + 1))
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	if count > 1<<30 {
		count = 1 << 30
	}
	var found []string
	next := x.DB.Scan(cursor, int(count), func(k string) {
		found = append(found, k)
	})
	var out []string
	for _, k := range found {
		o := x.DB.Peek(k) // expires keys lazily, as Redis's scan does
		if o == nil {
			continue
		}
		if pattern != "" && !server.GlobMatch(pattern, k, false) {
			continue
		}
		if typ != "" && o.Type.String() != typ {
			continue
		}
		out = append(out, k)
	}
	x.R.Array(2)
	x.R.BulkString(strconv.FormatUint(next, 10))
	x.R.Strings(out)
}

// parseCursor reads a SCAN cursor as C's strtoul does for Redis: an
// optional sign, decimal digits, nothing else; "-1" wraps to 2^64-1.
func parseCursor(s string) (uint64, bool) {
	if s == "" || s[0] == ' ' {
		return 0, false
	}
	neg := s[0] == '-'
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// RANDOMKEY
func randomkeyCommand(x *server.Ctx) {
	k, ok := x.DB.RandomKey()
	if !ok {
		x.R.Null()
		return
	}
	x.R.BulkString(k)
}

// RENAME key newkey
func renameCommand(x *server.Ctx) { renameGeneric(x, false) }

// RENAMENX key newkey
func renamenxCommand(x *server.Ctx) { renameGeneric(x, true) }

// renameGeneric moves a value (and its TTL) to a new name; with nx it
// refuses to overwrite and replies 0/1 instead of OK.
func renameGeneric(x *server.Ctx, nx bool) {
	src, dst := x.Arg(1), x.Arg(2)
	o := x.DB.LookupWrite(src)
	if o == nil {
		x.Error(server.ErrNoSuchKey)
		return
	}
	if err := x.S.CheckBusy(x.DB, src, dst); err != nil {
		x.Error(err)
		return
	}
	if src == dst {
		if nx {
			x.R.Int(0)
		} else {
			x.R.OK()
		}
		return
	}
	if x.DB.LookupWrite(dst) != nil {
		if nx {
			x.R.Int(0)
			return
		}
		x.DB.Delete(dst)
	}
	exp := x.DB.Expire(src)
	x.DB.Detach(src)
	x.DB.Set(dst, o, false)
	if exp >= 0 {
		x.DB.SetExpire(dst, exp)
	}
	x.Modified(src)
	x.Modified(dst)
	x.Notify("rename_from", src)
	x.Notify("rename_to", dst)
	if nx {
		x.R.Int(1)
	} else {
		x.R.OK()
	}
}

// COPY source destination [DB destination-db] [REPLACE]
func copyCommand(x *server.Ctx) {
	dstDB := x.DB
	replace := false
	for i := 3; i < len(x.Args); i++ {
		switch {
		case is(x.Args[i], "REPLACE"):
			replace = true
		case is(x.Args[i], "DB") && i+1 < len(x.Args):
			db, err := dbArg(x, i+1)
			if err != nil {
				x.Error(err)
				return
			}
			dstDB = db
			i++
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	src, dst := x.Arg(1), x.Arg(2)
	if src == dst && dstDB == x.DB {
		x.Error(server.ErrSameObject)
		return
	}
	o := x.DB.Lookup(src)
	if o == nil {
		x.R.Int(0)
		return
	}
	if dstDB.LookupWrite(dst) != nil {
		if !replace {
			x.R.Int(0)
			return
		}
		if err := x.S.CheckBusy(dstDB, dst); err != nil {
			x.Error(err)
			return
		}
		dstDB.Delete(dst)
	}
	exp := x.DB.Expire(src)
	dstDB.Set(dst, o.Clone(), false)
	if exp >= 0 {
		dstDB.SetExpire(dst, exp)
	}
	x.ModifiedDB(dstDB, dst)
	x.S.Notify(dstDB, "copy_to", dst)
	x.R.Int(1)
}

// MOVE key db
func moveCommand(x *server.Ctx) {
	dst, err := dbArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	if dst == x.DB {
		x.Error(server.ErrSameObject)
		return
	}
	key := x.Arg(1)
	o := x.DB.LookupWrite(key)
	if o == nil || dst.LookupWrite(key) != nil {
		x.R.Int(0)
		return
	}
	if err := x.S.CheckBusy(x.DB, key); err != nil {
		x.Error(err)
		return
	}
	exp := x.DB.Expire(key)
	x.DB.Detach(key)
	dst.Set(key, o, false)
	if exp >= 0 {
		dst.SetExpire(key, exp)
	}
	x.Modified(key)
	x.ModifiedDB(dst, key)
	x.Notify("move_from", key)
	x.S.Notify(dst, "move_to", key)
	x.R.Int(1)
}

// SWAPDB index1 index2
func swapdbCommand(x *server.Ctx) {
	// A job's key would change database under it: -BUSY first, as the
	// dispatcher's BUSY gate answers other writes.
	for _, arg := range x.Args[1:3] {
		if n, ok := server.ParseInt(arg); ok && n >= 0 && n < int64(len(x.S.DBs)) {
			if err := x.S.CheckBusyDB(x.S.DBs[n]); err != nil {
				x.Error(err)
				return
			}
		}
	}
	a, ok1 := server.ParseInt(x.Args[1])
	if !ok1 {
		x.Error(server.Errorf("invalid first DB index"))
		return
	}
	b, ok2 := server.ParseInt(x.Args[2])
	if !ok2 {
		x.Error(server.Errorf("invalid second DB index"))
		return
	}
	n := int64(len(x.S.DBs))
	if a < 0 || a >= n || b < 0 || b >= n {
		x.Error(server.ErrDBIndex)
		return
	}
	x.S.SwapDB(int(a), int(b))
	x.S.Dirty++
	x.R.OK()
}

// TOUCH key [key ...]
func touchCommand(x *server.Ctx) {
	n := 0
	for _, k := range x.Args[1:] {
		if x.DB.Lookup(string(k)) != nil {
			n++
		}
	}
	x.R.Int(int64(n))
}

// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key
func objectCommand(x *server.Ctx) {
	var o *server.Object
	x.S.WithNoTouch(func() { o = x.DB.Peek(x.Arg(2)) })
	if o == nil {
		x.R.Null()
		return
	}
	lfu := strings.HasSuffix(x.S.Config.MaxMemoryPolicy, "-lfu")
	switch strings.ToLower(x.Arg(1)) {
	case "encoding":
		x.R.BulkString(o.Encoding())
	case "refcount":
		x.R.Int(o.Refcount())
	case "idletime":
		if lfu {
			x.Error(server.Errorf("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."))
			return
		}
		x.R.Int(o.IdleMS(x.S.Now()) / 1000)
	case "freq":
		if !lfu {
			x.Error(server.Errorf("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."))
			return
		}
		x.R.Int(int64(o.LFU()))
	}
}

func helpReply(x *server.Ctx, name string, lines []string) {
	x.R.Array(len(lines) + 3)
	x.R.Status(strings.ToUpper(name) + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
	for _, l := range lines {
		x.R.Status(l)
	}
	x.R.Status("HELP")
	x.R.Status("    Print this help.")
}

// OBJECT HELP
func objectHelpCommand(x *server.Ctx) {
	helpReply(x, "object", []string{
		"ENCODING <key>",
		"    How the value of <key> is stored (int, embstr, raw, paged for a session...).",
		"FREQ <key>",
		"    The logarithmic access counter of <key> (LFU policies only).",
		"IDLETIME <key>",
		"    Seconds since <key> was last read or written (LRU policies only).",
		"REFCOUNT <key>",
		"    How many references hold the value of <key>.",
	})
}

// MEMORY USAGE key [SAMPLES count]
func memoryUsageCommand(x *server.Ctx) {
	for i := 3; i < len(x.Args); i += 2 {
		if !is(x.Args[i], "SAMPLES") || i+1 >= len(x.Args) {
			x.Error(server.ErrSyntax)
			return
		}
		if _, err := intArg(x, i+1); err != nil {
			x.Error(err)
			return
		}
	}
	var o *server.Object
	x.S.WithNoTouch(func() { o = x.DB.Peek(x.Arg(2)) })
	if o == nil {
		x.R.Null()
		return
	}
	x.R.Int(o.MemoryUsage(x.Arg(2)))
}

// MEMORY STATS
func memoryStatsCommand(x *server.Ctx) {
	used := x.S.UsedMemory()
	keys := 0
	for _, db := range x.S.DBs {
		keys += db.Len()
	}
	x.R.Map(4)
	x.R.BulkString("total.allocated")
	x.R.Int(used)
	x.R.BulkString("keys.count")
	x.R.Int(int64(keys))
	x.R.BulkString("clients.normal")
	x.R.Int(int64(len(x.S.Clients())))
	x.R.BulkString("dataset.bytes")
	x.R.Int(used)
}

// MEMORY DOCTOR
func memoryDoctorCommand(x *server.Ctx) {
	x.R.Verbatim("No memory problem found: the Go heap holds what INFO memory reports.")
}

// MEMORY PURGE
func memoryPurgeCommand(x *server.Ctx) { x.R.OK() }

// MEMORY MALLOC-STATS
func memoryMallocStatsCommand(x *server.Ctx) {
	x.R.Verbatim("Stats not supported for the current allocator")
}

// MEMORY HELP
func memoryHelpCommand(x *server.Ctx) {
	helpReply(x, "memory", []string{
		"DOCTOR",
		"    A short report on the memory state.",
		"MALLOC-STATS",
		"    Allocator statistics (not available for the Go runtime).",
		"PURGE",
		"    Return freed memory to the system (a no-op here).",
		"STATS",
		"    Memory figures of the server as a map.",
		"USAGE <key> [SAMPLES <count>]",
		"    Bytes held by <key> and its value (sessions: their share of KV pages).",
	})
}

// flushMode parses the optional ASYNC|SYNC argument.
func flushMode(x *server.Ctx) error {
	if len(x.Args) > 2 {
		return server.ErrSyntax
	}
	if len(x.Args) == 2 && !is(x.Args[1], "ASYNC") && !is(x.Args[1], "SYNC") {
		return server.ErrSyntax
	}
	return nil
}

// FLUSHDB [ASYNC|SYNC]
func flushdbCommand(x *server.Ctx) {
	if err := flushMode(x); err != nil {
		x.Error(err)
		return
	}
	x.S.EndJobs(x.DB) // as Redis, a flush always succeeds
	x.S.TouchAllWatched(x.DB, nil)
	x.S.TrackingFlush()
	x.S.Dirty += int64(x.DB.Flush())
	x.R.OK()
}

// FLUSHALL [ASYNC|SYNC]
func flushallCommand(x *server.Ctx) {
	if err := flushMode(x); err != nil {
		x.Error(err)
		return
	}
	x.S.EndJobs(nil) // as Redis, a flush always succeeds
	for _, db := range x.S.DBs {
		x.S.TouchAllWatched(db, nil)
		x.S.Dirty += int64(db.Flush())
	}
	x.S.TrackingFlush()
	x.S.AfterFlushAll()
	x.S.Dirty++
	x.R.OK()
}

// DBSIZE
func dbsizeCommand(x *server.Ctx) { x.R.Int(int64(x.DB.Len())) }
