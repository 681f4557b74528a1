package server

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidwall/redcon"
)

// Client is one connection. The loop goroutine owns every field below the
// "loop-owned" line; the network goroutine only reads commands, hands them
// to the loop and writes back what the loop left in the reply buffer.
type Client struct {
	ID      uint64
	srv     *Server
	conn    redcon.Conn
	netConn net.Conn
	Addr    string
	LAddr   string
	authed  atomic.Bool
	created time.Time

	raw  syscall.RawConn // the socket, for the loop's non-blocking writes
	R    Reply           // pending output (loop-owned)
	kick chan struct{}   // wakes the writer goroutine
	gone chan struct{}   // closed when the loop closes the connection
	// batchSlots bounds the batches a goroutine reader has handed the
	// loop and the loop has not finished (serveConn): see takeBatchSlot.
	batchSlots chan struct{}

	mu               sync.Mutex                 // guards the writer hand-off below
	wq               []byte                     // output the writer goroutine still has to send
	wbusy            bool                       // the writer goroutine holds data
	closeWhenDrained bool                       // close the socket once wq is sent
	pendingOut       atomic.Int64               // bytes handed to the socket path and not yet sent
	reader           atomic.Pointer[respReader] // set when the reader starts

	// loop-owned
	polled          bool // the loop does the socket's I/O itself (poller_linux.go)
	fd              int  // the socket's descriptor while polled, else -1
	pollIn          bool // epoll interest: input (off while readPaused)
	pollOut         bool // epoll interest: output queued in wq
	readPaused      bool // polled input is off until the client reads its replies
	dropped         bool // unlinked by dropClient
	Name            string
	DB              *DB
	multi           *multiState
	watched         []watchedKey
	dirtyCAS        bool // a watched key changed: EXEC fails
	channels        map[string]bool
	patterns        map[string]bool
	monitor         bool
	replyOff        bool
	replySkip       bool
	closeAfterReply bool
	closed          bool
	linked          bool
	replyOnNow      bool   // this command was CLIENT REPLY ON: reply even if skipping
	replySkipping   bool   // this command's reply is skipped (CLIENT REPLY SKIP before it)
	pushes          []byte // push replies of this command, kept under REPLY OFF
	noEvict         bool
	lastCmd         string
	lastSpec        *Spec // the previous command's table entry (a lookup shortcut)
	lastInteraction int64 // unix ms
	writerStarted   bool
	writeScheduled  bool
	// awaitsLog: a command of this client logged records this turn, so
	// its replies wait for them to be durable; heldForLog: they are being
	// held because they are not (flushWrites).
	awaitsLog, heldForLog bool
	outputLimitHit        bool
	softLimitSince        int64 // unix ms when pending output was first seen over the soft limit; 0 when under
	// blocked is set while the client waits (GEN): the rest of its request
	// batch resumes when it is cleared. See blocked.go.
	blocked     *Blocked
	pending     [][][]byte // commands of the batch not yet run while blocked
	parkedBytes int64      // commandBytes of pending: query buffer of a blocked client
	curArgs     [][]byte   // the running command, for CLIENT LIST's qbuf

	// tracking is the CLIENT TRACKING state, nil while off (tracking.go).
	tracking *clientTracking
}

type multiState struct {
	queue   [][][]byte
	aborted bool // a queued command was refused: EXEC replies EXECABORT
	flags   Flag // union of the queued commands' flags
}

type watchedKey struct {
	db          *DB
	key         string
	expiredThen bool // logically expired when WATCH ran (Redis 7.0 semantics)
}

// InPubSub reports whether the client has any subscription.
func (c *Client) InPubSub() bool { return len(c.channels)+len(c.patterns) > 0 }

// RESP reports the negotiated protocol version (2 or 3).
func (c *Client) RESP() int { return c.R.resp }

// SetRESP switches the protocol version.
func (c *Client) SetRESP(v int) { c.R.resp = v }

// Authenticated reports whether commands beyond AUTH/HELLO are allowed.
func (c *Client) Authenticated() bool { return c.authed.Load() }

// SetAuthenticated marks the client as authenticated.
func (c *Client) SetAuthenticated(v bool) { c.authed.Store(v) }

// Close asks for the connection to be closed after the current reply.
func (c *Client) CloseAfterReply() { c.closeAfterReply = true }

// kill closes the socket now; the network goroutine notices and the loop
// unlinks the client.
// Batches in flight. A goroutine reader (serveConn) reads the next
// pipeline while the loop runs the one before, so that reading overlaps
// running; but it may hand the loop only maxBatchesInFlight batches the
// loop has not taken yet, as Redis reads a client's socket once per turn
// of its loop. Otherwise a client that writes faster than the loop runs
// its commands (a PING flood) fills the requests channel with batches
// that no buffer limit counts, and their memory evicts keys. The loop
// frees a batch's slot once it has taken it: run, or parked in c.pending
// behind a blocked command, where parkedBytes counts it as query buffer
// (so a blocked client's reader goes on reading, and sees a hang-up, as
// Redis keeps reading a blocked client's socket).
const maxBatchesInFlight = 2

// takeBatchSlot waits until c may hand the loop another batch; false when
// the connection was closed meanwhile. Reader goroutine.
func (c *Client) takeBatchSlot() bool {
	select {
	case c.batchSlots <- struct{}{}:
		return true
	case <-c.gone:
		return false
	}
}

// commandBytes is what one parsed command holds, as the query buffer
// counts it.
func commandBytes(args [][]byte) int64 {
	n := int64(16 * len(args))
	for _, a := range args {
		n += int64(len(a))
	}
	return n
}

func (c *Client) kill() {
	if c.closed {
		return
	}
	c.closed = true
	if c.polled {
		// Unlinked at the end of the turn: its own command may be running.
		c.srv.poller.close(c)
		c.srv.closedClients = append(c.srv.closedClients, c)
	} else {
		c.netConn.Close()
	}
	close(c.gone)
}

// Output.
//
// Replies accumulate in c.R, which only the loop touches. At the end of each
// loop turn (as Redis's beforeSleep) the loop writes every client's pending
// output with a non-blocking write. Whatever the socket does not take moves
// to c.wq and the client's writer goroutine finishes it with blocking
// writes; while that goroutine holds data, later output queues behind it so
// the order never changes. The network goroutine only reads.

// scheduleWrite marks c as having output to send at the end of this turn.
func (c *Client) scheduleWrite() {
	if !c.writeScheduled {
		c.writeScheduled = true
		c.srv.pendingWrites = append(c.srv.pendingWrites, c)
	}
}

// writeOut sends c.R's bytes (loop goroutine).
func (c *Client) writeOut() {
	c.writeScheduled = false
	out := c.R.buf
	if len(out) == 0 || c.closed {
		if c.closeAfterReply && !c.closed && !c.writerBusy() {
			c.kill()
		}
		return
	}
	c.srv.Stats.TotalNetOutput += int64(len(out))
	if c.polled {
		c.writePolled(out)
		return
	}
	c.mu.Lock()
	busy := c.wbusy
	if busy {
		c.wq = append(c.wq, out...)
		c.pendingOut.Add(int64(len(out)))
		c.closeWhenDrained = c.closeAfterReply
		c.mu.Unlock()
		c.reuseReplyBuffer(out)
		c.checkOutputLimit()
		return
	}
	c.mu.Unlock()
	n := 0
	if c.raw != nil {
		c.raw.Write(func(fd uintptr) bool {
			n, _ = writeSocket(int(fd), out) // an error shows on the next read
			return true                      // never wait for writability here
		})
	}
	if n == len(out) {
		c.R.buf = out[:0]
		if cap(out) > 64*1024 {
			c.R.buf = nil // don't keep a big buffer for an idle client
		}
		if c.closeAfterReply {
			c.kill()
		}
		return
	}
	c.mu.Lock()
	c.wq = append(c.wq, out[n:]...)
	c.pendingOut.Add(int64(len(out) - n))
	c.wbusy = true
	c.closeWhenDrained = c.closeAfterReply
	c.mu.Unlock()
	c.reuseReplyBuffer(out)
	if !c.writerStarted {
		c.writerStarted = true
		go c.writerLoop()
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
	c.checkOutputLimit()
}

// writePolled sends out on a polled client's socket (loop goroutine):
// what the socket does not take waits in wq for EPOLLOUT (writeQueued).
func (c *Client) writePolled(out []byte) {
	c.R.buf = out[:0]
	if len(c.wq) > 0 {
		c.wq = append(c.wq, out...) // behind what is already waiting
	} else {
		n, err := writeSocket(c.fd, out)
		if err != nil {
			c.kill()
			return
		}
		if n < len(out) {
			c.wq = append(c.wq, out[n:]...)
			c.srv.poller.setWriting(c, true)
		}
	}
	if cap(out) > 64*1024 {
		// Don't keep a big buffer: its bytes are sent or copied to wq, and
		// only wq counts as the client's memory (clientsMemory), so a kept
		// one would be held twice and counted once — enough, for a slow
		// reader of big replies, to make eviction delete keys.
		c.R.buf = nil
	}
	c.pendingOut.Store(int64(len(c.wq)))
	if len(c.wq) == 0 {
		if c.closeAfterReply {
			c.kill()
		}
		return
	}
	c.closeWhenDrained = c.closeAfterReply
	c.checkOutputLimit()
}

// writeQueued sends a polled client's waiting output when its socket can
// take more (loop goroutine).
func (s *Server) writeQueued(c *Client) {
	n, err := writeSocket(c.fd, c.wq)
	if err != nil {
		c.kill()
		return
	}
	c.wq = c.wq[n:]
	c.pendingOut.Store(int64(len(c.wq)))
	if len(c.wq) > 0 {
		return
	}
	c.wq = nil
	s.poller.setWriting(c, false)
	if c.closeWhenDrained {
		c.kill()
	}
}

// reuseReplyBuffer keeps out's array as the next turn's reply buffer once
// its bytes were copied to wq, unless it is big: a slow reader's large
// replies would otherwise be held twice (once here, once in wq), and only
// wq is counted as the client's pending output (outputUsage, clientsMemory).
func (c *Client) reuseReplyBuffer(out []byte) {
	c.R.buf = out[:0]
	if cap(out) > 64*1024 {
		c.R.buf = nil
	}
}

func (c *Client) writerBusy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wbusy
}

// writerLoop finishes writes the socket did not take at once.
func (c *Client) writerLoop() {
	for range c.kick {
		for {
			c.mu.Lock()
			out := c.wq
			c.wq = nil
			if len(out) == 0 {
				c.wbusy = false
				closeNow := c.closeWhenDrained
				c.mu.Unlock()
				if closeNow {
					c.netConn.Close()
				}
				break
			}
			c.mu.Unlock()
			n, err := c.netConn.Write(out)
			c.pendingOut.Add(-int64(n))
			if err != nil {
				c.netConn.Close()
				return
			}
		}
	}
}

// unauthOutputLimit bounds the pending output of a client that has not
// authenticated. Redis 7.0 (with CVE-2025-21605's fix) closes such a
// client as soon as its reply list holds more than 1 KiB beyond its 16 KiB
// reply buffer: a client that has not shown the password and does not read
// its -NOAUTH replies cannot make the server keep them.
const unauthOutputLimit = 16<<10 + 1<<10

// class is c's client-output-buffer-limit class.
func (c *Client) class() ClientClass {
	if c.InPubSub() {
		return ClassPubsub
	}
	return ClassNormal
}

// outputUsage is c's pending output in bytes: replies of this turn not
// written yet plus what the socket has not taken.
func (c *Client) outputUsage() int64 {
	return int64(len(c.R.buf)) + c.pendingOut.Load()
}

// outputLimited reports whether any output limit applies to c now, so the
// common case (an authenticated client of an unlimited class) costs two
// loads per command.
func (c *Client) outputLimited() bool {
	return !c.Authenticated() || c.srv.Config.OutputLimits[c.class()] != (OutputLimit{})
}

// checkOutputLimit closes c when its pending output passed a limit, as
// Redis's checkClientOutputBufferLimits: the unauthenticated limit, the
// class's hard limit at once, its soft limit when c stayed over it for
// more than the soft seconds (counted from the first check that saw it
// over; a check under it starts again). Loop goroutine.
func (c *Client) checkOutputLimit() {
	if c.closed || c.outputLimitHit || !c.outputLimited() {
		return
	}
	used := c.outputUsage()
	over := !c.Authenticated() && used > unauthOutputLimit
	l := c.srv.Config.OutputLimits[c.class()]
	if l.Hard > 0 && used >= l.Hard {
		over = true
	}
	if l.Soft > 0 && used >= l.Soft {
		now := time.Now().UnixMilli()
		if c.softLimitSince == 0 {
			c.softLimitSince = now
		} else if now-c.softLimitSince > l.SoftSeconds*1000 {
			over = true
		}
	} else {
		c.softLimitSince = 0
	}
	if !over {
		return
	}
	c.outputLimitHit = true
	c.srv.logf("warning", "Client %s scheduled to be closed ASAP for overcoming of output buffer limits.", c.Info(time.Now()))
	c.R.buf = nil // never sent: let it go now
	c.kill()
}

// push appends out-of-band data (a pub/sub message, a MONITOR line) for c;
// it is sent at the end of the loop turn.
func (c *Client) push(fn func(r *Reply)) {
	if c.closed {
		return
	}
	fn(&c.R)
	c.scheduleWrite()
	if c.outputLimited() {
		c.checkOutputLimit()
	}
}

// Info is the CLIENT LIST / CLIENT INFO line.
func (c *Client) Info(now time.Time) string {
	var b strings.Builder
	db := 0
	if c.DB != nil {
		db = c.DB.ID
	}
	flags := ""
	switch {
	case c.monitor:
		flags = "O"
	case c.InPubSub():
		flags = "P"
	case c.multi != nil:
		flags = "x"
	case c.blocked != nil:
		flags = "b"
	}
	flags += c.trackingListFlags()
	if c.noEvict {
		flags += "e"
	}
	if flags == "" {
		flags = "N"
	}
	multi := -1
	if c.multi != nil {
		multi = len(c.multi.queue)
	}
	cmd := c.lastCmd
	if cmd == "" {
		cmd = "NULL"
	}
	obl := len(c.R.buf) + int(c.pendingOut.Load())
	b.WriteString("id=" + strconv.FormatUint(c.ID, 10))
	b.WriteString(" addr=" + c.Addr)
	b.WriteString(" laddr=" + c.LAddr)
	fd := 8 // the goroutine reader does not know it
	if c.polled {
		fd = c.fd
	}
	b.WriteString(" fd=" + strconv.Itoa(fd) + " name=" + c.Name)
	b.WriteString(" age=" + strconv.FormatInt(int64(now.Sub(c.created).Seconds()), 10))
	b.WriteString(" idle=" + strconv.FormatInt((now.UnixMilli()-c.lastInteraction)/1000, 10))
	b.WriteString(" flags=" + flags)
	b.WriteString(" db=" + strconv.Itoa(db))
	b.WriteString(" sub=" + strconv.Itoa(len(c.channels)))
	b.WriteString(" psub=" + strconv.Itoa(len(c.patterns)))
	b.WriteString(" ssub=0")
	b.WriteString(" multi=" + strconv.Itoa(multi))
	qbuf, qsize, argv := 0, 0, 0
	if rd := c.reader.Load(); rd != nil {
		qbuf, qsize = int(rd.qbufUsed.Load()), int(rd.qbufSize.Load())
	}
	if c.srv.current == c {
		// Redis shows the running command still in its query buffer.
		for _, a := range c.curArgs {
			qbuf += 1 + len(strconv.Itoa(len(a))) + 2 + len(a) + 2
			argv += len(a)
		}
		qbuf += 1 + len(strconv.Itoa(len(c.curArgs))) + 2
	}
	b.WriteString(" qbuf=" + strconv.Itoa(qbuf) + " qbuf-free=" + strconv.Itoa(max(qsize-qbuf, 0)))
	b.WriteString(" argv-mem=" + strconv.Itoa(argv))
	b.WriteString(" multi-mem=0 rbs=1024 rbp=0 obl=" + strconv.Itoa(obl))
	b.WriteString(" oll=0 omem=" + strconv.Itoa(obl))
	b.WriteString(" tot-mem=" + strconv.Itoa(obl+max(qsize, qbuf)+argv+1024))
	b.WriteString(" events=r cmd=" + cmd)
	b.WriteString(" user=default redir=" + strconv.FormatInt(c.TrackingRedirect(), 10))
	b.WriteString(" resp=" + strconv.Itoa(c.R.resp))
	return b.String()
}

// SetReplyMode is CLIENT REPLY ON|OFF|SKIP.
func (c *Client) SetReplyMode(mode string) {
	switch mode {
	case "on":
		c.replyOff, c.replySkip = false, false
		c.replyOnNow = true
	case "off":
		c.replyOff = true
	case "skip":
		if !c.replyOff {
			c.replySkip = true
		}
	}
}

// Kill closes the client's connection (CLIENT KILL).
func (c *Client) Kill() { c.kill() }

// SetNoEvict is CLIENT NO-EVICT.
func (c *Client) SetNoEvict(v bool) { c.noEvict = v }

// Monitoring reports whether the client is in MONITOR mode.
func (c *Client) Monitoring() bool { return c.monitor }

// IsPubSub reports whether the client counts as a pub/sub client (CLIENT
// LIST TYPE pubsub).
func (c *Client) IsPubSub() bool { return c.InPubSub() }

// IsLocal reports whether the client connected over loopback.
func (c *Client) IsLocal() bool { return c.netConn == nil || isLoopback(c.netConn.RemoteAddr()) }
