package rdb

// On-disk constants. Numbers written to files are fixed forever: never
// renumber or reuse one; add new ones at the end of their list. In-memory
// types (server.ObjType, infer.KVType) may change freely; the mapping to
// these numbers lives in the writers and readers.
//
// Bump a version only when an old reader could misread a new file. A new
// aux field, section kind or checkpoint flag does not need a bump: readers
// skip aux fields they don't know and refuse (with an error naming it) a
// section kind or flag they don't know.
//
// When adding a value type: a Type* below, the writer (snapshot.go
// writeRecord, dump.go Dump), the reader (snapshot.go readRecord,
// dump.go ParseDump), FORMAT.md, and the round-trip tests.

// DSV4 state payload (state.go).
const (
	StateMagic   = "DSV4"
	StateVersion = 1 // u16 after the magic

	// stateFixedHeader is the size of the fixed part of the header, up to
	// and including the architecture name's length (FORMAT.md §2).
	stateFixedHeader = 50
)

// State header flags (u16).
const (
	StateHasLogits = 1 << 0 // the next-token logits follow the tokens
)

// Section kinds (u16). An architecture defines which sections a state of
// it has; the reader hands every section to the architecture's decoder.
const (
	SectionKVKeys   = 1 // paged-attention K rows of one layer: tokens × width values, position-major
	SectionKVValues = 2 // paged-attention V rows of one layer: same shape as SectionKVKeys

	// 16..63 are deepseek4's (infer/deepseek4/persist.go): per layer, float32
	// (DTypeF32) unless said otherwise; n is the tokens the state describes,
	// r the layer's compression ratio (0, 4 or 128), W the head width, I the
	// indexer key width. Only the kinds a layer's ratio has are present.
	SectionDeepSeek4First      = 16
	SectionDeepSeek4Header     = 16 // layer 0, DTypeBytes: u32 n, u32 layers
	SectionDeepSeek4Ring       = 17 // Window × W: the raw sliding-window ring, slot p mod Window = position p
	SectionDeepSeek4Comp       = 18 // n/r × W compressed attention rows (r ≠ 0)
	SectionDeepSeek4Index      = 19 // n/4 × I lightning-indexer rows (r = 4)
	SectionDeepSeek4FrontKV    = 20 // attention compressor frontier: slots × width values of the open windows (r ≠ 0)
	SectionDeepSeek4FrontScore = 21 // its scores (gate + position bias; -1e30 = empty slot)
	SectionDeepSeek4IdxKV      = 22 // indexer compressor frontier values (r = 4)
	SectionDeepSeek4IdxScore   = 23 // its scores
	SectionDeepSeek4Last       = 63
)

// Section element types (u8).
const (
	DTypeBytes = 0 // opaque bytes, meaning defined by the section kind
	DTypeF16   = 1 // IEEE 754 binary16, little-endian
	DTypeF32   = 2 // IEEE 754 binary32, little-endian
)

// Checkpoint flags (u8): what restoring the checkpoint needs.
const (
	CheckpointHasLogits = 1 << 0 // next-token logits at Pos follow (vocab × f32)
	CheckpointHasExtra  = 1 << 1 // an architecture blob follows (the small mutable state at Pos)
)

// Snapshot file (snapshot.go).
const (
	SnapshotMagic   = "REDDWARF" // 8 bytes at offset 0
	SnapshotVersion = 1          // u16 after the magic
	FooterMagic     = "DSV4END!" // last 8 bytes of a snapshot
	footerSize      = 32         // index offset, index length, file xxhash64, magic
)

// Snapshot record opcodes (u8), the first byte of every record.
const (
	OpString  = 0x00 // a string key: db, expiry, key, raw bytes
	OpSession = 0x01 // a kvstate key: db, expiry, key, a DSV4 state payload
	OpHash    = 0x02 // a hash key: db, expiry, key, a collection payload (field, value pairs)
	OpList    = 0x03 // a list key: db, expiry, key, a collection payload (elements, head first)
	OpSet     = 0x04 // a set key: db, expiry, key, a collection payload (members)
	OpZSet    = 0x05 // a sorted set key: db, expiry, key, a collection payload (member, score pairs)
	OpStream  = 0x06 // a stream key: db, expiry, key, a stream payload (entries, consumer groups)
	OpAux     = 0xFA // an aux field: name, value (both strings)
	OpEnd     = 0xFF // end of records; the index follows
)

// Value types inside a DUMP payload and the index (u8): the same numbers
// as the record opcodes for keys.
const (
	TypeString  = OpString
	TypeSession = OpSession
	TypeHash    = OpHash
	TypeList    = OpList
	TypeSet     = OpSet
	TypeZSet    = OpZSet
	TypeStream  = OpStream
)

// DUMP payload (dump.go).
const (
	DumpVersion = 1 // u16 in the DUMP footer
)

// Aux field names the writer emits.
const (
	AuxVersion     = "reddwarf-ver"
	AuxCTime       = "ctime"
	AuxFingerprint = "model-fp"
	AuxArch        = "model-arch"
	AuxFunctions   = "functions" // the FUNCTION DUMP payload of the function libraries
)

// Limits every reader enforces before allocating (hostile input).
const (
	MaxKeyLen         = 512 << 20 // a key, as proto-max-bulk-len
	MaxArchName       = 64
	MaxSections       = 1 << 16
	MaxCheckpoints    = 1 << 16
	MaxCheckpointName = 64 << 10
	MaxVocab          = 1 << 24
	MaxLayers         = 1 << 12
	MaxCtx            = 1 << 28
	MaxAuxLen         = 1 << 20
	MaxDB             = 1 << 20
)
