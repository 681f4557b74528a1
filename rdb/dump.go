package rdb

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// DUMP payload (FORMAT.md §4), like Redis's: the value, then a footer of
// the format version and a checksum, so RESTORE can refuse a payload from
// another version or one damaged on the way.
//
//	+------+-----------------+-------------+------------------+
//	| type | value ...       | version u16 | xxhash64 u64     |
//	+------+-----------------+-------------+------------------+
//	  u8     string bytes or   DumpVersion   of every byte
//	         a DSV4 payload                  before it

// dumpFooter is version + checksum.
const dumpFooter = 2 + 8

// DumpString makes the DUMP payload of a string.
func DumpString(val []byte) []byte {
	b := make([]byte, 0, 1+len(val)+dumpFooter)
	b = append(b, TypeString)
	b = append(b, val...)
	return sealDump(b)
}

// DumpCollection makes the DUMP payload of a collection of type typ from
// its collection payload p.
func DumpCollection(typ uint8, p []byte) []byte {
	b := make([]byte, 0, 1+len(p)+dumpFooter)
	b = append(b, typ)
	b = append(b, p...)
	return sealDump(b)
}

// DumpState makes the DUMP payload of a session.
func DumpState(st *State) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(1 + StateSize(st) + dumpFooter))
	buf.WriteByte(TypeSession)
	if _, err := WriteState(&buf, st); err != nil {
		return nil, err
	}
	return sealDump(buf.Bytes()), nil
}

func sealDump(b []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, DumpVersion)
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
}

// ErrDumpPayload is returned for a payload whose footer (version or
// checksum) is wrong; RESTORE replies Redis's text for it.
var ErrDumpPayload = fmt.Errorf("rdb: DUMP payload version or checksum are wrong: %w", ErrCorrupt)

// ParseDump verifies a DUMP payload's footer and returns its type and
// value bytes (a subslice of p). A session value still needs DecodeState.
func ParseDump(p []byte) (typ uint8, value []byte, err error) {
	if len(p) < 1+dumpFooter {
		return 0, nil, ErrDumpPayload
	}
	body := p[:len(p)-8]
	if xxhash.Sum64(body) != binary.LittleEndian.Uint64(p[len(p)-8:]) {
		return 0, nil, ErrDumpPayload
	}
	if binary.LittleEndian.Uint16(p[len(p)-dumpFooter:]) != DumpVersion {
		return 0, nil, ErrDumpPayload
	}
	typ = p[0]
	if typ != TypeString && typ != TypeSession && !IsCollection(typ) {
		return 0, nil, fmt.Errorf("rdb: DUMP payload of unknown type %d: %w", typ, ErrCorrupt)
	}
	return typ, p[1 : len(p)-dumpFooter], nil
}

// DumpStatePayload makes the DUMP payload of a session from its state
// already encoded (WriteState's bytes, as a snapshot stores them).
func DumpStatePayload(raw []byte) []byte {
	b := make([]byte, 0, 1+len(raw)+dumpFooter)
	b = append(b, TypeSession)
	return sealDump(append(b, raw...))
}
