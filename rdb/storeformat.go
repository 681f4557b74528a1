package rdb

// Session store constants (FORMAT.md §5). As in format.go, numbers and
// names written to files are fixed forever: add, never renumber or reuse.

// Append-only log (aof.go): RESP records; session changes are RDW.*
// records whose last argument is a checksum.
const (
	// logSumLen is the length of the checksum argument that ends every
	// RDW.* record: xxhash64 as 16 lowercase hex digits.
	logSumLen = 16
	// MaxLogArgs bounds a record's argument count (Redis's own limit on a
	// multibulk is 1024*1024*1024; nothing reddwarf logs comes close).
	MaxLogArgs = 1 << 20
	// MaxLogArg bounds one argument, as proto-max-bulk-len's default.
	MaxLogArg = 512 << 20
)

// Session record names (the first argument of an RDW.* record).
const (
	OpModel  = "RDW.MODEL"  // arch, fingerprint, page kind, page tokens: the model the file's sessions belong to
	OpNew    = "RDW.NEW"    // key: the key becomes an empty session (replacing what was there)
	OpAppend = "RDW.APPEND" // key, ids: tokens appended (u32 each), creating the session if missing
	OpPages  = "RDW.PAGES"  // key, first, hashes: pages [first, first+k) are full and stored in a segment
	OpRNG    = "RDW.RNG"    // key, rng: the sampler state after the last change
	OpLogits = "RDW.LOGITS" // key, logits: the next-token logits (f32 each), or empty to forget them
	OpCkpt   = "RDW.CKPT"   // key, name, pos, blob: a checkpoint (replacing one of that name)
	OpTrunc  = "RDW.TRUNC"  // key, n: the session keeps its first n tokens (ROLLBACK)
	OpFork   = "RDW.FORK"   // src, dst: dst becomes a copy of session src (replacing what was there)
	OpResume = "RDW.RESUME" // key, pos: the architecture's resume point after pos tokens is stored (kind 17)
)

// Page segment file (segment.go).
const (
	SegmentMagic    = "RDWPAGES" // 8 bytes at offset 0
	SegmentVersion  = 1          // u16 after the magic
	SegmentHeader   = 32         // magic, version, flags, page tokens, seq, checksum
	PageRecordMagic = "PAGE"     // 4 bytes that open every page record
	PageHeader      = 64         // fixed part of a page record, before its tokens
)

// Page payload kinds (u8): what a page record's payload holds.
const (
	PageKVF16 = 1 // paged-attention K/V rows, IEEE half (infer.KVF16)
	PageKVF32 = 2 // paged-attention K/V rows, float32 (infer.KVF32)
	// 16..63: deepseek4's (infer.StorableArchState): the compressed and
	// indexer rows a full page of tokens added, and a resume point (the
	// ring, the frontiers and a partial page's rows) after its tokens.
	PageDeepSeek4First  = 16
	PageDeepSeek4Rows   = 16
	PageDeepSeek4Resume = 17
	PageDeepSeek4Last   = 63
)

// Limits every store reader enforces before allocating.
const (
	MaxPageTokens  = 1 << 12  // tokens in one page
	MaxPagePayload = 1 << 30  // bytes in one page's payload
	MaxManifest    = 16 << 20 // bytes in a manifest
)

// Manifest file types (the letter after "type").
const (
	ManifestBase    = 'b' // the base written by the last rewrite (exactly one)
	ManifestIncr    = 'i' // an incremental log, replayed after the base in seq order
	ManifestSegment = 's' // a page segment
)
