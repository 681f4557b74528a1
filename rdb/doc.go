// Package rdb holds reddwarf's on-disk formats: the DSV4 state payload
// (one session), the snapshot file (the whole keyspace) and the DUMP
// payload. FORMAT.md documents every byte; format.go holds the constants,
// whose numbers never change.
//
// # Types
//
//   - State (state.go): a session as the payload holds it, independent of
//     the architecture: header fields, tokens, logits, the sections the
//     architecture defines (Section) and the checkpoint table. WriteState
//     streams one (sections may write themselves, from a copy-on-write
//     view, on another goroutine); DecodeState verifies and parses one.
//   - SnapshotWriter / Snapshot (snapshot.go): a streaming writer (temp
//     file, O_DIRECT blocks, atomic rename) and a reader that opens with the
//     footer and the index and reads each key's record on demand, which is
//     what makes lazy session loading possible.
//   - DumpString, DumpState, ParseDump (dump.go): DUMP/RESTORE payloads.
//   - ReadFileIn, WriteFileAtomicIn (safepath.go): SAVE key file / LOAD key
//     file, confined to dir by the kernel at open time (openat2
//     RESOLVE_BENEATH, or O_NOFOLLOW component by component).
//   - The session store's files (FORMAT.md §5): log records (aof.go: RESP
//     records, LogReader with torn-tail detection; sessionlog.go: the
//     checksummed RDW.* session records), page segments (segment.go:
//     PageRecord, ScanSegment) and the manifest (manifest.go). The engine
//     that writes them is persist/store.
//
// # Rules
//
// Writers and readers sit side by side (enc and dec in enc.go). Every
// reader treats its input as hostile: lengths are checked against what
// remains before allocating, checksums are verified before parsing, and
// errors wrap ErrCorrupt (or ErrIncompatible) with the offset and field.
// Nothing is applied from a partly read input.
//
// This package knows bytes, not the server: the persist package decides
// what goes into a snapshot and when, session/dsv4.go turns sessions into
// States and back.
package rdb
