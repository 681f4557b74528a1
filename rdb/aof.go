package rdb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// The append-only log (FORMAT.md §5.3): RESP multibulk records, one per
// change, as Redis's AOF writes commands. Redis keys' changes are logged
// as the commands Redis would log; session changes are RDW.* records
// whose last argument is the xxhash64 of the record's bytes before it,
// so a damaged session record is found, not replayed.

// ErrTorn is wrapped when a log or segment ends inside a record: what a
// crash leaves at the tail of the file being written. Readers say where
// the torn record starts (the length to truncate the file to).
var ErrTorn = errors.New("rdb: torn record at the end of the file")

// AppendCommand appends args as one RESP multibulk record to dst.
func AppendCommand(dst []byte, args ...[]byte) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = appendBulk(dst, a)
	}
	return dst
}

func appendBulk(dst, a []byte) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(a)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, a...)
	return append(dst, '\r', '\n')
}

// AppendSessionRecord appends an RDW.* record: op, args, and the checksum
// argument (16 hex digits of the xxhash64 of the record's bytes before it).
func AppendSessionRecord(dst []byte, op string, args ...[]byte) []byte {
	start := len(dst)
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)+2), 10)
	dst = append(dst, '\r', '\n')
	dst = appendBulk(dst, []byte(op))
	for _, a := range args {
		dst = appendBulk(dst, a)
	}
	var sum [logSumLen]byte
	putHex64(sum[:], xxhash.Sum64(dst[start:]))
	return appendBulk(dst, sum[:])
}

func putHex64(dst []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		dst[i] = digits[v&15]
		v >>= 4
	}
}

func parseHex64(b []byte) (uint64, bool) {
	if len(b) != 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// LogRecord is one record of a log file.
type LogRecord struct {
	Offset int64    // where the record starts in its file
	Size   int64    // its bytes, checksum argument included
	Args   [][]byte // the command and its arguments; an RDW.* record's checksum argument is removed
}

// IsSession reports whether the record is an RDW.* session record.
func (r *LogRecord) IsSession() bool {
	return len(r.Args) > 0 && bytes.HasPrefix(r.Args[0], []byte("RDW."))
}

// LogReader reads the records of one log file in order. Args of a record
// are valid until the next call to Next.
type LogReader struct {
	r    *bufio.Reader
	name string
	off  int64
	raw  []byte
}

// NewLogReader reads records from r; name is the file's name, for errors.
func NewLogReader(r io.Reader, name string) *LogReader {
	return &LogReader{r: bufio.NewReaderSize(r, 1<<16), name: name}
}

// Offset is where the next record starts: after an error, the length of
// the file's valid prefix.
func (lr *LogReader) Offset() int64 { return lr.off }

// Next returns the next record; io.EOF at a clean end of the input; an
// error wrapping ErrTorn when the input ends inside a record (or only
// zero bytes remain, as a crash can leave after a file grew); an error
// wrapping ErrCorrupt, naming file, offset and reason, for anything else.
// Timestamp annotations (lines starting with '#', Redis 7.0's
// aof-timestamp-enabled) are skipped.
func (lr *LogReader) Next() (LogRecord, error) {
	for {
		c, err := lr.r.ReadByte()
		if err == io.EOF {
			return LogRecord{}, io.EOF
		}
		if err != nil {
			return LogRecord{}, lr.ioErr(err)
		}
		switch c {
		case '*':
			lr.r.UnreadByte()
			return lr.record()
		case '#':
			line, err := lr.r.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				return LogRecord{}, lr.corrupt(lr.off, "annotation line too long")
			}
			if err != nil {
				return LogRecord{}, lr.tornOr(err, "annotation line")
			}
			lr.off += 1 + int64(len(line))
		case 0:
			lr.r.UnreadByte()
			return LogRecord{}, lr.zeroTail()
		default:
			return LogRecord{}, lr.corrupt(lr.off, "record starts with byte %#02x, want '*'", c)
		}
	}
}

// record parses one multibulk starting at the reader's position.
func (lr *LogReader) record() (LogRecord, error) {
	start := lr.off
	lr.raw = lr.raw[:0]
	n, err := lr.number('*', "argument count")
	if err != nil {
		return LogRecord{}, err
	}
	if n < 1 || n > MaxLogArgs {
		return LogRecord{}, lr.corrupt(start, "argument count %d not in [1, %d]", n, MaxLogArgs)
	}
	// Arguments are read into raw, then sliced once raw stops growing.
	type span struct{ hdr, from, to int }
	spans := make([]span, 0, min(n, 64))
	for i := int64(0); i < n; i++ {
		hdr := len(lr.raw)
		size, err := lr.number('$', fmt.Sprintf("argument %d length", i))
		if err != nil {
			return LogRecord{}, err
		}
		if size < 0 || size > MaxLogArg {
			return LogRecord{}, lr.corrupt(start, "argument %d length %d not in [0, %d]", i, size, MaxLogArg)
		}
		from := len(lr.raw)
		if err := lr.readN(int(size) + 2); err != nil {
			return LogRecord{}, lr.tornOr(err, fmt.Sprintf("argument %d", i))
		}
		if !bytes.HasSuffix(lr.raw, []byte("\r\n")) {
			return LogRecord{}, lr.corrupt(start, "argument %d is not followed by CRLF", i)
		}
		spans = append(spans, span{hdr, from, from + int(size)})
	}
	rec := LogRecord{Offset: start, Size: int64(len(lr.raw)), Args: make([][]byte, len(spans))}
	for i, s := range spans {
		rec.Args[i] = lr.raw[s.from:s.to]
	}
	if !rec.IsSession() {
		lr.off = start + rec.Size
		return rec, nil
	}
	// Session record: verify and drop the checksum argument.
	last := spans[len(spans)-1]
	want, ok := parseHex64(rec.Args[len(rec.Args)-1])
	if len(spans) < 2 || !ok {
		return LogRecord{}, lr.badSum(start, "%s record has no checksum argument", rec.Args[0])
	}
	if got := xxhash.Sum64(lr.raw[:last.hdr]); got != want {
		return LogRecord{}, lr.badSum(start, "%s record checksum %016x, stored %016x", rec.Args[0], got, want)
	}
	rec.Args = rec.Args[:len(rec.Args)-1]
	lr.off = start + rec.Size
	return rec, nil
}

// number reads a prefix byte, a decimal number and CRLF into raw.
func (lr *LogReader) number(prefix byte, field string) (int64, error) {
	from := len(lr.raw)
	line, err := lr.r.ReadSlice('\n')
	lr.raw = append(lr.raw, line...)
	if err != nil {
		if err == bufio.ErrBufferFull {
			return 0, lr.corrupt(lr.off, "%s: line too long", field)
		}
		return 0, lr.tornOr(err, field)
	}
	line = lr.raw[from:]
	if len(line) < 4 || line[0] != prefix || line[len(line)-2] != '\r' || len(line) > 24 {
		return 0, lr.corrupt(lr.off, "%s: bad line %q", field, trimQuote(line))
	}
	// Digits only, no sign and no leading zero, as Redis's string2ll: so
	// an accepted record re-encodes to exactly its bytes.
	digits := line[1 : len(line)-2]
	if len(digits) > 1 && digits[0] == '0' {
		return 0, lr.corrupt(lr.off, "%s: %q has a leading zero", field, trimQuote(line))
	}
	v, err := decimal(digits, MaxLogArg)
	if err != nil {
		return 0, lr.corrupt(lr.off, "%s: %v", field, err)
	}
	return int64(v), nil
}

func trimQuote(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

// readN appends the next n bytes to raw, in steps, so a hostile length
// allocates only what the input really holds.
func (lr *LogReader) readN(n int) error {
	for n > 0 {
		step := min(n, 1<<20)
		at := len(lr.raw)
		lr.raw = append(lr.raw, make([]byte, step)...)
		if _, err := io.ReadFull(lr.r, lr.raw[at:]); err != nil {
			return err
		}
		n -= step
	}
	return nil
}

// badSum is a checksum failure: a torn record if nothing follows it (a
// crash between writing a record's start and its end can leave the
// right length of garbage only if the file was extended first, which the
// last record alone can see), damage otherwise.
func (lr *LogReader) badSum(start int64, format string, args ...any) error {
	if _, err := lr.r.Peek(1); err == io.EOF {
		return fmt.Errorf("rdb: %s at offset %d: %s: %w", lr.name, start, fmt.Sprintf(format, args...), ErrTorn)
	}
	return lr.corrupt(start, format, args...)
}

// zeroTail reports a tail of zero bytes as torn; zeros followed by
// anything else are damage.
func (lr *LogReader) zeroTail() error {
	at := lr.off
	var buf [4096]byte
	for {
		n, err := lr.r.Read(buf[:])
		for i, c := range buf[:n] {
			if c != 0 {
				return lr.corrupt(at, "zero bytes followed by data at offset %d", lr.off+int64(i))
			}
		}
		lr.off += int64(n)
		if err == io.EOF {
			lr.off = at
			return fmt.Errorf("rdb: %s at offset %d: zero-filled tail: %w", lr.name, at, ErrTorn)
		}
		if err != nil {
			return lr.ioErr(err)
		}
	}
}

func (lr *LogReader) tornOr(err error, field string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return lr.torn(field)
	}
	return lr.ioErr(err)
}

func (lr *LogReader) torn(field string) error {
	return fmt.Errorf("rdb: %s at offset %d: the file ends inside the record (%s): %w", lr.name, lr.off, field, ErrTorn)
}

func (lr *LogReader) corrupt(at int64, format string, args ...any) error {
	return fmt.Errorf("rdb: %s at offset %d: %s: %w", lr.name, at, fmt.Sprintf(format, args...), ErrCorrupt)
}

func (lr *LogReader) ioErr(err error) error {
	return fmt.Errorf("rdb: reading %s at offset %d: %w", lr.name, lr.off, err)
}
