package rdb

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// Session records (FORMAT.md §5.4): what changed in a session, never its
// KV bytes. Writers and the reader side by side; numbers that are counts
// or positions are decimal text (as Redis writes them), u64 identifiers
// 16 hex digits, arrays little-endian binary.

// SessionOp is one decoded RDW.* record. Which fields are set depends on
// Op; slices alias the record's bytes only where noted.
type SessionOp struct {
	Op  string
	Key []byte // every op but RDW.MODEL (RDW.FORK: the source); aliases the record

	Dst         []byte    // RDW.FORK: the destination; aliases the record
	Tokens      []int32   // RDW.APPEND
	First       int       // RDW.PAGES: index of the first page
	Hashes      []uint64  // RDW.PAGES: chain hashes of the pages
	RNG         uint64    // RDW.RNG
	Logits      []float32 // RDW.LOGITS (empty: forgotten)
	Name        []byte    // RDW.CKPT; aliases the record
	Pos         int       // RDW.CKPT: position; RDW.TRUNC: tokens kept; RDW.RESUME: its position
	Blob        []byte    // RDW.CKPT: the architecture's state at Pos (may be empty); aliases the record
	Arch        string    // RDW.MODEL
	Fingerprint uint64    // RDW.MODEL
	PageKind    uint8     // RDW.MODEL
	PageTokens  int       // RDW.MODEL
}

// ModelRecord appends the RDW.MODEL record that opens every base and incr
// file: sessions in the file belong to this model and page layout.
func ModelRecord(dst []byte, arch string, fingerprint uint64, pageKind uint8, pageTokens int) []byte {
	return AppendSessionRecord(dst, OpModel, []byte(arch), hex64(fingerprint), decText(int64(pageKind)), decText(int64(pageTokens)))
}

// NewRecord: key becomes an empty session.
func NewRecord(dst, key []byte) []byte { return AppendSessionRecord(dst, OpNew, key) }

// AppendTokensRecord: tokens were appended to key (GEN, PREFILL).
func AppendTokensRecord(dst, key []byte, tokens []int32) []byte {
	b := make([]byte, 4*len(tokens))
	for i, t := range tokens {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(t))
	}
	return AppendSessionRecord(dst, OpAppend, key, b)
}

// PagesRecord: key's pages [first, first+len(hashes)) are full and stored.
func PagesRecord(dst, key []byte, first int, hashes []uint64) []byte {
	b := make([]byte, 8*len(hashes))
	for i, h := range hashes {
		binary.LittleEndian.PutUint64(b[8*i:], h)
	}
	return AppendSessionRecord(dst, OpPages, key, decText(int64(first)), b)
}

// RNGRecord: key's sampler state.
func RNGRecord(dst, key []byte, rng uint64) []byte {
	return AppendSessionRecord(dst, OpRNG, key, hex64(rng))
}

// LogitsRecord: key's next-token logits (nil: forget them).
func LogitsRecord(dst, key []byte, logits []float32) []byte {
	b := make([]byte, 4*len(logits))
	for i, x := range logits {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return AppendSessionRecord(dst, OpLogits, key, b)
}

// CkptRecord: checkpoint name of key at pos, with the architecture's blob.
func CkptRecord(dst, key, name []byte, pos int, blob []byte) []byte {
	return AppendSessionRecord(dst, OpCkpt, key, name, decText(int64(pos)), blob)
}

// TruncRecord: key keeps its first n tokens.
func TruncRecord(dst, key []byte, n int) []byte {
	return AppendSessionRecord(dst, OpTrunc, key, decText(int64(n)))
}

// ResumeRecord: key's resume point after pos tokens is stored.
func ResumeRecord(dst, key []byte, pos int) []byte {
	return AppendSessionRecord(dst, OpResume, key, decText(int64(pos)))
}

// ForkRecord: dst becomes a copy of session src.
func ForkRecord(dst, src, to []byte) []byte { return AppendSessionRecord(dst, OpFork, src, to) }

func decText(v int64) []byte { return strconv.AppendInt(nil, v, 10) }

func hex64(v uint64) []byte {
	b := make([]byte, 16)
	putHex64(b, v)
	return b
}

// DecodeSessionOp decodes a verified RDW.* record (LogReader.Next checked
// its checksum). Errors wrap ErrCorrupt and name the record's offset.
func DecodeSessionOp(rec *LogRecord, file string) (SessionOp, error) {
	bad := func(format string, args ...any) (SessionOp, error) {
		name := ""
		if len(rec.Args) > 0 {
			name = string(rec.Args[0])
		}
		return SessionOp{}, fmt.Errorf("rdb: %s at offset %d: %s record: %s: %w", file, rec.Offset, name, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	a := rec.Args
	if len(a) == 0 {
		return bad("empty")
	}
	op := SessionOp{Op: string(a[0])}
	want := map[string]int{OpModel: 5, OpNew: 2, OpAppend: 3, OpPages: 4, OpRNG: 3, OpLogits: 3, OpCkpt: 5, OpTrunc: 3, OpFork: 3, OpResume: 3}[op.Op]
	if want == 0 {
		return bad("unknown session record")
	}
	if len(a) != want {
		return bad("%d arguments, want %d", len(a)-1, want-1)
	}
	if op.Op != OpModel {
		op.Key = a[1]
	}
	var ok bool
	switch op.Op {
	case OpModel:
		op.Arch = string(a[1])
		if len(op.Arch) == 0 || len(op.Arch) > MaxArchName {
			return bad("architecture name of %d bytes", len(op.Arch))
		}
		if op.Fingerprint, ok = parseHex64(a[2]); !ok {
			return bad("fingerprint %q is not 16 hex digits", trimQuote(a[2]))
		}
		k, err := decimal(a[3], 255)
		if err != nil {
			return bad("page kind: %v", err)
		}
		op.PageKind = uint8(k)
		if op.PageTokens, err = decimal(a[4], MaxPageTokens); err != nil || op.PageTokens == 0 {
			return bad("page tokens %q not in [1, %d]", trimQuote(a[4]), MaxPageTokens)
		}
	case OpAppend:
		if len(a[2])%4 != 0 || len(a[2]) == 0 {
			return bad("%d bytes of token ids, want a positive multiple of 4", len(a[2]))
		}
		op.Tokens = make([]int32, len(a[2])/4)
		for i := range op.Tokens {
			op.Tokens[i] = int32(binary.LittleEndian.Uint32(a[2][4*i:]))
		}
	case OpPages:
		var err error
		if op.First, err = decimal(a[2], MaxCtx); err != nil {
			return bad("first page: %v", err)
		}
		if len(a[3])%8 != 0 || len(a[3]) == 0 {
			return bad("%d bytes of page hashes, want a positive multiple of 8", len(a[3]))
		}
		op.Hashes = make([]uint64, len(a[3])/8)
		for i := range op.Hashes {
			op.Hashes[i] = binary.LittleEndian.Uint64(a[3][8*i:])
		}
	case OpRNG:
		if op.RNG, ok = parseHex64(a[2]); !ok {
			return bad("rng %q is not 16 hex digits", trimQuote(a[2]))
		}
	case OpLogits:
		if len(a[2])%4 != 0 || len(a[2])/4 > MaxVocab {
			return bad("%d bytes of logits, want a multiple of 4 up to %d values", len(a[2]), MaxVocab)
		}
		op.Logits = make([]float32, len(a[2])/4)
		for i := range op.Logits {
			op.Logits[i] = math.Float32frombits(binary.LittleEndian.Uint32(a[2][4*i:]))
		}
	case OpCkpt:
		op.Name = a[2]
		if len(op.Name) > MaxCheckpointName {
			return bad("checkpoint name of %d bytes (limit %d)", len(op.Name), MaxCheckpointName)
		}
		var err error
		if op.Pos, err = decimal(a[3], MaxCtx); err != nil {
			return bad("position: %v", err)
		}
		op.Blob = a[4]
	case OpTrunc, OpResume:
		var err error
		if op.Pos, err = decimal(a[2], MaxCtx); err != nil {
			return bad("length: %v", err)
		}
	case OpFork:
		op.Dst = a[2]
	}
	return op, nil
}

// decimal parses a non-negative decimal number up to max, digits only.
func decimal(b []byte, max int) (int, error) {
	if len(b) == 0 || len(b) > 10 {
		return 0, fmt.Errorf("%q is not a number in [0, %d]", trimQuote(b), max)
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number in [0, %d]", trimQuote(b), max)
		}
		v = v*10 + int(c-'0')
	}
	if v > max {
		return 0, fmt.Errorf("%d exceeds %d", v, max)
	}
	return v, nil
}
