package commands

import (
	"math"
	"strconv"
	"strings"
	"time"

	"reddwarf/server"
)

const (
	noauth  = server.FlagNoAuth
	loading = server.FlagLoading
	stale   = server.FlagStale
)

var connectionCommands = []*server.Spec{
	{Name: "ping", Arity: -1, Flags: ft, Group: "connection", Since: "1.0.0", Complexity: "O(1)", Args: "[message]", Summary: "Ping the server", Tips: []string{"request_policy:all_shards", "response_policy:all_succeeded"}, Handler: pingCommand},
	{Name: "echo", Arity: 2, Flags: loading | stale | ft, Group: "connection", Since: "1.0.0", Complexity: "O(1)", Args: "message", Summary: "Echo the given string", Handler: echoCommand},
	{Name: "hello", Arity: -1, Flags: server.FlagAllowBusy | noauth | ft | loading | stale | server.FlagNoscript, Group: "connection", Since: "6.0.0", Complexity: "O(1)", Args: "[protover [AUTH username password] [SETNAME clientname]]", Summary: "Handshake with Redis", History: [][2]string{{"6.2.0", "`protover` made optional; when called without arguments the command reports the current connection's context."}}, Handler: helloCommand},
	{Name: "auth", Arity: -2, Flags: server.FlagAllowBusy | noauth | ft | loading | stale | server.FlagNoscript, Group: "connection", Since: "1.0.0", Complexity: "O(N) where N is the number of passwords defined for the user", Args: "[username]@6.0.0 password", Summary: "Authenticate to the server", History: [][2]string{{"6.0.0", "Added ACL style (username and password)."}}, Handler: authCommand},
	{Name: "quit", Arity: -1, Flags: noauth | ft | loading | stale | server.FlagNoscript | server.FlagAllowBusy, Group: "connection", Since: "1.0.0", Complexity: "O(1)", Summary: "Close the connection", Handler: quitCommand},
	{Name: "reset", Arity: 1, Flags: server.FlagAllowBusy | noauth | ft | loading | stale | server.FlagNoscript, Group: "connection", Since: "6.2.0", Complexity: "O(1)", Summary: "Reset the connection", Handler: resetCommand},
	{Name: "select", Arity: 2, Flags: ft | loading | stale, Group: "connection", Since: "1.0.0", Complexity: "O(1)", Args: "index:integer", Summary: "Change the selected database for the current connection", Handler: selectCommand},
	{Name: "client", Arity: -2, Group: "connection", Since: "2.4.0", Summary: "A container for client connection commands", Complexity: "Depends on subcommand.", Sub: []*server.Spec{
		{Name: "client|id", Arity: 2, Flags: loading | stale | server.FlagNoscript, Group: "connection", Since: "5.0.0", Complexity: "O(1)", Summary: "Returns the client ID for the current connection", Handler: clientIDCommand},
		{Name: "client|setname", Arity: 3, Flags: loading | stale | server.FlagNoscript, Group: "connection", Since: "2.6.9", Complexity: "O(1)", Args: "connection-name", Summary: "Set the current connection name", Handler: clientSetnameCommand},
		{Name: "client|getname", Arity: 2, Flags: loading | stale | server.FlagNoscript, Group: "connection", Since: "2.6.9", Complexity: "O(1)", Summary: "Get the current connection name", Handler: clientGetnameCommand},
		{Name: "client|list", Arity: -2, Flags: server.FlagAdmin | loading | stale | server.FlagNoscript, Group: "connection", Since: "2.4.0", Complexity: "O(N) where N is the number of client connections", Args: "[TYPE NORMAL | MASTER | REPLICA | PUBSUB] [ID client-id [client-id ...]]", Summary: "Get the list of client connections", History: [][2]string{{"2.8.12", "Added unique client `id` field."}, {"5.0.0", "Added optional `TYPE` filter."}, {"6.0.0", "Added `user` field."}, {"6.2.0", "Added `argv-mem`, `tot-mem`, `laddr` and `redir` fields and the optional `ID` filter."}, {"7.0.0", "Added `resp`, `multi-mem`, `rbs` and `rbp` fields."}, {"7.0.3", "Added `ssub` field."}}, Tips: []string{"nondeterministic_output"}, Handler: clientListCommand},
		{Name: "client|info", Arity: 2, Flags: loading | stale | server.FlagNoscript, Group: "connection", Since: "6.2.0", Complexity: "O(1)", Summary: "Returns information about the current client connection.", Tips: []string{"nondeterministic_output"}, Handler: clientInfoCommand},
		{Name: "client|kill", Arity: -3, Flags: server.FlagAdmin | loading | stale | server.FlagNoscript, Group: "connection", Since: "2.4.0", Complexity: "O(N) where N is the number of client connections", Args: "ip:port | [ID client-id] [TYPE NORMAL | MASTER | SLAVE | REPLICA | PUBSUB] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME YES | NO]", Summary: "Kill the connection of a client", History: [][2]string{{"2.8.12", "Added new filter format."}, {"2.8.12", "`ID` option."}, {"3.2.0", "Added `master` type in for `TYPE` option."}, {"5.0.0", "Replaced `slave` `TYPE` with `replica`. `slave` still supported for backward compatibility."}, {"6.2.0", "`LADDR` option."}}, Handler: clientKillCommand},
		{Name: "client|no-evict", Arity: 3, Flags: server.FlagAdmin | loading | stale | server.FlagNoscript, Group: "connection", Since: "7.0.0", Complexity: "O(1)", Args: "enabled: ON | OFF", Summary: "Set client eviction mode for the current connection", Handler: clientNoEvictCommand},
		{Name: "client|reply", Arity: 3, Flags: loading | stale | server.FlagNoscript, Group: "connection", Since: "3.2.0", Complexity: "O(1)", Args: "ON | OFF | SKIP", Summary: "Instruct the server whether to reply to commands", Handler: clientReplyCommand},
		{Name: "client|tracking", Arity: -3, Flags: loading | stale | server.FlagNoscript, Group: "connection", Since: "6.0.0", Complexity: "O(1). Some options may introduce additional complexity.", Args: "<status: ON | OFF> [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]", Summary: "Enable or disable server assisted client side caching support", Handler: clientTrackingCommand},
		{Name: "client|caching", Arity: 3, Flags: loading | stale | server.FlagNoscript, Group: "connection", Since: "6.0.0", Complexity: "O(1)", Args: "mode: YES | NO", Summary: "Instruct the server about tracking or not keys in the next request", Handler: clientCachingCommand},
		{Name: "client|getredir", Arity: 2, Flags: loading | stale | server.FlagNoscript, Group: "connection", Since: "6.0.0", Complexity: "O(1)", Summary: "Get tracking notifications redirection client ID if any", Handler: clientGetredirCommand},
		{Name: "client|trackinginfo", Arity: 2, Flags: loading | stale | server.FlagNoscript, Group: "connection", Since: "6.2.0", Complexity: "O(1)", Summary: "Return information about server assisted client side caching for the current connection", Handler: clientTrackinginfoCommand},
		{Name: "client|unblock", Arity: -3, Flags: server.FlagAdmin | server.FlagNoscript | loading | stale, Group: "connection", Since: "5.0.0", Complexity: "O(log N) where N is the number of client connections", Args: "client-id [TIMEOUT | ERROR]", Summary: "Unblock a client blocked in a blocking command from a different connection", Handler: clientUnblockCommand},
		{Name: "client|help", Arity: 2, Flags: loading | stale, Group: "connection", Since: "5.0.0", Complexity: "O(1)", Summary: "Show helpful text about the different subcommands", Handler: clientHelpCommand},
	}},
}

// PING [message]
func pingCommand(x *server.Ctx) {
	if len(x.Args) > 2 {
		x.Error(server.ErrWrongArgs("ping"))
		return
	}
	if x.C.InPubSub() && x.C.RESP() == 2 {
		x.R.Array(2)
		x.R.BulkString("pong")
		if len(x.Args) == 2 {
			x.R.Bulk(x.Args[1])
		} else {
			x.R.BulkString("")
		}
		return
	}
	if len(x.Args) == 2 {
		x.R.Bulk(x.Args[1])
		return
	}
	x.R.Status("PONG")
}

// ECHO message
func echoCommand(x *server.Ctx) { x.R.Bulk(x.Args[1]) }

// checkPassword validates AUTH/HELLO credentials for the default user.
func checkPassword(x *server.Ctx, user, pass string) error {
	if user != "default" || pass != x.S.Config.RequirePass {
		return server.ErrWrongPass
	}
	return nil
}

// AUTH [username] password
func authCommand(x *server.Ctx) {
	if len(x.Args) > 3 {
		x.Error(server.ErrSyntax)
		return
	}
	user, pass := "default", x.Arg(1)
	if len(x.Args) == 3 {
		user, pass = x.Arg(1), x.Arg(2)
	}
	for i := 1; i < len(x.Args); i++ {
		x.Redact(i) // MONITOR shows "AUTH" "(redacted)", as Redis 7.0
	}
	if len(x.Args) == 2 && x.S.Config.RequirePass == "" {
		x.Error(server.Errorf("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"))
		return
	}
	if err := checkPassword(x, user, pass); err != nil {
		x.Error(err)
		return
	}
	x.C.SetAuthenticated(true)
	x.R.OK()
}

// HELLO [protover [AUTH username password] [SETNAME clientname]]
func helloCommand(x *server.Ctx) {
	ver := int64(x.C.RESP())
	if len(x.Args) >= 2 {
		n, ok := server.ParseInt(x.Args[1])
		if !ok {
			x.Error(server.Errorf("Protocol version is not an integer or out of range"))
			return
		}
		if n < 2 || n > 3 {
			x.Error(server.CodeError("NOPROTO", "unsupported protocol version"))
			return
		}
		ver = n
	}
	var user, pass, name string
	auth, setname := false, false
	for i := 2; i < len(x.Args); i++ {
		more := len(x.Args) - i - 1
		switch {
		case is(x.Args[i], "AUTH") && more >= 2:
			auth, user, pass = true, x.Arg(i+1), x.Arg(i+2)
			x.Redact(i + 1) // where Redis 7.0 redacts them: options before a bad one only
			x.Redact(i + 2)
			i += 2
		case is(x.Args[i], "SETNAME") && more >= 1:
			setname, name = true, x.Arg(i+1)
			i++
		default:
			x.Error(server.Errorf("Syntax error in HELLO option '" + x.Arg(i) + "'"))
			return
		}
	}
	if auth {
		if err := checkPassword(x, user, pass); err != nil {
			x.Error(err)
			return
		}
		x.C.SetAuthenticated(true)
	}
	if !x.C.Authenticated() {
		x.Error(server.CodeError("NOAUTH", "HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"))
		return
	}
	if setname {
		if err := validClientName(name); err != nil {
			x.Error(err)
			return
		}
		x.C.Name = name
	}
	x.C.SetRESP(int(ver))
	x.R.Map(7)
	x.R.BulkString("server")
	x.R.BulkString("redis")
	x.R.BulkString("version")
	x.R.BulkString(server.RedisVersion)
	x.R.BulkString("proto")
	x.R.Int(ver)
	x.R.BulkString("id")
	x.R.Int(int64(x.C.ID))
	x.R.BulkString("mode")
	x.R.BulkString("standalone")
	x.R.BulkString("role")
	x.R.BulkString("master")
	x.R.BulkString("modules")
	x.R.Array(0)
}

// QUIT
func quitCommand(x *server.Ctx) {
	x.R.OK()
	x.C.CloseAfterReply()
}

// RESET
func resetCommand(x *server.Ctx) {
	x.S.ResetClient(x.C)
	x.R.Status("RESET")
}

// SELECT index
func selectCommand(x *server.Ctx) {
	n, ok := server.ParseInt(x.Args[1])
	if !ok {
		x.Error(server.ErrNotInteger)
		return
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		x.Error(server.Errorf("value is out of range, value must between -2147483648 and 2147483647"))
		return
	}
	if n < 0 || n >= int64(len(x.S.DBs)) {
		x.Error(server.ErrDBIndex)
		return
	}
	x.C.DB = x.S.DBs[n]
	x.R.OK()
}

// CLIENT ID
func clientIDCommand(x *server.Ctx) { x.R.Int(int64(x.C.ID)) }

func validClientName(name string) error {
	for i := 0; i < len(name); i++ {
		if name[i] < '!' || name[i] > '~' {
			return server.Errorf("Client names cannot contain spaces, newlines or special characters.")
		}
	}
	return nil
}

// CLIENT SETNAME name
func clientSetnameCommand(x *server.Ctx) {
	if err := validClientName(x.Arg(2)); err != nil {
		x.Error(err)
		return
	}
	x.C.Name = x.Arg(2)
	x.R.OK()
}

// CLIENT GETNAME
func clientGetnameCommand(x *server.Ctx) {
	if x.C.Name == "" {
		x.R.Null()
		return
	}
	x.R.BulkString(x.C.Name)
}

// sortedClients returns the clients by ID.
func sortedClients(x *server.Ctx) []*server.Client {
	var out []*server.Client
	for _, c := range x.S.Clients() {
		out = append(out, c)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ID < out[j-1].ID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func clientType(c *server.Client) string {
	if c.IsPubSub() {
		return "pubsub"
	}
	return "normal"
}

// CLIENT LIST [TYPE type] [ID id ...]
func clientListCommand(x *server.Ctx) {
	typ := ""
	var ids map[uint64]bool
	for i := 2; i < len(x.Args); i++ {
		switch {
		case is(x.Args[i], "TYPE") && i+1 < len(x.Args):
			typ = strings.ToLower(x.Arg(i + 1))
			switch typ {
			case "normal", "pubsub", "master", "replica", "slave":
			default:
				x.Error(server.Errorf("Unknown client type '" + x.Arg(i+1) + "'"))
				return
			}
			i++
		case is(x.Args[i], "ID") && i+1 < len(x.Args):
			ids = map[uint64]bool{}
			for i++; i < len(x.Args); i++ {
				id, err := strconv.ParseUint(x.Arg(i), 10, 64)
				if err != nil || id == 0 {
					x.Error(server.Errorf("Invalid client ID"))
					return
				}
				ids[id] = true
			}
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	var b strings.Builder
	now := time.Now()
	for _, c := range sortedClients(x) {
		if typ != "" && clientType(c) != typ {
			continue
		}
		if ids != nil && !ids[c.ID] {
			continue
		}
		b.WriteString(c.Info(now))
		b.WriteString("\n")
	}
	x.R.Verbatim(b.String())
}

// CLIENT INFO
func clientInfoCommand(x *server.Ctx) { x.R.Verbatim(x.C.Info(time.Now()) + "\n") }

// CLIENT KILL ip:port | CLIENT KILL [ID id] [TYPE t] [USER u] [ADDR a] [LADDR a] [SKIPME yes|no]
func clientKillCommand(x *server.Ctx) {
	if len(x.Args) == 3 {
		// Old form: reply OK or an error, kill the one client at that address.
		for _, c := range x.S.Clients() {
			if c.Addr == x.Arg(2) {
				c.Kill()
				if c == x.C {
					x.C.CloseAfterReply()
				}
				x.R.OK()
				return
			}
		}
		x.Error(server.Errorf("No such client"))
		return
	}
	var id uint64
	typ, user, addr, laddr := "", "", "", ""
	skipme := true
	if (len(x.Args)-2)%2 != 0 {
		x.Error(server.ErrSyntax)
		return
	}
	for i := 2; i+1 < len(x.Args); i += 2 {
		v := x.Arg(i + 1)
		switch a := x.Args[i]; {
		case is(a, "ID"):
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 {
				x.Error(server.Errorf("client-id should be greater than 0"))
				return
			}
			id = n
		case is(a, "TYPE"):
			typ = strings.ToLower(v)
			switch typ {
			case "normal", "pubsub", "master", "replica", "slave":
			default:
				x.Error(server.Errorf("Unknown client type '" + v + "'"))
				return
			}
		case is(a, "USER"):
			user = v
			if user != "default" {
				x.Error(server.Errorf("No such user '" + v + "'"))
				return
			}
		case is(a, "ADDR"):
			addr = v
		case is(a, "LADDR"):
			laddr = v
		case is(a, "SKIPME"):
			switch {
			case is(x.Args[i+1], "YES"):
				skipme = true
			case is(x.Args[i+1], "NO"):
				skipme = false
			default:
				x.Error(server.ErrSyntax)
				return
			}
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	killed := 0
	for _, c := range sortedClients(x) {
		if (id != 0 && c.ID != id) || (typ != "" && clientType(c) != typ) || (addr != "" && c.Addr != addr) || (laddr != "" && c.LAddr != laddr) {
			continue
		}
		if c == x.C && skipme {
			continue
		}
		if c == x.C {
			x.C.CloseAfterReply()
		} else {
			c.Kill()
		}
		killed++
	}
	x.R.Int(int64(killed))
}

// CLIENT NO-EVICT ON|OFF
func clientNoEvictCommand(x *server.Ctx) {
	switch {
	case is(x.Args[2], "ON"):
		x.C.SetNoEvict(true)
	case is(x.Args[2], "OFF"):
		x.C.SetNoEvict(false)
	default:
		x.Error(server.ErrSyntax)
		return
	}
	x.R.OK()
}

// CLIENT REPLY ON|OFF|SKIP
func clientReplyCommand(x *server.Ctx) {
	mode := strings.ToLower(x.Arg(2))
	switch mode {
	case "on", "off", "skip":
	default:
		x.Error(server.ErrSyntax)
		return
	}
	x.C.SetReplyMode(mode)
	if mode == "on" {
		x.R.OK()
	}
}

// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX prefix ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
func clientTrackingCommand(x *server.Ctx) {
	var opts server.TrackingOptions
	for i := 3; i < len(x.Args); i++ {
		more := i+1 < len(x.Args)
		switch a := x.Args[i]; {
		case is(a, "REDIRECT") && more:
			i++
			if opts.Redirect != 0 {
				x.Error(server.Errorf("A client can only redirect to a single other client"))
				return
			}
			id, ok := server.ParseInt(x.Args[i])
			if !ok {
				x.Error(server.ErrNotInteger)
				return
			}
			// The client must exist now, even if it may go away later.
			if id <= 0 || x.S.Clients()[uint64(id)] == nil {
				x.Error(server.Errorf("The client ID you want redirect to does not exist"))
				return
			}
			opts.Redirect = uint64(id)
		case is(a, "BCAST"):
			opts.BCAST = true
		case is(a, "OPTIN"):
			opts.OptIn = true
		case is(a, "OPTOUT"):
			opts.OptOut = true
		case is(a, "NOLOOP"):
			opts.NoLoop = true
		case is(a, "PREFIX") && more:
			i++
			opts.Prefixes = append(opts.Prefixes, x.Arg(i))
		default:
			x.Error(server.ErrSyntax)
			return
		}
	}
	switch {
	case is(x.Args[2], "ON"):
		if err := x.S.EnableTracking(x.C, opts); err != nil {
			x.Error(err)
			return
		}
	case is(x.Args[2], "OFF"):
		x.S.DisableTracking(x.C)
	default:
		x.Error(server.ErrSyntax)
		return
	}
	x.R.OK()
}

// CLIENT CACHING YES|NO
func clientCachingCommand(x *server.Ctx) {
	if !x.C.Tracking() {
		x.Error(server.Errorf("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"))
		return
	}
	yes := is(x.Args[2], "YES")
	if !yes && !is(x.Args[2], "NO") {
		x.Error(server.ErrSyntax)
		return
	}
	if err := x.S.SetTrackingCaching(x.C, yes); err != nil {
		x.Error(err)
		return
	}
	x.R.OK()
}

// CLIENT GETREDIR
func clientGetredirCommand(x *server.Ctx) { x.R.Int(x.C.TrackingRedirect()) }

// CLIENT TRACKINGINFO
func clientTrackinginfoCommand(x *server.Ctx) {
	flags := x.C.TrackingFlags()
	prefixes := x.C.TrackingPrefixes()
	x.R.Map(3)
	x.R.BulkString("flags")
	x.R.Set(len(flags))
	for _, f := range flags {
		x.R.BulkString(f)
	}
	x.R.BulkString("redirect")
	x.R.Int(x.C.TrackingRedirect())
	x.R.BulkString("prefixes")
	x.R.Array(len(prefixes))
	for _, p := range prefixes {
		x.R.BulkString(p)
	}
}

// CLIENT HELP
func clientHelpCommand(x *server.Ctx) {
	helpReply(x, "client", []string{
		"CACHING YES|NO",
		"    In OPTIN (OPTOUT) tracking mode, remember (don't remember) the keys of",
		"    the next command or transaction.",
		"GETNAME",
		"    The name of this connection, or null.",
		"GETREDIR",
		"    The ID invalidations are redirected to: 0 for none, -1 when tracking is off.",
		"ID",
		"    The unique id of this connection.",
		"INFO",
		"    One CLIENT LIST line for this connection.",
		"KILL <ip:port>",
		"    Close the connection from <ip:port>.",
		"KILL <filter> <value> [<filter> <value> ...]",
		"    Close every connection matching all filters:",
		"    * ID <client-id>",
		"    * ADDR <ip:port> / LADDR <ip:port> (remote / local address)",
		"    * TYPE NORMAL|MASTER|REPLICA|PUBSUB",
		"    * USER <username>",
		"    * SKIPME YES|NO (spare this connection, default yes)",
		"LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID <id> ...]",
		"    One line per connection, optionally filtered.",
		"NO-EVICT ON|OFF",
		"    Exempt this connection from client eviction.",
		"REPLY ON|OFF|SKIP",
		"    Turn replies to this connection on or off, or skip the next one.",
		"SETNAME <name>",
		"    Name this connection (no spaces or special characters).",
		"TRACKING ON|OFF [REDIRECT <id>] [BCAST] [PREFIX <prefix> ...] [OPTIN] [OPTOUT] [NOLOOP]",
		"    Turn client-side caching invalidations on or off for this connection.",
		"TRACKINGINFO",
		"    This connection's tracking flags, redirect ID and BCAST prefixes.",
	})
}

// CLIENT UNBLOCK client-id [TIMEOUT|ERROR]
func clientUnblockCommand(x *server.Ctx) {
	id, ok := server.ParseInt(x.Args[2])
	if !ok {
		x.Error(server.ErrNotInteger)
		return
	}
	asError := false
	switch {
	case len(x.Args) == 3:
	case len(x.Args) == 4 && is(x.Args[3], "TIMEOUT"):
	case len(x.Args) == 4 && is(x.Args[3], "ERROR"):
		asError = true
	default:
		x.Error(server.Errorf("CLIENT UNBLOCK reason should be TIMEOUT or ERROR"))
		return
	}
	x.R.Int(b2i(id > 0 && x.S.UnblockClient(uint64(id), asError)))
}
