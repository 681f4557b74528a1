// Package commands says what every command means. Each family has a file
// (strings.go, keyspace.go, expire.go, connection.go, server.go, pubsub.go,
// hash.go, list.go, set.go, zset.go, stream.go, sort.go,
// tx.go, session.go, persist.go); each command is one Spec
// entry — name, arity, flags, key positions, group, summary — plus one
// handler named after it (getCommand, setCommand). Variants share a generic
// function (setGeneric for SET/SETNX/SETEX/PSETEX, expireGeneric).
//
// Handlers parse every argument first and fail before changing anything;
// the generic checks (arity, AUTH, MULTI queueing, LOADING/OOM/BUSY gates)
// are the dispatcher's (server/dispatch.go), never repeated here. A write
// ends the same way every time: change the value, x.Modified(key) (WATCH
// and save points), reply.
//
// All returns the table; main registers it into the server, so the server
// package never imports this one. Families that need a subsystem (the
// session commands their engine, the persistence commands theirs) are
// built by a constructor that closes over it: no package variable wires
// a handler to its engine.
package commands

import (
	"reddwarf/persist"
	"reddwarf/server"
	"reddwarf/session"
)

// All returns every command spec of every family: the session commands
// run on e (nil: no model is loaded), the persistence commands on p.
func All(e *session.Engine, p *persist.Engine) []*server.Spec {
	var all []*server.Spec
	for _, family := range [][]*server.Spec{
		connectionCommands, keyspaceCommands, expireCommands, stringCommands, bitmapCommands, hashCommands, listCommands, setCommands, zsetCommands, streamCommands, sortCommands,
		serverCommands, pubsubCommands, txCommands, sessionCommands(e), persistCommands(p),
	} {
		all = append(all, family...)
	}
	return all
}
