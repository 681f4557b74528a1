package server

import "sort"

// Subscribe adds channels (or patterns) to c and replies one confirmation
// per name, as Redis does: [subscribe|psubscribe, name, count].
func (s *Server) Subscribe(c *Client, names [][]byte, pattern bool) {
	kind, set, own := "subscribe", s.channels, &c.channels
	if pattern {
		kind, set, own = "psubscribe", s.patterns, &c.patterns
	}
	for _, nb := range names {
		n := string(nb)
		if *own == nil {
			*own = map[string]bool{}
		}
		if !(*own)[n] {
			(*own)[n] = true
			if set[n] == nil {
				set[n] = map[*Client]struct{}{}
			}
			set[n][c] = struct{}{}
		}
		c.confirm(kind, n, true)
	}
}

// confirm writes a (un)subscribe confirmation; under CLIENT REPLY OFF/SKIP
// it goes to c.pushes, which execute keeps.
func (c *Client) confirm(kind, name string, hasName bool) {
	r := &c.R
	var side Reply
	if c.replyOff || c.replySkipping {
		side = Reply{buf: c.pushes, resp: c.R.resp}
		r = &side
	}
	r.Push(3)
	r.BulkString(kind)
	if hasName {
		r.BulkString(name)
	} else {
		r.Null()
	}
	r.Int(int64(len(c.channels) + len(c.patterns)))
	if r == &side {
		c.pushes = side.buf
	}
}

// Unsubscribe removes the named channels (or patterns), or all of them when
// names is empty, replying one confirmation per name.
func (s *Server) Unsubscribe(c *Client, names [][]byte, pattern bool) {
	kind, own := "unsubscribe", c.channels
	if pattern {
		kind, own = "punsubscribe", c.patterns
	}
	if len(names) == 0 {
		var all []string
		for n := range own {
			all = append(all, n)
		}
		sort.Strings(all)
		if len(all) == 0 {
			c.confirm(kind, "", false)
			return
		}
		for _, n := range all {
			names = append(names, []byte(n))
		}
	}
	for _, nb := range names {
		s.unsubscribeOne(c, string(nb), pattern)
		c.confirm(kind, string(nb), true)
	}
}

func (s *Server) unsubscribeOne(c *Client, n string, pattern bool) {
	set, own := s.channels, c.channels
	if pattern {
		set, own = s.patterns, c.patterns
	}
	if !own[n] {
		return
	}
	delete(own, n)
	delete(set[n], c)
	if len(set[n]) == 0 {
		delete(set, n)
	}
}

func (s *Server) unsubscribeAll(c *Client, reply bool) {
	for n := range c.channels {
		s.unsubscribeOne(c, n, false)
	}
	for n := range c.patterns {
		s.unsubscribeOne(c, n, true)
	}
}

// Publish delivers msg to every subscriber of channel and every matching
// pattern; it returns the number of receivers.
func (s *Server) Publish(channel string, msg []byte) int {
	n := 0
	for c := range s.channels[channel] {
		c.push(func(r *Reply) {
			r.Push(3)
			r.BulkString("message")
			r.BulkString(channel)
			r.Bulk(msg)
		})
		n++
	}
	for pat, subs := range s.patterns {
		if !GlobMatch(pat, channel, false) {
			continue
		}
		for c := range subs {
			c.push(func(r *Reply) {
				r.Push(4)
				r.BulkString("pmessage")
				r.BulkString(pat)
				r.BulkString(channel)
				r.Bulk(msg)
			})
			n++
		}
	}
	s.Stats.PubsubMessages++
	return n
}

// PubsubChannels lists active channels matching pattern ("" = all).
func (s *Server) PubsubChannels(pattern string) []string {
	var out []string
	for ch := range s.channels {
		if pattern == "" || GlobMatch(pattern, ch, false) {
			out = append(out, ch)
		}
	}
	sort.Strings(out)
	return out
}

// PubsubNumSub is the subscriber count of a channel.
func (s *Server) PubsubNumSub(ch string) int { return len(s.channels[ch]) }

// PubsubNumPat is the number of distinct subscribed patterns.
func (s *Server) PubsubNumPat() int { return len(s.patterns) }

// ResetClient is RESET: back to a fresh connection's state.
func (s *Server) ResetClient(c *Client) {
	c.multi = nil
	s.unwatchAll(c)
	s.unsubscribeAll(c, false)
	if c.monitor {
		delete(s.monitors, c)
		c.monitor = false
	}
	c.DB = s.DBs[0]
	c.R.resp = 2
	c.Name = ""
	c.replyOff, c.replySkip = false, false
	c.noEvict = false
	s.DisableTracking(c)
	c.authed.Store(s.Config.RequirePass == "")
}
