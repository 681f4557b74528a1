package commands

import (
	"math"
	"strconv"

	"reddwarf/server"
)

var expireCommands = []*server.Spec{
	{Name: "expire", Arity: -3, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "generic", Since: "1.0.0", Complexity: "O(1)", Args: "key seconds [condition: NX | XX | GT | LT]@7.0.0", Summary: "Set a key's time to live in seconds", History: [][2]string{{"7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`."}}, Handler: expireCommand},
	{Name: "pexpire", Arity: -3, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "generic", Since: "2.6.0", Complexity: "O(1)", Args: "key milliseconds [condition: NX | XX | GT | LT]@7.0.0", Summary: "Set a key's time to live in milliseconds", History: [][2]string{{"7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`."}}, Handler: pexpireCommand},
	{Name: "expireat", Arity: -3, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "generic", Since: "1.2.0", Complexity: "O(1)", Args: "key unix-time-seconds [condition: NX | XX | GT | LT]@7.0.0", Summary: "Set the expiration for a key as a UNIX timestamp", History: [][2]string{{"7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`."}}, Handler: expireatCommand},
	{Name: "pexpireat", Arity: -3, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "generic", Since: "2.6.0", Complexity: "O(1)", Args: "key unix-time-milliseconds [condition: NX | XX | GT | LT]@7.0.0", Summary: "Set the expiration for a key as a UNIX timestamp specified in milliseconds", History: [][2]string{{"7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`."}}, Handler: pexpireatCommand},
	{Name: "ttl", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "generic", Since: "1.0.0", Complexity: "O(1)", Args: "key", Summary: "Get the time to live for a key in seconds", History: [][2]string{{"2.8.0", "Added the -2 reply."}}, Tips: []string{"nondeterministic_output"}, Handler: ttlCommand},
	{Name: "pttl", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "generic", Since: "2.6.0", Complexity: "O(1)", Args: "key", Summary: "Get the time to live for a key in milliseconds", History: [][2]string{{"2.8.0", "Added the -2 reply."}}, Tips: []string{"nondeterministic_output"}, Handler: pttlCommand},
	{Name: "expiretime", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "generic", Since: "7.0.0", Complexity: "O(1)", Args: "key", Summary: "Get the expiration Unix timestamp for a key", Handler: expiretimeCommand},
	{Name: "pexpiretime", Arity: 2, Flags: ro | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "generic", Since: "7.0.0", Complexity: "O(1)", Args: "key", Summary: "Get the expiration Unix timestamp for a key in milliseconds", Handler: pexpiretimeCommand},
	{Name: "persist", Arity: 2, Flags: w | ft, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "generic", Since: "2.2.0", Complexity: "O(1)", Args: "key", Summary: "Remove the expiration from a key", Handler: persistCommand},
}

// EXPIRE key seconds [NX|XX|GT|LT]
func expireCommand(x *server.Ctx) { expireGeneric(x, false, 1000) }

// PEXPIRE key milliseconds [NX|XX|GT|LT]
func pexpireCommand(x *server.Ctx) { expireGeneric(x, false, 1) }

// EXPIREAT key unix-time-seconds [NX|XX|GT|LT]
func expireatCommand(x *server.Ctx) { expireGeneric(x, true, 1000) }

// PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]
func pexpireatCommand(x *server.Ctx) { expireGeneric(x, true, 1) }

// expireGeneric sets a TTL: absolute says whether the argument is a unix
// time, unit is its milliseconds per unit. NX: only if no TTL; XX: only if
// one; GT/LT: only if the new one is greater/less (no TTL counts as
// infinite). A time in the past deletes the key, except while a log is
// replayed (the time passed since it was logged, and later records may
// still use the key: the TTL is set and ends after loading, as Redis
// does). Replies 1 if set, else 0.
func expireGeneric(x *server.Ctx, absolute bool, unit int64) {
	var nx, xx, gt, lt bool
	for _, a := range x.Args[3:] {
		switch {
		case is(a, "NX"):
			nx = true
		case is(a, "XX"):
			xx = true
		case is(a, "GT"):
			gt = true
		case is(a, "LT"):
			lt = true
		default:
			x.Error(server.Errorf("Unsupported option " + string(a)))
			return
		}
	}
	if nx && (xx || gt || lt) {
		x.Error(server.Errorf("NX and XX, GT or LT options at the same time are not compatible"))
		return
	}
	if gt && lt {
		x.Error(server.Errorf("GT and LT options at the same time are not compatible"))
		return
	}
	n, err := intArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	bad := server.Errorf("invalid expire time in '" + x.Cmd.Name + "' command")
	if n > math.MaxInt64/unit || n < math.MinInt64/unit {
		x.Error(bad)
		return
	}
	when := n * unit
	if !absolute {
		now := x.S.Now()
		if when > 0 && when > math.MaxInt64-now {
			x.Error(bad)
			return
		}
		when += now
	}
	key := x.Arg(1)
	if x.DB.LookupWrite(key) == nil {
		x.R.Int(0)
		return
	}
	cur := x.DB.Expire(key) // -1: persistent
	switch {
	case nx && cur != -1, xx && cur == -1:
		x.R.Int(0)
		return
	case gt && (cur == -1 || when <= cur):
		x.R.Int(0)
		return
	case lt && cur != -1 && when >= cur:
		x.R.Int(0)
		return
	}
	event := "expire"
	if when <= x.S.Now() && !x.S.Loading() {
		if err := x.S.CheckBusy(x.DB, key); err != nil {
			x.Error(err)
			return
		}
		x.DB.Delete(key)
		x.Propagate([]byte("DEL"), x.Args[1])
		event = "del"
	} else {
		x.DB.SetExpire(key, when)
		// Logged absolute, as Redis 7.0 rewrites every EXPIRE form to
		// PEXPIREAT keeping its options.
		x.Propagate(append([][]byte{[]byte("PEXPIREAT"), x.Args[1], strconv.AppendInt(nil, when, 10)}, x.Args[3:]...)...)
	}
	x.Modified(key)
	x.Notify(event, key)
	x.R.Int(1)
}

// ttlGeneric replies -2 for a missing key, -1 without TTL, else the TTL
// (relative, or absolute with abs) in ms or rounded seconds.
func ttlGeneric(x *server.Ctx, ms, abs bool) {
	key := x.Arg(1)
	if x.DB.Peek(key) == nil { // no access-time update, as Redis's LOOKUP_NOTOUCH
		x.R.Int(-2)
		return
	}
	when := x.DB.Expire(key)
	if when == -1 {
		x.R.Int(-1)
		return
	}
	t := when
	if !abs {
		t = when - x.S.Now()
		if t < 0 {
			t = 0
		}
	}
	if !ms {
		t = (t + 500) / 1000
	}
	x.R.Int(t)
}

// TTL key
func ttlCommand(x *server.Ctx) { ttlGeneric(x, false, false) }

// PTTL key
func pttlCommand(x *server.Ctx) { ttlGeneric(x, true, false) }

// EXPIRETIME key
func expiretimeCommand(x *server.Ctx) { ttlGeneric(x, false, true) }

// PEXPIRETIME key
func pexpiretimeCommand(x *server.Ctx) { ttlGeneric(x, true, true) }

// PERSIST key
func persistCommand(x *server.Ctx) {
	key := x.Arg(1)
	if x.DB.LookupWrite(key) == nil || !x.DB.Persist(key) {
		x.R.Int(0)
		return
	}
	x.Modified(key)
	x.Notify("persist", key)
	x.R.Int(1)
}
