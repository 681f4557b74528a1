package rdb

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// The manifest (FORMAT.md §5.1) lists the files of the store, as Redis
// 7.0's multi-part AOF manifest does: one line per file,
//
//	file <name> seq <n> type <b|i|s>
//
// The manifest is replaced atomically; a file it does not name is not
// part of the store (a rewrite's leftovers, deleted at start-up).

// ManifestFile is one line of the manifest.
type ManifestFile struct {
	Name string
	Seq  uint64
	Type byte // ManifestBase, ManifestIncr or ManifestSegment
}

// Manifest is the list of a store's files: the base, the incremental
// logs and the segments, each kind in seq order.
type Manifest struct {
	Files []ManifestFile
}

// Base returns the base file, if any.
func (m *Manifest) Base() (ManifestFile, bool) {
	for _, f := range m.Files {
		if f.Type == ManifestBase {
			return f, true
		}
	}
	return ManifestFile{}, false
}

// Of returns the files of one type, in the manifest's (seq) order.
func (m *Manifest) Of(t byte) []ManifestFile {
	var out []ManifestFile
	for _, f := range m.Files {
		if f.Type == t {
			out = append(out, f)
		}
	}
	return out
}

// Bytes encodes the manifest: base first, then incr files, then segments.
func (m *Manifest) Bytes() []byte {
	var b bytes.Buffer
	for _, t := range []byte{ManifestBase, ManifestIncr, ManifestSegment} {
		for _, f := range m.Of(t) {
			fmt.Fprintf(&b, "file %s seq %d type %c\n", f.Name, f.Seq, f.Type)
		}
	}
	return b.Bytes()
}

// ParseManifest decodes and checks a manifest: every line well formed,
// names safe to join to the store's directory, at most one base, no name
// twice, incr files and segments in increasing seq order. Lines starting
// with '#' and blank lines are ignored, as Redis does.
func ParseManifest(b []byte, file string) (*Manifest, error) {
	if len(b) > MaxManifest {
		return nil, fmt.Errorf("rdb: %s: %d bytes (limit %d): %w", file, len(b), MaxManifest, ErrCorrupt)
	}
	m := &Manifest{}
	names := map[string]bool{}
	last := map[byte]uint64{}
	seen := map[byte]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		fail := func(format string, args ...any) (*Manifest, error) {
			return nil, fmt.Errorf("rdb: %s line %d: %s: %w", file, i+1, fmt.Sprintf(format, args...), ErrCorrupt)
		}
		line = strings.TrimSuffix(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Split(line, " ")
		if len(fields)%2 != 0 {
			return fail("%d words, want key-value pairs", len(fields))
		}
		var f ManifestFile
		var hasName, hasSeq, hasType bool
		for j := 0; j < len(fields); j += 2 {
			k, v := fields[j], fields[j+1]
			switch k {
			case "file":
				if !safeName(v) {
					return fail("file name %q", v)
				}
				f.Name, hasName = v, true
			case "seq":
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil || n == 0 {
					return fail("seq %q", v)
				}
				f.Seq, hasSeq = n, true
			case "type":
				if len(v) != 1 || (v[0] != ManifestBase && v[0] != ManifestIncr && v[0] != ManifestSegment) {
					return fail("type %q", v)
				}
				f.Type, hasType = v[0], true
			default:
				return fail("unknown key %q", k)
			}
		}
		if !hasName || !hasSeq || !hasType {
			return fail("needs file, seq and type")
		}
		if names[f.Name] {
			return fail("file %q listed twice", f.Name)
		}
		names[f.Name] = true
		if f.Type == ManifestBase && seen[ManifestBase] {
			return fail("a second base")
		}
		if seen[f.Type] && f.Seq <= last[f.Type] {
			return fail("seq %d after %d", f.Seq, last[f.Type])
		}
		seen[f.Type], last[f.Type] = true, f.Seq
		m.Files = append(m.Files, f)
	}
	return m, nil
}

// safeName accepts a plain file name: no separators, spaces, quotes or
// control bytes, not starting with '.', at most 255 bytes.
func safeName(s string) bool {
	if s == "" || len(s) > 255 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '/' || c == '\\' || c == '"' || c == '\'' || c >= 0x7f {
			return false
		}
	}
	return true
}
