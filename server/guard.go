package server

import (
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// protoGuard wraps a client's socket and checks the RESP framing of every
// byte before redcon's parser sees it. redcon parses well-formed input fast
// but has no size limits; the guard enforces Redis's: multibulk counts up
// to 1024*1024 (10 before AUTH), bulk lengths up to proto-max-bulk-len
// (16 KiB before AUTH), header and inline lines up to 64 KiB, and the
// query-buffer limit for one command. It also drops `*0` and `*-1` headers,
// which Redis ignores.
//
// On a violation the bytes before it still pass, so the commands already
// complete are executed and answered first; the next Read writes Redis's
// "-ERR Protocol error: ..." and fails, and redcon closes the connection.
type protoGuard struct {
	net.Conn
	limits *guardLimits
	client *Client

	in     []byte // raw bytes read from the socket
	out    []byte // validated bytes; out[outPos:] not yet handed to redcon
	outPos int

	state     int
	multibulk int64 // bulk arguments left in this command
	bulk      int64 // bytes left in this bulk argument, CRLF included
	header    []byte
	cmdBytes  int64 // bytes of the command being received (query buffer limit)
	failed    error
	protoErr  string
}

// guardLimits are read by every connection's guard; the loop updates them
// on CONFIG SET.
type guardLimits struct {
	maxBulk  atomic.Int64
	queryBuf atomic.Int64
}

const (
	gsStart = iota
	gsInline
	gsMultibulkHeader
	gsBulkHeader
	gsBulkData
)

const (
	inlineMax       = 64 * 1024
	maxMultibulk    = 1024 * 1024
	unauthMultibulk = 10
	unauthBulk      = 16384
)

var (
	errGuardClosed      = errors.New("connection closed after a protocol error")
	errQueryBufExceeded = errors.New("query buffer limit exceeded")
)

func (g *protoGuard) Read(p []byte) (int, error) {
	for len(g.out) == g.outPos {
		if g.failed != nil {
			if g.protoErr != "" {
				g.Conn.SetWriteDeadline(time.Now().Add(time.Second))
				g.Conn.Write([]byte("-ERR Protocol error: " + g.protoErr + "\r\n"))
				g.protoErr = ""
			}
			return 0, g.failed
		}
		if g.in == nil {
			g.in = make([]byte, 16*1024)
		}
		n, err := g.Conn.Read(g.in)
		if n > 0 {
			g.scan(g.in[:n])
		}
		if err != nil && len(g.out) == g.outPos {
			return 0, err
		}
	}
	n := copy(p, g.out[g.outPos:])
	g.outPos += n
	if g.outPos == len(g.out) {
		g.out, g.outPos = g.out[:0], 0
	}
	return n, nil
}

func (g *protoGuard) fail(msg string) {
	g.protoErr = msg
	g.failed = errGuardClosed
}

// scan validates b and appends what may pass to g.out. It stops at the first
// violation, leaving g.failed set.
func (g *protoGuard) scan(b []byte) {
	authed := g.client == nil || g.client.authed.Load()
	for i := 0; i < len(b) && g.failed == nil; {
		switch g.state {
		case gsStart:
			g.header = g.header[:0]
			if b[i] == '*' {
				g.state = gsMultibulkHeader
				g.cmdBytes = 0
				i++
				continue
			}
			g.state = gsInline
			g.cmdBytes = 0
		case gsInline:
			// Inline commands are split here, with redis.conf's quoting rules
			// (SplitArgs, as Redis's sdssplitargs), and passed on as a
			// multibulk, so redcon only ever parses one syntax.
			j := i
			for j < len(b) && b[j] != '\n' {
				j++
			}
			g.header = append(g.header, b[i:j]...)
			g.cmdBytes += int64(j - i)
			i = j
			if j == len(b) {
				if g.cmdBytes > inlineMax {
					g.fail("too big inline request")
				}
				break
			}
			i++ // the newline
			g.state = gsStart
			line := g.header
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			args, err := SplitArgs(string(line))
			if err != nil {
				g.fail("unbalanced quotes in request")
				break
			}
			if len(args) == 0 {
				break // an empty line is ignored
			}
			g.out = append(g.out, '*')
			g.out = strconv.AppendInt(g.out, int64(len(args)), 10)
			g.out = append(g.out, '\r', '\n')
			for _, a := range args {
				g.out = append(g.out, '$')
				g.out = strconv.AppendInt(g.out, int64(len(a)), 10)
				g.out = append(g.out, '\r', '\n')
				g.out = append(g.out, a...)
				g.out = append(g.out, '\r', '\n')
			}
		case gsMultibulkHeader, gsBulkHeader:
			c := b[i]
			i++
			if g.state == gsBulkHeader && len(g.header) == 0 && c != '$' {
				g.fail("expected '$', got '" + string(c) + "'")
				break
			}
			if c != '\n' {
				if len(g.header) >= inlineMax {
					if g.state == gsMultibulkHeader {
						g.fail("too big mbulk count string")
					} else {
						g.fail("too big bulk count string")
					}
					break
				}
				g.header = append(g.header, c)
				continue
			}
			g.endHeader(authed)
		case gsBulkData:
			n := int64(len(b) - i)
			if n > g.bulk {
				n = g.bulk
			}
			g.out = append(g.out, b[i:i+int(n)]...)
			i += int(n)
			g.bulk -= n
			g.cmdBytes += n
			if g.cmdBytes > g.limits.queryBuf.Load() {
				g.failed = errQueryBufExceeded
				break
			}
			if g.bulk == 0 {
				g.multibulk--
				if g.multibulk == 0 {
					g.state = gsStart
				} else {
					g.state = gsBulkHeader
					g.header = g.header[:0]
				}
			}
		}
	}
}

// endHeader validates a complete *N or $N line (held in g.header without its
// '\n') and forwards it.
func (g *protoGuard) endHeader(authed bool) {
	h := g.header
	if g.state == gsMultibulkHeader {
		if len(h) == 0 || h[len(h)-1] != '\r' {
			g.fail("invalid multibulk length")
			return
		}
		count, err := strconv.ParseInt(string(h[:len(h)-1]), 10, 64)
		if err != nil || count > maxMultibulk {
			g.fail("invalid multibulk length")
			return
		}
		if count > unauthMultibulk && !authed {
			g.fail("unauthenticated multibulk length")
			return
		}
		if count <= 0 {
			g.state = gsStart // Redis ignores empty and negative multibulks
			return
		}
		g.out = append(g.out, '*')
		g.out = append(g.out, h...)
		g.out = append(g.out, '\n')
		g.multibulk = count
		g.state = gsBulkHeader
		g.header = g.header[:0]
		return
	}
	if h[len(h)-1] != '\r' {
		g.fail("invalid bulk length")
		return
	}
	size, err := strconv.ParseInt(string(h[1:len(h)-1]), 10, 64)
	if err != nil || size < 0 || size > g.limits.maxBulk.Load() {
		g.fail("invalid bulk length")
		return
	}
	if size > unauthBulk && !authed {
		g.fail("unauthenticated bulk length")
		return
	}
	g.out = append(g.out, h...)
	g.out = append(g.out, '\n')
	g.cmdBytes += int64(len(h) + 1)
	g.bulk = size + 2
	g.state = gsBulkData
}
