package server

// Transactions: MULTI queues, EXEC runs the queue atomically (the loop runs
// nothing else meanwhile), WATCH makes EXEC fail if a watched key changed.

// Multi starts a transaction.
func (s *Server) Multi(c *Client) error {
	if c.multi != nil {
		return ErrMultiNested
	}
	c.multi = &multiState{}
	return nil
}

// Discard drops the transaction and the watches.
func (s *Server) Discard(c *Client) error {
	if c.multi == nil {
		return ErrDiscardNoMulti
	}
	c.multi = nil
	s.unwatchAll(c)
	return nil
}

// Exec runs the queued commands and replies their results as one array, a
// null array if a watched key changed, or EXECABORT.
func (s *Server) Exec(c *Client) {
	if c.multi == nil {
		s.countError(ErrExecWithoutMult)
		c.R.Error(ErrExecWithoutMult)
		return
	}
	m := c.multi
	c.multi = nil
	if m.aborted {
		s.unwatchAll(c)
		s.countError(ErrExecAbort)
		c.R.Error(ErrExecAbort)
		return
	}
	if s.watchTouched(c) {
		s.unwatchAll(c)
		c.R.NullArray()
		return
	}
	s.unwatchAll(c)
	c.R.Array(len(m.queue))
	for _, args := range m.queue {
		s.Call(c, args)
	}
}

// Watch adds keys of c's current database to its watch list.
func (s *Server) Watch(c *Client, keys [][]byte) error {
	if c.multi != nil {
		return ErrWatchInMulti
	}
	for _, kb := range keys {
		k := string(kb)
		dup := false
		for _, w := range c.watched {
			if w.db == c.DB && w.key == k {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		_, hasTTL := c.DB.expires[k]
		expired := hasTTL && c.DB.expires[k] <= s.Now()
		c.watched = append(c.watched, watchedKey{db: c.DB, key: k, expiredThen: expired})
		id := watchedKeyID{c.DB.ID, k}
		if s.watchers[id] == nil {
			s.watchers[id] = map[*Client]struct{}{}
		}
		s.watchers[id][c] = struct{}{}
	}
	return nil
}

// Unwatch forgets every watched key.
func (s *Server) Unwatch(c *Client) { s.unwatchAll(c) }

func (s *Server) unwatchAll(c *Client) {
	for _, w := range c.watched {
		id := watchedKeyID{w.db.ID, w.key}
		delete(s.watchers[id], c)
		if len(s.watchers[id]) == 0 {
			delete(s.watchers, id)
		}
	}
	c.watched = nil
	c.dirtyCAS = false
}

// watchTouched reports whether EXEC must fail: a watched key was modified,
// or it has logically expired since WATCH (Redis 7.0).
func (s *Server) watchTouched(c *Client) bool {
	if c.dirtyCAS {
		return true
	}
	for _, w := range c.watched {
		if w.expiredThen {
			continue
		}
		if when, ok := w.db.expires[w.key]; ok && when <= s.Now() {
			return true
		}
	}
	return false
}

// signalModified marks every client watching key in db and invalidates
// key for clients tracking it (tracking.go).
func (s *Server) signalModified(db *DB, key string) {
	s.trackingKeyModified(db, key)
	if len(s.watchers) == 0 {
		return
	}
	for c := range s.watchers[watchedKeyID{db.ID, key}] {
		c.dirtyCAS = true
	}
}

// TouchAllWatched marks watchers of every existing key in db (FLUSHDB,
// SWAPDB), and with other set, keys existing in other too.
func (s *Server) TouchAllWatched(db *DB, other *DB) {
	for id, cs := range s.watchers {
		if id.db != db.ID {
			continue
		}
		_, exists := db.dict[id.key]
		if !exists && other != nil {
			_, exists = other.dict[id.key]
		}
		if exists {
			for c := range cs {
				c.dirtyCAS = true
			}
		}
	}
}

// SwapDB exchanges two databases' contents (SWAPDB); clients keep their
// selected index and so see the other contents, as in Redis.
func (s *Server) SwapDB(a, b int) {
	if a == b {
		return
	}
	s.TouchAllWatched(s.DBs[a], s.DBs[b])
	s.TouchAllWatched(s.DBs[b], s.DBs[a])
	s.DBs[a].swap(s.DBs[b])
	s.signalSwapped(s.DBs[a], s.DBs[b])
}

// CheckBusy returns -BUSY if any of keys in db is in use by a running job
// (a GEN on a session); commands that would change such a key call it.
func (s *Server) CheckBusy(db *DB, keys ...string) error {
	for _, k := range keys {
		if s.KeyBusy(db, k) {
			return &Error{"BUSY key '" + k + "' is in use by a running GEN; wait for it to finish"}
		}
	}
	return nil
}

// CheckBusyDB returns -BUSY if any key of db is in use by a running job.
func (s *Server) CheckBusyDB(db *DB) error {
	if s.dbBusy(db) {
		return &Error{"BUSY a running GEN uses a key of this database; wait for it to finish"}
	}
	return nil
}
