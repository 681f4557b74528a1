package redistests

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Output buffer limits: a client that does not read its replies is closed
// when its pending output passes the limit of its class
// (client-output-buffer-limit), or, before it has authenticated, a small
// fixed limit; and no client's buffers make the server evict keys.

// dialSmallWindow connects with a 4 KiB receive buffer, so replies the
// client does not read stay in the server instead of the kernel.
func dialSmallWindow(t *testing.T, addr string) *raw {
	t.Helper()
	trackInputs()
	d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, c: c, r: bufio.NewReader(c)}
}

// infoInt reads one field of INFO as an integer.
func infoInt(t *testing.T, c doer, section, field string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(infoField(t, c, section, field), 10, 64)
	if err != nil {
		t.Fatalf("INFO %s: %v", field, err)
	}
	return n
}

func TestUnauthenticatedClientPipeliningPastASmallLimitIsClosed(t *testing.T) {
	s := startServer(t, "--requirepass", "pw")
	r := dialRaw(t, s.Addr())
	// A few refused commands are answered, and the connection stays.
	r.send(strings.Repeat("PING\r\n", 10))
	for i := 0; i < 10; i++ {
		r.expect("-NOAUTH Authentication required.")
	}
	// 2,000 refusals (68 KB) are more than Redis 7.0 keeps for a client that
	// has not authenticated: it is closed before they are all sent.
	r.send(strings.Repeat("PING\r\n", 2000))
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(r.r)
	if err != nil && !isReset(err) {
		t.Fatalf("connection still open after %d bytes: %v", len(got), err)
	}
	if n := strings.Count(string(got), "-NOAUTH"); n >= 2000 {
		t.Errorf("all %d refusals were sent: the client was not closed", n)
	}
	a := dialRaw(t, s.Addr())
	a.send("AUTH pw\r\nPING\r\n")
	a.expect("+OK")
	a.expect("+PONG")
}

// The attack of issue 13: connections that never authenticate and never
// read flood PING. Redis 7.0 closes them; before, reddwarf kept 64 MiB of
// -NOAUTH replies for each, counted them as used memory and evicted keys.
func TestUnauthenticatedFloodEvictsNoKeys(t *testing.T) {
	s := startServer(t, "--requirepass", "pw", "--maxmemory-policy", "allkeys-lru")
	c := redisClientAt(t, s.Addr())
	do(t, c, "AUTH", "pw")
	fillKeys(t, c, 2000)
	used := infoInt(t, c, "memory", "used_memory")
	do(t, c, "CONFIG", "SET", "maxmemory", strconv.FormatInt(used+32<<20, 10))

	var wg sync.WaitGroup
	closed := make([]bool, 4)
	for i := range closed {
		r := dialSmallWindow(t, s.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			chunk := []byte(strings.Repeat("PING\r\n", 2000))
			end := time.Now().Add(3 * time.Second)
			for time.Now().Before(end) {
				r.c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := r.c.Write(chunk); err != nil {
					closed[i] = !isTimeout(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, ok := range closed {
		if !ok {
			t.Errorf("flooding connection %d was not closed", i)
		}
	}
	want(t, c, int64(2000), "DBSIZE")
	if n := infoInt(t, c, "stats", "evicted_keys"); n != 0 {
		t.Errorf("evicted_keys %d, want 0", n)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// fillKeys writes n 1 KB strings key:0..key:n-1.
func fillKeys(t *testing.T, c doer, n int) {
	t.Helper()
	v := strings.Repeat("x", 1000)
	for i := 0; i < n; i++ {
		do(t, c, "SET", "key:"+strconv.Itoa(i), v)
	}
}

// reddwarf keeps clients' buffers out of the memory eviction compares with
// maxmemory (README, "Memory"): an authenticated client that does not read
// large replies evicts nothing. Redis counts normal clients' buffers, and
// would evict here.
func TestSlowReaderBuffersEvictNoKeys(t *testing.T) {
	if target == "redis" {
		t.Skip("Redis counts client output buffers as used memory (reddwarf does not, by design)")
	}
	s := startServer(t, "--maxmemory-policy", "allkeys-lru")
	c := redisClientAt(t, s.Addr())
	fillKeys(t, c, 2000)
	do(t, c, "SET", "big", strings.Repeat("b", 3_000_000))
	used := infoInt(t, c, "memory", "used_memory")
	do(t, c, "CONFIG", "SET", "maxmemory", strconv.FormatInt(used+32<<20, 10))
	r := dialSmallWindow(t, s.Addr())
	r.send(strings.Repeat("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", 30)) // 90 MB of replies, unread
	time.Sleep(time.Second)
	for i := 0; i < 50; i++ {
		do(t, c, "SET", "new:"+strconv.Itoa(i), "v") // each runs the eviction check
	}
	want(t, c, int64(2051), "DBSIZE")
	if n := infoInt(t, c, "stats", "evicted_keys"); n != 0 {
		t.Errorf("evicted_keys %d, want 0", n)
	}
}

func TestOutputBufferHardLimitClosesANormalClient(t *testing.T) {
	s := startServer(t)
	c := redisClientAt(t, s.Addr())
	do(t, c, "SET", "big", strings.Repeat("b", 1_000_000))
	do(t, c, "CONFIG", "SET", "client-output-buffer-limit", "normal 4mb 0 0")
	r := dialSmallWindow(t, s.Addr())
	r.send("CLIENT SETNAME slow\r\n")
	r.expect("+OK")
	r.send(strings.Repeat("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", 20))
	waitNoClient(t, c, "slow")
}

// The soft limit closes a client that stays over it for more than its
// seconds, when more output comes for it; a client over it for less is
// kept.
func TestOutputBufferSoftLimitClosesAfterItsSeconds(t *testing.T) {
	s := startServer(t)
	c := redisClientAt(t, s.Addr())
	do(t, c, "CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 1mb 1")
	sub := dialSmallWindow(t, s.Addr())
	sub.send("SUBSCRIBE ch\r\n")
	if v := sub.value(); !same(v, "[subscribe ch 1]") {
		t.Fatalf("SUBSCRIBE: %v", v)
	}
	big := strings.Repeat("m", 10_000_000) // more than the kernel's socket buffers take
	want(t, c, int64(1), "PUBLISH", "ch", big)
	want(t, c, int64(1), "PUBLISH", "ch", "small") // over the soft limit for less than 1 s
	want(t, c, "[ch 1]", "PUBSUB", "NUMSUB", "ch")
	time.Sleep(2200 * time.Millisecond)
	c.Do(ctx, "PUBLISH", "ch", "small") // over it for 2 s: closed
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if v, _ := c.Do(ctx, "PUBSUB", "NUMSUB", "ch").Result(); same(v, "[ch 0]") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("the subscriber over its soft limit for 2 s was not closed")
}

// waitNoClient waits until no client named name is connected.
func waitNoClient(t *testing.T, c doer, name string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		list, _ := do(t, c, "CLIENT", "LIST").(string)
		if !strings.Contains(list, " name="+name+" ") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("client %q is still connected", name)
}

// A client blocked in BLPOP that sends more commands and then hangs up is
// gone: its BLPOP does not take the next element pushed. Its commands
// after the BLPOP wait as query buffer; the server goes on reading its
// socket meanwhile, so it sees the hang-up (with goroutine readers, one
// that stopped reading while its batches waited never did).
func TestBlockedClientThatHangsUpTakesNothing(t *testing.T) {
	s := startServer(t)
	c := redisClientAt(t, s.Addr())
	r := dialRaw(t, s.Addr())
	r.send("BLPOP q 0\r\n")
	waitFor(t, "the BLPOP to block", func() bool { return infoInt(t, c, "clients", "blocked_clients") == 1 })
	// More commands, in separate writes (separate batches), then gone.
	for i := 0; i < 5; i++ {
		r.send("PING\r\n")
		time.Sleep(10 * time.Millisecond)
	}
	r.c.Close()
	waitFor(t, "the hang-up", func() bool { return infoInt(t, c, "clients", "blocked_clients") == 0 })
	want(t, c, int64(1), "RPUSH", "q", "x")
	want(t, c, int64(1), "LLEN", "q")
}
