package server

import "math/rand/v2"

// The LFU counter is Redis's logarithmic one: it starts at 5, grows with
// probability 1/((counter-5)*lfu-log-factor+1), and decays by one every
// lfu-decay-time minutes without access.
const lfuInitVal = 5

func (s *Server) lfuIncr(o *Object, nowMS int64) {
	o.lfu = s.lfuDecayed(o, nowMS)
	o.lfuMins = nowMS / 60000
	if o.lfu == 255 {
		return
	}
	base := float64(o.lfu) - lfuInitVal
	if base < 0 {
		base = 0
	}
	p := 1.0 / (base*float64(s.Config.LFULogFactor) + 1)
	if rand.Float64() < p {
		o.lfu++
	}
}

// lfuDecayed is o's counter after the decay due at nowMS, leaving o as it
// is: an access stores it (lfuIncr); eviction only ranks by it.
func (s *Server) lfuDecayed(o *Object, nowMS int64) uint8 {
	d := int64(s.Config.LFUDecayTime)
	if d <= 0 || o.lfuMins <= 0 {
		return o.lfu
	}
	periods := (nowMS/60000 - o.lfuMins) / d
	if periods <= 0 {
		return o.lfu
	}
	if periods >= int64(o.lfu) {
		return 0
	}
	return o.lfu - uint8(periods)
}

// LFU returns the object's access frequency counter (OBJECT FREQ).
func (o *Object) LFU() int { return int(o.lfu) }

// IdleMS is the time since the last access (OBJECT IDLETIME).
func (o *Object) IdleMS(nowMS int64) int64 { return nowMS - o.lruMS }

// SetIdle backdates the last access (RESTORE IDLETIME).
func (o *Object) SetIdle(nowMS, idleMS int64) { o.lruMS = nowMS - idleMS }

// SetFreq sets the LFU counter (RESTORE FREQ).
func (o *Object) SetFreq(f int) { o.lfu = uint8(f) }

// WithNoTouch runs fn with access-time updates suspended (OBJECT, TYPE...
// must not count as accesses).
func (s *Server) WithNoTouch(fn func()) {
	old := s.noTouch
	s.noTouch = true
	fn()
	s.noTouch = old
}
