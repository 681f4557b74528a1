package commands

import "reddwarf/server"

var txCommands = []*server.Spec{
	{Name: "multi", Arity: 1, Flags: ft | loading | stale | server.FlagNoscript | server.FlagAllowBusy, Group: "transactions", Since: "1.2.0", Complexity: "O(1)", Summary: "Mark the start of a transaction block", Handler: multiCommand},
	{Name: "exec", Arity: 1, Flags: loading | stale | server.FlagNoscript | server.FlagSkipSlowlog, Group: "transactions", Since: "1.2.0", Complexity: "Depends on commands in the transaction", Summary: "Execute all commands issued after MULTI", Handler: execCommand},
	{Name: "discard", Arity: 1, Flags: ft | loading | stale | server.FlagNoscript | server.FlagAllowBusy, Group: "transactions", Since: "2.0.0", Complexity: "O(N), when N is the number of queued commands", Summary: "Discard all commands issued after MULTI", Handler: discardCommand},
	{Name: "watch", Arity: -2, Flags: ft | loading | stale | server.FlagNoscript | server.FlagAllowBusy, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: keys("RO"), Group: "transactions", Since: "2.2.0", Complexity: "O(1) for every key.", Args: "key [key ...]", Summary: "Watch the given keys to determine execution of the MULTI/EXEC block", Handler: watchCommand},
	{Name: "unwatch", Arity: 1, Flags: ft | loading | stale | server.FlagNoscript | server.FlagAllowBusy, Group: "transactions", Since: "2.2.0", Complexity: "O(1)", Summary: "Forget about all watched keys", Handler: unwatchCommand},
}

// MULTI
func multiCommand(x *server.Ctx) {
	if err := x.S.Multi(x.C); err != nil {
		x.Error(err)
		return
	}
	x.R.OK()
}

// EXEC
func execCommand(x *server.Ctx) { x.S.Exec(x.C) }

// DISCARD
func discardCommand(x *server.Ctx) {
	if err := x.S.Discard(x.C); err != nil {
		x.Error(err)
		return
	}
	x.R.OK()
}

// WATCH key [key ...]
func watchCommand(x *server.Ctx) {
	if err := x.S.Watch(x.C, x.Args[1:]); err != nil {
		x.Error(err)
		return
	}
	x.R.OK()
}

// UNWATCH
func unwatchCommand(x *server.Ctx) {
	x.S.Unwatch(x.C)
	x.R.OK()
}
