package server

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/redcon"
)

// pipeConn is a net.Conn whose reads come from a fixed input delivered in
// chunks of chunk bytes, and whose writes are recorded.
type pipeConn struct {
	net.Conn
	in    []byte
	chunk int
	out   bytes.Buffer
}

func (p *pipeConn) Read(b []byte) (int, error) {
	if len(p.in) == 0 {
		return 0, io.EOF
	}
	n := min(len(b), p.chunk, len(p.in))
	copy(b, p.in[:n])
	p.in = p.in[n:]
	return n, nil
}
func (p *pipeConn) Write(b []byte) (int, error)      { return p.out.Write(b) }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }
func (p *pipeConn) Close() error                     { return nil }
func (p *pipeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (p *pipeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }

func newTestGuard(input string, chunk int) (*protoGuard, *pipeConn) {
	pc := &pipeConn{in: []byte(input), chunk: chunk}
	g := &protoGuard{Conn: pc, limits: &guardLimits{}}
	g.limits.maxBulk.Store(512 << 20)
	g.limits.queryBuf.Store(1 << 30)
	return g, pc
}

// readAll parses everything the guard passes with redcon's reader, the way
// the server does, and returns the commands and the final error.
func readAll(g *protoGuard) ([][]string, error) {
	rd := redcon.NewReader(g)
	var cmds [][]string
	for {
		cmd, err := rd.ReadCommand()
		if err != nil {
			return cmds, err
		}
		var args []string
		for _, a := range cmd.Args {
			args = append(args, string(a))
		}
		cmds = append(cmds, args)
	}
}

func TestGuardPassesValidInputInAnyChunking(t *testing.T) {
	input := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*0\r\n*-1\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"
	want := "[[SET k hello] [PING] [ECHO ]]"
	for chunk := 1; chunk <= len(input); chunk++ {
		g, _ := newTestGuard(input, chunk)
		cmds, err := readAll(g)
		if err != io.EOF {
			t.Fatalf("chunk %d: err %v", chunk, err)
		}
		if got := strings.TrimSpace(strings.ReplaceAll(fmtCmds(cmds), "\n", " ")); got != want {
			t.Fatalf("chunk %d: got %s want %s", chunk, got, want)
		}
	}
}

func fmtCmds(cmds [][]string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, c := range cmds {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString("[" + strings.Join(c, " ") + "]")
	}
	b.WriteString("]")
	return b.String()
}

func TestGuardProtocolErrors(t *testing.T) {
	cases := []struct{ in, err string }{
		{"*3000000000\r\n", "invalid multibulk length"},
		{"*abc\r\n", "invalid multibulk length"},
		{"*1\r\nfoo\r\n", "expected '$', got 'f'"},
		{"set \"a b\r\n", "unbalanced quotes in request"},
		{"*1\r\n$-10\r\n", "invalid bulk length"},
		{"*1\r\n$2000000000\r\n", "invalid bulk length"},
		{"*1\r\n$blabla\r\n", "invalid bulk length"},
		{strings.Repeat("x", 70000), "too big inline request"},
		{"*" + strings.Repeat("1", 70000), "too big mbulk count string"},
	}
	for _, c := range cases {
		g, pc := newTestGuard("PING\r\n"+c.in, 7)
		cmds, err := readAll(g)
		if err == nil || err == io.EOF {
			t.Fatalf("%q: want an error, got %v", c.in[:min(20, len(c.in))], err)
		}
		if len(cmds) != 1 || cmds[0][0] != "PING" {
			t.Fatalf("%q: the command before the error must pass, got %v", c.in[:min(20, len(c.in))], cmds)
		}
		want := "-ERR Protocol error: " + c.err + "\r\n"
		if pc.out.String() != want {
			t.Fatalf("%q: wrote %q want %q", c.in[:min(20, len(c.in))], pc.out.String(), want)
		}
	}
}

func TestGuardUnauthenticatedLimits(t *testing.T) {
	c := &Client{}
	g, pc := newTestGuard("*11\r\n", 100)
	g.client = c
	if _, err := readAll(g); err == nil || err == io.EOF {
		t.Fatal("want an error")
	}
	if !strings.Contains(pc.out.String(), "unauthenticated multibulk length") {
		t.Fatalf("got %q", pc.out.String())
	}
	c.authed.Store(true)
	g, pc = newTestGuard("*11\r\n", 100)
	g.client = c
	readAll(g)
	if pc.out.Len() != 0 {
		t.Fatalf("authenticated client refused: %q", pc.out.String())
	}
}

func TestGuardQueryBufferLimit(t *testing.T) {
	g, _ := newTestGuard("*1\r\n$100000\r\n"+strings.Repeat("a", 100000)+"\r\n", 4096)
	g.limits.queryBuf.Store(50000)
	_, err := readAll(g)
	if err != errQueryBufExceeded {
		t.Fatalf("got %v", err)
	}
}

// FuzzGuard feeds arbitrary bytes through the guard and redcon's parser:
// nothing may panic, and whatever the guard lets through must parse.
func FuzzGuard(f *testing.F) {
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"), 3)
	f.Add([]byte("PING\r\nset a \"b c\"\r\n"), 1)
	f.Add([]byte("*1\r\n$-1\r\n*0\r\n"), 2)
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		if chunk <= 0 {
			chunk = 1
		}
		g, _ := newTestGuard(string(in), chunk%64+1)
		g.limits.maxBulk.Store(1 << 16)
		g.limits.queryBuf.Store(1 << 20)
		readAll(g)
	})
}
