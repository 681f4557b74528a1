package server

// Hooks are what one subsystem the server does not import (the inference
// engine, persistence) plugs into the loop. Every field is optional. A
// subsystem registers its Hooks once (Register); the server keeps them in
// a list and calls each kind of hook on every registered subsystem, in
// registration order, as the methods below say. Every hook runs on the
// loop goroutine.
type Hooks struct {
	// Name says whose hooks these are (logs, duplicate registrations).
	Name string
	// HasWork reports work pending; Step then runs one step of it (one
	// batched forward pass). The loop steps every subsystem with work
	// once per turn, after the turn's commands.
	HasWork func() bool
	Step    func()
	// Cron runs at every server cron tick (hz times a second).
	Cron func()
	// Info returns the lines "field:value" of INFO section name, or nil
	// when the section is not this subsystem's. It may replace a section
	// the server renders itself (persistence). InfoNames lists the
	// sections it adds to INFO's default set, in their order.
	Info      func(name string) []string
	InfoNames []string
	// Shutdown runs before the process exits (SHUTDOWN, SIGTERM); save
	// says whether a snapshot is wanted. An error keeps the server
	// running, and the subsystems after this one are not called.
	Shutdown func(save bool) error
	// Gate can refuse a command before it runs (MISCONF): its error is
	// replied instead. The first subsystem refusing wins; the server's own
	// BUSY and model gates come after every subsystem's.
	Gate func(c *Client, spec *Spec, args [][]byte) error
	// KeyBusy / DBBusy report keys in use by queued or running jobs
	// (-BUSY, eviction skips them). A subsystem's keys can be busy only
	// while its HasWork reports true: the BUSY gate asks only then.
	KeyBusy func(db *DB, key string) bool
	DBBusy  func(db *DB) bool
	// EndJobs ends the jobs on db's keys (every database's, db nil) before
	// FLUSHDB/FLUSHALL empties it, as Redis's FLUSHALL always succeeds:
	// their clients get an error and no result is written back.
	EndJobs func(db *DB)
	// AfterFlushAll runs after FLUSHALL (a save when save points are set).
	AfterFlushAll func()
	// ClientGone is told when a blocked client disconnects (its job is
	// cancelled).
	ClientGone func(c *Client)
	// FreeMemory drops what a subsystem keeps only as a cache (idle
	// prefix-cache pages, token masks) when maxmemory is reached, before keys are
	// evicted; it returns the bytes released.
	FreeMemory func() int64
	// SessionsOnDisk reports that sessions live on disk (the session
	// store is open): under maxmemory a session chosen for eviction is
	// paged out (PageOut) instead of deleted, and one already paged out
	// (a Lazy value) is no candidate, so memory pressure never deletes a
	// session. PageOut replaces o.Val, a session in RAM, by a Lazy value
	// holding none of its pages, and returns the bytes that freed.
	SessionsOnDisk func() bool
	PageOut        func(db *DB, key string, o *Object) (int64, error)
	// ApplyConfig runs after CONFIG SET changed appendonly, appendfsync or
	// session-disk-max; an error undoes the CONFIG SET.
	ApplyConfig func() error
	// Propagate receives what a top-level command changed, as the
	// commands to log (Redis's also-propagate list): each in the database
	// it ran in, relative expiries already made absolute. More than one
	// op is one command's (EXEC's, a blocked client served) and should be
	// replayed as one.
	Propagate func(ops []Op)
	// BeforeReplies runs at the end of every loop turn before the
	// replies are written (Redis's beforeSleep writing its AOF buffer):
	// with appendfsync always, a reply leaves after its records are on
	// disk. It reports false when the records logged so far are not on
	// disk and must be before a reply to the commands that made them
	// leaves (appendfsync always, and the write failed: the disk is
	// full): the server holds those clients' replies and calls it again
	// every turn until it reports true.
	BeforeReplies func() bool
	// Model says the subsystem serves a model: commands flagged FlagModel
	// may run.
	Model bool
	// Functions returns the FUNCTION DUMP payload of the loaded function
	// libraries, nil when there are none: snapshots keep it (aux field
	// "functions") and an append-only log's rewritten base starts with a
	// FUNCTION RESTORE of it. RestoreFunctions loads one read from a
	// snapshot. Call both on the loop.
	Functions        func() []byte
	RestoreFunctions func(payload []byte) error
}

// FunctionsPayload returns the function libraries' payload for a snapshot
// or a log base (Hooks.Functions), nil when there are none.
func (s *Server) FunctionsPayload() []byte {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.Functions != nil {
			return h.Functions()
		}
	}
	return nil
}

// RestoreFunctions loads the libraries of a payload a snapshot kept.
func (s *Server) RestoreFunctions(payload []byte) error {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.RestoreFunctions != nil {
			return h.RestoreFunctions(payload)
		}
	}
	return Errorf("the snapshot holds function libraries and no scripting engine is registered")
}

// Register adds a subsystem's hooks. Call it before Start: the list is
// the loop's once it runs. Registering after Start, or one name twice, is
// a programmer error and panics.
func (s *Server) Register(h Hooks) {
	if s.started {
		panic("server: hooks " + h.Name + " registered after Start")
	}
	for _, o := range s.hooks {
		if h.Name != "" && o.Name == h.Name {
			panic("server: hooks " + h.Name + " registered twice")
		}
	}
	s.hooks = append(s.hooks, h)
}

// hasWork reports whether a subsystem has work pending.
func (s *Server) hasWork() bool {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.HasWork != nil && h.HasWork() {
			return true
		}
	}
	return false
}

// step runs one step of every subsystem with work pending.
func (s *Server) step() {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.HasWork != nil && h.Step != nil && h.HasWork() {
			h.Step()
		}
	}
}

func (s *Server) cronHooks() {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.Cron != nil {
			h.Cron()
		}
	}
}

// infoHook returns a subsystem's lines of section name, nil if none has it.
func (s *Server) infoHook(name string) []string {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.Info != nil {
			if lines := h.Info(name); lines != nil {
				return lines
			}
		}
	}
	return nil
}

// infoNames lists the sections the subsystems add to INFO's default set.
func (s *Server) infoNames() []string {
	var out []string
	for i := range s.hooks {
		out = append(out, s.hooks[i].InfoNames...)
	}
	return out
}

func (s *Server) shutdownHooks(save bool) error {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.Shutdown != nil {
			if err := h.Shutdown(save); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) gate(c *Client, spec *Spec, args [][]byte) error {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.Gate != nil {
			if err := h.Gate(c, spec, args); err != nil {
				return err
			}
		}
	}
	return nil
}

// servesModel reports whether a registered subsystem serves a model.
func (s *Server) servesModel() bool {
	for i := range s.hooks {
		if s.hooks[i].Model {
			return true
		}
	}
	return false
}

// KeyBusy reports whether a subsystem's job uses key.
func (s *Server) KeyBusy(db *DB, key string) bool {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.KeyBusy != nil && h.KeyBusy(db, key) {
			return true
		}
	}
	return false
}

func (s *Server) dbBusy(db *DB) bool {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.DBBusy != nil && h.DBBusy(db) {
			return true
		}
	}
	return false
}

// EndJobs ends every subsystem's jobs on db (nil: on every database)
// before a flush.
func (s *Server) EndJobs(db *DB) {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.EndJobs != nil {
			h.EndJobs(db)
		}
	}
}

// AfterFlushAll tells the subsystems that FLUSHALL emptied the keyspace.
func (s *Server) AfterFlushAll() {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.AfterFlushAll != nil {
			h.AfterFlushAll()
		}
	}
}

func (s *Server) clientGone(c *Client) {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.ClientGone != nil {
			h.ClientGone(c)
		}
	}
}

// freeMemoryHooks asks every subsystem to drop its caches; it returns the
// bytes released.
func (s *Server) freeMemoryHooks() int64 {
	var n int64
	for i := range s.hooks {
		if h := &s.hooks[i]; h.FreeMemory != nil {
			n += h.FreeMemory()
		}
	}
	return n
}

// Op is one command to propagate, in database DB. Args are the caller's
// until Propagate returns. Raw, when set instead of Args, is records
// already encoded for the log (a session's RDW.* records, which carry
// checksums and binary fields only their writer knows how to build).
type Op struct {
	DB   int
	Args [][]byte
	Raw  []byte
}

// sessionsOnDisk reports whether a subsystem keeps sessions on disk.
func (s *Server) sessionsOnDisk() bool {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.SessionsOnDisk != nil && h.SessionsOnDisk() {
			return true
		}
	}
	return false
}

// pageOut pages a session out through the first subsystem that can.
func (s *Server) pageOut(db *DB, key string, o *Object) (int64, error) {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.PageOut != nil && h.SessionsOnDisk != nil && h.SessionsOnDisk() {
			return h.PageOut(db, key, o)
		}
	}
	return 0, Errorf("no session store")
}

func (s *Server) propagateHooks(ops []Op) {
	for i := range s.hooks {
		if h := &s.hooks[i]; h.Propagate != nil {
			h.Propagate(ops)
		}
	}
}

func (s *Server) beforeRepliesHooks() bool {
	durable := true
	for i := range s.hooks {
		if h := &s.hooks[i]; h.BeforeReplies != nil && !h.BeforeReplies() {
			durable = false
		}
	}
	return durable
}
