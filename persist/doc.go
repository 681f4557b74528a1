// Package persist decides what goes into a snapshot of the keyspace, when
// one is written, and what the keyspace looks like after one is loaded.
// The byte formats are the rdb package's; the SAVE, BGSAVE, DUMP, RESTORE
// and LOAD handlers are the commands package's.
//
// Engine is the whole of it: New makes one for a server and a
// SessionCodec (how sessions become DSV4 states and back; nil when no
// model is loaded), Hooks are what it registers with the server (save
// points at cron, SHUTDOWN and SIGTERM saves, the save after FLUSHALL,
// the MISCONF gate, INFO persistence), and Load reads dir/dbfilename at
// start-up.
// Everything but the BGSAVE writer runs on the server's loop.
//
// # Views
//
// A snapshot is written from a view of the keyspace taken on the loop
// (view.go): strings are copied (SETRANGE writes in place), sessions are
// viewed copy-on-write through the SessionCodec (page references, so the
// loop may go on and GEN may extend a session while a goroutine writes
// the view), and sessions still lazy from the previous snapshot are
// copied byte for byte from that file. SAVE writes the view on the loop;
// BGSAVE hands it to a goroutine and the loop goes on (save.go). A
// foreground save cancels a running BGSAVE, whose view then never renames
// over the newer file.
//
// # Lazy sessions
//
// Load reads the snapshot's index and its strings at once and leaves each
// session as a lazySession (load.go) that the keyspace decodes on its
// first lookup (server.Lazy), so a large snapshot opens in milliseconds.
//
// # The append-only store
//
// With appendonly yes (the default) the Engine holds the session store
// (persist/store, aof.go): the server's Propagate hook hands it each
// top-level command's ops (Redis's deterministic forms, chosen by the
// handlers through server.Ctx.Propagate, or a session's RDW.* records
// through PropagateRaw), which it encodes as RESP records with a SELECT
// where the database changes and MULTI/EXEC around more than one; the
// BeforeReplies hook flushes them before the loop writes replies.
// BGREWRITEAOF (aofrewrite.go) writes a view of the keyspace as the new
// base, sessions as records.
//
// Load (load.go) replays the store when there is one (replay.go): Redis
// records through the command table, session records into
// storedSession values (stored.go), which hold a session's tokens and
// page list and read its pages on first use (server.Lazy). Under
// maxmemory the server pages idle sessions out to the same values
// (Hooks.PageOut) instead of deleting them.
package persist
