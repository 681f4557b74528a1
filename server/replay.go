package server

// Replaying a log at start-up (Redis's AOF loading): the store hands
// persistence its records one by one, and the Redis ones run through the
// command table as a client with no connection would run them. Nothing a
// replayed command changes is propagated (the log it comes from is not
// open for appending yet), and no gate applies: the log holds what was
// acknowledged, and refusing it now (MISCONF, BUSY, maxmemory) would
// lose it.

// NewReplayClient returns a client with no connection, in database 0,
// for ReplayCommand.
func (s *Server) NewReplayClient() *Client {
	c := &Client{ID: s.nextID.Add(1), srv: s, Addr: "replay", fd: -1}
	c.R.resp = 2
	c.DB = s.DBs[0]
	c.authed.Store(true)
	return c
}

// ReplayCommand runs args as c and returns the error it replied, if
// any. An unknown command is an error too: a log naming one was not
// written by this server.
func (s *Server) ReplayCommand(c *Client, args [][]byte) error {
	spec := s.Commands.Lookup(args[0])
	if spec == nil {
		return unknownCommand(args)
	}
	if len(spec.Sub) > 0 && len(args) >= 2 {
		if sub := spec.Subcommand(args[1]); sub != nil {
			spec = sub
		}
	}
	s.startNS = s.clock.commandStart()
	c.R.buf = c.R.buf[:0]
	s.call(c, spec, args)
	if b := c.R.buf; len(b) > 0 && b[0] == '-' {
		end := len(b)
		for end > 0 && (b[end-1] == '\n' || b[end-1] == '\r') {
			end--
		}
		return &Error{string(b[1:end])}
	}
	return nil
}
