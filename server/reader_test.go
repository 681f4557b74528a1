package server

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chunkConn is a net.Conn whose reads come from a fixed input delivered in
// chunks of chunk bytes.
type chunkConn struct {
	net.Conn
	in    []byte
	chunk int
}

func (p *chunkConn) Read(b []byte) (int, error) {
	if len(p.in) == 0 {
		return 0, io.EOF
	}
	n := min(len(b), p.chunk, len(p.in))
	copy(b, p.in[:n])
	p.in = p.in[n:]
	return n, nil
}

func newTestReader(input string, chunk int) *respReader {
	l := &guardLimits{}
	l.maxBulk.Store(512 << 20)
	l.queryBuf.Store(1 << 30)
	return newRespReader(&chunkConn{in: []byte(input), chunk: chunk}, l, nil)
}

// readAll returns every command the reader yields and the final error.
func readAll(r *respReader) (string, error) {
	var cmds []string
	for {
		batch, err := r.readBatch()
		for _, c := range batch {
			var args []string
			for _, a := range c {
				args = append(args, string(a))
			}
			cmds = append(cmds, "["+strings.Join(args, " ")+"]")
		}
		if err != nil {
			return strings.Join(cmds, " "), err
		}
	}
}

func TestReaderParsesAnyChunking(t *testing.T) {
	input := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*0\r\n*-1\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n" +
		"set \"a b\" '\\x41' \"\\x41\"\r\n\r\n"
	want := "[SET k hello] [PING] [ECHO ] [set a b \\x41 A]"
	for chunk := 1; chunk <= len(input); chunk++ {
		got, err := readAll(newTestReader(input, chunk))
		if err != io.EOF || got != want {
			t.Fatalf("chunk %d: got %s (%v), want %s", chunk, got, err, want)
		}
	}
}

func TestReaderProtocolErrors(t *testing.T) {
	cases := []struct{ in, err string }{
		{"*3000000000\r\n", "invalid multibulk length"},
		{"*abc\r\n", "invalid multibulk length"},
		{"*1\r\nfoo\r\n", "expected '$', got 'f'"},
		{"set \"a b\r\n", "unbalanced quotes in request"},
		{"*1\r\n$-10\r\n", "invalid bulk length"},
		{"*1\r\n$2000000000\r\n", "invalid bulk length"},
		{"*1\r\n$blabla\r\n", "invalid bulk length"},
		// Lengths are read as Redis's string2ll reads them: no sign, no
		// leading zero, no "-0".
		{"*1\r\n$+4\r\nPING\r\n", "invalid bulk length"},
		{"*1\r\n$04\r\nPING\r\n", "invalid bulk length"},
		{"*1\r\n$-0\r\n", "invalid bulk length"},
		{"*+1\r\n$4\r\nPING\r\n", "invalid multibulk length"},
		{"*01\r\n$4\r\nPING\r\n", "invalid multibulk length"},
		{"*00\r\n", "invalid multibulk length"},
		{"*-0\r\n", "invalid multibulk length"},
		{strings.Repeat("x", 70000), "too big inline request"},
		{"*" + strings.Repeat("1", 70000), "too big mbulk count string"},
		{"*1\r\n$" + strings.Repeat("1", 70000), "too big bulk count string"},
	}
	for _, c := range cases {
		name := c.in[:min(20, len(c.in))]
		got, err := readAll(newTestReader("PING\r\n"+c.in, 7))
		var pe protocolError
		if !errors.As(err, &pe) || string(pe) != c.err {
			t.Fatalf("%q: error %v, want %q", name, err, c.err)
		}
		if got != "[PING]" {
			t.Fatalf("%q: the command before the error must pass, got %s", name, got)
		}
	}
}

func TestReaderUnauthenticatedLimits(t *testing.T) {
	c := &Client{}
	r := newTestReader("*11\r\n", 100)
	r.client = c
	if _, err := readAll(r); err == nil || !strings.Contains(err.Error(), "unauthenticated multibulk length") {
		t.Fatalf("got %v", err)
	}
	r = newTestReader("*1\r\n$20000\r\n", 100)
	r.client = c
	if _, err := readAll(r); err == nil || !strings.Contains(err.Error(), "unauthenticated bulk length") {
		t.Fatalf("got %v", err)
	}
	c.authed.Store(true)
	r = newTestReader("*11\r\n", 100)
	r.client = c
	if _, err := readAll(r); err != io.EOF {
		t.Fatalf("authenticated client refused: %v", err)
	}
}

func TestReaderQueryBufferLimit(t *testing.T) {
	r := newTestReader("*1\r\n$100000\r\n"+strings.Repeat("a", 100000)+"\r\n", 4096)
	r.limits.queryBuf.Store(50000)
	if _, err := readAll(r); err != errQueryBufExceeded {
		t.Fatalf("got %v", err)
	}
}

// FuzzReader feeds arbitrary bytes in arbitrary chunks: nothing may panic,
// and the commands parsed must not depend on how the input was split.
func FuzzReader(f *testing.F) {
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"), 3)
	f.Add([]byte("PING\r\nset a \"b c\"\r\n"), 1)
	f.Add([]byte("*1\r\n$-1\r\n*0\r\n"), 2)
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		if chunk <= 0 {
			chunk = -chunk
		}
		r1 := newTestReader(string(in), chunk%64+1)
		r1.limits.maxBulk.Store(1 << 16)
		got1, err1 := readAll(r1)
		r2 := newTestReader(string(in), len(in)+1)
		r2.limits.maxBulk.Store(1 << 16)
		got2, err2 := readAll(r2)
		if got1 != got2 || (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("chunking changed the result: %q %v vs %q %v", got1, err1, got2, err2)
		}
	})
}

// TestQueryBufferResize follows one connection's query buffer through the
// cron's two rules over a real socket: trimmed once it is over 32 KiB and
// twice what recent reads needed, freed while the client idles (with the
// reader parked in the poller), and back at 16 KiB for the next command.
func TestQueryBufferResize(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	c := &Client{}
	c.authed.Store(true)
	c.raw, _ = sc.(*net.TCPConn).SyscallConn()
	l := &guardLimits{}
	l.maxBulk.Store(512 << 20)
	l.queryBuf.Store(1 << 30)
	r := newRespReader(sc, l, c)
	if c.reader.Load() != r || r.qbufSize.Load() != readChunk {
		t.Fatalf("new reader: size %d, want %d", r.qbufSize.Load(), readChunk)
	}

	batches := make(chan string)
	go func() {
		for {
			batch, err := r.readBatch()
			if err != nil {
				close(batches)
				return
			}
			for _, cmd := range batch {
				batches <- string(cmd[0]) + ":" + strconv.Itoa(len(cmd[len(cmd)-1]))
			}
		}
	}()
	resize := func(idle bool) { // waits for the reader to park, unlike the cron
		r.mu.Lock()
		r.resize(idle)
		r.mu.Unlock()
	}
	send := func(args ...string) string {
		t.Helper()
		var b strings.Builder
		b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
		for _, a := range args {
			b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
		}
		if _, err := client.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		return <-batches
	}

	if got := send("SET", "x", strings.Repeat("A", 400000)); got != "SET:400000" {
		t.Fatalf("big command read as %q", got)
	}
	big := r.qbufSize.Load()
	if big < 400000 {
		t.Fatalf("buffer after a 400 KB command: %d bytes", big)
	}
	resize(false) // the peak still covers the big read
	if r.qbufSize.Load() != big {
		t.Fatalf("trimmed below the recent peak: %d -> %d", big, r.qbufSize.Load())
	}
	send("SET", "x", "small")
	resize(false)
	if got := r.qbufSize.Load(); got != readChunk {
		t.Fatalf("after small reads the buffer is %d bytes, want %d", got, readChunk)
	}
	resize(true) // idle: the reader is parked with an empty buffer
	if got := r.qbufSize.Load(); got != 0 {
		t.Fatalf("idle buffer kept %d bytes", got)
	}
	if got := send("GET", "x"); got != "GET:1" {
		t.Fatalf("after the free, read %q", got)
	}
	if got := r.qbufSize.Load(); got != readChunk {
		t.Fatalf("buffer after the free and a read: %d bytes", got)
	}
	client.Close()
	if _, ok := <-batches; ok {
		t.Fatal("reader did not end at EOF")
	}
}

// TestDigitsLineMatchesParseInt checks the header fast path against the
// slow one it stands in for: wherever it answers, ParseInt (string2ll) of
// the same line agrees; it declines signs, leading zeros, junk, empty and
// over-long numbers.
func TestDigitsLineMatchesParseInt(t *testing.T) {
	cases := []string{"0\r\n", "7\r\n", "007\r\n", "123456789012345678\r\n", "1234567890123456789\r\n",
		"99999999999999999999\r\n", "-1\r\n", "+5\r\n", "\r\n", "12", "12\r", "1 2\r\n", "5\rX", "abc\r\n"}
	for _, c := range cases {
		v, next, ok := digitsLine([]byte(c), 0)
		cr := strings.IndexByte(c, '\r')
		if !ok {
			plain := cr > 0 && cr < 18 && cr+1 < len(c) && strings.Trim(c[:cr], "0123456789") == ""
			if plain && (c[0] != '0' || cr == 1) {
				t.Errorf("%q: declined a plain number", c)
			}
			continue
		}
		want, wok := ParseInt([]byte(c[:cr]))
		if !wok || v != want || next != cr+2 {
			t.Errorf("%q: got %d next %d, ParseInt %d (%v) next %d", c, v, next, want, wok, cr+2)
		}
	}
}

// TestLoopClockWallTime checks the derived wall clock never runs behind
// time.Now's milliseconds (GETEX PXAT and PTTL compare it with the
// client's clock) and stays within a few ms ahead of it, at offsets from
// the anchor that cross millisecond boundaries.
func TestLoopClockWallTime(t *testing.T) {
	var k loopClock
	for a := 0; a < 5; a++ {
		k.anchor()
		for i := 0; i < 40; i++ {
			time.Sleep(time.Duration(97+i*13) * time.Microsecond)
			before := time.Now().UnixMilli()
			got := k.wallMS(k.now())
			after := time.Now().UnixMilli()
			if got < before || got > after+2 {
				t.Fatalf("anchor %d, step %d: wallMS %d outside [%d, %d]", a, i, got, before, after+2)
			}
		}
	}
}

// A batch's argument lists are refilled by a later batch only once the
// loop released them: one still running (or parked) keeps its own.
func TestReaderRefillsArgumentListsOnlyWhenReleased(t *testing.T) {
	r := newTestReader("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n*2\r\n$3\r\nGET\r\n$1\r\nc\r\n", 22)
	first, err := r.readBatch()
	if err != nil || len(first) != 1 {
		t.Fatalf("first batch %q, %v", first, err)
	}
	second, err := r.readBatch() // first not released
	if err != nil || len(second) != 1 {
		t.Fatalf("second batch %q, %v", second, err)
	}
	if string(first[0][1]) != "a" || string(second[0][1]) != "b" {
		t.Fatalf("an unreleased batch was overwritten: %q then %q", first, second)
	}
	r.release()
	third, err := r.readBatch()
	if err != nil || len(third) != 1 || string(third[0][1]) != "c" {
		t.Fatalf("third batch %q, %v", third, err)
	}
	if &third[0][0] != &first[0][0] {
		t.Errorf("the released lists were not refilled")
	}
	if string(second[0][1]) != "b" {
		t.Errorf("the second batch, never released, changed: %q", second)
	}
}
