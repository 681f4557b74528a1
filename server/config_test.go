package server

import (
	"errors"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSplitArgs(t *testing.T) {
	cases := map[string][]string{
		`save 900 1`:           {"save", "900", "1"},
		`requirepass "a b\tc"`: {"requirepass", "a b\tc"},
		`x 'it\'s'`:            {"x", "it's"},
		`dir "\x41\x42"`:       {"dir", "AB"},
		`  spaced   out  `:     {"spaced", "out"},
		`save ""`:              {"save", ""},
	}
	for in, want := range cases {
		got, err := SplitArgs(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`a "b`, `a 'b`, `a "b"c`} {
		if _, err := SplitArgs(bad); err == nil {
			t.Errorf("SplitArgs(%q): want unbalanced quotes error", bad)
		}
	}
}

func TestConfigFileAndArgs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.conf")
	os.WriteFile(path, []byte("# comment\nport 7000\nsave 900 1\nsave 300 10\nmaxmemory 1mb\n"), 0o644)
	c := NewConfig()
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadArgs([]string{"--hz", "20", "--dir", dir}); err != nil {
		t.Fatal(err)
	}
	if c.Port != 7000 || c.Hz != 20 || c.MaxMemory != 1<<20 || c.Get("save") != "900 1 300 10" {
		t.Fatalf("got port %d hz %d maxmemory %d save %q", c.Port, c.Hz, c.MaxMemory, c.Get("save"))
	}
	if err := c.LoadArgs([]string{"--no-such-thing", "1"}); err == nil || !strings.Contains(err.Error(), "no-such-thing") {
		t.Fatalf("unknown directive: %v", err)
	}
	if err := c.Set("maxmemory", "zzz"); err == nil {
		t.Fatal("bad memory value accepted")
	}
	// REWRITE keeps comments, replaces changed directives, appends new ones.
	c.Set("hz", "30")
	if err := c.Rewrite(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "# comment") || !strings.Contains(string(b), "hz 30") || !strings.Contains(string(b), "port 7000") {
		t.Fatalf("rewrite:\n%s", b)
	}
	c2 := NewConfig()
	if err := c2.LoadFile(path); err != nil || c2.Hz != 30 || c2.Get("save") != "900 1 300 10" {
		t.Fatalf("reload after rewrite: %v hz %d save %q", err, c2.Hz, c2.Get("save"))
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{"100": 100, "1k": 1000, "1kb": 1024, "2mb": 2 << 20, "1gb": 1 << 30, "3g": 3000000000, "5B": 5, "1GB": 1 << 30} {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v", in, got, err)
		}
	}
	// As Redis's memtoull: digits then a unit, nothing else.
	for _, bad := range []string{"", "-1", "+1", " 1", "1 ", "1x", "kb", "99999999999gb"} {
		if got, err := ParseMemory(bad); err == nil {
			t.Errorf("ParseMemory(%q) = %d, want an error", bad, got)
		}
	}
}

// Every value CONFIG GET prints is one CONFIG SET takes back unchanged, as
// Redis's "CONFIG sanity" test checks: for the defaults and after values
// given in other spellings.
func TestConfigValuesRoundTrip(t *testing.T) {
	c := NewConfig()
	for _, kv := range [][2]string{
		{"dir", t.TempDir()}, {"maxmemory", "1gb"}, {"maxmemory-clients", "10%"},
		{"client-output-buffer-limit", "replica 1mb 2mb 3 PUBSUB 1k 0 0"}, {"save", "900 1  300 10"},
		{"bind", "* -::*"}, {"notify-keyspace-events", "AKE"}, {"loglevel", "WARNING"},
		{"appendonly", "YES"}, {"lua-time-limit", "100"}, {"key-load-delay", "-5"},
	} {
		if err := c.Set(kv[0], kv[1]); err != nil {
			t.Fatalf("Set(%s, %q): %v", kv[0], kv[1], err)
		}
	}
	for _, d := range directives {
		v := c.Get(d.name)
		if err := c.Set(d.name, v); err != nil || c.Get(d.name) != v {
			t.Errorf("%s: Set(%q) = %v, then Get = %q", d.name, v, err, c.Get(d.name))
		}
	}
	for name, want := range map[string]string{
		"maxmemory-clients":          "10%",
		"client-output-buffer-limit": "normal 0 0 0 slave 1048576 2097152 3 pubsub 1000 0 0",
		"save":                       "900 1 300 10",
		"busy-reply-threshold":       "100", // lua-time-limit is its alias
		"lua-time-limit":             "100",
	} {
		if got := c.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestConfigMemoryPercent(t *testing.T) {
	c := NewConfig()
	for in, want := range map[string]string{"0": "0", "1k": "1000", "50%": "50%", "100%": "100%", "0%": "0"} {
		if err := c.Set("maxmemory-clients", in); err != nil || c.Get("maxmemory-clients") != want {
			t.Errorf("maxmemory-clients %q: %v, got %q want %q", in, err, c.Get("maxmemory-clients"), want)
		}
	}
	for in, msg := range map[string]string{
		"200%": "percentage argument must be less or equal to 100",
		"-5":   "argument must be a memory or percent value",
		"-5%":  "argument must be a memory or percent value",
		"%":    "argument must be a memory or percent value",
		"5x":   "argument must be a memory or percent value",
	} {
		if err := c.Set("maxmemory-clients", in); err == nil || err.Error() != msg {
			t.Errorf("maxmemory-clients %q: error %v, want %q", in, err, msg)
		}
	}
}

// CONFIG GET: exact names (hidden ones too) as spelled, patterns without
// hidden directives, aliases listed beside their names, no duplicates.
func TestConfigLookup(t *testing.T) {
	c := NewConfig()
	pairs := func(params ...string) map[string]string {
		out := c.Lookup(params)
		m := map[string]string{}
		for i := 0; i < len(out); i += 2 {
			if _, dup := m[strings.ToLower(out[i])]; dup {
				t.Errorf("Lookup(%q): %s twice", params, out[i])
			}
			m[strings.ToLower(out[i])] = out[i+1]
		}
		return m
	}
	all := pairs("*")
	if _, ok := all["key-load-delay"]; ok {
		t.Error("CONFIG GET * lists the hidden key-load-delay")
	}
	for _, n := range []string{"replicaof", "slaveof", "busy-reply-threshold", "lua-time-limit", "model", "port"} {
		if _, ok := all[n]; !ok {
			t.Errorf("CONFIG GET * lacks %s", n)
		}
	}
	if got := pairs("key-load-delay"); got["key-load-delay"] != "0" {
		t.Errorf("CONFIG GET key-load-delay = %v", got)
	}
	if got := pairs("key-load-*"); len(got) != 0 {
		t.Errorf("CONFIG GET key-load-* = %v, want nothing (hidden)", got)
	}
	if got := c.Lookup([]string{"MaxMemory", "maxmemory", "max*"}); got[0] != "MaxMemory" || len(pairs("MaxMemory", "maxmemory", "max*")) != len(pairs("max*")) {
		t.Errorf("CONFIG GET MaxMemory maxmemory max* = %q", got)
	}
	if got := c.Lookup([]string{"nosuch"}); len(got) != 0 {
		t.Errorf("CONFIG GET nosuch = %q", got)
	}
}

// newTestServer is a server that is not started: CONFIG SET runs on the
// test's goroutine as it would on the loop.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	c := NewConfig()
	dir := t.TempDir()
	if err := c.LoadArgs([]string{"--logfile", filepath.Join(dir, "server.log"), "--dir", dir, "--port", strconv.Itoa(freeTestPort(t)), "--bind", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	return New(c)
}

func freeTestPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// CONFIG SET's three phases: names checked first, then values set (a bad
// one undoes those before it), the error naming the argument as Redis does.
func TestConfigSetAllOrNothing(t *testing.T) {
	s := newTestServer(t)
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"maxmemory"}, "ERR syntax error"},
		{[]string{"maxmemory", "5", "Bogus", "1"}, "ERR Unknown option or number of arguments for CONFIG SET - 'Bogus'"},
		{[]string{"maxmemory", "5", "DAEMONIZE", "no"}, "ERR CONFIG SET failed (possibly related to argument 'DAEMONIZE') - can't set immutable config"},
		{[]string{"maxmemory", "5", "MAXMEMORY", "6"}, "ERR CONFIG SET failed (possibly related to argument 'MAXMEMORY') - duplicate parameter"},
		{[]string{"maxmemory", "5", "maxmemory-clients", "200%", "client-query-buffer-limit", "invalid"}, "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100"},
		{[]string{"maxmemory", "5", "SLAVE-read-only", "maybe"}, "ERR CONFIG SET failed (possibly related to argument 'slave-read-only') - argument must be 'yes' or 'no'"},
		{[]string{"maxmemory", "5", "threads", "3"}, "ERR CONFIG SET failed (possibly related to argument 'threads') - can't set immutable config"},
	}
	for _, tc := range cases {
		err := s.ConfigSet(nil, tc.args)
		if err == nil || err.Error() != tc.err {
			t.Errorf("CONFIG SET %q: %v, want %q", tc.args, err, tc.err)
		}
		if s.Config.MaxMemory != 0 || s.Config.Get("maxmemory") != "0" {
			t.Fatalf("CONFIG SET %q left maxmemory %d %q", tc.args, s.Config.MaxMemory, s.Config.Get("maxmemory"))
		}
	}
	// A start-up-only model directive takes back its own value; an alias is
	// an entry of its own, not a duplicate of its name (as Redis 7.0).
	ok := [][]string{
		{"threads", s.Config.Get("threads"), "model", s.Config.Get("model")},
		{"replica-read-only", "no", "slave-read-only", "yes"},
		{"maxmemory", "1mb", "proto-max-bulk-len", "2mb"},
	}
	for _, args := range ok {
		if err := s.ConfigSet(nil, args); err != nil {
			t.Errorf("CONFIG SET %q: %v", args, err)
		}
	}
	if s.Config.MaxMemory != 1<<20 || s.limits.maxBulk.Load() != 2<<20 {
		t.Errorf("after CONFIG SET: maxmemory %d, readers' bulk limit %d", s.Config.MaxMemory, s.limits.maxBulk.Load())
	}
}

// CONFIG SET port rebinds: a port in use fails the whole command and every
// value goes back; a free one moves the listener while clients connected
// through the old one stay connected.
func TestConfigSetPort(t *testing.T) {
	s := newTestServer(t)
	if err := s.rebind(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(0)
	oldPort := s.Config.Port
	dial := func(port int) (net.Conn, error) {
		return net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	}

	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	err = s.ConfigSet(nil, []string{"maxmemory", "10000001", "port", busyPort, "client-query-buffer-limit", "10m"})
	if want := "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."; err == nil || err.Error() != want {
		t.Fatalf("port in use: %v, want %q", err, want)
	}
	if s.Config.Port != oldPort || s.Config.MaxMemory != 0 || s.Config.Get("client-query-buffer-limit") != "1073741824" {
		t.Fatalf("not rolled back: port %d maxmemory %d client-query-buffer-limit %s", s.Config.Port, s.Config.MaxMemory, s.Config.Get("client-query-buffer-limit"))
	}
	old, err := dial(oldPort)
	if err != nil {
		t.Fatalf("the old port stopped listening: %v", err)
	}
	defer old.Close()

	newPort := freeTestPort(t)
	if err := s.ConfigSet(nil, []string{"port", strconv.Itoa(newPort)}); err != nil {
		t.Fatal(err)
	}
	if c, err := dial(newPort); err != nil {
		t.Errorf("new port: %v", err)
	} else {
		c.Close()
	}
	if c, err := dial(oldPort); err == nil {
		c.Close()
		t.Error("the old port still accepts")
	}
	old.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := old.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a client of the old port was disconnected: %v", err)
	}

	// A wildcard address on the same port is in the way of the specific
	// one: the old socket gives way, as Redis closes before it binds.
	if err := s.ConfigSet(nil, []string{"bind", "*"}); err != nil {
		t.Fatal(err)
	}
	if c, err := dial(newPort); err != nil {
		t.Errorf("after bind *: %v", err)
	} else {
		c.Close()
	}
	if err := s.ConfigSet(nil, []string{"bind", "256.0.0.1"}); err == nil || !strings.HasSuffix(err.Error(), "- Failed to bind to specified addresses.") {
		t.Errorf("bind 256.0.0.1: %v", err)
	}
	if s.Config.Get("bind") != "*" || len(s.listeners) != 1 {
		t.Errorf("after a failed bind: bind %q, %d listeners", s.Config.Get("bind"), len(s.listeners))
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "anything", true}, {"h?llo", "hello", true}, {"h?llo", "hllo", false},
		{"h[ae]llo", "hallo", true}, {"h[^e]llo", "hello", false}, {"h[a-b]llo", "hbllo", true},
		{"a\\*b", "a*b", true}, {"a\\*b", "axb", false}, {"*foo*bar", "xxfooyybar", true},
	}
	for _, c := range cases {
		if got := GlobMatch(c.p, c.s, false); got != c.want {
			t.Errorf("GlobMatch(%q, %q) = %v", c.p, c.s, got)
		}
	}
	if !GlobMatch("MAX*", "maxmemory", true) {
		t.Error("nocase")
	}
	// Hostile patterns stay polynomial: this takes microseconds, not ages.
	if GlobMatch(strings.Repeat("a*", 40)+"b", strings.Repeat("a", 10000), false) {
		t.Error("a*a*...b matched a string without b")
	}
	if !GlobMatch(strings.Repeat("a*", 40)+"b", strings.Repeat("a", 100)+"b", false) {
		t.Error("a*a*...b missed")
	}
}

func TestReplyEncodings(t *testing.T) {
	r := &Reply{resp: 2}
	r.Map(1)
	r.BulkString("a")
	r.Double(1.5)
	r.Null()
	r.Bool(true)
	if got := string(r.buf); got != "*2\r\n$1\r\na\r\n$3\r\n1.5\r\n$-1\r\n:1\r\n" {
		t.Fatalf("resp2: %q", got)
	}
	r = &Reply{resp: 3}
	r.Map(1)
	r.BulkString("a")
	r.Double(1.5)
	r.Null()
	r.Bool(true)
	r.Push(1)
	if got := string(r.buf); got != "%1\r\n$1\r\na\r\n,1.5\r\n_\r\n#t\r\n>1\r\n" {
		t.Fatalf("resp3: %q", got)
	}
}

// Numbers parse as Redis 7.0's string2ll and memtoull do, and bounds are
// checked as the C type behind each directive would.
func TestConfigNumbersAsRedis(t *testing.T) {
	for in, ok := range map[string]bool{"0": true, "-1": true, "42": true, "+5": false, "007": false, "-0": false, " 5": false, "1k": false, "": false, "9223372036854775808": false} {
		if _, got := parseStrictInt(in); got != ok {
			t.Errorf("parseStrictInt(%q) ok = %v, want %v", in, got, ok)
		}
	}
	for in, want := range map[string]uint64{"0": 0, "1kb": 1024, "1K": 1000, "2GB": 2 << 30, "18446744073709551615": math.MaxUint64,
		"99999999999999999999": math.MaxUint64, "18446744073709551615k": math.MaxUint64 - 999} { // 18446744073709551615k: the product wraps, as in C
		if got, ok := parseMemoryUnsigned(in); !ok || got != want {
			t.Errorf("parseMemoryUnsigned(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"-1", "+1", "1.5k", "0x10", "1tb", "k5"} {
		if n, ok := parseMemoryUnsigned(in); ok {
			t.Errorf("parseMemoryUnsigned(%q) = %d, want an error", in, n)
		}
	}
	c := NewConfig()
	for in, want := range map[string]string{"0": "1", "501": "500", "2147483647": "500", "20": "20"} {
		if err := c.Set("hz", in); err != nil || c.Get("hz") != want || strconv.Itoa(c.Hz) != want {
			t.Errorf("hz %s: %v, stored %q (Hz %d), want %s", in, err, c.Get("hz"), c.Hz, want)
		}
	}
	if err := c.Set("maxclients", "-1"); err == nil || err.Error() != "argument must be between 1 and 4294967295 inclusive" {
		t.Errorf("maxclients -1: %v", err)
	}
	if err := c.Set("maxmemory", "18446744073709551615"); err != nil || c.Get("maxmemory") != "18446744073709551615" || c.MaxMemory != math.MaxInt64 {
		t.Errorf("maxmemory ULLONG_MAX: %v, %q, %d", err, c.Get("maxmemory"), c.MaxMemory)
	}
	if err := c.Set("proto-max-bulk-len", "9223372036854775808"); err == nil || err.Error() != "argument must be between 1048576 and 9223372036854775807 inclusive" {
		t.Errorf("proto-max-bulk-len 2^63: %v", err)
	}
	if err := c.Set("maxmemory-clients", "18446744073709551615"); err != nil || c.Get("maxmemory-clients") != "1%" {
		t.Errorf("maxmemory-clients ULLONG_MAX: %v, %q (Redis reads it as -1, 1%%)", err, c.Get("maxmemory-clients"))
	}
	// A directory that does not exist is an error, not created.
	missing := filepath.Join(t.TempDir(), "missing")
	if err := c.Set("dir", missing); err == nil || err.Error() != "No such file or directory" {
		t.Errorf("dir %s: %v", missing, err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("dir %s was created", missing)
	}
}
