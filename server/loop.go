package server

import (
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
	tick := time.NewTicker(time.Second / time.Duration(s.Config.Hz))
	defer tick.Stop()
	hz := s.Config.Hz
	cron := func() {
		s.cron()
		s.flushWrites()
		if s.Config.Hz != hz {
			hz = s.Config.Hz
			tick.Reset(time.Second / time.Duration(hz))
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
		if s.Hooks.HasWork != nil && s.Hooks.HasWork() {
			// Drain what has arrived without blocking, then step.
			s.drain()
			s.Hooks.Step()
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
func (s *Server) Post(fn func()) {
	select {
	case s.events <- fn:
	case <-s.stopping:
	}
}

// runRequest handles one request from a client's connection goroutine.
func (s *Server) runRequest(r request) {
	if r.hangup {
		s.unlinkClient(r.c)
		return
	}
	if len(r.batch) > 0 {
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
	if c.blocked != nil {
		c.pending = append(c.pending, batch...) // queued behind the blocked command
		return
	}
	c.pending = batch
	s.resume(c)
}

// resume runs c.pending until it is empty or the client blocks, then
// releases the network goroutine.
func (s *Server) resume(c *Client) {
	s.clock.chain = false // the first command of a batch reads the clock
	defer func() { s.clock.chain = false }()
	for len(c.pending) > 0 && c.blocked == nil {
		args := c.pending[0]
		c.pending = c.pending[1:]
		if c.closed || c.closeAfterReply {
			continue // QUIT, CLIENT KILL: nothing after it runs
		}
		s.execute(c, args)
	}
	if c.blocked == nil {
		c.pending = nil
	}
}

// flushWrites sends every client's pending output (end of a loop turn).
func (s *Server) flushWrites() {
	s.trackingBeforeSleep() // BCAST invalidations collected this turn
	for i, c := range s.pendingWrites {
		c.writeOut()
		s.pendingWrites[i] = nil
	}
	s.pendingWrites = s.pendingWrites[:0]
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
	if c.blocked != nil && s.Hooks.ClientGone != nil {
		s.Hooks.ClientGone(c)
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
