// Package server is the Redis side of reddwarf: the listeners, the one
// loop goroutine that owns the keyspace, the command dispatcher, replies
// in RESP2 and RESP3, and what every Redis user expects of a server
// (expiry, eviction, MULTI, pub/sub, client-side caching, INFO, CONFIG).
// It knows nothing of models or snapshots: those subsystems plug in
// through Hooks, and main registers their commands into the table, so
// this package never imports commands, session or persist.
//
// # Where to start reading
//
//   - Server (server.go): the process state, New and Start.
//   - loop.go: the loop's turn (below); cron.go its periodic work.
//   - dispatch.go: process, our processCommand: lookup, arity, AUTH,
//     MULTI queueing, then the gates, then call (timing, stats, slowlog,
//     MONITOR).
//   - spec.go: Spec and Flag, the command table's entries; the dispatcher
//     reads their flags so that handlers never repeat its checks.
//   - reply.go, errors.go: the reply writer and the RESP errors.
//   - hooks.go: what a subsystem registers (below); blocked.go: how a
//     command waits for one.
//
// # A turn of the loop
//
// The loop goroutine runs, in this order, every turn:
//
//  1. the command batches that arrived (each client's pipeline in arrival
//     order, every command to completion unless it blocks its client);
//  2. one step of every registered subsystem whose HasWork reports true
//     (the inference engine's batched forward pass for all running jobs),
//     then straight back to 1 without sleeping, so a command waits at
//     most one step;
//  3. with no work, a sleep until a batch, an event (Post) or the cron
//     tick, which runs hz times a second: expiry, client timeouts and
//     buffers, then every subsystem's Cron (save points, cache trims).
//
// Everything that touches the keyspace, a client's loop-owned fields or a
// subsystem's state runs on this goroutine; other goroutines hand work to
// it with Post (a finished BGSAVE does).
//
// # The hooks contract
//
// A subsystem the server does not import (session's Engine, persist's
// Engine) describes itself as one Hooks value and registers it once with
// Register, before Start. The server keeps the registrations in a list and
// calls each kind of hook on every subsystem, in registration order:
// Step, Cron, AfterFlushAll and ClientGone reach all of them; Gate and
// Shutdown stop at the first error; Info takes the first subsystem that
// renders the section; KeyBusy and DBBusy are true when any subsystem
// says so; FreeMemory adds up what each released; Functions and
// RestoreFunctions (the scripting engine's libraries in snapshots and a
// rewritten log's base) take the first subsystem that has them. A hook
// must not register others or block: it runs inside the loop's turn.
//
// # Scripts
//
// A script runs inside its EVAL's or FCALL's handler (script.go):
// redis.call is ScriptCall, the checks of a command EXEC runs and then
// call, as the calling client with its reply captured. Past
// busy-reply-threshold the script package's watchdog goroutine calls
// ServeWhileBusy every millisecond, the script kept off the server
// meanwhile (even one inside a Go function is served): one non-blocking
// turn of steps 1's reading and replying, where every command but those
// flagged allow-busy (and SHUTDOWN without NOSAVE) gets -BUSY and the
// script's own client's commands wait in its pending queue, as behind a
// blocked command. Then StepWhileBusy runs one engine step: running GEN
// jobs go on (STREAM pieces flow), but a job that finishes keeps its
// result (the key's new session, its client's reply) until the script
// ends, and queued jobs start only then (a start may evict), so a script
// sees no key change under it.
//
// # The BUSY rule
//
// A job (a GEN or PREFILL) works on a private copy of its session, so the
// key changes only when the job finishes. While a job is queued or running
// on a key, the key is busy (Hooks.KeyBusy), and the dispatcher refuses
// every write to it with -BUSY: a write command (FlagWrite) whose key
// arguments include a busy key is not run. Writes flagged
// FlagQueueBehindJob pass: GEN and PREFILL queue behind the job,
// CHECKPOINT only names a position of the state readers see, FORK and COPY
// read their source and check their destination themselves. Reads pass
// and see the state before the job. Commands whose keys are not their key
// arguments check themselves with CheckBusy or CheckBusyDB (FLUSHDB,
// FLUSHALL, SWAPDB, MOVE's destination, RENAME), and eviction skips busy
// keys. Keys are busy only while their subsystem has work, so the rule
// costs nothing when no job runs.
//
// The gates run just before a command runs: LOADING (not for a command
// EXEC runs), then, now or at EXEC, the subsystems' gates (MISCONF), the
// BUSY rule, and FlagModel's "no model loaded" when no registered
// subsystem serves a model.
package server
