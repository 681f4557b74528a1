package server

import (
	"sort"
	"strings"
)

// Client-side caching (CLIENT TRACKING), with Redis 7.0's semantics.
//
// A client that turns tracking on is told when a key it may have cached
// changes, so it can drop its copy. Two modes:
//
//   - Default: after every read-only command of a tracking client, the keys
//     it read go into the tracking table (key → IDs of clients that may
//     cache it). When such a key is modified, each of those clients gets one
//     invalidation and the key leaves the table: a client is told once per
//     read, not once per write. OPTIN (remember only after CLIENT CACHING
//     yes) and OPTOUT (remember unless CLIENT CACHING no) narrow what is
//     remembered; NOLOOP skips the client's own writes.
//   - BCAST: nothing is remembered per key. The client subscribes to
//     prefixes (the empty prefix = every key); a modified key matching one
//     is collected in that prefix's state, and at the end of the loop turn
//     (flushWrites, as Redis's beforeSleep) every subscriber gets one
//     message with the keys of its prefix modified during the turn.
//
// Delivery (sendTrackingMessage): a RESP3 connection gets a push
// ["invalidate", [key ...]] on itself; with REDIRECT id the message goes to
// that client instead, as a push if it speaks RESP3, or as a pub/sub
// "message" on __redis__:invalidate if it is a RESP2 client in pub/sub
// mode. A RESP2 client without a redirect gets nothing. If the redirect
// client is gone, the tracking client is flagged broken (CLIENT LIST R)
// and, in RESP3, told with a ["tracking-redir-broken", id] push.
// FLUSHDB/FLUSHALL send every tracking client a null ("all keys") and empty
// the tracking table, which is shared by all databases: keys are names.
//
// Ordering: an invalidation for the client whose command is running goes
// after that command's reply (after the whole EXEC for a transaction), so
// it never lands inside a reply; one caused before the command runs (the
// table limit, an eviction) goes before it. The owner of a GEN hears about
// its own key after GEN's reply, as Redis serves unblocked clients.
//
// The table is bounded by tracking-table-max-keys: before each command and
// at each cron tick, random keys are dropped (their clients invalidated as
// if the key had changed) until the table fits, with an effort that grows
// while it keeps not fitting.
//
// Cost when nobody tracks: the command path checks one pointer
// (Client.tracking), and signalModified one (Server.trk), which stays nil
// until the first CLIENT TRACKING on.

// trackingChannel is the pub/sub channel RESP2 redirect clients read.
const trackingChannel = "__redis__:invalidate"

// clientTracking is one client's CLIENT TRACKING state; Client.tracking is
// nil while tracking is off.
type clientTracking struct {
	redirect    uint64 // client ID the messages go to; 0 = this connection
	bcast       bool
	optin       bool
	optout      bool
	noloop      bool
	caching     bool                // CLIENT CACHING yes|no, for the next command (or transaction)
	brokenRedir bool                // the redirect client has gone away
	prefixes    map[string]struct{} // BCAST prefixes ("" = every key)
	deferred    [][]byte            // payloads held while blocked on the key they name
}

// trackingTables is the server-wide state, allocated by the first CLIENT
// TRACKING on and kept from then on (Redis keeps its tables too).
type trackingTables struct {
	clients  int                            // clients with tracking on (INFO tracking_clients)
	keys     map[string]map[uint64]struct{} // key → IDs of clients that may cache it
	items    int                            // IDs over all keys (INFO tracking_total_items)
	prefixes map[string]*bcastState         // BCAST prefix → keys modified this turn, subscribers
	bcastDue bool                           // some prefix collected keys this turn
	expiring bool                           // the change is an expiry: no client made it
	pending  []pendingInvalidation          // for the running client, sent after its reply
	overruns int                            // limit runs in a row that did not fit the table
}

// bcastState is one BCAST prefix: its subscribers and the keys modified
// during the current loop turn, each with the client that modified it last
// (nil outside a command), so NOLOOP subscribers can skip their own.
type bcastState struct {
	keys    map[string]*Client
	clients map[*Client]struct{}
}

// pendingInvalidation is a key (or, with flush set, "all keys") to tell the
// running client once its command has replied.
type pendingInvalidation struct {
	key   string
	flush bool
}

// TrackingOptions are CLIENT TRACKING on's options, parsed.
type TrackingOptions struct {
	Redirect uint64 // 0 = none
	BCAST    bool
	OptIn    bool
	OptOut   bool
	NoLoop   bool
	Prefixes []string
}

// EnableTracking is CLIENT TRACKING on: it checks opts against each other
// and against c's current mode, then turns tracking on (or changes its
// options; BCAST prefixes add to those c has). On error nothing changes.
func (s *Server) EnableTracking(c *Client, opts TrackingOptions) error {
	t := c.tracking
	switch {
	case !opts.BCAST && len(opts.Prefixes) > 0:
		return Errorf("PREFIX option requires BCAST mode to be enabled")
	case t != nil && t.bcast != opts.BCAST:
		return Errorf("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
	case opts.BCAST && (opts.OptIn || opts.OptOut):
		return Errorf("OPTIN and OPTOUT are not compatible with BCAST")
	case opts.OptIn && opts.OptOut:
		return Errorf("You can't specify both OPTIN mode and OPTOUT mode")
	case t != nil && (opts.OptIn && t.optout || opts.OptOut && t.optin):
		return Errorf("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")
	}
	if opts.BCAST {
		if err := checkPrefixCollisions(t, opts.Prefixes); err != nil {
			return err
		}
	}
	if s.trk == nil {
		s.trk = &trackingTables{keys: map[string]map[uint64]struct{}{}, prefixes: map[string]*bcastState{}}
	}
	if t == nil {
		t = &clientTracking{}
		c.tracking = t
		s.trk.clients++
	}
	t.redirect = opts.Redirect
	t.bcast, t.optin, t.optout, t.noloop = opts.BCAST, opts.OptIn, opts.OptOut, opts.NoLoop
	t.brokenRedir = false
	if opts.BCAST {
		if len(opts.Prefixes) == 0 {
			s.subscribePrefix(c, "")
		}
		for _, p := range opts.Prefixes {
			s.subscribePrefix(c, p)
		}
	}
	return nil
}

// checkPrefixCollisions refuses BCAST prefixes that overlap (one is a
// prefix of the other) with one c already has or with another given one,
// as Redis's checkPrefixCollisionsOrReply. Redis 7.0 replies the error and
// then goes on to +OK when the overlap is between two given prefixes other
// than the first; we stop at the error.
func checkPrefixCollisions(t *clientTracking, prefixes []string) error {
	overlap := func(a, b string) bool {
		n := min(len(a), len(b))
		return a[:n] == b[:n]
	}
	var have []string
	if t != nil {
		have = sortedKeys(t.prefixes)
	}
	for i, p := range prefixes {
		for _, h := range have {
			if overlap(h, p) {
				return Errorf("Prefix '" + p + "' overlaps with an existing prefix '" + h + "'. Prefixes for a single client must not overlap.")
			}
		}
		for _, q := range prefixes[i+1:] {
			if overlap(p, q) {
				return Errorf("Prefix '" + p + "' overlaps with another provided prefix '" + q + "'. Prefixes for a single client must not overlap.")
			}
		}
	}
	return nil
}

// subscribePrefix adds c to prefix's BCAST subscribers.
func (s *Server) subscribePrefix(c *Client, prefix string) {
	bs := s.trk.prefixes[prefix]
	if bs == nil {
		bs = &bcastState{keys: map[string]*Client{}, clients: map[*Client]struct{}{}}
		s.trk.prefixes[prefix] = bs
	}
	bs.clients[c] = struct{}{}
	if c.tracking.prefixes == nil {
		c.tracking.prefixes = map[string]struct{}{}
	}
	c.tracking.prefixes[prefix] = struct{}{}
}

// DisableTracking is CLIENT TRACKING off (also RESET and disconnection).
// The client's IDs stay in the tracking table and are dropped lazily when
// their keys are invalidated, so turning off costs nothing per key.
func (s *Server) DisableTracking(c *Client) {
	t := c.tracking
	if t == nil {
		return
	}
	for p := range t.prefixes {
		bs := s.trk.prefixes[p]
		delete(bs.clients, c)
		if len(bs.clients) == 0 {
			delete(s.trk.prefixes, p)
		}
	}
	c.tracking = nil
	s.trk.clients--
}

// SetTrackingCaching is CLIENT CACHING yes|no: remember (OPTIN) or skip
// (OPTOUT) the keys of the next command or transaction.
func (s *Server) SetTrackingCaching(c *Client, yes bool) error {
	t := c.tracking
	switch {
	case t == nil:
		return Errorf("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
	case yes && !t.optin:
		return Errorf("CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
	case !yes && !t.optout:
		return Errorf("CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
	}
	t.caching = true
	return nil
}

// Tracking reports whether c has tracking on.
func (c *Client) Tracking() bool { return c.tracking != nil }

// TrackingRedirect is CLIENT GETREDIR: the redirect ID, 0 for none, -1
// when tracking is off.
func (c *Client) TrackingRedirect() int64 {
	if c.tracking == nil {
		return -1
	}
	return int64(c.tracking.redirect)
}

// TrackingFlags are CLIENT TRACKINGINFO's flags, in Redis's order.
func (c *Client) TrackingFlags() []string {
	t := c.tracking
	if t == nil {
		return []string{"off"}
	}
	flags := []string{"on"}
	if t.bcast {
		flags = append(flags, "bcast")
	}
	if t.optin {
		flags = append(flags, "optin")
		if t.caching {
			flags = append(flags, "caching-yes")
		}
	}
	if t.optout {
		flags = append(flags, "optout")
		if t.caching {
			flags = append(flags, "caching-no")
		}
	}
	if t.noloop {
		flags = append(flags, "noloop")
	}
	if t.brokenRedir {
		flags = append(flags, "broken_redirect")
	}
	return flags
}

// TrackingPrefixes lists c's BCAST prefixes, sorted.
func (c *Client) TrackingPrefixes() []string {
	if c.tracking == nil {
		return nil
	}
	return sortedKeys(c.tracking.prefixes)
}

// trackingListFlags are CLIENT LIST's tracking flags: t (on), R (broken
// redirect), B (BCAST).
func (c *Client) trackingListFlags() string {
	t := c.tracking
	if t == nil {
		return ""
	}
	f := "t"
	if t.brokenRedir {
		f += "R"
	}
	if t.bcast {
		f += "B"
	}
	return f
}

// trackingAfterCall remembers the keys a read-only command of a tracking
// client read (call runs it after every command, EXEC's included).
func (s *Server) trackingAfterCall(c *Client, spec *Spec, args [][]byte) {
	t := c.tracking
	if t == nil || spec.Flags&FlagReadonly == 0 || spec.Flags&FlagPubsub != 0 || t.bcast {
		return
	}
	switch {
	case s.inScript > 0:
		// A script that reads remembers the keys it declared (Redis
		// 7.0), not those its commands name.
		spec, args = s.scriptCmd.Cmd, s.scriptCmd.Args
	case spec.Name == "eval_ro" || spec.Name == "evalsha_ro" || spec.Name == "fcall_ro":
		return // only what the script reads counts
	}
	if (t.optin && !t.caching) || (t.optout && t.caching) {
		return
	}
	for _, i := range spec.KeyIndexes(args) {
		key := string(args[i])
		ids := s.trk.keys[key]
		if ids == nil {
			ids = map[uint64]struct{}{}
			s.trk.keys[key] = ids
		}
		if _, ok := ids[c.ID]; !ok {
			ids[c.ID] = struct{}{}
			s.trk.items++
		}
	}
}

// trackingAfterCommand ends a top-level command (execute): the running
// client's held invalidations go out after its reply, and CLIENT CACHING
// lapses unless this was a CLIENT command or a transaction is open.
func (s *Server) trackingAfterCommand(c *Client, args [][]byte) {
	if c.tracking != nil && c.multi == nil && !EqualFold(args[0], "client") {
		c.tracking.caching = false
	}
	if len(s.trk.pending) == 0 {
		return
	}
	pending := s.trk.pending
	s.trk.pending = s.trk.pending[:0]
	for _, p := range pending {
		if p.flush {
			s.sendTrackingMessage(c, nullPayload(c.R.resp))
		} else {
			s.sendTrackingMessage(c, keysPayload([]string{p.key}))
		}
	}
}

// trackingKeyModified is signalModified's part: invalidate key for the
// clients that may cache it. It costs one nil check while nobody ever
// turned tracking on.
func (s *Server) trackingKeyModified(db *DB, key string) {
	if s.trk != nil {
		s.trackingInvalidateKey(db, key, true)
	}
}

// signalExpired is signalModified for a key deleted because its TTL
// passed. No client changed it, so BCAST NOLOOP clients hear of it even
// when their own command found it expired, as in Redis, where an expiry
// is signalled without a client.
func (s *Server) signalExpired(db *DB, key string) { s.signalNoClient(db, key) }

// signalEvicted is signalModified for a key maxmemory evicted: Redis's
// performEvictions signals it without a client too, so a BCAST NOLOOP
// client hears of the keys evicted before its own command ran.
func (s *Server) signalEvicted(db *DB, key string) { s.signalNoClient(db, key) }

// signalNoClient is signalModified for a change no client made: the BCAST
// tables record no modifier, so NOLOOP leaves nobody out. (Default-mode
// NOLOOP still skips the running client, as Redis's check is against
// current_client there.)
func (s *Server) signalNoClient(db *DB, key string) {
	if s.trk == nil {
		s.signalModified(db, key)
		return
	}
	s.trk.expiring = true
	s.signalModified(db, key)
	s.trk.expiring = false
}

// trackingInvalidateKey tells every client in key's table entry that key
// changed and drops the entry; with bcast it also collects key for the
// BCAST prefixes it matches. db is the database of the change (nil when
// the table limit evicts a key): the owner of a GEN on db/key hears of its
// own change after GEN's reply.
func (s *Server) trackingInvalidateKey(db *DB, key string, bcast bool) {
	t := s.trk
	if bcast && len(t.prefixes) > 0 {
		modifier := s.current
		if t.expiring {
			modifier = nil
		}
		for p, bs := range t.prefixes {
			if strings.HasPrefix(key, p) {
				bs.keys[key] = modifier
				t.bcastDue = true
			}
		}
	}
	ids, ok := t.keys[key]
	if !ok {
		return
	}
	for id := range ids {
		target := s.clients[id]
		if target == nil || target.tracking == nil || target.tracking.bcast {
			continue // gone, off, or switched to BCAST since it read key
		}
		ownGen := db != nil && target.blocked != nil && target.blocked.Key == key && target.DB == db
		if target.tracking.noloop && (target == s.current || ownGen) {
			continue
		}
		switch {
		case target == s.current && s.ctxDepth > 0:
			t.pending = append(t.pending, pendingInvalidation{key: key})
		case ownGen:
			target.tracking.deferred = append(target.tracking.deferred, keysPayload([]string{key}))
		default:
			s.sendTrackingMessage(target, keysPayload([]string{key}))
		}
	}
	t.items -= len(ids)
	delete(t.keys, key)
}

// trackingUnblocked sends what was held for c while it was blocked (its
// own GEN's key), after the reply that unblocked it.
func (s *Server) trackingUnblocked(c *Client) {
	if c.tracking == nil || len(c.tracking.deferred) == 0 {
		return
	}
	held := c.tracking.deferred
	c.tracking.deferred = nil
	for _, p := range held {
		s.sendTrackingMessage(c, p)
	}
}

// TrackingFlush is FLUSHDB/FLUSHALL's part: every tracking client is told
// "all keys" (a null), the running one after its reply, and the tracking
// table is emptied (it is not per database).
func (s *Server) TrackingFlush() {
	if s.trk == nil {
		return
	}
	if s.trk.clients > 0 {
		for _, c := range s.clientsByID() {
			if c.tracking == nil {
				continue
			}
			if c == s.current {
				s.trk.pending = append(s.trk.pending, pendingInvalidation{flush: true})
			} else {
				s.sendTrackingMessage(c, nullPayload(c.R.resp))
			}
		}
	}
	s.trk.keys = map[string]map[uint64]struct{}{}
	s.trk.items = 0
}

// sendTrackingMessage delivers one invalidation for tracking client c.
// payload is the encoded value: an array of keys, or a null for "all keys".
func (s *Server) sendTrackingMessage(c *Client, payload []byte) {
	target, redirected := c, false
	if c.tracking != nil && c.tracking.redirect != 0 {
		id := c.tracking.redirect
		r := s.clients[id]
		if r == nil || r.closed { // closed: gone, though not yet unlinked
			c.tracking.brokenRedir = true
			if c.R.resp > 2 {
				c.push(func(r *Reply) {
					r.Push(2)
					r.BulkString("tracking-redir-broken")
					r.Int(int64(id))
				})
			}
			return
		}
		target, redirected = r, true
	}
	switch {
	case target.R.resp > 2:
		target.push(func(r *Reply) {
			r.Push(2)
			r.BulkString("invalidate")
			r.Raw(payload)
		})
	case redirected && target.InPubSub():
		target.push(func(r *Reply) {
			r.Push(3)
			r.BulkString("message")
			r.BulkString(trackingChannel)
			r.Raw(payload)
		})
	}
	// A RESP2 connection without a redirect can't be told anything.
}

// trackingBeforeSleep sends the BCAST messages collected during the turn
// (flushWrites calls it first, as Redis's beforeSleep).
func (s *Server) trackingBeforeSleep() {
	if s.trk != nil && s.trk.bcastDue {
		s.trackingBroadcast()
	}
}

// trackingBroadcast sends each BCAST prefix's modified keys to its
// subscribers (NOLOOP ones without the keys they modified) and clears them.
func (s *Server) trackingBroadcast() {
	t := s.trk
	t.bcastDue = false
	for _, p := range sortedKeys(t.prefixes) {
		bs := t.prefixes[p]
		if len(bs.keys) == 0 {
			continue
		}
		keys := make([]string, 0, len(bs.keys))
		for k := range bs.keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		all := keysPayload(keys)
		for _, c := range sortedClients(bs.clients) {
			if !c.tracking.noloop {
				s.sendTrackingMessage(c, all)
				continue
			}
			var others []string
			for _, k := range keys {
				if bs.keys[k] != c {
					others = append(others, k)
				}
			}
			if len(others) > 0 {
				s.sendTrackingMessage(c, keysPayload(others))
			}
		}
		bs.keys = map[string]*Client{}
	}
}

// trackingLimit keeps the tracking table within tracking-table-max-keys by
// invalidating random keys, as Redis's trackingLimitUsedSlots: at most
// 100 keys per run, 100 more for each earlier run in a row that did not
// get under the limit. It runs before every command (when anyone tracks)
// and at every cron tick, so a lowered limit applies even when idle.
func (s *Server) trackingLimit() {
	t := s.trk
	if t == nil || t.clients == 0 {
		return
	}
	limit := s.Config.Int("tracking-table-max-keys")
	if limit <= 0 {
		return
	}
	if int64(len(t.keys)) <= limit {
		t.overruns = 0
		return
	}
	for effort := 100 * (t.overruns + 1); effort > 0 && len(t.keys) > 0; effort-- {
		for k := range t.keys { // map order is random: a random key
			s.trackingInvalidateKey(nil, k, false)
			break
		}
		if int64(len(t.keys)) <= limit {
			t.overruns = 0
			return
		}
	}
	t.overruns++
}

// TrackingStats are INFO's tracking counters: tracking clients, keys in
// the table, client IDs over those keys, BCAST prefixes.
func (s *Server) TrackingStats() (clients, keys, items, prefixes int) {
	if s.trk == nil {
		return 0, 0, 0, 0
	}
	return s.trk.clients, len(s.trk.keys), s.trk.items, len(s.trk.prefixes)
}

// keysPayload encodes keys as a RESP array of bulk strings.
func keysPayload(keys []string) []byte {
	var r Reply
	r.Array(len(keys))
	for _, k := range keys {
		r.BulkString(k)
	}
	return r.buf
}

// nullPayload is the "all keys" value in the RESP version resp. As in
// Redis, it is encoded for the tracking client, even when a redirect
// client of the other version receives it.
func nullPayload(resp int) []byte {
	if resp > 2 {
		return respNull3
	}
	return respNull2
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedClients(set map[*Client]struct{}) []*Client {
	out := make([]*Client, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// clientsByID returns the connected clients in ID order.
func (s *Server) clientsByID() []*Client {
	out := make([]*Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
