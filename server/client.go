package server

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

	mu   sync.Mutex // guards R (the loop appends, flush takes)
	R    Reply
	wmu  sync.Mutex // one writer to the socket at a time
	wbuf []byte     // the buffer flush wrote last, reused

	done chan struct{} // the loop finished this client's request batch
	kick chan struct{} // push data is waiting (pub/sub, MONITOR)

	// loop-owned
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
	noEvict         bool
	lastCmd         string
	lastInteraction int64 // unix ms
	pusher          bool  // the push goroutine runs
	outputLimitHit  bool
	// blocked is set while the client waits (GEN): the rest of its request
	// batch resumes when it is cleared. See blocked.go.
	blocked *Blocked
	pending [][][]byte // commands of the batch not yet run while blocked
	argvMem int64
}

type multiState struct {
	queue   [][][]byte
	aborted bool // a queued command was refused: EXEC replies EXECABORT
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
func (c *Client) kill() {
	if c.closed {
		return
	}
	c.closed = true
	c.netConn.Close()
}

// flush writes whatever the loop left in the reply buffer.
func (c *Client) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	out := c.R.buf
	c.R.buf = c.wbuf[:0]
	c.mu.Unlock()
	var err error
	if len(out) > 0 {
		_, err = c.netConn.Write(out)
	}
	if cap(out) <= 64*1024 {
		c.wbuf = out[:0]
	} else {
		c.wbuf = nil // don't keep a big buffer for an idle client
	}
	return err
}

// push appends out-of-band data (a pub/sub message, a MONITOR line) and
// wakes the client's push goroutine. Called by the loop.
func (c *Client) push(fn func(r *Reply)) {
	if c.srv.current == c {
		// The client is executing a command (its own PUBLISH, MONITOR of
		// itself): execute holds c.mu and flushes after the command.
		fn(&c.R)
		return
	}
	c.mu.Lock()
	fn(&c.R)
	n := len(c.R.buf)
	c.mu.Unlock()
	limit := c.srv.Config.NormalOutputLimit
	if c.InPubSub() && c.srv.Config.PubsubOutputLimit > 0 {
		limit = c.srv.Config.PubsubOutputLimit
	}
	if limit > 0 && int64(n) > limit && !c.outputLimitHit {
		c.outputLimitHit = true
		c.srv.logf("notice", "Client id=%d addr=%s closed for overcoming of output buffer limits.", c.ID, c.Addr)
		c.kill()
		return
	}
	if !c.pusher {
		c.pusher = true
		go c.pushLoop()
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *Client) pushLoop() {
	for range c.kick {
		if c.flush() != nil {
			return
		}
	}
}

// Info is the CLIENT LIST / CLIENT INFO line.
func (c *Client) Info(now time.Time) string {
	var b strings.Builder
	db := 0
	if c.DB != nil {
		db = c.DB.ID
	}
	flags := "N"
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
	if c.noEvict {
		flags += "e"
	}
	multi := -1
	if c.multi != nil {
		multi = len(c.multi.queue)
	}
	cmd := c.lastCmd
	if cmd == "" {
		cmd = "NULL"
	}
	c.mu.Lock()
	obl := len(c.R.buf)
	c.mu.Unlock()
	b.WriteString("id=" + strconv.FormatUint(c.ID, 10))
	b.WriteString(" addr=" + c.Addr)
	b.WriteString(" laddr=" + c.LAddr)
	b.WriteString(" fd=8 name=" + c.Name)
	b.WriteString(" age=" + strconv.FormatInt(int64(now.Sub(c.created).Seconds()), 10))
	b.WriteString(" idle=" + strconv.FormatInt((now.UnixMilli()-c.lastInteraction)/1000, 10))
	b.WriteString(" flags=" + flags)
	b.WriteString(" db=" + strconv.Itoa(db))
	b.WriteString(" sub=" + strconv.Itoa(len(c.channels)))
	b.WriteString(" psub=" + strconv.Itoa(len(c.patterns)))
	b.WriteString(" ssub=0")
	b.WriteString(" multi=" + strconv.Itoa(multi))
	b.WriteString(" qbuf=0 qbuf-free=0 argv-mem=" + strconv.FormatInt(c.argvMem, 10))
	b.WriteString(" multi-mem=0 rbs=1024 rbp=0 obl=" + strconv.Itoa(obl))
	b.WriteString(" oll=0 omem=" + strconv.Itoa(obl))
	b.WriteString(" tot-mem=" + strconv.Itoa(obl+1024))
	b.WriteString(" events=r cmd=" + cmd)
	b.WriteString(" user=default redir=-1 resp=" + strconv.Itoa(c.R.resp))
	return b.String()
}

// SetReplyMode is CLIENT REPLY ON|OFF|SKIP.
func (c *Client) SetReplyMode(mode string) {
	switch mode {
	case "on":
		c.replyOff, c.replySkip = false, false
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
