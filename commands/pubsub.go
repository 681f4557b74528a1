package commands

import "reddwarf/server"

const ps = server.FlagPubsub

var pubsubCommands = []*server.Spec{
	{Name: "subscribe", Arity: -2, Flags: ps | server.FlagNoscript | loading | stale, Group: "pubsub", Since: "2.0.0", Complexity: "O(N) where N is the number of channels to subscribe to.", Args: "channel [channel ...]", Summary: "Listen for messages published to the given channels", Handler: subscribeCommand},
	{Name: "psubscribe", Arity: -2, Flags: ps | server.FlagNoscript | loading | stale, Group: "pubsub", Since: "2.0.0", Complexity: "O(N) where N is the number of patterns the client is already subscribed to.", Args: "pattern [pattern ...]", Summary: "Listen for messages published to channels matching the given patterns", Handler: psubscribeCommand},
	{Name: "unsubscribe", Arity: -1, Flags: ps | server.FlagNoscript | loading | stale, Group: "pubsub", Since: "2.0.0", Complexity: "O(N) where N is the number of clients already subscribed to a channel.", Args: "[channel [channel ...]]", Summary: "Stop listening for messages posted to the given channels", Handler: unsubscribeCommand},
	{Name: "punsubscribe", Arity: -1, Flags: ps | server.FlagNoscript | loading | stale, Group: "pubsub", Since: "2.0.0", Complexity: "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).", Args: "[pattern [pattern ...]]", Summary: "Stop listening for messages posted to channels matching the given patterns", Handler: punsubscribeCommand},
	{Name: "publish", Arity: 3, Flags: ps | ft | loading | stale, Group: "pubsub", Since: "2.0.0", Complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).", Args: "channel message", Summary: "Post a message to a channel", Handler: publishCommand},
	{Name: "pubsub", Arity: -2, Group: "pubsub", Since: "2.8.0", Summary: "A container for Pub/Sub commands", Complexity: "Depends on subcommand.", Sub: []*server.Spec{
		{Name: "pubsub|channels", Arity: -2, Flags: ps | loading | stale, Group: "pubsub", Since: "2.8.0", Complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)", Args: "[pattern]", Summary: "List active channels", Handler: pubsubChannelsCommand},
		{Name: "pubsub|numsub", Arity: -2, Flags: ps | loading | stale, Group: "pubsub", Since: "2.8.0", Complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels", Args: "[channel [channel ...]]", Summary: "Get the count of subscribers for channels", Handler: pubsubNumsubCommand},
		{Name: "pubsub|numpat", Arity: 2, Flags: ps | loading | stale, Group: "pubsub", Since: "2.8.0", Complexity: "O(1)", Summary: "Get the count of unique patterns pattern subscriptions", Handler: pubsubNumpatCommand},
		{Name: "pubsub|shardchannels", Arity: -2, Flags: ps | loading | stale, Group: "pubsub", Since: "7.0.0", Complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).", Args: "[pattern]", Summary: "List active shard channels", Handler: pubsubShardchannelsCommand},
		{Name: "pubsub|shardnumsub", Arity: -2, Flags: ps | loading | stale, Group: "pubsub", Since: "7.0.0", Complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels", Args: "[shardchannel [shardchannel ...]]", Summary: "Get the count of subscribers for shard channels", Handler: pubsubShardnumsubCommand},
		{Name: "pubsub|help", Arity: 2, Flags: loading | stale, Group: "pubsub", Since: "6.2.0", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands", Handler: pubsubHelpCommand},
	}},
}

// SUBSCRIBE channel [channel ...]
func subscribeCommand(x *server.Ctx) { x.S.Subscribe(x.C, x.Args[1:], false) }

// PSUBSCRIBE pattern [pattern ...]
func psubscribeCommand(x *server.Ctx) { x.S.Subscribe(x.C, x.Args[1:], true) }

// UNSUBSCRIBE [channel ...]
func unsubscribeCommand(x *server.Ctx) { x.S.Unsubscribe(x.C, x.Args[1:], false) }

// PUNSUBSCRIBE [pattern ...]
func punsubscribeCommand(x *server.Ctx) { x.S.Unsubscribe(x.C, x.Args[1:], true) }

// PUBLISH channel message
func publishCommand(x *server.Ctx) {
	x.R.Int(int64(x.S.Publish(x.Arg(1), append([]byte(nil), x.Args[2]...))))
}

// PUBSUB CHANNELS [pattern]
func pubsubChannelsCommand(x *server.Ctx) {
	if len(x.Args) > 3 {
		x.Error(server.Errorf("unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP."))
		return
	}
	pat := ""
	if len(x.Args) == 3 {
		pat = x.Arg(2)
	}
	x.R.Strings(x.S.PubsubChannels(pat))
}

// PUBSUB NUMSUB [channel ...]
func pubsubNumsubCommand(x *server.Ctx) {
	x.R.Map(len(x.Args) - 2)
	for _, ch := range x.Args[2:] {
		x.R.Bulk(ch)
		x.R.Int(int64(x.S.PubsubNumSub(string(ch))))
	}
}

// PUBSUB NUMPAT
func pubsubNumpatCommand(x *server.Ctx) { x.R.Int(int64(x.S.PubsubNumPat())) }

// PUBSUB SHARDCHANNELS [pattern] (no shard channels outside cluster mode)
func pubsubShardchannelsCommand(x *server.Ctx) { x.R.Array(0) }

// PUBSUB SHARDNUMSUB [shardchannel ...]
func pubsubShardnumsubCommand(x *server.Ctx) {
	x.R.Map(len(x.Args) - 2)
	for _, ch := range x.Args[2:] {
		x.R.Bulk(ch)
		x.R.Int(0)
	}
}

// PUBSUB HELP
func pubsubHelpCommand(x *server.Ctx) {
	helpReply(x, "pubsub", []string{
		"CHANNELS [<pattern>]",
		"    Channels with at least one subscriber, optionally matching <pattern>.",
		"NUMPAT",
		"    How many distinct patterns are subscribed.",
		"NUMSUB [<channel> ...]",
		"    Subscriber counts of the channels (pattern subscribers not counted).",
		"SHARDCHANNELS [<pattern>]",
		"    Active shard channels (always empty outside cluster mode).",
		"SHARDNUMSUB [<shardchannel> ...]",
		"    Subscriber counts of shard channels.",
	})
}
