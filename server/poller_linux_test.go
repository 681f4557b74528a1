package server

import (
	"bufio"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// startPolledServer starts a test server with hz 1 (a wait may last a
// second) whose loop polls its clients, and connects one client.
func startPolledServer(t *testing.T) (*Server, net.Conn, *bufio.Reader) {
	t.Helper()
	s := newTestServer(t)
	if err := s.Config.Set("hz", "1"); err != nil {
		t.Fatal(err)
	}
	if s.poller == nil {
		t.Skip("the loop does not poll its clients here")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop(0)
		s.Wait()
	})
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Config.Port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return s, conn, bufio.NewReader(conn)
}

// roundTrip sends one command and reads its one-line reply (any: the
// bare server knows no commands).
func roundTrip(t *testing.T, conn net.Conn, r *bufio.Reader) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
}

// holdsP asks the loop whether its busy waits may hold its P.
func holdsP(s *Server) bool {
	ch := make(chan bool)
	s.Post(func() { ch <- s.poller.holdP })
	return <-ch
}

// A busy loop's wait holds its P (poller.epollWait), so a stop-the-world
// must be able to interrupt it (the preemption signal: EINTR) rather than
// wait for its timeout, here up to the cron's second. (A wait that
// retried on EINTR would hang the GC, and so this test until its timeout.)
func TestGCStopsABusyLoopInsideItsWait(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("with GOMAXPROCS 1 the loop's waits never hold its P")
	}
	s, conn, r := startPolledServer(t)
	if !holdsP(s) {
		t.Fatal("with GOMAXPROCS > 1 the loop's busy waits do not hold its P")
	}
	for i := 0; i < 5; i++ {
		// The reply's read event makes the loop busy: its next wait,
		// with nothing more to read, is a raw one of up to a second.
		roundTrip(t, conn, r)
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		runtime.GC()
		if d := time.Since(start); d > 300*time.Millisecond {
			t.Fatalf("a GC beside a busy loop's wait took %v", d)
		}
	}
}

// With one P the loop must not hold it while it waits: nothing else
// (accepts, timers, the runtime's own poller) could run until an event or
// a preemption every 10 ms interrupted the wait.
func TestLoopWithOnePNeverHoldsItInAWait(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s, conn, r := startPolledServer(t)
	roundTrip(t, conn, r)
	if holdsP(s) {
		t.Fatal("with GOMAXPROCS 1 the loop's busy waits hold its only P")
	}
	start := time.Now()
	for i := 0; i < 20; i++ {
		roundTrip(t, conn, r)
	}
	t.Logf("20 round trips with GOMAXPROCS 1: %v", time.Since(start))
}
