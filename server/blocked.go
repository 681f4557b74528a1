package server

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// Blocking API.
//
// A command that cannot answer at once (GEN waits for the engine) calls
// Block from its handler. The client's reply stays open: the rest of its
// pipeline is parked in c.pending, its network goroutine keeps waiting, and
// the loop goes on serving everyone else. Whoever finishes the work writes
// the reply with ReplyTo and calls Unblock, which resumes the parked
// pipeline and then releases the network goroutine.
//
// While blocked, a watcher goroutine waits for the peer to hang up; if it
// does, Hooks.ClientGone is told (so GEN can roll back and drop its job)
// and the client is unlinked as usual. A new kind of blocking needs only:
// a Blocked value, ReplyTo + Unblock when done, and a ClientGone case.
//
// Statistics follow Redis 7.0's for blocked commands: call counts the
// command and the time its handler took when it blocks, and leaves
// SLOWLOG for later; work done for it elsewhere (a GEN's model steps) is
// added by BlockedWork when it finishes; Unblock logs the whole duration
// in SLOWLOG, as updateStatsOnUnblock does when a module's background
// work ends, and in the latency monitor (where Redis records only the
// reply's time, a GEN's real duration is what its user looks for).
type Blocked struct {
	Reason string // what CLIENT LIST and INFO show ("gen")
	Key    string
	Data   any // the blocking subsystem's own state (the GEN job)
	// Unblock ends the wait for CLIENT UNBLOCK (asError: ERROR, else
	// TIMEOUT): it replies and calls Server.Unblock, now or once the work
	// stops. Nil: only key waits (KeyWait) can be unblocked.
	Unblock func(asError bool)

	// Set by call when the handler blocked: what SLOWLOG logs at Unblock.
	stat     *CmdStat
	slowArgs []string
	slowSkip bool
	spec     *Spec // the blocked command: its latency event at Unblock
	// usec: the handler's microseconds plus BlockedWork's, summed as
	// commandstats sums them, so SLOWLOG and INFO agree to the microsecond.
	usec int64
}

// ErrUnblocked is the reply of a command ended by CLIENT UNBLOCK ... ERROR.
var ErrUnblocked = CodeError("UNBLOCKED", "client unblocked via CLIENT UNBLOCK")

// BlockedWork adds work done for c's blocked command outside its handler
// to the command's statistics (INFO commandstats usec, failed_calls) and
// to the duration SLOWLOG logs when c is unblocked. Call it before Unblock.
func (s *Server) BlockedWork(c *Client, work time.Duration, failed bool) {
	b := c.blocked
	if b == nil || b.stat == nil {
		return
	}
	b.stat.USec += work.Microseconds()
	if failed {
		b.stat.Failed++
	}
	b.usec += work.Microseconds()
}

// Block parks c (call from a handler).
func (s *Server) Block(c *Client, b *Blocked) {
	c.blocked = b
	if !c.polled {
		go s.watchHangup(c, b) // a polled client's hang-up is read by the loop
	}
}

// BlockedOf returns what c waits for, or nil.
func (c *Client) BlockedOf() *Blocked { return c.blocked }

// ReplyTo writes to a client's reply buffer from outside its command.
func (s *Server) ReplyTo(c *Client, fn func(r *Reply)) {
	fn(&c.R)
	c.scheduleWrite()
}

// Unblock resumes a blocked client after its reply was written.
func (s *Server) Unblock(c *Client) {
	b := c.blocked
	if b == nil {
		return
	}
	c.blocked = nil
	if c.closed {
		return
	}
	if b.stat != nil && !b.slowSkip {
		s.slowlogPushArgs(c, b.slowArgs, time.Duration(b.usec)*time.Microsecond)
	}
	if b.spec != nil {
		s.latencySample(b.spec, time.Duration(b.usec)*time.Microsecond)
		s.recordLatency(b.stat, b.usec)
	}
	s.trackingUnblocked(c)
	s.resume(c)
}

// watchHangup waits until the blocked client's socket reports end of file
// (peeking, so pipelined bytes stay for redcon) and tells the loop.
func (s *Server) watchHangup(c *Client, b *Blocked) {
	tc, ok := c.netConn.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 1)
	for {
		hung := false
		stop := false
		rerr := rc.Read(func(fd uintptr) bool {
			n, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
			switch {
			case err == unix.EAGAIN:
				return false // not readable yet: wait in the poller
			case err != nil || n == 0:
				hung = true
			default:
				stop = true // data is waiting: check again a bit later
			}
			return true
		})
		if rerr != nil || hung {
			s.Post(func() {
				if c.blocked == b {
					c.kill()
				}
			})
			return
		}
		if stop {
			time.Sleep(20 * time.Millisecond)
		}
		done := make(chan bool, 1)
		s.Post(func() { done <- c.blocked == b && !c.closed })
		if !<-done {
			return
		}
	}
}
