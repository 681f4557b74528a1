package server

import "time"

// cron runs hz times a second on the loop: active expiry in every database,
// idle-client timeouts, and the subsystems' periodic work (save points).
func (s *Server) cron() {
	s.nowMS = 0
	s.clock.anchor()
	budget := time.Second / time.Duration(max(s.Config.Hz, 1)) / 4
	for _, db := range s.DBs {
		if s.noActiveExpire {
			break
		}
		db.activeExpireCycle(budget / time.Duration(len(s.DBs)))
	}
	if t := s.Config.Timeout; t > 0 {
		now := time.Now().UnixMilli()
		for _, c := range s.clients {
			if c.blocked != nil || c.InPubSub() || c.monitor {
				continue
			}
			if now-c.lastInteraction > t*1000 {
				s.logf("verbose", "Closing idle client")
				c.kill()
			}
		}
	}
	s.clientsCron()
	s.trackingLimit()
	s.cronHooks()
}

// clientsCron looks at the clients' query buffers, spread over the ticks
// as Redis's clientsCron spreads them: every tick covers at least 5
// clients or 1/hz of them, so each is seen at least once a second (every
// tick when there are few).
func (s *Server) clientsCron() {
	s.cronTicks++
	n := len(s.clients)
	perTick := max(n/max(s.Config.Hz, 1), 5)
	every := uint64((n + perTick - 1) / perTick) // a client is seen every this many ticks
	if every == 0 {
		return
	}
	now := time.Now().UnixMilli()
	for _, c := range s.clients {
		if (c.ID+s.cronTicks)%every != 0 {
			continue
		}
		if rd := c.reader.Load(); rd != nil {
			rd.resizeQueryBuffer(now-c.lastInteraction > 2000)
		}
		if c.readPaused && c.pendingOut.Load() <= maxUnsentOutput/2 {
			c.readPaused = false
			s.poller.setReading(c, true)
		}
	}
}
