package server

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's poller (Linux).
//
// The loop reads its clients' sockets itself, as Redis's event loop does:
// one epoll set over every client socket, waited on by the loop goroutine,
// and an eventfd through which other goroutines (accepts, Post, a BGSAVE
// finishing) wake it. Against a reader goroutine per connection that hands
// each pipeline over a channel, this saves per pipeline the wake-up of that
// goroutine, the read that finds the socket empty (EAGAIN) after each
// batch, and the hand-off to the loop: about a third less CPU per request
// under redis-benchmark -P 16. It also keeps Redis's order across
// connections: a command that reached the server before another client's
// runs before it (pub/sub tests rely on that).
//
// A polled socket leaves Go's runtime: the loop keeps a duplicate of its
// descriptor and closes the net.Conn, so Go's own poller (where every
// accepted socket is registered) is not woken for data nobody waits on
// there. The loop then reads, writes and closes the descriptor itself;
// output the socket does not take at once waits for EPOLLOUT, as in Redis.
// REDDWARF_NETPOLL=goroutines selects the goroutine readers instead.
type poller struct {
	epfd     int
	wakefd   int
	sleeping atomic.Bool // the loop is (about to be) inside wait
	events   []unix.EpollEvent
	clients  map[int32]*Client
	// busy: the last wait returned events, so the next one is likely
	// short and is made without telling the scheduler (epollWait).
	busy bool
	// holdP allows those waits (allowHoldingP).
	holdP bool
}

func newPoller() *poller {
	if os.Getenv("REDDWARF_NETPOLL") == "goroutines" {
		return nil
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev) != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil
	}
	return &poller{epfd: epfd, wakefd: wakefd, events: make([]unix.EpollEvent, 256), clients: map[int32]*Client{}}
}

// takeSocket duplicates the descriptor of c's socket and closes the
// net.Conn (any goroutine, before the loop polls it); false if it could
// not, and then the socket is untouched.
func takeSocket(c *Client) bool {
	fd := -1
	if c.raw == nil {
		return false
	}
	c.raw.Control(func(f uintptr) {
		fd, _ = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	})
	if fd < 0 {
		return false
	}
	c.netConn.Close()
	c.fd = fd
	return true
}

// add watches c's socket (loop goroutine).
func (p *poller) add(c *Client) bool {
	c.pollIn = true
	if !p.update(c, unix.EPOLL_CTL_ADD) {
		return false
	}
	p.clients[int32(c.fd)] = c
	return true
}

// update tells epoll what c waits for now: input unless paused, output
// while some is queued.
func (p *poller) update(c *Client, op int) bool {
	ev := unix.EpollEvent{Fd: int32(c.fd)}
	if c.pollIn {
		ev.Events |= unix.EPOLLIN
	}
	if c.pollOut {
		ev.Events |= unix.EPOLLOUT
	}
	return unix.EpollCtl(p.epfd, op, c.fd, &ev) == nil
}

// close stops watching c and closes its socket (loop goroutine).
func (p *poller) close(c *Client) {
	if c.fd < 0 {
		return
	}
	delete(p.clients, int32(c.fd))
	unix.Close(c.fd) // which also takes it out of the epoll set
	c.fd = -1
}

// setReading turns c's input events off (backpressure) or back on.
func (p *poller) setReading(c *Client, on bool) {
	if c.fd >= 0 && c.pollIn != on {
		c.pollIn = on
		p.update(c, unix.EPOLL_CTL_MOD)
	}
}

// setWriting asks for EPOLLOUT while c has output the socket did not take.
func (p *poller) setWriting(c *Client, on bool) {
	if c.fd >= 0 && c.pollOut != on {
		c.pollOut = on
		p.update(c, unix.EPOLL_CTL_MOD)
	}
}

// wait calls read for each client with input (or a hang-up to read) and
// write for each that can take queued output, waiting at most timeoutMS
// for the first (0: just look).
func (p *poller) wait(timeoutMS int, read, write func(c *Client)) {
	n, err := p.epollWait(timeoutMS)
	p.busy = n > 0
	if err != nil {
		return // EINTR: the caller loops
	}
	for i := 0; i < n; i++ {
		fd := p.events[i].Fd
		if fd == int32(p.wakefd) {
			var b [8]byte
			unix.Read(p.wakefd, b[:])
			continue
		}
		// A client closed by an earlier event of this batch was removed
		// (its descriptor number cannot be reused before the next wait:
		// only the loop accepts into the set).
		ev := p.events[i].Events
		if c := p.clients[fd]; c != nil && ev&unix.EPOLLOUT != 0 {
			write(c)
		}
		if c := p.clients[fd]; c != nil && ev&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			read(c)
		}
	}
}

// epollWait is epoll_wait(2) on the loop's set. While the server is busy
// (the last wait found events) and always when it does not block
// (timeout 0), it is made with RawSyscall: the loop goroutine keeps its P
// and the Go scheduler does not see a syscall.
//
// Through the scheduler (entersyscall), a wait leaves the P in a syscall,
// and under load that wakes the runtime's sysmon thread thousands of times
// a second: the loop goroutine never parks, so sysmon finds it on the same
// scheduling tick every 10 ms and preempts it; when that finds it inside
// the wait, sysmon takes the P from the syscall and hands it off, and each
// such retake puts sysmon back to sleeping 20 µs (nanosleep, about 70 µs
// here with timer slack) for the next 50 rounds. Under redis-benchmark
// -P 1 that was 0.06 nanosleeps per request, about 9% of the server's CPU
// on its own thread, and the loop moved between three threads (futex
// hand-offs, cold caches). A raw wait retakes nothing: sysmon's 10 ms
// preemption signal interrupts it (EINTR, the caller loops) and sysmon
// backs off to 10 ms sleeps. A GC stop-the-world interrupts it the same
// way (with GODEBUG=asyncpreemptoff=1 it waits for the wait's timeout).
//
// An idle loop waits through the scheduler, as before: a raw wait that
// sleeps holds a P that other goroutines could use, and the 10 ms
// preemptions would wake it a hundred times a second for nothing.
func (p *poller) epollWait(timeoutMS int) (int, error) {
	if timeoutMS != 0 && !(p.busy && p.holdP) {
		return unix.EpollWait(p.epfd, p.events, timeoutMS)
	}
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd),
		uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), uintptr(timeoutMS), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// allowHoldingP lets busy waits hold the loop's P (epollWait): the loop
// says no with GOMAXPROCS 1, where that P is the only one.
func (p *poller) allowHoldingP(on bool) { p.holdP = on }

// wake interrupts wait (any goroutine). It costs a write only when the
// loop sleeps: the loop sets sleeping before it last looks at its
// channels, and wakers look at sleeping after they sent.
func (p *poller) wake() {
	if p.sleeping.Load() {
		b := [8]byte{1}
		unix.Write(p.wakefd, b[:])
	}
}
