package commands

import "reddwarf/server"

var txCommands = []*server.Spec{
	{Name: "multi", Arity: 1, Flags: ft | loading | stale | server.FlagNoscript | server.FlagAllowBusy, Group: "transactions", Since: "1.2.0", Complexity: "O(1)", Summary: "Starts a transaction.", Handler: multiCommand},
	{Name: "exec", Arity: 1, Flags: loading | stale | server.FlagNoscript | server.FlagSkipSlowlog, Group: "transactions", Since: "1.2.0", Complexity: "Depends on commands in the transaction", Summary: "Executes all commands in a transaction.", Handler: execCommand},
	{Name: "discard", Arity: 1, Flags: ft | loading | stale | server.FlagNoscript | server.FlagAllowBusy, Group: "transactions", Since: "2.0.0", Complexity: "O(N), when N is the number of queued commands", Summary: "Discards a transaction.", Handler: discardCommand},
	{Name: "watch", Arity: -2, Flags: ft | loading | stale | server.FlagNoscript | server.FlagAllowBusy, FirstKey: 1, LastKey: -1, Step: 1, KeySpecs: keys("RO"), Group: "transactions", Since: "2.2.0", Complexity: "O(1) for every key.", Args: "key [key ...]", Summary: "Monitors changes to keys to determine the execution of a transaction.", Handler: watchCommand},
	{Name: "unwatch", Arity: 1, Flags: ft | loading | stale | server.FlagNoscript | server.FlagAllowBusy, Group: "transactions", Since: "2.2.0", Complexity: "O(1)", Summary: "Forgets about watched keys of a transaction.", Handler: unwatchCommand},
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
