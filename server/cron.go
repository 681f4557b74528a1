package server

import "time"

// cron runs hz times a second on the loop: active expiry in every database,
// idle-client timeouts, and the subsystems' periodic work (save points).
func (s *Server) cron() {
	s.nowMS = 0
	budget := time.Second / time.Duration(s.Config.Hz) / 4
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
	if s.Hooks.Cron != nil {
		s.Hooks.Cron()
	}
}
