package redistests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestPingRepliesPongOrEchoesItsArgument(t *testing.T) {
	c := client(t)
	want(t, c, "PONG", "PING")
	want(t, c, "hello", "PING", "hello")
	wantErr(t, c, "ERR wrong number of arguments for 'ping' command", "PING", "a", "b")
}

func TestEchoReturnsItsArgument(t *testing.T) {
	c := client(t)
	want(t, c, "a b\r\nc", "ECHO", "a b\r\nc")
	wantErr(t, c, "ERR wrong number of arguments for 'echo' command", "ECHO")
}

func TestUnknownCommandErrorQuotesNameAndArguments(t *testing.T) {
	c := client(t)
	wantErr(t, c, "ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' ", "NOSUCHCMD", "a", "b")
	wantErr(t, c, "ERR unknown command 'nosuchcmd', with args beginning with: ", "nosuchcmd")
}

func TestHelloNegotiatesProtocolAndDescribesServer(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	v := do(t, cn, "HELLO", "3")
	m, ok := v.(map[any]any)
	if !ok {
		t.Fatalf("HELLO 3 = %#v, want a map", v)
	}
	for _, k := range []string{"server", "version", "proto", "id", "mode", "role", "modules"} {
		if _, ok := m[k]; !ok {
			t.Errorf("HELLO 3 has no %q field: %v", k, m)
		}
	}
	if m["proto"] != int64(3) {
		t.Errorf("HELLO 3 proto = %#v", m["proto"])
	}
	if m["mode"] != "standalone" || m["role"] != "master" {
		t.Errorf("HELLO 3 mode/role = %v/%v", m["mode"], m["role"])
	}
	v = do(t, cn, "HELLO", "2")
	arr, ok := v.([]any)
	if !ok || len(arr) != 14 || arr[0] != "server" || arr[4] != "proto" || arr[5] != int64(2) {
		t.Errorf("HELLO 2 = %#v, want a flat 14-element array with proto 2", v)
	}
	wantErr(t, cn, "NOPROTO unsupported protocol version", "HELLO", "4")
	wantErr(t, cn, "ERR Protocol version is not an integer or out of range", "HELLO", "x")
}

func TestHelloSetnameNamesTheConnection(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "HELLO", "3", "SETNAME", "agent-7")
	want(t, cn, "agent-7", "CLIENT", "GETNAME")
	wantErr(t, cn, "ERR Client names cannot contain spaces, newlines or special characters.", "HELLO", "3", "SETNAME", "a b")
	wantErrPrefix(t, cn, "ERR Syntax error in HELLO option 'bogus'", "HELLO", "3", "bogus")
}

func TestRequirepassGatesCommandsUntilAuth(t *testing.T) {
	s := startServer(t, "--requirepass", "s3cret")
	r := dialRaw(t, s.Addr())
	r.send("GET k\r\n")
	r.expect("-NOAUTH Authentication required.")
	r.send("PING\r\n")
	r.expect("-NOAUTH Authentication required.")
	r.send("AUTH wrong\r\n")
	r.expect("-WRONGPASS invalid username-password pair or user is disabled.")
	r.send("HELLO 3\r\n")
	r.expect("-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
	r.send("AUTH s3cret\r\n")
	r.expect("+OK")
	r.send("PING\r\n")
	r.expect("+PONG")

	r2 := dialRaw(t, s.Addr())
	r2.send("HELLO 2 AUTH default s3cret SETNAME x\r\n")
	r2.expect("*14")
	for i := 0; i < 14; i++ {
		r2.line()
		if i%2 == 1 {
			continue
		}
	}
	r3 := dialRaw(t, s.Addr())
	r3.send("HELLO 2 AUTH default nope\r\n")
	r3.expect("-WRONGPASS invalid username-password pair or user is disabled.")

	c := redis.NewClient(options(s.Addr(), 3))
	defer c.Close()
	if err := c.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Errorf("PING without password: %v, want NOAUTH", err)
	}
	o := options(s.Addr(), 3)
	o.Password = "s3cret"
	c2 := redis.NewClient(o)
	defer c2.Close()
	if err := c2.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Errorf("SET with password: %v", err)
	}
}

func TestAuthWithoutRequirepassIsAnError(t *testing.T) {
	c := client(t)
	wantErr(t, c, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?", "AUTH", "x")
}

func TestSelectSwitchesDatabaseAndRejectsBadIndexes(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "SET", "k", "db0")
	want(t, cn, "OK", "SELECT", "9")
	want(t, cn, nil, "GET", "k")
	do(t, cn, "SET", "k", "db9")
	do(t, cn, "SELECT", "0")
	want(t, cn, "db0", "GET", "k")
	wantErr(t, cn, "ERR DB index is out of range", "SELECT", "16")
	wantErr(t, cn, "ERR DB index is out of range", "SELECT", "-1")
	wantErr(t, cn, "ERR value is not an integer or out of range", "SELECT", "x")
	wantErr(t, cn, "ERR value is out of range, value must between -2147483648 and 2147483647", "SELECT", "2147483648")
}

func TestResetRestoresConnectionDefaults(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "SELECT", "3")
	do(t, cn, "CLIENT", "SETNAME", "n")
	do(t, cn, "MULTI")
	want(t, cn, "RESET", "RESET")
	want(t, cn, nil, "CLIENT", "GETNAME")
	do(t, cn, "SET", "k", "v")
	do(t, cn, "SELECT", "0")
	want(t, cn, "v", "GET", "k") // RESET selected db 0 again
}

func TestQuitRepliesOkAndClosesTheConnection(t *testing.T) {
	r := dialRaw(t, shared.Addr())
	r.send("QUIT\r\n")
	r.expect("+OK")
	r.closed()
	// Commands pipelined after QUIT are not run.
	c := client(t)
	r = dialRaw(t, shared.Addr())
	r.send("SET before 1\r\nQUIT\r\nSET after 1\r\n")
	r.expect("+OK")
	r.expect("+OK")
	r.closed()
	want(t, c, int64(1), "EXISTS", "before", "after")
}

func TestClientIdIsUniqueAndIncreasing(t *testing.T) {
	c := client(t)
	a := do(t, conn(t, c), "CLIENT", "ID").(int64)
	b := do(t, conn(t, c), "CLIENT", "ID").(int64)
	if b <= a {
		t.Errorf("CLIENT ID %d then %d, want increasing", a, b)
	}
}

func TestClientSetnameAndGetname(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	want(t, cn, nil, "CLIENT", "GETNAME")
	want(t, cn, "OK", "CLIENT", "SETNAME", "worker")
	want(t, cn, "worker", "CLIENT", "GETNAME")
	wantErr(t, cn, "ERR Client names cannot contain spaces, newlines or special characters.", "CLIENT", "SETNAME", "a b")
	want(t, cn, "OK", "CLIENT", "SETNAME", "")
	want(t, cn, nil, "CLIENT", "GETNAME")
}

func TestClientListAndInfoDescribeConnections(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "CLIENT", "SETNAME", "lister")
	id := do(t, cn, "CLIENT", "ID").(int64)
	info := do(t, cn, "CLIENT", "INFO").(string)
	for _, f := range []string{"id=", " addr=127.0.0.1:", " laddr=", " fd=", " name=lister ", " age=", " idle=", " flags=N ", " db=0 ", " sub=0 ", " psub=0 ", " multi=-1 ", " qbuf=", " omem=", " tot-mem=", " events=r ", " cmd=client|info ", " user=default ", " resp=2"} {
		if !strings.Contains(info, f) {
			t.Errorf("CLIENT INFO lacks %q: %s", f, info)
		}
	}
	if !strings.HasPrefix(info, "id="+itoa(id)+" ") || !strings.HasSuffix(info, "\n") {
		t.Errorf("CLIENT INFO = %q", info)
	}
	list := do(t, cn, "CLIENT", "LIST").(string)
	if !strings.Contains(list, "name=lister") {
		t.Errorf("CLIENT LIST lacks our client: %s", list)
	}
	one := do(t, cn, "CLIENT", "LIST", "ID", id).(string)
	if strings.Count(one, "\n") != 1 || !strings.Contains(one, "name=lister") {
		t.Errorf("CLIENT LIST ID %d = %q", id, one)
	}
	wantErr(t, cn, "ERR Unknown client type 'bogus'", "CLIENT", "LIST", "TYPE", "bogus")
	wantErr(t, cn, "ERR Invalid client ID", "CLIENT", "LIST", "ID", "x")
}

func TestClientKillClosesAnotherConnection(t *testing.T) {
	c := client(t)
	victim := dialRaw(t, shared.Addr())
	victim.send("CLIENT ID\r\n")
	id := strings.TrimPrefix(victim.line(), ":")
	want(t, c, int64(1), "CLIENT", "KILL", "ID", id)
	victim.closed()
	want(t, c, int64(0), "CLIENT", "KILL", "ID", id)
	wantErr(t, c, "ERR No such client", "CLIENT", "KILL", "127.0.0.1:1")
	wantErr(t, c, "ERR syntax error", "CLIENT", "KILL", "ID", id, "bogus")
}

func TestClientNoEvictAndReply(t *testing.T) {
	c := client(t)
	want(t, c, "OK", "CLIENT", "NO-EVICT", "on")
	want(t, c, "OK", "CLIENT", "NO-EVICT", "off")
	wantErr(t, c, "ERR syntax error", "CLIENT", "NO-EVICT", "maybe")

	r := dialRaw(t, shared.Addr())
	r.send("CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nCLIENT REPLY SKIP\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n")
	r.expect("+OK") // the reply to CLIENT REPLY ON
	r.expect("$1")
	r.expect("1")
}

func TestClientHelpAndUnknownSubcommand(t *testing.T) {
	c := client(t)
	v, ok := do(t, c, "CLIENT", "HELP").([]any)
	if !ok || len(v) < 10 {
		t.Errorf("CLIENT HELP = %v", v)
	}
	wantErr(t, c, "ERR unknown subcommand 'bogus'. Try CLIENT HELP.", "CLIENT", "bogus")
}

// TestIdleTimeout: with `timeout 1`, a client that talks more often than
// once a second stays connected while a silent one is closed (Redis checks
// in whole seconds, so within about 2 s of its last command).
func TestIdleTimeout(t *testing.T) {
	s := startServer(t, "--timeout", "1")
	busy, idle := dialRaw(t, s.Addr()), dialRaw(t, s.Addr())
	for _, r := range []*raw{busy, idle} {
		r.send("PING\r\n")
		r.expect("+PONG")
	}
	for end := time.Now().Add(3500 * time.Millisecond); time.Now().Before(end); {
		time.Sleep(250 * time.Millisecond)
		busy.send("PING\r\n")
		busy.expect("+PONG")
	}
	idle.closed()
	busy.send("PING\r\n")
	busy.expect("+PONG")
}

func itoa(n int64) string { return formatInt(n) }

func TestHelloWithoutArgumentsKeepsTheProtocol(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	v := do(t, cn, "HELLO").([]any)
	if len(v) != 14 || v[5] != int64(2) {
		t.Errorf("HELLO = %v, want proto 2", v)
	}
	info := do(t, cn, "CLIENT", "INFO").(string)
	if !strings.Contains(info, " resp=2") {
		t.Errorf("CLIENT INFO = %s", info)
	}
	r := dialRaw(t, shared.Addr())
	r.send("HELLO 3\r\nSELECT 4\r\nCLIENT INFO\r\n")
	r.value()
	r.expect("+OK")
	ci, _ := r.value().(string)
	if !strings.Contains(ci, " db=4 ") || !strings.Contains(ci, " resp=3") {
		t.Errorf("CLIENT INFO after HELLO 3 and SELECT 4 = %q", ci)
	}
}

func TestClientKillFilters(t *testing.T) {
	c := client(t)
	a := dialRaw(t, shared.Addr())
	a.send("CLIENT INFO\r\n")
	ai := a.value().(string)
	addr := strings.TrimPrefix(strings.Fields(ai)[1], "addr=")
	want(t, c, int64(1), "CLIENT", "KILL", "ADDR", addr)
	a.closed()
	b := dialRaw(t, shared.Addr())
	b.send("CLIENT ID\r\n")
	b.value()
	// SKIPME yes (the default) spares the caller; USER default matches everyone else.
	cn := conn(t, c)
	if n := do(t, cn, "CLIENT", "KILL", "USER", "default").(int64); n < 1 {
		t.Errorf("CLIENT KILL USER default killed %d", n)
	}
	b.closed()
	want(t, cn, "PONG", "PING")
	wantErr(t, c, "ERR No such user 'nobody'", "CLIENT", "KILL", "USER", "nobody")
	wantErr(t, c, "ERR syntax error", "CLIENT", "KILL", "SKIPME", "maybe")
}

func TestResetLeavesPubSubMultiAndWatch(t *testing.T) {
	c := client(t)
	r := dialRaw(t, shared.Addr())
	r.send("SUBSCRIBE ch\r\n")
	r.value()
	r.send("RESET\r\n")
	r.expect("+RESET")
	r.send("GET k\r\n")
	r.expect("$-1")
	want(t, c, int64(0), "PUBLISH", "ch", "x")
	r.send("WATCH k\r\nMULTI\r\nRESET\r\n")
	r.expect("+OK")
	r.expect("+OK")
	r.expect("+RESET")
	do(t, c, "SET", "k", "changed")
	r.send("MULTI\r\nGET k\r\nEXEC\r\n")
	r.expect("+OK")
	r.expect("+QUEUED")
	if v := r.value(); fmt.Sprint(v) != "[changed]" {
		t.Errorf("EXEC after RESET cleared WATCH = %v", v)
	}
}

func TestClientReplyOnClearsAPendingSkip(t *testing.T) {
	client(t)
	r := dialRaw(t, shared.Addr())
	r.send("CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nPING\r\n")
	r.expect("+OK")
	r.expect("+PONG")
}
