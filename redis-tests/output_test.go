package redistests

import (
	"io"
	"strings"
	"testing"
	"time"
)

// Replies bigger than the socket takes at once wait in the server until
// the client reads them (reddwarf: queued for EPOLLOUT on Linux, a writer
// goroutine elsewhere). These tests send large pipelines without reading,
// then check that every byte arrives, in order, and that QUIT still closes
// the connection only after everything before it was sent.

// bigValue is 3 MB: a few of its replies fill any socket buffer.
var bigValue = strings.Repeat("v", 3_000_000)

func TestSlowReaderGetsEveryByteOfLargeReplies(t *testing.T) {
	c := client(t)
	want(t, c, "OK", "SET", "big", bigValue)
	r := dialRaw(t, shared.Addr())
	const n = 20
	r.send(strings.Repeat("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", n) + "PING\r\n")
	time.Sleep(500 * time.Millisecond) // the server has had to queue most of it
	r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < n; i++ {
		if h := r.line(); h != "$3000000" {
			t.Fatalf("reply %d: header %q", i, h)
		}
		body := make([]byte, len(bigValue)+2)
		if _, err := io.ReadFull(r.r, body); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if string(body[:len(bigValue)]) != bigValue || string(body[len(bigValue):]) != "\r\n" {
			t.Fatalf("reply %d: body differs", i)
		}
	}
	r.expect("+PONG")
}

func TestQuitAfterLargeRepliesSendsThemFirst(t *testing.T) {
	c := client(t)
	want(t, c, "OK", "SET", "big", bigValue)
	r := dialRaw(t, shared.Addr())
	r.send(strings.Repeat("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", 5) + "QUIT\r\n")
	time.Sleep(300 * time.Millisecond)
	r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < 5; i++ {
		if h := r.line(); h != "$3000000" {
			t.Fatalf("reply %d: header %q", i, h)
		}
		if _, err := io.CopyN(io.Discard, r.r, int64(len(bigValue)+2)); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
	r.expect("+OK")
	r.closed()
	// The server is fine afterwards and the connection is gone from it.
	want(t, c, "PONG", "PING")
}
