package commands

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"reddwarf/server"
)

const admin = server.FlagAdmin

var serverCommands = []*server.Spec{
	{Name: "info", Arity: -1, Flags: loading | stale, Group: "server", Since: "1.0.0", Complexity: "O(1)", Args: "[section [section ...]]", Summary: "Get information and statistics about the server", History: [][2]string{{"7.0.0", "Added support for taking multiple section arguments."}}, ACL: []string{"@dangerous"}, Tips: []string{"nondeterministic_output", "request_policy:all_shards", "response_policy:special"}, Handler: infoCommand},
	{Name: "config", Arity: -2, Group: "server", Since: "2.0.0", Summary: "A container for server configuration commands", Complexity: "Depends on subcommand.", Sub: []*server.Spec{
		{Name: "config|get", Arity: -3, Flags: admin | server.FlagNoscript | loading | stale, Group: "server", Since: "2.0.0", Complexity: "O(N) when N is the number of configuration parameters provided", Args: "parameter [parameter ...]", Summary: "Get the values of configuration parameters", History: [][2]string{{"7.0.0", "Added the ability to pass multiple pattern parameters in one call"}}, Handler: configGetCommand},
		{Name: "config|set", Arity: -4, Flags: admin | server.FlagNoscript | loading | stale, Group: "server", Since: "2.0.0", Complexity: "O(N) when N is the number of configuration parameters provided", Args: "parameter value [parameter value ...]", Summary: "Set configuration parameters to the given values", History: [][2]string{{"7.0.0", "Added the ability to set multiple parameters in one call."}}, Tips: []string{"request_policy:all_nodes", "response_policy:all_succeeded"}, Handler: configSetCommand},
		{Name: "config|resetstat", Arity: 2, Flags: admin | server.FlagNoscript | loading | stale, Group: "server", Since: "2.0.0", Complexity: "O(1)", Summary: "Reset the stats returned by INFO", Handler: configResetstatCommand},
		{Name: "config|rewrite", Arity: 2, Flags: admin | server.FlagNoscript | loading | stale, Group: "server", Since: "2.8.0", Complexity: "O(1)", Summary: "Rewrite the configuration file with the in memory configuration", Handler: configRewriteCommand},
		{Name: "config|help", Arity: 2, Flags: loading | stale, Group: "server", Since: "5.0.0", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands", Handler: configHelpCommand},
	}},
	{Name: "time", Arity: 1, Flags: loading | stale | ft, Group: "server", Since: "2.6.0", Complexity: "O(1)", Summary: "Return the current server time", Tips: []string{"nondeterministic_output"}, Handler: timeCommand},
	{Name: "lastsave", Arity: 1, Flags: loading | stale | ft, Group: "server", Since: "1.0.0", Complexity: "O(1)", Summary: "Get the UNIX time stamp of the last successful save to disk", Tips: []string{"nondeterministic_output"}, ACL: []string{"@admin", "@dangerous"}, Handler: lastsaveCommand},
	{Name: "shutdown", Arity: -1, Flags: admin | server.FlagNoscript | loading | stale | server.FlagNoMulti | server.FlagAllowBusy, Group: "server", Since: "1.0.0", Complexity: "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)", Args: "[NOSAVE | SAVE] [NOW]@7.0.0 [FORCE]@7.0.0 [ABORT]@7.0.0", Summary: "Synchronously save the dataset to disk and then shut down the server", History: [][2]string{{"7.0.0", "Added the `NOW`, `FORCE` and `ABORT` modifiers."}}, Handler: shutdownCommand},
	{Name: "monitor", Arity: 1, Flags: admin | server.FlagNoscript | loading | stale, Group: "server", Since: "1.0.0", Complexity: "", Summary: "Listen for all requests received by the server in real time", Handler: monitorCommand},
	{Name: "slowlog", Arity: -2, Group: "server", Since: "2.2.12", Summary: "A container for slow log commands", Complexity: "Depends on subcommand.", Sub: []*server.Spec{
		{Name: "slowlog|get", Arity: -2, Flags: admin | loading | stale, Group: "server", Since: "2.2.12", Complexity: "O(N) where N is the number of entries returned", Args: "[count]", Summary: "Get the slow log's entries", History: [][2]string{{"4.0.0", "Added client IP address, port and name to the reply."}}, Tips: []string{"nondeterministic_output", "request_policy:all_nodes"}, Handler: slowlogGetCommand},
		{Name: "slowlog|len", Arity: 2, Flags: admin | loading | stale, Group: "server", Since: "2.2.12", Complexity: "O(1)", Summary: "Get the slow log's length", Tips: []string{"nondeterministic_output", "request_policy:all_nodes", "response_policy:agg_sum"}, Handler: slowlogLenCommand},
		{Name: "slowlog|reset", Arity: 2, Flags: admin | loading | stale, Group: "server", Since: "2.2.12", Complexity: "O(N) where N is the number of entries in the slowlog", Summary: "Clear all entries from the slow log", Tips: []string{"request_policy:all_nodes", "response_policy:all_succeeded"}, Handler: slowlogResetCommand},
		{Name: "slowlog|help", Arity: 2, Flags: loading | stale, Group: "server", Since: "6.2.0", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands", Handler: slowlogHelpCommand},
	}},
	{Name: "latency", Arity: -2, Group: "server", Since: "2.8.13", Summary: "A container for latency diagnostics commands", Complexity: "Depends on subcommand.", Sub: []*server.Spec{
		{Name: "latency|latest", Arity: 2, Flags: admin | server.FlagNoscript | loading | stale, Group: "server", Since: "2.8.13", Complexity: "O(1)", Summary: "Return the latest latency samples for all events.", Tips: []string{"nondeterministic_output", "request_policy:all_nodes", "response_policy:special"}, Handler: latencyLatestCommand},
		{Name: "latency|history", Arity: 3, Flags: admin | server.FlagNoscript | loading | stale, Group: "server", Since: "2.8.13", Complexity: "O(1)", Args: "event", Summary: "Return timestamp-latency samples for the event.", Tips: []string{"nondeterministic_output", "request_policy:all_nodes", "response_policy:special"}, Handler: latencyHistoryCommand},
		{Name: "latency|reset", Arity: -2, Flags: admin | server.FlagNoscript | loading | stale, Group: "server", Since: "2.8.13", Complexity: "O(1)", Args: "[event [event ...]]", Summary: "Reset latency data for one or more events.", Tips: []string{"request_policy:all_nodes", "response_policy:all_succeeded"}, Handler: latencyResetCommand},
		{Name: "latency|doctor", Arity: 2, Flags: admin | server.FlagNoscript | loading | stale, Group: "server", Since: "2.8.13", Complexity: "O(1)", Summary: "Return a human readable latency analysis report.", Tips: []string{"nondeterministic_output", "request_policy:all_nodes", "response_policy:special"}, Handler: latencyDoctorCommand},
		{Name: "latency|graph", Arity: 3, Flags: admin | server.FlagNoscript | loading | stale, Group: "server", Since: "2.8.13", Complexity: "O(1)", Args: "event", Summary: "Return a latency graph for the event.", Tips: []string{"nondeterministic_output", "request_policy:all_nodes", "response_policy:special"}, Handler: latencyGraphCommand},
		{Name: "latency|histogram", Arity: -2, Flags: admin | server.FlagNoscript | loading | stale, Group: "server", Since: "7.0.0", Complexity: "O(N) where N is the number of commands with latency information being retrieved.", Args: "[command [command ...]]", Summary: "Return the cumulative distribution of latencies of a subset of commands or all.", Tips: []string{"nondeterministic_output", "request_policy:all_nodes", "response_policy:special"}, Handler: latencyHistogramCommand},
		{Name: "latency|help", Arity: 2, Flags: loading | stale, Group: "server", Since: "2.8.13", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands.", Handler: latencyHelpCommand},
	}},
	{Name: "debug", Arity: -2, Flags: admin | server.FlagNoscript | loading | stale | server.FlagProtected, Group: "server", Since: "1.0.0", Complexity: "Depends on subcommand.", Summary: "A container for debugging commands", DocFlags: []string{"syscmd"}, Handler: debugCommand},
	{Name: "command", Arity: -1, Flags: loading | stale, Group: "server", Since: "2.8.13", Summary: "Get array of Redis command details", Complexity: "O(N) where N is the total number of Redis commands", Tips: []string{"nondeterministic_output_order"}, ACL: []string{"@connection"}, Handler: commandCommand, Sub: []*server.Spec{
		{Name: "command|count", Arity: 2, Flags: loading | stale, Group: "server", Since: "2.8.13", Complexity: "O(1)", Summary: "Get total number of Redis commands", ACL: []string{"@connection"}, Handler: commandCountCommand},
		{Name: "command|info", Arity: -2, Flags: loading | stale, Group: "server", Since: "2.8.13", Complexity: "O(N) where N is the number of commands to look up", Args: "[command-name [command-name ...]]", Summary: "Get array of specific Redis command details, or all when no argument is given.", History: [][2]string{{"7.0.0", "Allowed to be called with no argument to get info on all commands."}}, Tips: []string{"nondeterministic_output_order"}, ACL: []string{"@connection"}, Handler: commandInfoCommand},
		{Name: "command|docs", Arity: -2, Flags: loading | stale, Group: "server", Since: "7.0.0", Complexity: "O(N) where N is the number of commands to look up", Args: "[command-name [command-name ...]]", Summary: "Get array of specific Redis command documentation", Tips: []string{"nondeterministic_output_order"}, ACL: []string{"@connection"}, Handler: commandDocsCommand},
		{Name: "command|list", Arity: -2, Flags: loading | stale, Group: "server", Since: "7.0.0", Complexity: "O(N) where N is the total number of Redis commands", Args: "[FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]", Summary: "Get an array of Redis command names", Tips: []string{"nondeterministic_output_order"}, ACL: []string{"@connection"}, Handler: commandListCommand},
		{Name: "command|getkeys", Arity: -4, Flags: loading | stale, Group: "server", Since: "2.8.13", Complexity: "O(N) where N is the number of arguments to the command", Summary: "Extract keys given a full Redis command", ACL: []string{"@connection"}, Handler: commandGetkeysCommand},
		{Name: "command|getkeysandflags", Arity: -4, Flags: loading | stale, Group: "server", Since: "7.0.0", Complexity: "O(N) where N is the number of arguments to the command", Summary: "Extract keys and access flags given a full Redis command", ACL: []string{"@connection"}, Handler: commandGetkeysandflagsCommand},
		{Name: "command|help", Arity: 2, Flags: loading | stale, Group: "server", Since: "5.0.0", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands", ACL: []string{"@connection"}, Handler: commandHelpCommand},
	}},
}

// INFO [section ...]
func infoCommand(x *server.Ctx) {
	var names []string
	for _, a := range x.Args[1:] {
		names = append(names, strings.ToLower(string(a)))
	}
	x.R.Verbatim(x.S.Info(names))
}

// CONFIG GET parameter [parameter ...]
func configGetCommand(x *server.Ctx) {
	params := make([]string, len(x.Args)-2)
	for i := range params {
		params[i] = x.Arg(i + 2)
	}
	pairs := x.S.Config.Lookup(params)
	x.R.Map(len(pairs) / 2)
	for _, s := range pairs {
		x.R.BulkString(s)
	}
}

// CONFIG SET parameter value [parameter value ...] — all or nothing.
func configSetCommand(x *server.Ctx) {
	args := make([]string, len(x.Args)-2)
	for i := range args {
		args[i] = x.Arg(i + 2)
	}
	if err := x.S.ConfigSet(x.C, args); err != nil {
		x.Error(err)
		return
	}
	x.R.OK()
}

// CONFIG RESETSTAT
func configResetstatCommand(x *server.Ctx) {
	x.S.ResetStats()
	x.R.OK()
}

// CONFIG REWRITE
func configRewriteCommand(x *server.Ctx) {
	if err := x.S.Config.Rewrite(); err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	x.R.OK()
}

// CONFIG HELP
func configHelpCommand(x *server.Ctx) {
	helpReply(x, "config", []string{
		"GET <pattern> [<pattern> ...]",
		"    Directives matching the glob patterns, with their values.",
		"SET <directive> <value> [<directive> <value> ...]",
		"    Change directives at run time, all or none.",
		"RESETSTAT",
		"    Zero the statistics INFO reports.",
		"REWRITE",
		"    Write the running configuration back to the config file.",
	})
}

// TIME
func timeCommand(x *server.Ctx) {
	now := time.Now()
	x.R.Array(2)
	x.R.BulkString(strconv.FormatInt(now.Unix(), 10))
	x.R.BulkString(strconv.FormatInt(int64(now.Nanosecond()/1000), 10))
}

// LASTSAVE
func lastsaveCommand(x *server.Ctx) { x.R.Int(x.S.LastSave) }

// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]
func shutdownCommand(x *server.Ctx) {
	save, nosave, force, abort := false, false, false, false
	for _, a := range x.Args[1:] {
		switch {
		case is(a, "SAVE"):
			save = true
		case is(a, "NOSAVE"):
			nosave = true
		case is(a, "NOW"): // no replicas to wait for
		case is(a, "FORCE"):
			force = true
		case is(a, "ABORT"):
			abort = true
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	if (save && nosave) || (abort && len(x.Args) > 2) {
		x.Error(server.ErrSyntax)
		return
	}
	if abort {
		x.Error(server.Errorf("No shutdown in progress."))
		return
	}
	if err := x.S.Shutdown(save, nosave, force); err != nil {
		x.Error(server.Errorf("Errors trying to SHUTDOWN. Check logs."))
		return
	}
	// On success there is no reply: the connection just closes.
}

// MONITOR
func monitorCommand(x *server.Ctx) {
	if x.C.Monitoring() {
		return
	}
	x.S.AddMonitor(x.C)
	x.R.OK()
}

// SLOWLOG GET [count]
func slowlogGetCommand(x *server.Ctx) {
	count := int64(10)
	if len(x.Args) > 3 {
		x.Error(server.ErrWrongArgs("slowlog|get"))
		return
	}
	if len(x.Args) == 3 {
		n, ok := server.ParseInt(x.Args[2])
		if !ok || n < -1 {
			x.Error(server.Errorf("count should be greater than or equal to -1"))
			return
		}
		count = n
	}
	entries := x.S.Slowlog()
	if count >= 0 && int64(len(entries)) > count {
		entries = entries[:count]
	}
	x.R.Array(len(entries))
	for _, e := range entries {
		x.R.Array(6)
		x.R.Int(e.ID)
		x.R.Int(e.Time)
		x.R.Int(e.Duration)
		x.R.Strings(e.Args)
		x.R.BulkString(e.Addr)
		x.R.BulkString(e.Name)
	}
}

// SLOWLOG LEN
func slowlogLenCommand(x *server.Ctx) { x.R.Int(int64(len(x.S.Slowlog()))) }

// SLOWLOG RESET
func slowlogResetCommand(x *server.Ctx) {
	x.S.SlowlogReset()
	x.R.OK()
}

// SLOWLOG HELP
func slowlogHelpCommand(x *server.Ctx) {
	helpReply(x, "slowlog", []string{
		"GET [<count>]",
		"    The newest <count> entries (default 10, -1 for all): id, unix time,",
		"    duration in microseconds, arguments, client address, client name.",
		"LEN",
		"    How many entries the slow log holds.",
		"RESET",
		"    Empty the slow log.",
	})
}

// LATENCY LATEST: [event, unix time, latest ms, max ms] per event.
func latencyLatestCommand(x *server.Ctx) {
	all := x.S.LatencyLatestAll()
	x.R.Array(len(all))
	for _, l := range all {
		x.R.Array(4)
		x.R.BulkString(l.Event)
		x.R.Int(l.Time)
		x.R.Int(l.MS)
		x.R.Int(l.MaxMS)
	}
}

// LATENCY HISTORY event: [unix time, ms] per sample, oldest first.
func latencyHistoryCommand(x *server.Ctx) {
	h := x.S.LatencyHistory(x.Arg(2))
	x.R.Array(len(h))
	for _, smp := range h {
		x.R.Array(2)
		x.R.Int(smp.Time)
		x.R.Int(smp.MS)
	}
}

// LATENCY RESET [event ...]: how many events were forgotten.
func latencyResetCommand(x *server.Ctx) {
	var events []string
	for i := 2; i < len(x.Args); i++ {
		events = append(events, x.Arg(i))
	}
	x.R.Int(int64(x.S.LatencyReset(events)))
}

// LATENCY DOCTOR: no analysis is written; the text says where to look.
func latencyDoctorCommand(x *server.Ctx) {
	if x.S.Config.LatencyMonitorThreshold == 0 {
		x.R.Verbatim("Latency monitoring is off (latency-monitor-threshold 0): no latency events are recorded. Turn it on with CONFIG SET latency-monitor-threshold <milliseconds>.\n")
		return
	}
	if len(x.S.LatencyLatestAll()) == 0 {
		x.R.Verbatim("No latency spikes were observed so far (threshold " + strconv.FormatInt(x.S.Config.LatencyMonitorThreshold, 10) + " ms).\n")
		return
	}
	x.R.Verbatim("Latency spikes were recorded (threshold " + strconv.FormatInt(x.S.Config.LatencyMonitorThreshold, 10) + " ms): LATENCY LATEST and LATENCY HISTORY <event> show them. A GEN's sample is its whole generation, model steps included: lower MAXTOKENS for shorter ones. No further analysis is written.\n")
}

// LATENCY GRAPH event
func latencyGraphCommand(x *server.Ctx) {
	x.Error(server.Errorf("No samples available for event '" + x.Arg(2) + "'"))
}

// LATENCY HISTOGRAM [command ...]: per command (a container's
// subcommands each on their own), the durations recorded and their
// cumulative power-of-two buckets; all commands with any when none is
// named, unknown names skipped.
func latencyHistogramCommand(x *server.Ctx) {
	stats := x.S.CmdStats()
	var names []string
	if len(x.Args) == 2 {
		for name := range stats {
			names = append(names, name)
		}
		sort.Strings(names)
	} else {
		for i := 2; i < len(x.Args); i++ {
			name := strings.ToLower(x.Arg(i))
			names = append(names, name)
			if !strings.Contains(name, "|") {
				var subs []string
				for sub := range stats {
					if strings.HasPrefix(sub, name+"|") {
						subs = append(subs, sub)
					}
				}
				sort.Strings(subs)
				names = append(names, subs...)
			}
		}
	}
	type entry struct {
		name    string
		buckets []server.HistogramBucket
		total   int64
	}
	var out []entry
	for _, name := range names {
		st := stats[name]
		if st == nil {
			continue
		}
		if b, total := st.LatencyHistogram(); total > 0 {
			out = append(out, entry{name, b, total})
		}
	}
	x.R.Map(len(out))
	for _, e := range out {
		x.R.BulkString(e.name)
		x.R.Map(2)
		x.R.BulkString("calls")
		x.R.Int(e.total)
		x.R.BulkString("histogram_usec")
		x.R.Map(len(e.buckets))
		for _, b := range e.buckets {
			x.R.Int(b.USec)
			x.R.Int(b.Count)
		}
	}
}

// LATENCY HELP
func latencyHelpCommand(x *server.Ctx) {
	helpReply(x, "latency", []string{
		"DOCTOR",
		"    A report on recorded latency events.",
		"GRAPH <event>",
		"    A text graph of an event's samples.",
		"HISTORY <event>",
		"    Time and latency samples of an event.",
		"LATEST",
		"    The newest sample of every event.",
		"RESET [<event> ...]",
		"    Forget the samples of some or all events.",
		"HISTOGRAM [<command> ...]",
		"    Latency distribution per command.",
	})
}

// DEBUG SLEEP seconds | SET-ACTIVE-EXPIRE 0|1 | OBJECT key | HELP
// (FlagProtected: the dispatcher refuses it unless enable-debug-command
// allows the client)
func debugCommand(x *server.Ctx) {
	sub := strings.ToLower(x.Arg(1))
	switch {
	case sub == "sleep" && len(x.Args) == 3:
		secs, err := floatArg(x, 2)
		if err != nil {
			x.Error(err)
			return
		}
		// Like Redis, DEBUG SLEEP blocks the whole server.
		time.Sleep(time.Duration(secs * float64(time.Second)))
		x.R.OK()
	case sub == "set-active-expire" && len(x.Args) == 3:
		x.S.SetActiveExpire(x.Arg(2) != "0")
		x.R.OK()
	case sub == "object" && len(x.Args) == 3:
		o := x.DB.Peek(x.Arg(2))
		if o == nil {
			x.Error(server.ErrNoSuchKey)
			return
		}
		x.R.Status("Value at:0x0 refcount:" + strconv.FormatInt(o.Refcount(), 10) + " encoding:" + o.Encoding() + " serializedlength:" + strconv.FormatInt(o.MemoryUsage(x.Arg(2)), 10) + " lru:0 lru_seconds_idle:" + strconv.FormatInt(o.IdleMS(x.S.Now())/1000, 10))
	case sub == "help":
		helpReply(x, "debug", []string{
			"OBJECT <key>",
			"    Low-level facts about <key> and its value.",
			"SET-ACTIVE-EXPIRE 0|1",
			"    Switch the cron's active expiry off (0) or on (1); lazy expiry stays on.",
			"SLEEP <seconds>",
			"    Block the whole server for <seconds> (fractions allowed).",
		})
	default:
		x.Error(server.Errorf("Unknown subcommand or wrong number of arguments for '" + x.Arg(1) + "'. Try DEBUG HELP."))
	}
}

// COMMAND (every command's info)
func commandCommand(x *server.Ctx) {
	all := x.S.Commands.All()
	x.R.Array(len(all))
	for _, s := range all {
		replyCommandInfo(x, s)
	}
}

// COMMAND COUNT
func commandCountCommand(x *server.Ctx) { x.R.Int(int64(len(x.S.Commands.All()))) }

// lookupCommandName finds "get" or "config|get" (or "config get"? no:
// COMMAND INFO takes names, subcommands as "container|sub").
func lookupCommandName(x *server.Ctx, name string) *server.Spec {
	name = strings.ToLower(name)
	if i := strings.IndexByte(name, '|'); i >= 0 {
		parent := x.S.Commands.Lookup([]byte(name[:i]))
		if parent == nil {
			return nil
		}
		return parent.Subcommand([]byte(name[i+1:]))
	}
	return x.S.Commands.Lookup([]byte(name))
}

// COMMAND INFO [name ...]
func commandInfoCommand(x *server.Ctx) {
	if len(x.Args) == 2 {
		commandCommand(x)
		return
	}
	x.R.Array(len(x.Args) - 2)
	for _, a := range x.Args[2:] {
		s := lookupCommandName(x, string(a))
		if s == nil {
			x.R.NullArray()
			continue
		}
		replyCommandInfo(x, s)
	}
}

// replyCommandInfo writes one COMMAND INFO entry: name, arity, flags,
// first key, last key, step, ACL categories, tips, key specs, subcommands.
func replyCommandInfo(x *server.Ctx, s *server.Spec) {
	x.R.Array(10)
	x.R.BulkString(s.Name)
	x.R.Int(int64(s.Arity))
	flags := s.Flags.Names()
	x.R.Set(len(flags))
	for _, f := range flags {
		x.R.Status(f)
	}
	x.R.Int(int64(s.FirstKey))
	x.R.Int(int64(s.LastKey))
	x.R.Int(int64(s.Step))
	cats := s.ACLCategories()
	x.R.Set(len(cats))
	for _, c := range cats {
		x.R.Status(c)
	}
	x.R.Set(len(s.Tips))
	for _, t := range s.Tips {
		x.R.Status(t)
	}
	replyKeySpecs(x, s)
	x.R.Array(len(s.Sub))
	for _, sub := range s.Sub {
		replyCommandInfo(x, sub)
	}
}

// replyKeySpecs writes the key specs, each one "index" + "range" spec:
// derived from the legacy positions, or placed by its own Begin/LastKey.
func replyKeySpecs(x *server.Ctx, s *server.Spec) {
	if s.FirstKey <= 0 && len(s.KeySpecs) == 0 {
		x.R.Array(0)
		return
	}
	specs := s.KeySpecs
	if len(specs) == 0 {
		specs = []server.KeySpec{{}}
	}
	x.R.Array(len(specs))
	for _, ks := range specs {
		begin, last, step := keySpecRange(s, ks)
		if ks.Notes != "" {
			x.R.Map(4)
			x.R.BulkString("notes")
			x.R.BulkString(ks.Notes)
		} else {
			x.R.Map(3)
		}
		x.R.BulkString("flags")
		x.R.Set(len(ks.Flags))
		for _, f := range ks.Flags {
			x.R.Status(keySpecFlag(f))
		}
		replyBeginSearch(x, ks, begin)
		replyFindKeys(x, ks, last, step)
	}
}

// replyBeginSearch writes a key spec's begin_search: an index, a keyword
// (XREAD's STREAMS) or unknown (SORT's BY/GET/STORE).
func replyBeginSearch(x *server.Ctx, ks server.KeySpec, begin int) {
	x.R.BulkString("begin_search")
	x.R.Map(2)
	x.R.BulkString("type")
	switch {
	case ks.Unknown:
		x.R.BulkString("unknown")
		x.R.BulkString("spec")
		x.R.Map(0)
	case ks.Keyword != "":
		x.R.BulkString("keyword")
		x.R.BulkString("spec")
		x.R.Map(2)
		x.R.BulkString("keyword")
		x.R.BulkString(ks.Keyword)
		x.R.BulkString("startfrom")
		x.R.Int(int64(ks.StartFrom))
	default:
		x.R.BulkString("index")
		x.R.BulkString("spec")
		x.R.Map(1)
		x.R.BulkString("index")
		x.R.Int(int64(begin))
	}
}

// replyFindKeys writes a key spec's find_keys: a range, a keynum (a count
// argument then the keys) or unknown.
func replyFindKeys(x *server.Ctx, ks server.KeySpec, last, step int) {
	x.R.BulkString("find_keys")
	x.R.Map(2)
	x.R.BulkString("type")
	switch {
	case ks.Unknown:
		x.R.BulkString("unknown")
		x.R.BulkString("spec")
		x.R.Map(0)
	case ks.KeyNum:
		x.R.BulkString("keynum")
		x.R.BulkString("spec")
		x.R.Map(3)
		x.R.BulkString("keynumidx")
		x.R.Int(0)
		x.R.BulkString("firstkey")
		x.R.Int(1)
		x.R.BulkString("keystep")
		x.R.Int(int64(step))
	default:
		x.R.BulkString("range")
		x.R.BulkString("spec")
		x.R.Map(3)
		x.R.BulkString("lastkey")
		x.R.Int(int64(last))
		x.R.BulkString("keystep")
		x.R.Int(int64(step))
		x.R.BulkString("limit")
		x.R.Int(int64(ks.Limit))
	}
}

// keySpecRange is where ks's keys are: the first one's index, Redis's
// range "lastkey" (relative to it when >= 0, from the end when < 0) and
// the step between keys.
func keySpecRange(s *server.Spec, ks server.KeySpec) (begin, last, step int) {
	if ks.Begin > 0 || ks.Keyword != "" || ks.Unknown {
		step = ks.Step
		if step <= 0 {
			step = 1
		}
		return ks.Begin, ks.LastKey, step
	}
	last = s.LastKey
	if last > 0 {
		last -= s.FirstKey
	}
	return s.FirstKey, last, max(s.Step, 1)
}

// keyFlagsAt returns the access flags of argument i, a key, of the command
// line args: from the command's KeyFlags hook when it has one, else those
// of the key spec that covers i.
func keyFlagsAt(s *server.Spec, args [][]byte, i int) []string {
	if s.KeyFlags != nil {
		return s.KeyFlags(args, i)
	}
	if s.Flags&server.FlagMovableKeys != 0 {
		for _, ks := range s.KeySpecs {
			if slices.Contains(ks.Keys(args), i) {
				return ks.Flags
			}
		}
	}
	for _, ks := range s.KeySpecs {
		begin, last, step := keySpecRange(s, ks)
		end := begin + last
		if last < 0 {
			end = len(args) + last
		}
		if i >= begin && i <= end && (i-begin)%step == 0 {
			return ks.Flags
		}
	}
	if len(s.KeySpecs) > 0 {
		return s.KeySpecs[0].Flags
	}
	return nil
}

// keySpecFlag spells a key-spec flag as Redis prints it: RO RW OW RM in
// capitals, the others (access, update, variable_flags...) in lower case.
func keySpecFlag(f string) string {
	switch f {
	case "RO", "RW", "OW", "RM":
		return f
	}
	return strings.ToLower(f)
}

// COMMAND DOCS [name ...]
func commandDocsCommand(x *server.Ctx) {
	var specs []*server.Spec
	if len(x.Args) == 2 {
		specs = x.S.Commands.All()
	} else {
		for _, a := range x.Args[2:] {
			if s := lookupCommandName(x, string(a)); s != nil {
				specs = append(specs, s)
			}
		}
	}
	x.R.Map(len(specs))
	for _, s := range specs {
		x.R.BulkString(s.Name)
		replyCommandDoc(x, s)
	}
}

// replyCommandDoc writes one command's COMMAND DOCS map, its fields in
// Redis's order; those a command lacks (complexity of MONITOR, history...)
// are left out rather than empty.
func replyCommandDoc(x *server.Ctx, s *server.Spec) {
	args := commandDocArgs(s)
	n := 3
	for _, set := range []bool{s.Complexity != "", len(s.DocFlags) > 0, s.DeprecatedSince != "",
		s.ReplacedBy != "", len(s.History) > 0, len(args) > 0, len(s.Sub) > 0} {
		if set {
			n++
		}
	}
	x.R.Map(n)
	x.R.BulkString("summary")
	x.R.BulkString(s.Summary)
	x.R.BulkString("since")
	x.R.BulkString(s.Since)
	x.R.BulkString("group")
	x.R.BulkString(s.Group)
	if s.Complexity != "" {
		x.R.BulkString("complexity")
		x.R.BulkString(s.Complexity)
	}
	if len(s.DocFlags) > 0 {
		x.R.BulkString("doc_flags")
		x.R.Set(len(s.DocFlags))
		for _, f := range s.DocFlags {
			x.R.Status(f)
		}
	}
	if s.DeprecatedSince != "" {
		x.R.BulkString("deprecated_since")
		x.R.BulkString(s.DeprecatedSince)
	}
	if s.ReplacedBy != "" {
		x.R.BulkString("replaced_by")
		x.R.BulkString(s.ReplacedBy)
	}
	if len(s.History) > 0 {
		x.R.BulkString("history")
		x.R.Array(len(s.History))
		for _, h := range s.History {
			x.R.Array(2)
			x.R.BulkString(h[0])
			x.R.BulkString(h[1])
		}
	}
	if len(args) > 0 {
		x.R.BulkString("arguments")
		replyDocArgs(x.R, args)
	}
	if len(s.Sub) > 0 {
		x.R.BulkString("subcommands")
		x.R.Map(len(s.Sub))
		for _, sub := range s.Sub {
			x.R.BulkString(sub.Name)
			replyCommandDoc(x, sub)
		}
	}
}

// COMMAND LIST [FILTERBY MODULE name | ACLCAT cat | PATTERN pattern]
func commandListCommand(x *server.Ctx) {
	var filter func(s *server.Spec) bool
	if len(x.Args) != 2 && len(x.Args) != 5 {
		x.Error(server.ErrSyntax)
		return
	}
	if len(x.Args) == 5 {
		if !is(x.Args[2], "FILTERBY") {
			x.Error(server.ErrSyntax)
			return
		}
		v := x.Arg(4)
		switch {
		case is(x.Args[3], "MODULE"):
			filter = func(*server.Spec) bool { return false }
		case is(x.Args[3], "ACLCAT"):
			filter = func(s *server.Spec) bool {
				for _, c := range s.ACLCategories() {
					if strings.EqualFold(c, "@"+v) {
						return true
					}
				}
				return false
			}
		case is(x.Args[3], "PATTERN"):
			filter = func(s *server.Spec) bool { return server.GlobMatch(v, s.Name, true) }
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	var names []string
	for _, s := range x.S.Commands.All() {
		if filter == nil || filter(s) {
			names = append(names, s.Name)
		}
		for _, sub := range s.Sub {
			if filter != nil && filter(sub) {
				names = append(names, sub.Name)
			} else if filter == nil {
				names = append(names, sub.Name)
			}
		}
	}
	sort.Strings(names)
	x.R.Strings(names)
}

// commandKeys resolves the command in args[2:] and its key positions.
func commandKeys(x *server.Ctx) (*server.Spec, []int, bool) {
	args := x.Args[2:]
	s := x.S.Commands.Lookup(args[0])
	if s == nil {
		x.Error(server.Errorf("Invalid command specified"))
		return nil, nil, false
	}
	if len(s.Sub) > 0 && len(args) >= 2 {
		if sub := s.Subcommand(args[1]); sub != nil {
			s = sub
		}
	}
	if (s.Arity > 0 && len(args) != s.Arity) || len(args) < -s.Arity {
		x.Error(server.Errorf("Invalid number of arguments specified for command"))
		return nil, nil, false
	}
	idx := s.KeyIndexes(args)
	if len(idx) == 0 && s.Flags&server.FlagNoMandatoryKeys != 0 {
		return s, nil, true
	}
	if len(idx) == 0 && s.Flags&server.FlagMovableKeys != 0 {
		// Redis's getkeys procs refuse a line whose numkeys doesn't fit.
		x.Error(server.Errorf("Invalid arguments specified for command"))
		return nil, nil, false
	}
	if len(idx) == 0 {
		x.Error(server.Errorf("The command has no key arguments"))
		return nil, nil, false
	}
	return s, idx, true
}

// COMMAND GETKEYS command [arg ...]
func commandGetkeysCommand(x *server.Ctx) {
	_, idx, ok := commandKeys(x)
	if !ok {
		return
	}
	x.R.Array(len(idx))
	for _, i := range idx {
		x.R.Bulk(x.Args[2+i])
	}
}

// COMMAND GETKEYSANDFLAGS command [arg ...]
func commandGetkeysandflagsCommand(x *server.Ctx) {
	s, idx, ok := commandKeys(x)
	if !ok {
		return
	}
	x.R.Array(len(idx))
	for _, i := range idx {
		flags := keyFlagsAt(s, x.Args[2:], i)
		x.R.Array(2)
		x.R.Bulk(x.Args[2+i])
		x.R.Set(len(flags))
		for _, f := range flags {
			x.R.Status(keySpecFlag(f))
		}
	}
}

// COMMAND HELP
func commandHelpCommand(x *server.Ctx) {
	helpReply(x, "command", []string{
		"(no subcommand)",
		"    Details of every command.",
		"COUNT",
		"    How many commands the server has.",
		"LIST [FILTERBY MODULE <m>|ACLCAT <cat>|PATTERN <glob>]",
		"    Command names, optionally filtered.",
		"INFO [<command-name> ...]",
		"    Details of the named commands (all when none are named).",
		"DOCS [<command-name> ...]",
		"    Documentation of the named commands (all when none are named).",
		"GETKEYS <full-command>",
		"    The key arguments of a full command line.",
		"GETKEYSANDFLAGS <full-command>",
		"    The key arguments of a full command line, with their access flags.",
	})
}
