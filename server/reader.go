package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

// Reading requests.
//
// redcon accepts each connection and runs its goroutine; the first thing
// that goroutine parses is a one-argument command the listener injects
// (attachCommand), on which handle detaches the connection from redcon's
// parser. On Linux the loop takes the socket over from there (poller_linux.go):
// it reads each ready socket once per turn into the client's respReader
// (readFrom) and runs the complete commands at once. Elsewhere, or with
// REDDWARF_NETPOLL=goroutines, serveConn reads on the connection's goroutine
// (readBatch) and hands the loop whole pipelines. Either way the parser
// below reads RESP multibulk and inline commands straight from one buffer,
// enforces Redis's limits on the way, and copies every complete command of
// a read into one allocation.
//
// Limits, with Redis's errors: multibulk counts up to 1024*1024 (10 before
// AUTH), bulk lengths up to proto-max-bulk-len (16 KiB before AUTH), inline
// requests and header lines up to 64 KiB, and one command at most
// client-query-buffer-limit bytes. `*0` and `*-1` are ignored, as Redis
// does. On a violation, the commands before it still run; then the client
// gets "-ERR Protocol error: ..." and is closed.

// guardLimits are read by every connection's reader; the loop updates them
// on CONFIG SET.
type guardLimits struct {
	maxBulk  atomic.Int64
	queryBuf atomic.Int64
}

const (
	inlineMax       = 64 * 1024
	maxMultibulk    = 1024 * 1024
	unauthMultibulk = 10
	unauthBulk      = 16384
	readChunk       = 16 * 1024
)

var errQueryBufExceeded = errors.New("query buffer limit exceeded")

// protocolError is a framing violation; its text follows "Protocol error: ".
type protocolError string

func (e protocolError) Error() string { return "Protocol error: " + string(e) }

// respReader parses one connection's requests.
//
// Its buffer is the client's query buffer, sized as Redis sizes its own:
// reads ask for 16 KiB (or what the command being read still needs), and
// the cron (resizeQueryBuffer) frees the buffer of a client idle for more
// than 2 seconds and trims one much larger than its recent peak. So that
// the cron can do that while the reader waits for data, the socket is read
// through its RawConn: the reader holds mu (and touches buf) only while it
// reads and parses, never while it is parked in the poller.
type respReader struct {
	conn    net.Conn
	raw     syscall.RawConn // nil: plain conn.Read (tests)
	limits  *guardLimits
	counter *atomic.Int64 // bytes read, summed over connections (may be nil)
	client  *Client       // for the before-AUTH limits; nil = authenticated

	mu         sync.Mutex // guards buf, start, end, peak, need
	buf        []byte
	start, end int // unparsed bytes are buf[start:end]
	peak       int // most bytes a read needed room for since the cron's last look
	need       int // bytes the incomplete command at start needs (0: none known)

	// For CLIENT LIST (read by the loop): unparsed bytes and buffer size.
	qbufUsed, qbufSize atomic.Int64

	// State of readRaw between its calls by raw.Read.
	waited bool // mu was released to wait for readability
	nread  int
	rerr   error
	readFn func(fd uintptr) bool

	// Parsed spans of the current batch, as offsets into buf.
	spans  [][2]int
	counts []int    // arguments per command; negative = inline (args in inline)
	inline []string // arguments of inline commands

	// The argument lists and the batch slice of the last batch, which the
	// next takeBatch may fill again once the loop said (release) that
	// nothing refers to them any more: under redis-benchmark -P 1 they
	// were two thirds of the bytes allocated per request, each fresh page
	// of them a page fault. The arguments' bytes are never reused: a
	// handler may keep them.
	argsSpare  [][]byte
	batchSpare [][][]byte
	spareFree  bool
}

// release tells the reader that every batch it returned has run to its
// end and nothing holds their argument lists (loop goroutine, polled
// clients only: batches handed to the loop over a channel never qualify).
// The spare lists may be those of an earlier batch than the last: a batch
// taken while they were in use got lists of its own.
func (r *respReader) release() { r.spareFree = true }

func newRespReader(conn net.Conn, limits *guardLimits, c *Client) *respReader {
	r := &respReader{conn: conn, limits: limits, client: c}
	if c != nil {
		r.raw = c.raw
		c.reader.Store(r)
	}
	r.readFn = r.readRaw
	r.reserve(0)
	r.publish()
	return r
}

// readBatch blocks until at least one complete command arrived and returns
// every complete command buffered, as argument lists that the caller owns.
// With a non-nil error, the commands returned are those before the problem
// (a protocolError, or the connection's read error).
func (r *respReader) readBatch() ([][][]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		batch, err := r.parseReady()
		if batch != nil || err != nil {
			return batch, err
		}
		if err := r.fill(r.need); err != nil {
			return nil, err
		}
	}
}

// parseReady returns the complete commands buffered (nil: none), and a
// protocol error after them if there is one (mu held).
func (r *respReader) parseReady() ([][][]byte, error) {
	need, err := r.parse()
	r.need = need
	r.publish()
	return r.takeBatch(), err
}

// readFrom is the loop's read for a polled client (poller.go): one
// non-blocking read from the socket, then the complete commands buffered.
// A read error (io.EOF at the end) comes after the commands read before it.
func (r *respReader) readFrom(fd int) ([][][]byte, error, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reserve(r.need)
	n, rerr := readSocket(fd, r.buf[r.end:])
	r.end += n
	if r.counter != nil && n > 0 {
		r.counter.Add(int64(n))
	}
	batch, perr := r.parseReady()
	return batch, perr, rerr
}

// reserve makes room in buf for a read, keeping at least need unparsed
// bytes' worth of space (mu held). A freed buffer comes back at 16 KiB.
func (r *respReader) reserve(need int) {
	if r.start == r.end {
		r.start, r.end = 0, 0
	}
	want := max(need, r.end-r.start+readChunk)
	if r.start+want > len(r.buf) {
		if want > len(r.buf) {
			nb := make([]byte, max(want, 2*len(r.buf)))
			copy(nb, r.buf[r.start:r.end])
			r.buf = nb
		} else {
			copy(r.buf, r.buf[r.start:r.end])
		}
		r.end -= r.start
		r.start = 0
	}
	r.peak = max(r.peak, want)
}

// fill reads more bytes, making room for at least need unparsed bytes.
func (r *respReader) fill(need int) error {
	r.reserve(need)
	var n int
	var err error
	if r.raw != nil {
		r.nread, r.rerr = 0, nil
		if perr := r.raw.Read(r.readFn); perr != nil && r.rerr == nil {
			r.rerr = perr // closed or deadline: the poller's error
		}
		if r.waited {
			r.mu.Lock() // raw.Read gave up while we were parked
			r.waited = false
		}
		n, err = r.nread, r.rerr
	} else {
		n, err = r.conn.Read(r.buf[r.end:])
	}
	r.end += n
	if r.counter != nil {
		r.counter.Add(int64(n))
	}
	r.publish()
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.EOF
	}
	return err
}

// readRaw is raw.Read's callback: one non-blocking read into buf. When
// the socket has nothing, it releases mu before raw.Read parks (so the
// cron may resize the buffer meanwhile) and takes it back when woken.
func (r *respReader) readRaw(fd uintptr) bool {
	if r.waited {
		r.mu.Lock()
		r.waited = false
		r.reserve(r.need)
	}
	n, err := readSocket(int(fd), r.buf[r.end:])
	if n == 0 && err == nil {
		r.waited = true
		r.publish()
		r.mu.Unlock()
		return false
	}
	r.nread, r.rerr = n, err
	return true
}

// publish stores the buffer's figures for CLIENT LIST (mu held).
func (r *respReader) publish() {
	r.qbufUsed.Store(int64(r.end - r.start))
	r.qbufSize.Store(int64(len(r.buf)))
}

// Query buffer resizing thresholds, as Redis's: a buffer is only resized
// when it wastes more than resizeMinFree bytes; a busy one only when it is
// over resizeThreshold and twice its recent peak.
const (
	resizeMinFree   = 4 * 1024
	resizeThreshold = 32 * 1024
)

// resizeQueryBuffer is the cron's look at one client's buffer (loop
// goroutine): free it when the client has been idle for over 2 seconds,
// trim it when it is much bigger than what recent reads needed. It skips a
// reader that is busy parsing; the next look gets it.
func (r *respReader) resizeQueryBuffer(idle bool) {
	if r.mu.TryLock() {
		r.resize(idle)
		r.mu.Unlock()
	}
}

func (r *respReader) resize(idle bool) {
	used := r.end - r.start
	if len(r.buf)-used > resizeMinFree {
		size := -1
		switch {
		case idle:
			size = used
		case len(r.buf) > resizeThreshold && len(r.buf)/2 > r.peak:
			size = max(used, r.peak, r.need)
		}
		if size >= 0 {
			var nb []byte
			if size > 0 {
				nb = make([]byte, size)
				copy(nb, r.buf[r.start:r.end])
			}
			r.buf, r.start, r.end = nb, 0, used
		}
	}
	r.peak = max(used, r.need)
	r.publish()
}

// parse records complete commands from buf[start:end] into spans/counts and
// advances start past them. It returns how many unparsed bytes the next
// command needs at least (a hint for fill), or a protocol error.
func (r *respReader) parse() (int, error) {
	authed := r.client == nil || r.client.authed.Load()
	for r.start < r.end {
		b := r.buf[r.start:r.end]
		if b[0] != '*' {
			n, err := r.parseInline(b)
			if n == 0 || err != nil {
				return 0, err
			}
			r.start += n
			continue
		}
		n, need, err := r.parseMultibulk(b, authed)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			if int64(need) > r.limits.queryBuf.Load() {
				return 0, errQueryBufExceeded
			}
			return need, nil
		}
		r.start += n
	}
	return 0, nil
}

// parseInline parses one inline command at the start of b; it returns the
// bytes consumed (0 = incomplete).
func (r *respReader) parseInline(b []byte) (int, error) {
	nl := indexByte(b, '\n')
	if nl < 0 {
		if len(b) > inlineMax {
			return 0, protocolError("too big inline request")
		}
		return 0, nil
	}
	line := b[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	args, err := SplitArgs(string(line))
	if err != nil {
		return 0, protocolError("unbalanced quotes in request")
	}
	if len(args) > 0 {
		// Inline arguments are unescaped copies, not spans of buf: keep
		// them in the batch as extra data.
		r.counts = append(r.counts, -len(args))
		r.inline = append(r.inline, args...)
	}
	return nl + 1, nil
}

// parseMultibulk parses one *N command at the start of b: the bytes
// consumed (0 = incomplete, with need = bytes the command needs at least).
func (r *respReader) parseMultibulk(b []byte, authed bool) (consumed, need int, err error) {
	count, next, ok := digitsLine(b, 1)
	if !ok {
		line, after, err := headerLine(b, 0, "too big mbulk count string")
		if line == nil {
			return 0, len(b) + 1, err
		}
		n, ok := ParseInt(line[1:]) // string2ll: no "+", no leading zero
		if !ok {
			return 0, 0, protocolError("invalid multibulk length")
		}
		count, next = n, after
	}
	if count > maxMultibulk {
		return 0, 0, protocolError("invalid multibulk length")
	}
	if count > unauthMultibulk && !authed {
		return 0, 0, protocolError("unauthenticated multibulk length")
	}
	if count <= 0 {
		return next, 0, nil // ignored, as Redis does
	}
	mark := len(r.spans)
	pos := next
	for i := int64(0); i < count; i++ {
		if pos >= len(b) {
			r.spans = r.spans[:mark]
			return 0, pos + 1, nil
		}
		if b[pos] != '$' {
			r.spans = r.spans[:mark]
			return 0, 0, protocolError("expected '$', got '" + string(b[pos]) + "'")
		}
		size, after, ok := digitsLine(b, pos+1)
		if !ok {
			line, end, err := headerLine(b, pos, "too big bulk count string")
			if line == nil {
				r.spans = r.spans[:mark]
				return 0, len(b) + 1, err
			}
			n, ok := ParseInt(line[1:])
			if !ok {
				r.spans = r.spans[:mark]
				return 0, 0, protocolError("invalid bulk length")
			}
			size, after = n, end
		}
		if size < 0 || size > r.limits.maxBulk.Load() {
			r.spans = r.spans[:mark]
			return 0, 0, protocolError("invalid bulk length")
		}
		if size > unauthBulk && !authed {
			r.spans = r.spans[:mark]
			return 0, 0, protocolError("unauthenticated bulk length")
		}
		if int64(after)+size+2 > int64(len(b)) {
			r.spans = r.spans[:mark]
			return 0, after + int(size) + 2, nil
		}
		r.spans = append(r.spans, [2]int{r.start + after, r.start + after + int(size)})
		pos = after + int(size) + 2
	}
	r.counts = append(r.counts, int(count))
	return pos, 0, nil
}

// digitsLine is the fast path of a header line: up to 18 decimal digits
// from b[from] and the "\r" after them (the byte after the "\r" is
// skipped unseen, as Redis does). It returns the value and the offset past
// the line; ok is false for anything else (a sign, a leading zero, other
// bytes, an incomplete line), which headerLine and ParseInt then judge.
func digitsLine(b []byte, from int) (v int64, next int, ok bool) {
	if from+1 < len(b) && b[from] == '0' && b[from+1] != '\r' {
		return 0, 0, false // "04": string2ll refuses it, so ParseInt does
	}
	i := from
	for ; i < len(b) && i-from < 18; i++ {
		c := b[i]
		if c == '\r' {
			break
		}
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if i == from || i+1 >= len(b) || b[i] != '\r' {
		return 0, 0, false
	}
	return v, i + 2, true
}

// headerLine finds the "*N\r\n" or "$N\r\n" line starting at b[from]; it
// returns the line without CRLF and the offset after it, or a nil line when
// incomplete (an error when it grew past the inline limit without one).
func headerLine(b []byte, from int, tooBig string) ([]byte, int, error) {
	cr := indexByte(b[from:], '\r')
	if cr < 0 || from+cr+1 >= len(b) {
		if len(b)-from > inlineMax {
			return nil, 0, protocolError(tooBig)
		}
		return nil, 0, nil
	}
	return b[from : from+cr], from + cr + 2, nil
}

// takeBatch copies the parsed commands out of buf into one allocation and
// resets the parse state.
func (r *respReader) takeBatch() [][][]byte {
	if len(r.counts) == 0 {
		return nil
	}
	size, nargs := 0, 0
	for _, sp := range r.spans {
		size += sp[1] - sp[0]
	}
	for _, a := range r.inline {
		size += len(a)
	}
	for _, n := range r.counts {
		nargs += abs(n)
	}
	data := make([]byte, size)
	var args [][]byte
	var batch [][][]byte
	if r.spareFree && cap(r.argsSpare) >= nargs && cap(r.batchSpare) >= len(r.counts) {
		args, batch = r.argsSpare[:nargs], r.batchSpare[:len(r.counts)]
	} else {
		args, batch = make([][]byte, nargs), make([][][]byte, len(r.counts))
		if r.spareFree || r.argsSpare == nil {
			r.argsSpare, r.batchSpare = args, batch
		}
	}
	r.spareFree = false
	d, a, s, in := 0, 0, 0, 0
	for i, n := range r.counts {
		cmd := args[a : a+abs(n) : a+abs(n)]
		for j := range cmd {
			var src []byte
			if n > 0 {
				src = r.buf[r.spans[s][0]:r.spans[s][1]]
				s++
			} else {
				src = []byte(r.inline[in])
				in++
			}
			cmd[j] = data[d : d+len(src) : d+len(src)]
			copy(cmd[j], src)
			d += len(src)
		}
		a += abs(n)
		batch[i] = cmd
	}
	r.spans, r.counts, r.inline = r.spans[:0], r.counts[:0], r.inline[:0]
	return batch
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

// attachCommand is the command the listener injects at the start of every
// connection, so that redcon's first parse yields it and nothing of the
// client's, and handle can take the connection over (see serveConn).
const attachCommand = "\x00reddwarf-attach"

var attachBytes = []byte("*1\r\n$" + strconv.Itoa(len(attachCommand)) + "\r\n" + attachCommand + "\r\n")

// attachConn is an accepted connection whose first Read yields attachBytes.
type attachConn struct {
	net.Conn
	sent bool
}

func (a *attachConn) Read(p []byte) (int, error) {
	if !a.sent {
		a.sent = true
		return copy(p, attachBytes), nil
	}
	return a.Conn.Read(p)
}

// attachListener wraps accepted connections in attachConn.
type attachListener struct{ net.Listener }

func (l attachListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &attachConn{Conn: c}, nil
}
