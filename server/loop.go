package server

import (
	"errors"
	"runtime"
	"time"
)

// loop is the one goroutine that owns the keyspace. Each turn:
//
//  1. run the command batches that have arrived (every client's pipeline,
//     in arrival order, each command to completion unless it blocks);
//  2. if an engine has work (GEN jobs), run one engine step for all of
//     them together, then go back to 1 without sleeping, so any command
//     waits at most one step;
//  3. otherwise sleep until a batch, an event or the cron tick arrives.
//
// The cron (cron.go) runs hz times a second: active expiry, client
// timeouts, save points.
func (s *Server) loop() {
	defer close(s.stopped)
	if s.poller != nil {
		s.loopPolled()
		return
	}
	tick := time.NewTicker(time.Second / time.Duration(max(s.Config.Hz, 1)))
	defer tick.Stop()
	hz := s.Config.Hz
	cron := func() {
		s.cron()
		s.flushWrites()
		if s.Config.Hz != hz {
			hz = s.Config.Hz
			tick.Reset(time.Second / time.Duration(max(hz, 1)))
		}
	}
	for {
		// The tick and the stop are looked at first, without blocking, so
		// that neither engine work nor a steady stream of requests can
		// starve the cron.
		select {
		case <-tick.C:
			cron()
		default:
		}
		select {
		case <-s.stopping:
			return
		default:
		}
		if s.hasWork() {
			// Drain what has arrived without blocking, then step.
			s.drain()
			s.step()
			s.flushWrites()
			continue
		}
		// A request already queued is taken without the full select below
		// (which locks every channel it waits on): under load, this path.
		select {
		case r := <-s.requests:
			s.drained = len(r.batch)
			s.runRequest(r)
			s.drain()
			continue
		default:
		}
		select {
		case r := <-s.requests:
			s.drained = len(r.batch)
			s.runRequest(r)
			s.drain()
		case fn := <-s.events:
			fn()
			s.drain()
		case <-tick.C:
			cron()
		case <-s.stopping:
			return
		}
	}
}

// loopPolled is the loop when it reads its clients' sockets itself
// (poller.go): the same turn, with the epoll wait in place of the
// channel select. Batches from goroutine readers (connections without a
// pollable socket) and Post'ed work still come through the channels; the
// poller's eventfd wakes the wait for them.
func (s *Server) loopPolled() {
	p := s.poller
	period := time.Second / time.Duration(max(s.Config.Hz, 1))
	lastCron := time.Now()
	p.allowHoldingP(runtime.GOMAXPROCS(0) > 1)
	for {
		if since := time.Since(lastCron); since >= period {
			lastCron = lastCron.Add(since / period * period)
			s.cron()
			s.flushWrites()
			s.dropClosed()
			period = time.Second / time.Duration(max(s.Config.Hz, 1))
			p.allowHoldingP(runtime.GOMAXPROCS(0) > 1) // it may change (cgroup limits)
		}
		select {
		case <-s.stopping:
			return
		default:
		}
		busy := s.hasWork()
		timeout := 0
		if !busy && !s.takeQueued() {
			// Nothing to do: sleep until input, a wake-up or the cron.
			p.sleeping.Store(true)
			if len(s.requests) == 0 && len(s.events) == 0 {
				timeout = int((period - time.Since(lastCron) + time.Millisecond - 1) / time.Millisecond)
				timeout = max(timeout, 1)
			}
		}
		p.wait(timeout, s.readClient, s.writeQueued)
		p.sleeping.Store(false)
		s.takeQueued()
		if busy {
			s.step()
		}
		s.flushWrites()
		s.dropClosed()
	}
}

// takeQueued runs what goroutines queued for the loop, without waiting;
// it reports whether there was anything.
func (s *Server) takeQueued() bool {
	took := false
	for i := 0; i < 4096; i++ {
		select {
		case r := <-s.requests:
			s.runRequest(r)
			took = true
			continue
		default:
		}
		select {
		case fn := <-s.events:
			fn()
			took = true
			continue
		default:
		}
		break
	}
	return took
}

// readClient reads what a polled client sent and runs its complete
// commands at once, as Redis's readQueryFromClient does.
func (s *Server) readClient(c *Client) {
	if c.pendingOut.Load() > maxUnsentOutput {
		// It does not read its replies: stop reading its commands until
		// the writer catches up (the cron turns reading back on).
		s.poller.setReading(c, false)
		c.readPaused = true
		return
	}
	rd := c.reader.Load()
	batch, perr, rerr := rd.readFrom(c.fd)
	if len(batch) > 0 {
		s.runBatch(c, batch)
		if len(c.pending) == 0 && c.blocked == nil {
			// Ran to its end, nothing parked: the reader may refill the
			// batch's argument lists next time.
			rd.release()
		}
	}
	switch {
	case perr == nil:
		if rerr != nil {
			s.dropClient(c)
		}
	case perr == errQueryBufExceeded:
		s.logf("warning", "Closing client that reached max query buffer length: id=%d addr=%s", c.ID, c.Addr)
		s.dropClient(c)
	default:
		s.readFailed(c, perr, rerr)
	}
}

// readFailed ends a read that met a protocol error: Redis runs what came
// before (done), replies the error, then closes. Apart from readClient
// because pe, whose address errors.As takes, lives on the heap: declared
// there, it cost an allocation per read.
func (s *Server) readFailed(c *Client, perr, rerr error) {
	var pe protocolError
	switch {
	case errors.As(perr, &pe):
		s.poller.setReading(c, false)
		s.runRequest(request{c: c, protoErr: pe})
	case rerr != nil:
		s.dropClient(c)
	}
}

// dropClient ends a polled client: its socket is closed (if the loop has
// not closed it already) and it is unlinked.
func (s *Server) dropClient(c *Client) {
	if c.dropped {
		return
	}
	c.dropped = true
	c.kill()
	s.unlinkClient(c)
	s.nclients.Add(-1)
}

// dropClosed unlinks the polled clients closed during this turn (CLIENT
// KILL, QUIT, timeouts: kill queues them, as their command may still run).
func (s *Server) dropClosed() {
	for len(s.closedClients) > 0 {
		c := s.closedClients[0]
		s.closedClients = s.closedClients[1:]
		s.dropClient(c)
	}
	s.closedClients = s.closedClients[:0]
}

// drain runs everything already queued, without waiting.
func (s *Server) drain() {
	yielded := false
	for i := 0; i < 4096; i++ {
		// Two one-case selects compile to plain non-blocking receives,
		// cheaper than one select over both channels.
		got := false
		select {
		case r := <-s.requests:
			s.drained += len(r.batch)
			s.runRequest(r)
			got = true
		default:
		}
		select {
		case fn := <-s.events:
			fn()
		default:
			if got {
				continue
			}
			if !yielded && s.drained <= 2 {
				// Unpipelined traffic: let connection goroutines that are
				// ready on this thread hand in their requests first, so
				// one loop wake-up serves several clients. Pipelined
				// batches are big enough already.
				yielded = true
				runtime.Gosched()
				continue
			}
			s.drained = 0
			s.flushWrites()
			return
		}
	}
	s.drained = 0
	s.flushWrites()
}

// Post hands fn to the loop goroutine (from any goroutine).
func (s *Server) Post(fn func()) { s.post(fn) }

// runRequest handles one request from a client's connection goroutine.
func (s *Server) runRequest(r request) {
	if r.hangup {
		s.unlinkClient(r.c)
		return
	}
	if len(r.batch) > 0 {
		<-r.c.batchSlots // taken by serveConn; the batch is ours now
		s.runBatch(r.c, r.batch)
	}
	if r.protoErr != "" {
		c := r.c
		s.linkClient(c)
		s.countError(Errorf(string(r.protoErr)))
		c.R.Error(Errorf(r.protoErr.Error()))
		c.closeAfterReply = true
		c.scheduleWrite()
	}
}

// runBatch executes a client's pipeline. A command that blocks the client
// parks the rest of the batch in c.pending; Unblock resumes it.
func (s *Server) runBatch(c *Client, batch [][][]byte) {
	s.linkClient(c) // the link event may still be queued behind this batch
	if c.blocked != nil || (s.busy != nil && s.busy.caller == c) {
		// Queued behind the blocked command, or behind the script that
		// is serving other clients from inside it (script.go), as query
		// buffer: past client-query-buffer-limit the client is closed,
		// as Redis closes one whose query buffer outgrows it.
		for _, args := range batch {
			c.parkedBytes += commandBytes(args)
		}
		c.pending = append(c.pending, batch...)
		if c.parkedBytes > s.Config.ClientQueryBufferLimit {
			s.logf("warning", "Closing client that reached max query buffer length: id=%d addr=%s", c.ID, c.Addr)
			c.pending, c.parkedBytes = nil, 0
			c.kill()
		}
		return
	}
	c.pending = batch
	s.resume(c)
}

// resume runs c.pending until it is empty or the client blocks.
func (s *Server) resume(c *Client) {
	s.clock.chain = false // the first command of a batch reads the clock
	defer func() { s.clock.chain = false }()
	for len(c.pending) > 0 && c.blocked == nil {
		args := c.pending[0]
		c.pending = c.pending[1:]
		if c.parkedBytes > 0 {
			c.parkedBytes -= commandBytes(args)
		}
		if c.closed || c.closeAfterReply {
			continue // QUIT, CLIENT KILL: nothing after it runs
		}
		s.execute(c, args)
	}
	if c.blocked == nil {
		c.pending, c.parkedBytes = nil, 0
		return
	}
	if c.parkedBytes == 0 {
		// Just blocked: what follows the command waits as query buffer.
		for _, args := range c.pending {
			c.parkedBytes += commandBytes(args)
		}
	}
}

// flushWrites sends every client's pending output (end of a loop turn).
//
// A client whose commands logged records (awaitsLog) gets its replies only
// once those records are durable: when the log could not be written
// (appendfsync always and a full disk), its output is held, in order,
// until a later turn's flush succeeds, so nothing is acknowledged that a
// crash could lose. Other clients' replies, reads among them, go out.
func (s *Server) flushWrites() {
	durable := s.beforeRepliesHooks()
	s.trackingBeforeSleep() // BCAST invalidations collected this turn
	for i, c := range s.pendingWrites {
		s.pendingWrites[i] = nil
		if c.awaitsLog && !durable {
			c.writeScheduled = false
			if !c.heldForLog {
				c.heldForLog = true
				s.heldForLog = append(s.heldForLog, c)
			}
			continue
		}
		c.awaitsLog = false
		c.writeOut()
	}
	s.pendingWrites = s.pendingWrites[:0]
	if durable && len(s.heldForLog) > 0 {
		for i, c := range s.heldForLog {
			s.heldForLog[i] = nil
			c.heldForLog, c.awaitsLog = false, false
			c.writeOut()
		}
		s.heldForLog = s.heldForLog[:0]
	}
}

func (s *Server) linkClient(c *Client) {
	if c.linked {
		return
	}
	c.linked = true
	c.lastInteraction = time.Now().UnixMilli()
	s.clients[c.ID] = c
	s.Stats.ConnectionsReceived++
}

func (s *Server) unlinkClient(c *Client) {
	if _, ok := s.clients[c.ID]; !ok {
		return
	}
	c.closed = true
	s.keyWaitGone(c)
	if c.blocked != nil {
		s.clientGone(c)
	}
	c.blocked = nil
	s.unwatchAll(c)
	s.unsubscribeAll(c, false)
	s.DisableTracking(c)
	delete(s.monitors, c)
	delete(s.clients, c.ID)
	close(c.kick)
}

// Stop ends the loop and the listeners. exitCode is what main returns.
func (s *Server) Stop(exitCode int) {
	s.stopOnce.Do(func() {
		s.exitCode = exitCode
		for _, l := range s.listeners {
			l.Close()
		}
		close(s.stopping)
		if s.poller != nil {
			s.poller.sleeping.Store(true)
			s.poller.wake()
		}
	})
}

// Wait blocks until the loop has stopped and returns the exit code.
func (s *Server) Wait() int {
	<-s.stopped
	if s.logFile != nil {
		s.logFile.Close()
	}
	return s.exitCode
}

// Clients returns the connected clients (loop goroutine only).
func (s *Server) Clients() map[uint64]*Client { return s.clients }
