// Package store is the session store's engine: the files under
// dir/appenddirname (rdb/FORMAT.md §5) and the rules for writing them.
// It knows files and records, not the keyspace: the persist package
// decides what to log and applies what Open replays.
//
// # Files
//
//   - the manifest lists every file of the store; it is replaced
//     atomically, and a file it does not name is not part of the store;
//   - page segments: append-only files of full KV pages, each page
//     written once (PutPage is a no-op for a page already stored) and
//     found through an in-memory index built at Open from the records'
//     headers alone;
//   - the base and the incremental logs: RESP records, Redis's for
//     Redis keys and rdb's RDW.* records for sessions (tokens, never
//     KV bytes).
//
// # Durability
//
// Append buffers records; Flush writes them (the loop calls it before
// replies leave, as Redis writes its AOF buffer in beforeSleep). With
// FsyncAlways, Flush fsyncs the segments written since the last fsync and
// then the log before it returns, so an acknowledged change is on disk.
// With FsyncEverySec a goroutine does the same once a second; with
// FsyncNo the kernel decides. Pages are fsynced before the log that
// refers to them; a page missing after a power loss is recomputed from
// the session's tokens, which are in the log.
//
// A write that fails (ENOSPC, EIO) is cut off the file again, the records
// stay buffered, LastWriteError reports it, and the next Flush tries
// again: nothing acknowledged is lost and the store recovers when space
// returns.
//
// # Crashes
//
// Open truncates a record cut by a crash at the end of the last log or
// the last segment, and logs it; damage anywhere else refuses to open
// with the file, the offset and the reason. Check reads everything.
//
// # Compaction
//
// BeginRewrite switches appends to a new incremental log and returns a
// writer for the new base; Commit installs it (manifest, then deleting
// the old base and logs) and Reclaim drops segments none of whose pages
// the caller still holds. Compact empties mostly-dead segments of their
// held pages (copied to the active segment) and drops them. The base
// writer and Compact's copies are rate-limited so they never take the
// disk from the loop's appends.
//
// # Disk budget
//
// With Options.DiskMax (session-disk-max), PutPage makes room before a
// page would take the store past it: pages Options.Held does not report
// (prefix-only pages) go first, the segments with the fewest held bytes
// first; when every stored page is held it refuses with ErrDiskFull and
// drops nothing.
package store
