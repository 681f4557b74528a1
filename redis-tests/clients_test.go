package redistests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// redisCli runs redis-cli against the shared server with args, stdin as
// its input, and returns its combined output.
func redisCli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli is not installed")
	}
	cmd := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(shared.Port)}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestRedisCliFormatsRepliesRawAndNoRaw(t *testing.T) {
	c := client(t)
	script := "SET greeting \"hello world\"\nGET greeting\nGET nosuch\nINCR n\nMSET a 1 b 2\nMGET a nosuch b\nINCR greeting\nEXISTS a b\n"
	got := redisCli(t, script, "--no-raw")
	w := `OK
"hello world"
(nil)
(integer) 1
OK
1) "1"
2) (nil)
3) "2"
(error) ERR value is not an integer or out of range
(integer) 2
`
	if got != w {
		t.Errorf("redis-cli --no-raw:\n%s\nwant:\n%s", got, w)
	}
	do(t, c, "FLUSHALL")
	got = redisCli(t, script, "--raw")
	w = "OK\nhello world\n\n1\nOK\n1\n\n2\nERR value is not an integer or out of range\n\n2\n"
	if got != w {
		t.Errorf("redis-cli --raw:\n%q\nwant:\n%q", got, w)
	}
}

func TestRedisCliRunsOneCommandFromArguments(t *testing.T) {
	client(t)
	if got := redisCli(t, "", "--no-raw", "PING"); got != "PONG\n" {
		t.Errorf("redis-cli PING = %q", got)
	}
	if got := redisCli(t, "", "--no-raw", "HELLO", "3"); !strings.HasPrefix(got, "1# \"server\" => \"") || !strings.Contains(got, "3# \"proto\" => (integer) 3\n") {
		t.Errorf("redis-cli HELLO 3 =\n%s", got)
	}
	if got := redisCli(t, "", "-3", "--no-raw", "CONFIG", "GET", "maxmemory"); got != "1# \"maxmemory\" => \"0\"\n" {
		t.Errorf("redis-cli -3 CONFIG GET maxmemory = %q", got)
	}
	if got := redisCli(t, "", "--no-raw", "GETRANGE", "nosuch", "0", "-1"); got != "\"\"\n" {
		t.Errorf("redis-cli GETRANGE = %q", got)
	}
}

// TestNodeIoredisClient runs node/ioredis.test.js with node --test. Its
// dependencies (ioredis, pinned by package-lock.json) are installed by
// `npm ci` the first time, so a fresh clone needs nothing but node and npm;
// without them the test skips, saying so.
func TestNodeIoredisClient(t *testing.T) {
	client(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the ioredis client test needs node and npm")
	}
	dir, _ := filepath.Abs("node")
	npmCI(t, dir, "ioredis")
	cmd := exec.Command(node, "--test", "--test-reporter=spec")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), fmt.Sprintf("REDDWARF_PORT=%d", shared.Port), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("node --test: %v\n%s", err, out)
	}
}
