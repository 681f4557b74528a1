package commands

import (
	"reddwarf/script"
	"reddwarf/server"
)

// Scripting returns the scripting commands (EVAL, SCRIPT, FUNCTION, FCALL)
// running on e.
func Scripting(e *script.Engine) []*server.Spec {
	evalFlags := server.FlagNoscript | server.FlagSkipMonitor | server.FlagNoMandatoryKeys | stale | server.FlagMovableKeys
	rw := []server.KeySpec{{Flags: []string{"RW", "ACCESS", "UPDATE"}, Begin: 2, KeyNum: true, Notes: "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE"}}
	rwSHA := []server.KeySpec{{Flags: []string{"RW", "ACCESS", "UPDATE"}, Begin: 2, KeyNum: true}}
	rdo := []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 2, KeyNum: true, Notes: "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS"}}
	rdoSHA := []server.KeySpec{{Flags: []string{"RO", "ACCESS"}, Begin: 2, KeyNum: true}}
	// Redis's cluster routing tips, printed by COMMAND INFO.
	allShards := func(resp string) []string {
		return []string{"request_policy:all_shards", "response_policy:" + resp}
	}
	return []*server.Spec{
		{Name: "eval", Arity: -3, Flags: evalFlags, KeySpecs: rw, Group: "scripting", Since: "2.6.0", Complexity: "Depends on the script that is executed.", Args: "script numkeys:integer [key [key ...]] [arg [arg ...]]", Summary: "Execute a Lua script server side",
			Handler: func(x *server.Ctx) { e.Eval(x, false, false) }},
		{Name: "evalsha", Arity: -3, Flags: evalFlags, KeySpecs: rwSHA, Group: "scripting", Since: "2.6.0", Complexity: "Depends on the script that is executed.", Args: "sha1 numkeys:integer [key [key ...]] [arg [arg ...]]", Summary: "Execute a Lua script server side",
			Handler: func(x *server.Ctx) { e.Eval(x, true, false) }},
		{Name: "eval_ro", Arity: -3, Flags: evalFlags | server.FlagReadonly, KeySpecs: rdo, Group: "scripting", Since: "7.0.0", Complexity: "Depends on the script that is executed.", Args: "script numkeys:integer [key [key ...]] [arg [arg ...]]", Summary: "Execute a read-only Lua script server side",
			Handler: func(x *server.Ctx) { e.Eval(x, false, true) }},
		{Name: "evalsha_ro", Arity: -3, Flags: evalFlags | server.FlagReadonly, KeySpecs: rdoSHA, Group: "scripting", Since: "7.0.0", Complexity: "Depends on the script that is executed.", Args: "sha1 numkeys:integer [key [key ...]] [arg [arg ...]]", Summary: "Execute a read-only Lua script server side",
			Handler: func(x *server.Ctx) { e.Eval(x, true, true) }},
		{Name: "fcall", Arity: -3, Flags: evalFlags, KeySpecs: rw, Group: "scripting", Since: "7.0.0", Complexity: "Depends on the function that is executed.", Args: "function numkeys:integer [key [key ...]] [arg [arg ...]]", Summary: "Invoke a function",
			Handler: func(x *server.Ctx) { e.FCall(x, false) }},
		{Name: "fcall_ro", Arity: -3, Flags: evalFlags | server.FlagReadonly, KeySpecs: rdo, Group: "scripting", Since: "7.0.0", Complexity: "Depends on the function that is executed.", Args: "function numkeys:integer [key [key ...]] [arg [arg ...]]", Summary: "Invoke a read-only function",
			Handler: func(x *server.Ctx) { e.FCall(x, true) }},
		{Name: "script", Arity: -2, Group: "scripting", Since: "2.6.0", Complexity: "Depends on subcommand.", Summary: "A container for Lua scripts management commands", Sub: []*server.Spec{
			{Name: "script|load", Arity: 3, Flags: server.FlagNoscript | stale, Group: "scripting", Since: "2.6.0", Complexity: "O(N) with N being the length in bytes of the script body.", Args: "script", Summary: "Load the specified Lua script into the script cache.", Tips: []string{"request_policy:all_nodes", "response_policy:all_succeeded"},
				Handler: func(x *server.Ctx) {
					sha, err := e.ScriptLoad(x.Args[2])
					if err != nil {
						x.Error(err)
						return
					}
					x.R.BulkString(sha)
				}},
			{Name: "script|exists", Arity: -3, Flags: server.FlagNoscript, Group: "scripting", Since: "2.6.0", Complexity: "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).", Args: "sha1 [sha1 ...]", Summary: "Check existence of scripts in the script cache.", Tips: allShards("agg_logical_and"),
				Handler: func(x *server.Ctx) {
					x.R.Array(len(x.Args) - 2)
					for _, a := range x.Args[2:] {
						if e.ScriptExists(string(a)) {
							x.R.Int(1)
						} else {
							x.R.Int(0)
						}
					}
				}},
			{Name: "script|flush", Arity: -2, Flags: server.FlagNoscript, Group: "scripting", Since: "2.6.0", Complexity: "O(N) with N being the number of scripts in cache", Args: "[async: ASYNC | SYNC]@6.2.0", Summary: "Remove all the scripts from the script cache.", Tips: []string{"request_policy:all_nodes", "response_policy:all_succeeded"},
				History: [][2]string{{"6.2.0", "Added the `ASYNC` and `SYNC` flushing mode modifiers."}},
				Handler: func(x *server.Ctx) {
					if len(x.Args) > 3 || (len(x.Args) == 3 && !server.EqualFold(x.Args[2], "sync") && !server.EqualFold(x.Args[2], "async")) {
						x.Error(server.Errorf("SCRIPT FLUSH only support SYNC|ASYNC option"))
						return
					}
					e.ScriptFlush()
					x.R.OK()
				}},
			{Name: "script|kill", Arity: 2, Flags: server.FlagNoscript | server.FlagAllowBusy, Group: "scripting", Since: "2.6.0", Complexity: "O(1)", Summary: "Kill the script currently in execution.", Tips: allShards("one_succeeded"),
				Handler: killHandler(e, true)},
			{Name: "script|help", Arity: 2, Flags: loading | stale, Group: "scripting", Since: "5.0.0", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands",
				Handler: func(x *server.Ctx) {
					helpReply(x, "script", []string{
						"EXISTS <sha1> [<sha1> ...]",
						"    Whether each SHA1 names a script in the cache (1) or not (0).",
						"FLUSH [ASYNC|SYNC]",
						"    Empty the script cache (both modes flush at once).",
						"KILL",
						"    Stop the running script, if it has not written to the dataset.",
						"LOAD <script>",
						"    Compile and cache a script; reply its SHA1 for EVALSHA.",
					})
				}},
		}},
		{Name: "function", Arity: -2, Group: "scripting", Since: "7.0.0", Complexity: "Depends on subcommand.", Summary: "A container for function commands", Sub: []*server.Spec{
			{Name: "function|load", Arity: -3, Flags: server.FlagWrite | server.FlagDenyOOM | server.FlagNoscript, Group: "scripting", Since: "7.0.0", Complexity: "O(1) (considering compilation time is redundant)", Args: "[REPLACE] function-code", Summary: "Create a function with the given arguments (name, code, description)", Tips: allShards("all_succeeded"),
				Handler: func(x *server.Ctx) {
					replace := false
					i := 2
					for ; i < len(x.Args)-1; i++ {
						if !server.EqualFold(x.Args[i], "replace") {
							x.Error(server.Errorf("Unknown option given: " + x.Arg(i)))
							return
						}
						replace = true
					}
					name, err := e.FunctionLoad(x.C, x.Arg(i), replace)
					if err != nil {
						x.Error(err)
						return
					}
					x.S.Dirty++ // logged as it came: a replay loads it again
					x.R.BulkString(name)
				}},
			{Name: "function|delete", Arity: 3, Flags: server.FlagWrite | server.FlagNoscript, Group: "scripting", Since: "7.0.0", Complexity: "O(1)", Args: "library-name", Summary: "Delete a function by name", Tips: allShards("all_succeeded"),
				Handler: func(x *server.Ctx) {
					if err := e.FunctionDelete(x.Arg(2)); err != nil {
						x.Error(err)
						return
					}
					x.S.Dirty++
					x.R.OK()
				}},
			{Name: "function|flush", Arity: -2, Flags: server.FlagWrite | server.FlagNoscript, Group: "scripting", Since: "7.0.0", Complexity: "O(N) where N is the number of functions deleted", Args: "[async: ASYNC | SYNC]", Summary: "Deleting all functions", Tips: allShards("all_succeeded"),
				Handler: func(x *server.Ctx) {
					if len(x.Args) > 3 {
						x.Error(server.Errorf("unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP."))
						return
					}
					if len(x.Args) == 3 && !server.EqualFold(x.Args[2], "sync") && !server.EqualFold(x.Args[2], "async") {
						x.Error(server.Errorf("FUNCTION FLUSH only supports SYNC|ASYNC option"))
						return
					}
					e.FunctionFlush()
					x.S.Dirty++
					x.R.OK()
				}},
			{Name: "function|dump", Arity: 2, Flags: server.FlagNoscript, Group: "scripting", Since: "7.0.0", Complexity: "O(N) where N is the number of functions", Summary: "Dump all functions into a serialized binary payload",
				Handler: func(x *server.Ctx) { x.R.Bulk(e.Dump()) }},
			{Name: "function|restore", Arity: -3, Flags: server.FlagWrite | server.FlagDenyOOM | server.FlagNoscript, Group: "scripting", Since: "7.0.0", Complexity: "O(N) where N is the number of functions on the payload", Args: "serialized-value [policy: FLUSH | APPEND | REPLACE]", Summary: "Restore all the functions on the given payload", Tips: allShards("all_succeeded"),
				Handler: func(x *server.Ctx) {
					if len(x.Args) > 4 {
						x.Error(server.Errorf("unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP."))
						return
					}
					policy := "append"
					if len(x.Args) == 4 {
						switch {
						case server.EqualFold(x.Args[3], "append"):
						case server.EqualFold(x.Args[3], "replace"):
							policy = "replace"
						case server.EqualFold(x.Args[3], "flush"):
							policy = "flush"
						default:
							x.Error(server.Errorf("Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."))
							return
						}
					}
					if err := e.Restore(x.C, x.Args[2], policy); err != nil {
						x.Error(err)
						return
					}
					x.S.Dirty++
					x.R.OK()
				}},
			{Name: "function|list", Arity: -2, Flags: server.FlagNoscript, Group: "scripting", Since: "7.0.0", Complexity: "O(N) where N is the number of functions", Args: "[LIBRARYNAME library-name-pattern] [WITHCODE]", Summary: "List information about all the functions", Tips: []string{"nondeterministic_output_order"},
				Handler: func(x *server.Ctx) {
					withCode, usePattern, pattern := false, false, ""
					for i := 2; i < len(x.Args); i++ {
						switch {
						case !withCode && server.EqualFold(x.Args[i], "withcode"):
							withCode = true
						case !usePattern && server.EqualFold(x.Args[i], "libraryname"):
							if i >= len(x.Args)-1 {
								x.Error(server.Errorf("library name argument was not given"))
								return
							}
							i++
							usePattern, pattern = true, x.Arg(i)
						default:
							x.Error(server.Errorf("Unknown argument " + x.Arg(i)))
							return
						}
					}
					e.List(x.R, pattern, usePattern, withCode)
				}},
			{Name: "function|stats", Arity: 2, Flags: server.FlagNoscript | server.FlagAllowBusy, Group: "scripting", Since: "7.0.0", Complexity: "O(1)", Summary: "Return information about the function currently running (name, description, duration)", Tips: []string{"nondeterministic_output", "request_policy:all_shards", "response_policy:special"},
				Handler: func(x *server.Ctx) { e.Stats(x.R) }},
			{Name: "function|kill", Arity: 2, Flags: server.FlagNoscript | server.FlagAllowBusy, Group: "scripting", Since: "7.0.0", Complexity: "O(1)", Summary: "Kill the function currently in execution.", Tips: allShards("one_succeeded"),
				Handler: killHandler(e, false)},
			{Name: "function|help", Arity: 2, Flags: loading | stale, Group: "scripting", Since: "7.0.0", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands",
				Handler: func(x *server.Ctx) {
					helpReply(x, "function", []string{
						"LOAD [REPLACE] <FUNCTION CODE>",
						"    Load a library (#!lua name=<name> then its body), which registers its functions.",
						"DELETE <LIBRARY NAME>",
						"    Delete a library and its functions.",
						"LIST [LIBRARYNAME PATTERN] [WITHCODE]",
						"    The libraries (those whose name matches PATTERN), their engine and functions, with their code on WITHCODE.",
						"STATS",
						"    The running function (name, command, duration in ms, or nil) and the libraries and functions per engine.",
						"KILL",
						"    Stop the running function, if it has not written to the dataset.",
						"FLUSH [ASYNC|SYNC]",
						"    Delete every library.",
						"DUMP",
						"    A payload holding every library, for FUNCTION RESTORE.",
						"RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
						"    Load the libraries of a payload: after deleting the others (FLUSH), refusing any name clash (APPEND, the default), or replacing same-named ones (REPLACE).",
					})
				}},
		}},
	}
}

// killHandler is SCRIPT KILL (eval) or FUNCTION KILL: each stops only a
// script of its own kind.
func killHandler(e *script.Engine, eval bool) func(*server.Ctx) {
	return func(x *server.Ctx) {
		if err := e.Kill(eval); err != nil {
			x.Error(err)
			return
		}
		x.R.OK()
	}
}
