package redistests

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// target is "redis" (a real redis-server) or "reddwarf" (our binary, built
// by TestMain from the repository root).
var target = "reddwarf"

// serverBinary is the built reddwarf executable (empty for target redis).
var serverBinary string

// shared is the server most tests talk to; tests start from FLUSHALL.
var shared *Server

// Server is one running server process on 127.0.0.1.
type Server struct {
	Port int
	Dir  string
	cmd  *exec.Cmd
	log  string
}

// Addr is host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if t := os.Getenv("REDDWARF_TARGET"); t != "" {
		target = t
	}
	tmp, err := os.MkdirTemp("", "redis-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	switch target {
	case "redis":
		if _, err := exec.LookPath("redis-server"); err != nil {
			fmt.Fprintln(os.Stderr, "REDDWARF_TARGET=redis needs redis-server in PATH")
			return 1
		}
	case "reddwarf":
		serverBinary = filepath.Join(tmp, "reddwarf")
		// REDDWARF_BUILD_FLAGS="-race" runs every test against a race-detector build.
		args := append([]string{"build"}, strings.Fields(os.Getenv("REDDWARF_BUILD_FLAGS"))...)
		build := exec.Command("go", append(args, "-o", serverBinary, "..")...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building reddwarf:", err)
			return 1
		}
	default:
		fmt.Fprintf(os.Stderr, "REDDWARF_TARGET=%q: want redis or reddwarf\n", target)
		return 1
	}
	shared, err = start(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	shared.stop()
	for _, r := range racyLogs {
		fmt.Fprintln(os.Stderr, "data race reported in", r.log+":")
		os.Stderr.Write(r.report)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "target %s, server log %s:\n", target, shared.log)
		if b, err := os.ReadFile(shared.log); err == nil {
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			os.Stderr.Write(b)
		}
	}
	return code
}

var trackOnce sync.Once

// trackInputs tells go test's result cache what the results depend on: the
// target and every file of the repository (the server is built from them).
// TestMain runs before the cache starts listening, so tests call this.
func trackInputs() {
	trackOnce.Do(func() {
		os.Getenv("REDDWARF_TARGET")
		os.Getenv("REDDWARF_BUILD_FLAGS")
		os.Getenv("PATH")
		if p, err := exec.LookPath("redis-server"); err == nil {
			os.Stat(p)
		}
		filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				switch d.Name() {
				case ".git", "node_modules", ".tmpchk":
					return filepath.SkipDir
				}
				return nil
			}
			os.Stat(path)
			return nil
		})
	})
}

// freePort asks the kernel for a port that is free right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the target server in a new directory under parent with the
// extra redis.conf directives given as "--name value" arguments, and waits
// until it answers PING (or NOAUTH, when a password is set).
func start(parent string, directives ...string) (*Server, error) {
	dir, err := os.MkdirTemp(parent, "srv-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var args []string
	var prog string
	switch target {
	case "redis":
		prog = "redis-server"
		args = []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", dir}
	default:
		prog = serverBinary
		args = []string{"--port", fmt.Sprint(port), "--dir", dir, "--save", ""}
	}
	args = append(args, directives...)
	s := &Server{Port: port, Dir: dir, log: filepath.Join(dir, "server.log")}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(prog, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	logf.Close()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s.ping() {
			return s, nil
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	b, _ := os.ReadFile(s.log)
	return nil, fmt.Errorf("%s %s did not answer PING on port %d:\n%s", prog, strings.Join(args, " "), port, b)
}

func (s *Server) ping() bool {
	c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

func (s *Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	// A race-detector build reports to the server's log, not to a test:
	// the run fails at the end if any server logged a race.
	// The report is kept now: a test's log is in its TempDir, which is
	// gone by the time the run ends.
	if b, err := os.ReadFile(s.log); err == nil {
		if i := bytes.Index(b, []byte("WARNING: DATA RACE")); i >= 0 {
			racesMu.Lock()
			racyLogs = append(racyLogs, raceReport{s.log, b[i:min(len(b), i+6000)]})
			racesMu.Unlock()
		}
	}
}

var (
	racesMu  sync.Mutex
	racyLogs []raceReport // servers that logged a data race (REDDWARF_BUILD_FLAGS=-race)
)

// raceReport is a server log's path and the start of its first data race.
type raceReport struct {
	log    string
	report []byte
}

// startServer starts a server of its own for one test, with extra
// directives, stopped when the test ends.
func startServer(t *testing.T, directives ...string) *Server {
	t.Helper()
	trackInputs()
	s, err := start(t.TempDir(), directives...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// options are go-redis options for addr: no retries (a retried command would
// hide a dropped connection), no CLIENT SETINFO (Redis 7.2+), RESP protocol p.
func options(addr string, protocol int) *redis.Options {
	return &redis.Options{
		Addr:            addr,
		Protocol:        protocol,
		MaxRetries:      -1,
		DisableIdentity: true,
		PoolSize:        4,
		ReadTimeout:     10 * time.Second,
	}
}

// client returns a RESP2 go-redis client on the shared server, after
// FLUSHALL, closed when the test ends.
func client(t *testing.T) *redis.Client { t.Helper(); return clientProto(t, 2) }

// client3 is client speaking RESP3.
func client3(t *testing.T) *redis.Client { t.Helper(); return clientProto(t, 3) }

func clientProto(t *testing.T, protocol int) *redis.Client {
	t.Helper()
	trackInputs()
	c := redis.NewClient(options(shared.Addr(), protocol))
	t.Cleanup(func() { c.Close() })
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
	return c
}

// conn returns a single-connection go-redis client (for SELECT, CLIENT
// SETNAME, MULTI by hand), closed when the test ends.
func conn(t *testing.T, c *redis.Client) *redis.Conn {
	t.Helper()
	cn := c.Conn()
	t.Cleanup(func() { cn.Close() })
	return cn
}

var ctx = context.Background()

// doer is anything that runs a raw command: *redis.Client, *redis.Conn.
type doer interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// do runs a raw command and fails the test on error.
func do(t *testing.T, c doer, args ...any) any {
	t.Helper()
	v, err := c.Do(ctx, args...).Result()
	if err != nil && err != redis.Nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

// wantErr runs a raw command and checks it fails with exactly msg.
func wantErr(t *testing.T, c doer, msg string, args ...any) {
	t.Helper()
	err := c.Do(ctx, args...).Err()
	if err == nil || err.Error() != msg {
		t.Errorf("%v: error %v, want %q", args, err, msg)
	}
}

// wantErrPrefix checks a raw command fails with an error starting with p.
func wantErrPrefix(t *testing.T, c doer, p string, args ...any) {
	t.Helper()
	err := c.Do(ctx, args...).Err()
	if err == nil || !strings.HasPrefix(err.Error(), p) {
		t.Errorf("%v: error %v, want prefix %q", args, err, p)
	}
}

// want runs a raw command and compares its reply with w, exactly (%#v);
// an array or map reply may also be given as its fmt.Sprint form ("[0 [a]]").
func want(t *testing.T, c doer, w any, args ...any) {
	t.Helper()
	v, err := c.Do(ctx, args...).Result()
	if err == redis.Nil {
		v, err = nil, nil
	}
	if err != nil {
		t.Errorf("%v: %v, want %v", args, err, w)
		return
	}
	if !same(v, w) {
		t.Errorf("%v = %#v, want %#v", args, v, w)
	}
}

// raw is a plain TCP connection for protocol-level tests.
type raw struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	trackInputs()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, c: c, r: bufio.NewReader(c)}
}

func (r *raw) send(s string) {
	r.t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("write %q: %v", s, err)
	}
}

// line reads one CRLF-terminated line, without the CRLF.
func (r *raw) line() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read after %q: %v", s, err)
	}
	return strings.TrimSuffix(s, "\r\n")
}

// expect reads one line and compares it with w.
func (r *raw) expect(w string) {
	r.t.Helper()
	if got := r.line(); got != w {
		r.t.Errorf("got %q, want %q", got, w)
	}
}

// closed checks the server closed the connection (EOF within 5s).
func (r *raw) closed() {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := r.r.ReadByte()
	if err != io.EOF && !isReset(err) {
		r.t.Errorf("connection still open: read %q, %v", b, err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// onlyRedis skips a test of something reddwarf does not claim to implement.
func skipUnlessRedis(t *testing.T, why string) {
	t.Helper()
	if target != "redis" {
		t.Skip(why)
	}
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

// same reports whether reply v matches the wanted w (see want).
func same(v, w any) bool {
	if fmt.Sprintf("%#v", v) == fmt.Sprintf("%#v", w) {
		return true
	}
	ws, ok := w.(string)
	switch v.(type) {
	case []any, map[any]any, map[string]any:
		return ok && fmt.Sprint(v) == ws
	}
	return false
}

// value reads one whole RESP2/RESP3 value and returns it as Go values:
// string for simple/bulk/verbatim strings, "ERR ..." errors as error text
// prefixed with "-", int64, nil, []any for arrays, sets and pushes, and
// []any of alternating keys and values for maps.
func (r *raw) value() any {
	r.t.Helper()
	l := r.line()
	if l == "" {
		r.t.Fatalf("empty RESP line")
	}
	body := l[1:]
	switch l[0] {
	case '+', '(', ',':
		return body
	case '-', '!':
		return "-" + body
	case '#':
		return body == "t"
	case '_':
		return nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			r.t.Fatalf("bad integer %q", l)
		}
		return n
	case '$', '=':
		n, err := strconv.Atoi(body)
		if err != nil {
			r.t.Fatalf("bad bulk length %q", l)
		}
		if n < 0 {
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r.r, buf); err != nil {
			r.t.Fatalf("bulk body: %v", err)
		}
		return string(buf[:n])
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(body)
		if err != nil {
			r.t.Fatalf("bad aggregate length %q", l)
		}
		if n < 0 {
			return nil
		}
		if l[0] == '%' || l[0] == '|' {
			n *= 2
		}
		out := []any{}
		for i := 0; i < n; i++ {
			out = append(out, r.value())
		}
		if l[0] == '|' { // an attribute precedes the real value
			return r.value()
		}
		return out
	}
	r.t.Fatalf("unknown RESP type in %q", l)
	return nil
}

// redisClientAt is a RESP2 client for addr, closed when the test ends; it
// does not flush.
func redisClientAt(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(options(addr, 2))
	t.Cleanup(func() { c.Close() })
	return c
}
