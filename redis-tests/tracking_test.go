package redistests

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Client-side caching (CLIENT TRACKING), over raw connections so every push
// and its place among the replies is visible. Redis's own cases are in
// unit/tracking (tools/redis-tcl/run.sh unit/tracking).

// tracker is a raw connection in RESP version resp, with its client ID.
type tracker struct {
	*raw
	id int64
}

func newTracker(t *testing.T, addr string, resp int) *tracker {
	t.Helper()
	r := dialRaw(t, addr)
	if resp == 3 {
		r.send("HELLO 3\r\n")
		r.value()
	}
	r.send("CLIENT ID\r\n")
	id, ok := r.value().(int64)
	if !ok {
		t.Fatal("CLIENT ID is not an integer")
	}
	return &tracker{raw: r, id: id}
}

// do sends one inline command and returns its reply (or the push before it).
func (r *tracker) do(cmd string) string {
	r.t.Helper()
	r.send(cmd + "\r\n")
	return fmt.Sprint(r.value())
}

// want sends cmd and checks the next value read.
func (r *tracker) want(cmd, w string) {
	r.t.Helper()
	if got := r.do(cmd); got != w {
		r.t.Errorf("%s = %s, want %s", cmd, got, w)
	}
}

// next checks the next value read, a push sent without a command.
func (r *tracker) next(w string) {
	r.t.Helper()
	if got := fmt.Sprint(r.value()); got != w {
		r.t.Errorf("got %s, want %s", got, w)
	}
}

// subscriber is a RESP2 connection subscribed to __redis__:invalidate.
func subscriber(t *testing.T, addr string) *tracker {
	t.Helper()
	s := newTracker(t, addr, 2)
	s.want("SUBSCRIBE __redis__:invalidate", "[subscribe __redis__:invalidate 1]")
	return s
}

func TestTrackingTellsARESP3ClientOncePerRead(t *testing.T) {
	c := client(t)
	r := newTracker(t, shared.Addr(), 3)
	r.want("CLIENT TRACKING on", "OK")
	want(t, c, "OK", "SET", "k", "1")
	r.want("GET k", "1")
	r.want("GET other", "<nil>")
	want(t, c, "OK", "SET", "k", "2")
	r.next("[invalidate [k]]")
	// Not read since: a second write says nothing.
	want(t, c, "OK", "SET", "k", "3")
	r.want("PING", "PONG")
	// Writes are not reads: SET doesn't track, a later write by someone else
	// is silent.
	r.want("SET w 1", "OK")
	want(t, c, int64(2), "INCR", "w")
	r.want("PING", "PONG")
	// MGET, EXISTS: every read-only command's keys are remembered.
	want(t, c, "OK", "MSET", "a", "1", "b", "1")
	r.want("MGET a b", "[1 1]")
	r.want("EXISTS k", "1")
	want(t, c, int64(3), "DEL", "a", "b", "k")
	got := []string{fmt.Sprint(r.value()), fmt.Sprint(r.value()), fmt.Sprint(r.value())}
	if strings.Join(got, " ") != "[invalidate [a]] [invalidate [b]] [invalidate [k]]" {
		t.Errorf("DEL a b k sent %v", got)
	}
	r.want("CLIENT TRACKING off", "OK")
	r.want("GET k", "<nil>")
	want(t, c, "OK", "SET", "k", "4")
	r.want("PING", "PONG")
}

func TestTrackingRedirectsToARESP2Subscriber(t *testing.T) {
	c := client(t)
	sub := subscriber(t, shared.Addr())
	r := newTracker(t, shared.Addr(), 2)
	r.want(fmt.Sprint("CLIENT TRACKING on REDIRECT ", sub.id), "OK")
	r.want("CLIENT GETREDIR", fmt.Sprint(sub.id))
	want(t, c, "OK", "MSET", "a", "1", "b", "2")
	r.want("GET a", "1")
	want(t, c, int64(3), "INCR", "b") // not read: no message
	want(t, c, int64(2), "INCR", "a")
	sub.next("[message __redis__:invalidate [a]]")
	// The tracking client itself, in RESP2, is never sent anything.
	r.want("PING", "PONG")
	// A redirect to no such client is refused before anything changes.
	r.want("CLIENT TRACKING on REDIRECT 999999999", "-ERR The client ID you want redirect to does not exist")
	r.want("CLIENT GETREDIR", fmt.Sprint(sub.id))
}

func TestTrackingInvalidatesTheRunningClientAfterItsReply(t *testing.T) {
	client(t)
	r := newTracker(t, shared.Addr(), 3)
	r.want("CLIENT TRACKING on", "OK")
	r.want("MSET a 1 b 2", "OK")
	r.want("GET a", "1")
	r.send("MULTI\r\nINCR a\r\nGET b\r\nEXEC\r\n")
	for _, w := range []string{"OK", "QUEUED", "QUEUED", "[2 2]", "[invalidate [a]]"} {
		r.next(w)
	}
	// NOLOOP: the client's own writes are not reported.
	r.want("CLIENT TRACKING on NOLOOP", "OK")
	r.want("GET a", "2")
	r.want("INCR a", "3")
	r.want("PING", "PONG")
}

func TestTrackingFlushInvalidatesEverything(t *testing.T) {
	c := client(t)
	sub := subscriber(t, shared.Addr())
	r2 := newTracker(t, shared.Addr(), 2)
	r2.want(fmt.Sprint("CLIENT TRACKING on REDIRECT ", sub.id), "OK")
	r3 := newTracker(t, shared.Addr(), 3)
	r3.want("CLIENT TRACKING on", "OK")
	r3.want("SET a 1", "OK")
	r3.want("GET a", "1")
	// Every tracking client is told "all keys" with a null, read or not;
	// the one that flushed gets it after its reply.
	r3.send("MULTI\r\nFLUSHDB\r\nEXEC\r\n")
	for _, w := range []string{"OK", "QUEUED", "[OK]", "[invalidate <nil>]"} {
		r3.next(w)
	}
	sub.next("[message __redis__:invalidate <nil>]")
	want(t, c, "OK", "FLUSHALL")
	r3.next("[invalidate <nil>]")
	sub.next("[message __redis__:invalidate <nil>]")
	// The table is empty: a write to the key read before says nothing.
	want(t, c, "OK", "SET", "a", "2")
	r3.want("PING", "PONG")
}

func TestTrackingBroadcastsPrefixes(t *testing.T) {
	c := client(t)
	r := newTracker(t, shared.Addr(), 3)
	r.want("CLIENT TRACKING on BCAST PREFIX user: PREFIX job:", "OK")
	r.want("CLIENT TRACKINGINFO", "[flags [on bcast] redirect 0 prefixes [job: user:]]")
	// One transaction: one message per prefix, with every key it changed.
	cn := conn(t, c)
	cn.Do(ctx, "MULTI")
	for _, k := range []string{"user:1", "user:2", "job:1", "other"} {
		cn.Do(ctx, "SET", k, "x")
	}
	if v, err := cn.Do(ctx, "EXEC").Result(); err != nil || fmt.Sprint(v) != "[OK OK OK OK]" {
		t.Fatalf("EXEC = %v, %v", v, err)
	}
	got := []string{fmt.Sprint(r.value()), fmt.Sprint(r.value())}
	if strings.Join(got, " ") != "[invalidate [job:1]] [invalidate [user:1 user:2]]" &&
		strings.Join(got, " ") != "[invalidate [user:1 user:2]] [invalidate [job:1]]" {
		t.Errorf("BCAST messages %v", got)
	}
	// Prefixes add up, and may not overlap.
	r.want("CLIENT TRACKING on BCAST PREFIX session:", "OK")
	r.want("CLIENT TRACKING on BCAST PREFIX us", "-ERR Prefix 'us' overlaps with an existing prefix 'user:'. Prefixes for a single client must not overlap.")
	r.want("CLIENT TRACKING on BCAST PREFIX x PREFIX xy", "-ERR Prefix 'x' overlaps with another provided prefix 'xy'. Prefixes for a single client must not overlap.")
	r.want("CLIENT TRACKING on", "-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
	want(t, c, "OK", "SET", "session:9", "x")
	r.next("[invalidate [session:9]]")
	if info := str(t, c, "CLIENT", "LIST", "ID", r.id); !strings.Contains(info, " flags=tB ") || !strings.Contains(info, " redir=0 ") {
		t.Errorf("CLIENT LIST of a BCAST client: %q", info)
	}

	// NOLOOP in BCAST mode leaves out the keys the client changed itself.
	r.want("CLIENT TRACKING off", "OK")
	r.want("CLIENT TRACKING on BCAST NOLOOP", "OK")
	r.want("SET mine 1", "OK")
	want(t, c, "OK", "SET", "theirs", "1")
	r.next("[invalidate [theirs]]")
	r.want("CLIENT TRACKING off", "OK")
}

func TestTrackingOptInAndOptOut(t *testing.T) {
	c := client(t)
	r := newTracker(t, shared.Addr(), 3)
	r.want("CLIENT TRACKING on OPTIN", "OK")
	r.want("GET a", "<nil>") // not remembered without CACHING yes
	r.want("CLIENT CACHING yes", "OK")
	r.want("CLIENT TRACKINGINFO", "[flags [on optin caching-yes] redirect 0 prefixes []]")
	r.want("GET b", "<nil>")
	r.want("GET c", "<nil>") // CACHING yes covered one command only
	want(t, c, "OK", "MSET", "a", "1", "b", "1", "c", "1")
	r.next("[invalidate [b]]")
	r.want("PING", "PONG")
	r.want("CLIENT CACHING no", "-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
	r.want("CLIENT TRACKING on OPTOUT", "-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")

	r.want("CLIENT TRACKING off", "OK")
	r.want("CLIENT TRACKING on OPTOUT", "OK")
	r.want("CLIENT CACHING no", "OK")
	r.want("GET a", "1") // skipped
	r.want("GET b", "1") // remembered
	want(t, c, "OK", "MSET", "a", "2", "b", "2")
	r.next("[invalidate [b]]")
	r.want("PING", "PONG")
}

func TestTrackingReportsABrokenRedirect(t *testing.T) {
	c := client(t)
	target := newTracker(t, shared.Addr(), 2)
	r := newTracker(t, shared.Addr(), 3)
	r.want(fmt.Sprint("CLIENT TRACKING on REDIRECT ", target.id), "OK")
	r.want("GET k", "<nil>")
	target.want("QUIT", "OK")
	target.closed()
	// The client finds out when a key it read changes.
	deadline := time.Now().Add(3 * time.Second)
	for {
		want(t, c, "OK", "SET", "k", "1")
		if v := r.do("PING"); v == fmt.Sprintf("[tracking-redir-broken %d]", target.id) {
			r.next("PONG")
			break
		} else if v != "PONG" || time.Now().After(deadline) {
			t.Fatalf("PING = %s, want the tracking-redir-broken push", v)
		}
		r.want("GET k", "1")
	}
	r.want("CLIENT TRACKINGINFO", fmt.Sprintf("[flags [on broken_redirect] redirect %d prefixes []]", target.id))
	if info := r.do("CLIENT INFO"); !strings.Contains(info, " flags=tR ") || !strings.Contains(info, fmt.Sprintf(" redir=%d ", target.id)) {
		t.Errorf("CLIENT INFO = %q, want flags=tR redir=%d", info, target.id)
	}
}

func TestTrackingSubcommandsAndErrorsAsRedis(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	want(t, cn, int64(-1), "CLIENT", "GETREDIR")
	want(t, cn, "[flags [off] redirect -1 prefixes []]", "CLIENT", "TRACKINGINFO")
	wantErr(t, cn, "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled", "CLIENT", "CACHING", "yes")
	wantErr(t, cn, "ERR syntax error", "CLIENT", "TRACKING", "maybe")
	wantErr(t, cn, "ERR syntax error", "CLIENT", "TRACKING", "on", "PREFIX")
	wantErr(t, cn, "ERR syntax error", "CLIENT", "TRACKING", "on", "FOO")
	wantErr(t, cn, "ERR value is not an integer or out of range", "CLIENT", "TRACKING", "on", "REDIRECT", "x")
	wantErr(t, cn, "ERR The client ID you want redirect to does not exist", "CLIENT", "TRACKING", "on", "REDIRECT", 0)
	wantErr(t, cn, "ERR PREFIX option requires BCAST mode to be enabled", "CLIENT", "TRACKING", "on", "PREFIX", "a")
	wantErr(t, cn, "ERR OPTIN and OPTOUT are not compatible with BCAST", "CLIENT", "TRACKING", "on", "BCAST", "OPTIN")
	wantErr(t, cn, "ERR You can't specify both OPTIN mode and OPTOUT mode", "CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT")
	wantErr(t, cn, "ERR wrong number of arguments for 'client|tracking' command", "CLIENT", "TRACKING")
	wantErr(t, cn, "ERR wrong number of arguments for 'client|caching' command", "CLIENT", "CACHING")
	wantErr(t, cn, "ERR wrong number of arguments for 'client|getredir' command", "CLIENT", "GETREDIR", "x")
	wantErr(t, cn, "ERR wrong number of arguments for 'client|trackinginfo' command", "CLIENT", "TRACKINGINFO", "x")
	want(t, cn, "OK", "CLIENT", "TRACKING", "off", "PREFIX", "ignored")
	want(t, cn, "OK", "CLIENT", "TRACKING", "on", "optin", "noloop")
	wantErr(t, cn, "ERR syntax error", "CLIENT", "CACHING", "maybe")
	want(t, cn, int64(0), "CLIENT", "GETREDIR")
	want(t, cn, "[flags [on optin noloop] redirect 0 prefixes []]", "CLIENT", "TRACKINGINFO")
	if info := str(t, cn, "CLIENT", "INFO"); !strings.Contains(info, " flags=t ") || !strings.Contains(info, " redir=0 ") {
		t.Errorf("CLIENT INFO = %q", info)
	}
	// RESET turns tracking off.
	want(t, cn, "RESET", "RESET")
	want(t, cn, int64(-1), "CLIENT", "GETREDIR")
	if info := str(t, cn, "CLIENT", "INFO"); !strings.Contains(info, " flags=N ") || !strings.Contains(info, " redir=-1 ") {
		t.Errorf("CLIENT INFO after RESET = %q", info)
	}
	// The table is shown by COMMAND INFO as Redis shows it.
	want(t, cn, "[[client|tracking -3 [noscript loading stale] 0 0 0 [@slow @connection] [] [] []]]", "COMMAND", "INFO", "client|tracking")
}

func TestTrackingTableLimitAndInfo(t *testing.T) {
	s := startServer(t)
	c := redisClientAt(t, s.Addr())
	sub := subscriber(t, s.Addr())
	r := newTracker(t, s.Addr(), 2)
	r.want(fmt.Sprint("CLIENT TRACKING on REDIRECT ", sub.id), "OK")
	b := newTracker(t, s.Addr(), 3)
	b.want("CLIENT TRACKING on BCAST PREFIX p:", "OK")
	const n = 150
	for i := 0; i < n; i++ {
		r.want(fmt.Sprint("GET key", i), "<nil>")
	}
	info := str(t, c, "INFO")
	for _, w := range []string{"tracking_clients:2", fmt.Sprintf("tracking_total_keys:%d", n), fmt.Sprintf("tracking_total_items:%d", n), "tracking_total_prefixes:1"} {
		if !strings.Contains(info, "\r\n"+w+"\r\n") {
			t.Errorf("INFO lacks %s", w)
		}
	}
	want(t, c, []any{"tracking-table-max-keys", "1000000"}, "CONFIG", "GET", "tracking-table-max-keys")
	wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'tracking-table-max-keys') - argument must be between 0 and 9223372036854775807 inclusive", "CONFIG", "SET", "tracking-table-max-keys", -1)
	// Over the limit, keys are dropped from the table as if they changed:
	// every one but the last gets an invalidation, even when idle.
	want(t, c, "OK", "CONFIG", "SET", "tracking-table-max-keys", 1)
	for i := 0; i < n-1; i++ {
		if v, ok := sub.value().([]any); !ok || len(v) != 3 || v[0] != "message" {
			t.Fatalf("message %d: %v", i, v)
		}
	}
	sub.want("PING", "[pong ]")
	info = str(t, c, "INFO")
	if !strings.Contains(info, "\r\ntracking_total_keys:1\r\n") {
		t.Errorf("after the limit, INFO says %q", info[strings.Index(info, "tracking_total_keys"):][:40])
	}
}

func TestTrackingSessionCommandsInvalidate(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	r := newTracker(t, shared.Addr(), 3)
	r.want("CLIENT TRACKING on", "OK")
	if n := num(t, c, "PREFILL", "s:1", "Once upon a time"); n < 3 {
		t.Fatalf("PREFILL = %d", n)
	}
	// Reads of a session are remembered like any key's.
	r.send("TOKENS s:1\r\n")
	r.value()
	do(t, c, "GEN", "s:1", " there", "MAXTOKENS", 2, "SEED", 1)
	r.next("[invalidate [s:1]]")
	r.send("TEXT s:1\r\n")
	r.value()
	want(t, c, int64(1), "FORK", "s:1", "s:2")
	r.want("PING", "PONG") // FORK only read s:1
	do(t, c, "ROLLBACK", "s:1", -1)
	r.next("[invalidate [s:1]]")
	// GEN by the tracking client itself: its invalidation follows GEN's reply.
	r.send("LOGITS s:2 TOP 1\r\n")
	r.value()
	r.send("GEN s:2 \" and\" MAXTOKENS 2 SEED 3\r\n")
	if v := r.value(); fmt.Sprint(v) == "[invalidate [s:2]]" {
		t.Fatalf("the invalidation came before GEN's reply")
	}
	r.next("[invalidate [s:2]]")
	r.want("PING", "PONG")
}

// SWAPDB tells tracking clients nothing, as in Redis 7.0 (dbSwapDatabases
// touches WATCH, not the tracking table); the table is not per database,
// so a later write of the name in any database invalidates it.
func TestTrackingSwapdbSendsNoInvalidation(t *testing.T) {
	c := client(t)
	r := newTracker(t, shared.Addr(), 3)
	r.want("CLIENT TRACKING on", "OK")
	want(t, c, "OK", "SET", "k", "1")
	r.want("GET k", "1")
	want(t, c, "OK", "SWAPDB", 0, 1)
	r.want("PING", "PONG")
	want(t, c, "OK", "SWAPDB", 0, 1)
	cn := conn(t, c)
	do(t, cn, "SELECT", 5)
	want(t, cn, "OK", "SET", "k", "2")
	r.next("[invalidate [k]]")
}

// Evicted keys are signalled with no client, as Redis's performEvictions
// does: a BCAST NOLOOP client hears of the keys its own command evicted.
// The PING that follows CONFIG SET maxmemory in the same packet evicts
// every key before it runs (allkeys-random, used memory far over 1 byte).
func TestTrackingNoloopClientHearsEvictionsItsCommandCaused(t *testing.T) {
	s := startServer(t)
	c := redisClientAt(t, s.Addr())
	r := newTracker(t, s.Addr(), 3)
	r.want("CLIENT TRACKING on BCAST NOLOOP", "OK")
	keys := []string{"e:1", "e:2", "e:3"}
	want(t, c, "OK", "MSET", "e:1", "x", "e:2", "x", "e:3", "x")
	r.next("[invalidate [e:1 e:2 e:3]]")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory-policy", "allkeys-random")
	r.send("CONFIG SET maxmemory 1\r\nPING\r\n")
	r.next("OK")
	seen := map[string]bool{}
	for len(seen) < len(keys) {
		v := r.value()
		if s := fmt.Sprint(v); s == "PONG" {
			continue
		}
		push, ok := v.([]any)
		if !ok || len(push) != 2 || push[0] != "invalidate" {
			t.Fatalf("got %v, want invalidate pushes for %v", v, keys)
		}
		for _, k := range push[1].([]any) {
			seen[k.(string)] = true
		}
	}
	r.send("CONFIG SET maxmemory 0\r\n")
	r.next("OK")
}
