package server

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// newTrackingServer is a server with no listener: clients are values, their
// output stays in Client.R for the test to read.
func newTrackingServer(t *testing.T) *Server {
	t.Helper()
	return New(NewConfig())
}

// addClient links a fake client speaking RESP version resp.
func addClient(s *Server, id uint64, resp int) *Client {
	c := &Client{ID: id, srv: s, kick: make(chan struct{}, 1), gone: make(chan struct{})}
	c.R.resp = resp
	c.DB = s.DBs[0]
	s.clients[id] = c
	return c
}

// out returns and clears what c was sent.
func out(c *Client) string {
	b := string(c.R.buf)
	c.R.buf = c.R.buf[:0]
	return b
}

var mgetSpec = &Spec{Name: "mget", Arity: -2, Flags: FlagReadonly, FirstKey: 1, LastKey: -1, Step: 1}
var setSpec = &Spec{Name: "set", Arity: -3, Flags: FlagWrite, FirstKey: 1, LastKey: 1, Step: 1}

// read is a read-only command of c returning keys.
func read(s *Server, c *Client, keys ...string) {
	args := [][]byte{[]byte("mget")}
	for _, k := range keys {
		args = append(args, []byte(k))
	}
	s.trackingAfterCall(c, mgetSpec, args)
}

func invalidate(keys ...string) string {
	var r Reply
	r.resp = 3
	r.Push(2)
	r.BulkString("invalidate")
	r.Array(len(keys))
	for _, k := range keys {
		r.BulkString(k)
	}
	return string(r.buf)
}

func mustEnable(t *testing.T, s *Server, c *Client, opts TrackingOptions) {
	t.Helper()
	if err := s.EnableTracking(c, opts); err != nil {
		t.Fatalf("EnableTracking(%+v): %v", opts, err)
	}
}

func TestTrackingInvalidatesEachReadOnce(t *testing.T) {
	s := newTrackingServer(t)
	c := addClient(s, 1, 3)
	mustEnable(t, s, c, TrackingOptions{})
	read(s, c, "a", "b")
	if clients, keys, items, _ := s.TrackingStats(); clients != 1 || keys != 2 || items != 2 {
		t.Fatalf("stats = %d clients %d keys %d items, want 1 2 2", clients, keys, items)
	}
	s.signalModified(s.DBs[3], "a") // keys are names: any database
	if got := out(c); got != invalidate("a") {
		t.Errorf("after a write: %q, want %q", got, invalidate("a"))
	}
	s.signalModified(s.DBs[0], "a")
	if got := out(c); got != "" {
		t.Errorf("a second write without a read sent %q", got)
	}
	if _, keys, items, _ := s.TrackingStats(); keys != 1 || items != 1 {
		t.Errorf("table after invalidation: %d keys %d items, want 1 1", keys, items)
	}
	// A write command's keys are not remembered.
	s.trackingAfterCall(c, setSpec, [][]byte{[]byte("set"), []byte("z"), []byte("1")})
	if _, keys, _, _ := s.TrackingStats(); keys != 1 {
		t.Errorf("a write was remembered: %d keys", keys)
	}
}

func TestTrackingRESP2WithoutRedirectIsSilent(t *testing.T) {
	s := newTrackingServer(t)
	c := addClient(s, 1, 2)
	mustEnable(t, s, c, TrackingOptions{})
	read(s, c, "k")
	s.signalModified(s.DBs[0], "k")
	if got := out(c); got != "" {
		t.Errorf("RESP2 connection was sent %q", got)
	}
	if _, keys, _, _ := s.TrackingStats(); keys != 0 {
		t.Errorf("key left in the table")
	}
}

func TestTrackingRedirectToPubSubClient(t *testing.T) {
	s := newTrackingServer(t)
	sub := addClient(s, 7, 2)
	s.Subscribe(sub, [][]byte{[]byte(trackingChannel)}, false)
	out(sub)
	c := addClient(s, 1, 2)
	mustEnable(t, s, c, TrackingOptions{Redirect: 7})
	read(s, c, "k")
	s.signalModified(s.DBs[0], "k")
	want := "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n"
	if got := out(sub); got != want {
		t.Errorf("redirect client got %q, want %q", got, want)
	}
	if got := out(c); got != "" {
		t.Errorf("tracking client got %q", got)
	}
	// A RESP3 redirect client gets the push form, subscribed or not.
	sub.R.resp = 3
	read(s, c, "k")
	s.signalModified(s.DBs[0], "k")
	if got := out(sub); got != invalidate("k") {
		t.Errorf("RESP3 redirect client got %q", got)
	}
	if c.TrackingRedirect() != 7 || !strings.Contains(c.Info(sub.created), " redir=7 ") {
		t.Errorf("GETREDIR %d, CLIENT INFO %q", c.TrackingRedirect(), c.Info(sub.created))
	}
}

func TestTrackingBrokenRedirect(t *testing.T) {
	s := newTrackingServer(t)
	target := addClient(s, 9, 2)
	c := addClient(s, 1, 3)
	mustEnable(t, s, c, TrackingOptions{Redirect: 9})
	read(s, c, "k")
	delete(s.clients, target.ID) // the redirect client went away
	s.signalModified(s.DBs[0], "k")
	want := ">2\r\n$21\r\ntracking-redir-broken\r\n:9\r\n"
	if got := out(c); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if f := c.TrackingFlags(); !reflect.DeepEqual(f, []string{"on", "broken_redirect"}) {
		t.Errorf("flags %v", f)
	}
	if !strings.Contains(c.Info(c.created), " flags=tR ") {
		t.Errorf("CLIENT INFO %q lacks flags=tR", c.Info(c.created))
	}
	// Enabling again clears the broken flag.
	mustEnable(t, s, c, TrackingOptions{})
	if f := c.TrackingFlags(); !reflect.DeepEqual(f, []string{"on"}) {
		t.Errorf("flags after re-enable %v", f)
	}
}

func TestTrackingNoLoopAndPending(t *testing.T) {
	s := newTrackingServer(t)
	c := addClient(s, 1, 3)
	other := addClient(s, 2, 3)
	mustEnable(t, s, c, TrackingOptions{})
	read(s, c, "a")

	// The running client's own write: held until its reply is done.
	s.current, s.ctxDepth = c, 1
	c.R.Status("OK")
	s.signalModified(s.DBs[0], "a")
	s.ctxDepth = 0
	s.trackingAfterCommand(c, [][]byte{[]byte("set")})
	s.current = nil
	if got, want := out(c), "+OK\r\n"+invalidate("a"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	// NOLOOP: its own writes are not reported, others' are.
	mustEnable(t, s, c, TrackingOptions{NoLoop: true})
	read(s, c, "a", "b")
	s.current, s.ctxDepth = c, 1
	s.signalModified(s.DBs[0], "a")
	s.current = other
	s.signalModified(s.DBs[0], "b")
	s.current, s.ctxDepth = nil, 0
	if got := out(c); got != invalidate("b") {
		t.Errorf("NOLOOP: got %q, want %q", got, invalidate("b"))
	}
}

func TestTrackingOptInOptOut(t *testing.T) {
	s := newTrackingServer(t)
	c := addClient(s, 1, 3)
	mustEnable(t, s, c, TrackingOptions{OptIn: true})
	read(s, c, "a")
	if _, keys, _, _ := s.TrackingStats(); keys != 0 {
		t.Fatal("OPTIN remembered a key without CLIENT CACHING yes")
	}
	if err := s.SetTrackingCaching(c, false); err == nil || !strings.Contains(err.Error(), "CLIENT CACHING NO is only valid") {
		t.Errorf("CACHING no in OPTIN: %v", err)
	}
	if err := s.SetTrackingCaching(c, true); err != nil {
		t.Fatal(err)
	}
	if f := c.TrackingFlags(); !reflect.DeepEqual(f, []string{"on", "optin", "caching-yes"}) {
		t.Errorf("flags %v", f)
	}
	s.trackingAfterCommand(c, [][]byte{[]byte("CLIENT")}) // CLIENT commands keep it
	read(s, c, "a")
	s.trackingAfterCommand(c, [][]byte{[]byte("get")}) // any other command ends it
	read(s, c, "b")
	if _, keys, _, _ := s.TrackingStats(); keys != 1 {
		t.Errorf("OPTIN with CACHING yes: %d keys remembered, want 1 (a)", keys)
	}
	if err := s.EnableTracking(c, TrackingOptions{OptOut: true}); err == nil ||
		err.Error() != "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode." {
		t.Errorf("switch OPTIN to OPTOUT: %v", err)
	}

	s.DisableTracking(c)
	mustEnable(t, s, c, TrackingOptions{OptOut: true})
	if err := s.SetTrackingCaching(c, false); err != nil {
		t.Fatal(err)
	}
	read(s, c, "x")
	s.trackingAfterCommand(c, [][]byte{[]byte("get")})
	read(s, c, "y")
	s.signalModified(s.DBs[0], "x")
	s.signalModified(s.DBs[0], "y")
	if got := out(c); got != invalidate("y") {
		t.Errorf("OPTOUT with CACHING no: got %q, want only y", got)
	}
}

func TestTrackingBroadcast(t *testing.T) {
	s := newTrackingServer(t)
	c := addClient(s, 1, 3)
	loop := addClient(s, 2, 3)
	mustEnable(t, s, c, TrackingOptions{BCAST: true, Prefixes: []string{"a:", "b:"}})
	mustEnable(t, s, loop, TrackingOptions{BCAST: true, NoLoop: true})
	s.current = loop
	s.signalModified(s.DBs[0], "a:2")
	s.signalModified(s.DBs[0], "c:1")
	s.current = c
	s.signalModified(s.DBs[0], "a:1")
	s.signalModified(s.DBs[0], "b:1")
	s.current = nil
	if got := out(c); got != "" {
		t.Errorf("BCAST sent during the turn: %q", got)
	}
	s.trackingBeforeSleep()
	if got, want := out(c), invalidate("a:1", "a:2")+invalidate("b:1"); got != want {
		t.Errorf("BCAST prefixes: got %q, want %q", got, want)
	}
	if got, want := out(loop), invalidate("a:1", "b:1"); got != want {
		t.Errorf("BCAST NOLOOP, empty prefix: got %q, want %q", got, want)
	}
	if _, _, _, prefixes := s.TrackingStats(); prefixes != 3 {
		t.Errorf("%d prefixes, want 3", prefixes)
	}
	if !strings.Contains(c.Info(c.created), " flags=tB ") {
		t.Errorf("CLIENT INFO %q lacks flags=tB", c.Info(c.created))
	}
	if got := c.TrackingPrefixes(); !reflect.DeepEqual(got, []string{"a:", "b:"}) {
		t.Errorf("prefixes %v", got)
	}
	s.DisableTracking(c)
	s.DisableTracking(loop)
	if clients, _, _, prefixes := s.TrackingStats(); clients != 0 || prefixes != 0 {
		t.Errorf("after off: %d clients %d prefixes", clients, prefixes)
	}
	// Keys read before switching to BCAST are not reported.
	mustEnable(t, s, c, TrackingOptions{})
	read(s, c, "k")
	s.DisableTracking(c)
	mustEnable(t, s, c, TrackingOptions{BCAST: true, Prefixes: []string{"x"}})
	s.signalModified(s.DBs[0], "k")
	s.trackingBeforeSleep()
	if got := out(c); got != "" {
		t.Errorf("pre-BCAST key reported: %q", got)
	}
}

func TestTrackingOptionErrors(t *testing.T) {
	s := newTrackingServer(t)
	c := addClient(s, 1, 2)
	cases := []struct {
		opts TrackingOptions
		want string
	}{
		{TrackingOptions{Prefixes: []string{"a"}}, "ERR PREFIX option requires BCAST mode to be enabled"},
		{TrackingOptions{BCAST: true, OptIn: true}, "ERR OPTIN and OPTOUT are not compatible with BCAST"},
		{TrackingOptions{OptIn: true, OptOut: true}, "ERR You can't specify both OPTIN mode and OPTOUT mode"},
		{TrackingOptions{BCAST: true, Prefixes: []string{"FOOBAR", "FOO"}}, "ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'. Prefixes for a single client must not overlap."},
		{TrackingOptions{BCAST: true, Prefixes: []string{"a", "b", "bc"}}, "ERR Prefix 'b' overlaps with another provided prefix 'bc'. Prefixes for a single client must not overlap."},
	}
	for _, tc := range cases {
		if err := s.EnableTracking(c, tc.opts); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
	if c.tracking != nil {
		t.Fatal("a refused CLIENT TRACKING on turned tracking on")
	}
	mustEnable(t, s, c, TrackingOptions{BCAST: true, Prefixes: []string{"FOO", "BAR"}})
	for p, want := range map[string]string{"FO": "FOO", "BARB": "BAR"} {
		err := s.EnableTracking(c, TrackingOptions{BCAST: true, Prefixes: []string{p}})
		if err == nil || err.Error() != "ERR Prefix '"+p+"' overlaps with an existing prefix '"+want+"'. Prefixes for a single client must not overlap." {
			t.Errorf("prefix %s: %v", p, err)
		}
	}
	if err := s.EnableTracking(c, TrackingOptions{}); err == nil || !strings.HasPrefix(err.Error(), "ERR You can't switch BCAST mode on/off") {
		t.Errorf("BCAST switch: %v", err)
	}
	if err := s.SetTrackingCaching(addClient(s, 2, 2), true); err == nil || !strings.Contains(err.Error(), "only when the client is in tracking mode") {
		t.Errorf("CACHING with tracking off: %v", err)
	}
}

func TestTrackingFlushSendsNull(t *testing.T) {
	s := newTrackingServer(t)
	c3 := addClient(s, 1, 3)
	sub := addClient(s, 2, 2)
	s.Subscribe(sub, [][]byte{[]byte(trackingChannel)}, false)
	out(sub)
	c2 := addClient(s, 3, 2)
	mustEnable(t, s, c3, TrackingOptions{})
	mustEnable(t, s, c2, TrackingOptions{Redirect: 2})
	read(s, c3, "a")
	read(s, c2, "b")
	s.current, s.ctxDepth = c3, 1 // c3 runs FLUSHALL
	c3.R.Status("OK")
	s.TrackingFlush()
	s.ctxDepth = 0
	s.trackingAfterCommand(c3, [][]byte{[]byte("flushall")})
	s.current = nil
	if got, want := out(c3), "+OK\r\n>2\r\n$10\r\ninvalidate\r\n_\r\n"; got != want {
		t.Errorf("flushing client got %q, want %q", got, want)
	}
	if got, want := out(sub), "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"; got != want {
		t.Errorf("redirect client got %q, want %q", got, want)
	}
	if _, keys, items, _ := s.TrackingStats(); keys != 0 || items != 0 {
		t.Errorf("table not emptied: %d keys %d items", keys, items)
	}
}

func TestTrackingTableLimit(t *testing.T) {
	s := newTrackingServer(t)
	c := addClient(s, 1, 3)
	mustEnable(t, s, c, TrackingOptions{})
	for i := 0; i < 250; i++ {
		read(s, c, fmt.Sprint("key", i))
	}
	if err := s.Config.Set("tracking-table-max-keys", "1"); err != nil {
		t.Fatal(err)
	}
	// Effort 100, then 200: two runs get the table down to the limit.
	s.trackingLimit()
	if _, keys, _, _ := s.TrackingStats(); keys != 150 {
		t.Errorf("after one run: %d keys, want 150", keys)
	}
	s.trackingLimit()
	if _, keys, items, _ := s.TrackingStats(); keys != 1 || items != 1 {
		t.Errorf("after two runs: %d keys %d items, want 1", keys, items)
	}
	if n := strings.Count(out(c), "invalidate"); n != 249 {
		t.Errorf("%d invalidations, want 249", n)
	}
	if err := s.Config.Set("tracking-table-max-keys", "0"); err != nil { // no limit
		t.Fatal(err)
	}
	read(s, c, "x", "y")
	s.trackingLimit()
	if _, keys, _, _ := s.TrackingStats(); keys != 3 {
		t.Errorf("limit 0 evicted: %d keys", keys)
	}
}

func TestTrackingOffAndGone(t *testing.T) {
	s := newTrackingServer(t)
	s.signalModified(s.DBs[0], "k")
	if s.trk != nil {
		t.Fatal("a write allocated tracking state while nobody tracks")
	}
	c := addClient(s, 1, 3)
	if c.TrackingRedirect() != -1 || !reflect.DeepEqual(c.TrackingFlags(), []string{"off"}) {
		t.Errorf("off: redirect %d flags %v", c.TrackingRedirect(), c.TrackingFlags())
	}
	if !strings.Contains(c.Info(c.created), " flags=N ") || !strings.Contains(c.Info(c.created), " redir=-1 ") {
		t.Errorf("CLIENT INFO while off: %q", c.Info(c.created))
	}
	mustEnable(t, s, c, TrackingOptions{})
	if c.TrackingRedirect() != 0 || !strings.Contains(c.Info(c.created), " flags=t ") {
		t.Errorf("on: redirect %d, CLIENT INFO %q", c.TrackingRedirect(), c.Info(c.created))
	}
	read(s, c, "k")
	s.ResetClient(c)
	if c.tracking != nil {
		t.Fatal("RESET left tracking on")
	}
	s.signalModified(s.DBs[0], "k")
	if got := out(c); got != "" {
		t.Errorf("after RESET: %q", got)
	}
	mustEnable(t, s, c, TrackingOptions{BCAST: true})
	c.closed = true
	s.unlinkClient(c)
	if clients, _, _, prefixes := s.TrackingStats(); clients != 0 || prefixes != 0 {
		t.Errorf("after disconnect: %d clients %d prefixes", clients, prefixes)
	}
}

func TestTrackingExpiryIsNobodysWrite(t *testing.T) {
	s := newTrackingServer(t)
	c := addClient(s, 1, 3)
	mustEnable(t, s, c, TrackingOptions{BCAST: true, NoLoop: true})
	db := s.DBs[0]
	db.Set("gone", NewString([]byte("v")), false)
	db.SetExpire("gone", 1)      // long past
	s.current, s.ctxDepth = c, 1 // c's own command finds it expired
	if db.Lookup("gone") != nil {
		t.Fatal("an expired key was returned")
	}
	s.signalModified(db, "mine") // c's own write: left out
	s.current, s.ctxDepth = nil, 0
	s.trackingBeforeSleep()
	if got := out(c); got != invalidate("gone") {
		t.Errorf("got %q, want the expired key only", got)
	}
}
