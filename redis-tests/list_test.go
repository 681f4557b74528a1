package redistests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lists, after Redis's tests/unit/type/list.tcl: replies and errors, and
// the blocking commands served by pushes from other clients.

func TestListPushPopRangeAndErrors(t *testing.T) {
	c := client(t)
	want(t, c, int64(3), "RPUSH", "l", "a", "b", "c")
	want(t, c, int64(5), "LPUSH", "l", "y", "z")
	want(t, c, "[z y a b c]", "LRANGE", "l", 0, -1)
	want(t, c, "[b c]", "LRANGE", "l", -2, 100)
	want(t, c, "z", "LPOP", "l")
	want(t, c, "[c b]", "RPOP", "l", 2)
	want(t, c, "[]", "LPOP", "l", 0)
	want(t, c, int64(0), "LPUSHX", "none", "a")
	want(t, c, int64(3), "LINSERT", "l", "AFTER", "y", "m")
	want(t, c, int64(-1), "LINSERT", "l", "BEFORE", "nope", "m")
	want(t, c, "m", "LINDEX", "l", 1)
	want(t, c, "OK", "LSET", "l", -1, "last")
	want(t, c, "[y m last]", "LRANGE", "l", 0, -1)
	wantErr(t, c, "ERR index out of range", "LSET", "l", 5, "x")
	wantErr(t, c, "ERR no such key", "LSET", "none", 0, "x")
	wantErr(t, c, "ERR value is out of range, must be positive", "LPOP", "l", -1)
	wantErr(t, c, "ERR syntax error", "LINSERT", "l", "MIDDLE", "y", "x")
	do(t, c, "SET", "s", "x")
	wantErr(t, c, "WRONGTYPE Operation against a key holding the wrong kind of value", "LPUSH", "s", "a")
	wantErr(t, c, "WRONGTYPE Operation against a key holding the wrong kind of value", "LMOVE", "l", "s", "LEFT", "LEFT")
	want(t, c, int64(3), "LLEN", "l") // the failed LMOVE popped nothing
	want(t, c, "OK", "LTRIM", "l", 5, 10)
	want(t, c, int64(0), "EXISTS", "l")
	do(t, c, "RPUSH", "l", "x")
	want(t, c, "quicklist", "OBJECT", "ENCODING", "l")
}

func TestListLposLremLmpop(t *testing.T) {
	c := client(t)
	do(t, c, "RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c")
	want(t, c, int64(2), "LPOS", "l", "c")
	want(t, c, int64(6), "LPOS", "l", "c", "RANK", 2)
	want(t, c, int64(7), "LPOS", "l", "c", "RANK", -1)
	want(t, c, "[2 6 7]", "LPOS", "l", "c", "COUNT", 0)
	want(t, c, "[2]", "LPOS", "l", "c", "COUNT", 0, "MAXLEN", 5)
	wantErr(t, c, "ERR COUNT can't be negative", "LPOS", "l", "c", "COUNT", -1)
	want(t, c, int64(2), "LREM", "l", -2, "c")
	want(t, c, "[a b c 1 2 3]", "LRANGE", "l", 0, -1)
	want(t, c, "[l [a b]]", "LMPOP", 2, "none", "l", "LEFT", "COUNT", 2)
	want(t, c, nil, "LMPOP", 1, "none", "RIGHT")
	wantErr(t, c, "ERR numkeys should be greater than 0", "LMPOP", 0, "l", "LEFT")
	wantErr(t, c, "ERR count should be greater than 0", "LMPOP", 1, "l", "LEFT", "COUNT", 0)
}

// blocked starts cmd on its own connection and returns its reply channel,
// after the server shows the client blocked.
func blocked(t *testing.T, c *redis.Client, args ...any) <-chan any {
	t.Helper()
	cn := conn(t, c)
	out := make(chan any, 1)
	before := blockedClients(t, c)
	go func() {
		v, err := cn.Do(ctx, args...).Result()
		if err != nil && err != redis.Nil {
			out <- err
			return
		}
		out <- v
	}()
	for i := 0; blockedClients(t, c) == before; i++ {
		if i > 500 {
			t.Fatalf("%v did not block", args)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return out
}

func blockedClients(t *testing.T, c *redis.Client) int {
	t.Helper()
	for _, l := range strings.Split(c.Info(ctx, "clients").Val(), "\r\n") {
		if v, ok := strings.CutPrefix(l, "blocked_clients:"); ok {
			n := 0
			for _, d := range v {
				n = n*10 + int(d-'0')
			}
			return n
		}
	}
	t.Fatal("INFO clients has no blocked_clients")
	return 0
}

func recv(t *testing.T, ch <-chan any) any {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked client got no reply")
		return nil
	}
}

func TestBlpopIsServedByAPushFromAnotherClientOldestWaiterFirst(t *testing.T) {
	c := client(t)
	first := blocked(t, c, "BLPOP", "l1", "l2", 0)
	second := blocked(t, c, "BRPOP", "l2", 0)
	want(t, c, int64(3), "RPUSH", "l2", "a", "b", "c")
	if v := recv(t, first); !same(v, "[l2 a]") {
		t.Errorf("first waiter got %v, want [l2 a]", v)
	}
	if v := recv(t, second); !same(v, "[l2 c]") {
		t.Errorf("second waiter got %v, want [l2 c]", v)
	}
	want(t, c, "[b]", "LRANGE", "l2", 0, -1)
	want(t, c, int64(0), "EXISTS", "l1")
}

func TestBlockingPopTimesOutWithANullAndDoesNotBlockInMulti(t *testing.T) {
	c := client(t)
	start := time.Now()
	want(t, c, nil, "BLPOP", "none", 0.2)
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Errorf("BLPOP with a 0.2s timeout returned after %v", d)
	}
	wantErr(t, c, "ERR timeout is negative", "BLPOP", "none", -1)
	wantErr(t, c, "ERR timeout is not a float or out of range", "BLPOP", "none", "x")
	cn := conn(t, c)
	do(t, cn, "MULTI")
	do(t, cn, "BLPOP", "none", 0)
	do(t, cn, "BLMOVE", "none", "d", "LEFT", "LEFT", 0)
	want(t, cn, "[<nil> <nil>]", "EXEC")
}

func TestBlmoveChainsAndAPushInsideExecServesAfterIt(t *testing.T) {
	c := client(t)
	mover := blocked(t, c, "BLMOVE", "src", "dst", "RIGHT", "LEFT", 0)
	popper := blocked(t, c, "BLPOP", "dst", 0)
	cn := conn(t, c)
	do(t, cn, "MULTI")
	do(t, cn, "RPUSH", "src", "x", "y")
	do(t, cn, "LLEN", "src")
	want(t, cn, "[2 2]", "EXEC") // nobody was served inside the transaction
	if v := recv(t, mover); v != "y" {
		t.Errorf("BLMOVE got %v, want y", v)
	}
	if v := recv(t, popper); !same(v, "[dst y]") {
		t.Errorf("BLPOP on BLMOVE's destination got %v, want [dst y]", v)
	}
	want(t, c, "[x]", "LRANGE", "src", 0, -1)
}

func TestBlmpopAndTheBlockedClientsPipelineResumes(t *testing.T) {
	c := client(t)
	r := dialRaw(t, shared.Addr())
	r.send("*7\r\n$6\r\nBLMPOP\r\n$1\r\n0\r\n$1\r\n1\r\n$1\r\nq\r\n$4\r\nLEFT\r\n$5\r\nCOUNT\r\n" + "$1\r\n2\r\n*1\r\n$4\r\nPING\r\n")
	for i := 0; blockedClients(t, c) == 0; i++ {
		if i > 500 {
			t.Fatal("BLMPOP did not block")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := do(t, c, "CLIENT", "LIST").(string); !strings.Contains(got, "flags=b") {
		t.Errorf("CLIENT LIST shows no blocked client:\n%s", got)
	}
	do(t, c, "RPUSH", "q", "1", "2", "3")
	r.expect("*2")
	r.expect("$1")
	r.expect("q")
	r.expect("*2")
	r.expect("$1")
	r.expect("1")
	r.expect("$1")
	r.expect("2")
	r.expect("+PONG")
}

func TestADisconnectedWaiterIsForgotten(t *testing.T) {
	c := client(t)
	r := dialRaw(t, shared.Addr())
	r.send("*3\r\n$5\r\nBLPOP\r\n$4\r\ngone\r\n$1\r\n0\r\n")
	for i := 0; blockedClients(t, c) == 0; i++ {
		if i > 500 {
			t.Fatal("BLPOP did not block")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.c.Close()
	for i := 0; blockedClients(t, c) != 0; i++ {
		if i > 500 {
			t.Fatal("the disconnected client still counts as blocked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	want(t, c, int64(1), "RPUSH", "gone", "kept")
	want(t, c, "[kept]", "LRANGE", "gone", 0, -1)
}

func TestListMeetsTheGenericCommands(t *testing.T) {
	c := client(t)
	do(t, c, "RPUSH", "l", "a", "b")
	want(t, c, "list", "TYPE", "l")
	want(t, c, "[0 [l]]", "SCAN", 0, "TYPE", "list")
	want(t, c, int64(1), "COPY", "l", "l2")
	do(t, c, "RPUSH", "l2", "c")
	want(t, c, int64(2), "LLEN", "l")
	// A RENAME onto a key a client waits for serves it, as Redis does.
	ch := blocked(t, c, "BLPOP", "target", 0)
	want(t, c, "OK", "RENAME", "l2", "target")
	if v := recv(t, ch); !same(v, "[target a]") {
		t.Errorf("BLPOP after RENAME got %v", v)
	}
}

// Every blocking pop meets keys of another type the same way, as Redis
// 7.0: at the call, the keys are tried in order and the first of another
// type is WRONGTYPE, even with a fillable key after it; a key made
// another type while a client waits leaves it waiting; filled with the
// right type again, it is served. BLMOVE woken into a destination of
// another type replies WRONGTYPE and leaves the source as it was.
func TestBlockingPopsMeetOtherTypesAlike(t *testing.T) {
	c := client(t)
	for _, k := range []struct {
		args []any // blocking on "k", timeout 0
		fill []any // gives "k" one element
		got  string
	}{
		{[]any{"BLPOP", "k", 0}, []any{"RPUSH", "k", "a"}, "[k a]"},
		{[]any{"BRPOP", "k", 0}, []any{"RPUSH", "k", "a"}, "[k a]"},
		{[]any{"BLMOVE", "k", "d", "LEFT", "RIGHT", 0}, []any{"RPUSH", "k", "a"}, "a"},
		{[]any{"BRPOPLPUSH", "k", "d", 0}, []any{"RPUSH", "k", "a"}, "a"},
		{[]any{"BLMPOP", 0, 1, "k", "LEFT"}, []any{"RPUSH", "k", "a"}, "[k [a]]"},
		{[]any{"BZPOPMIN", "k", 0}, []any{"ZADD", "k", 1, "a"}, "[k a 1]"},
		{[]any{"BZPOPMAX", "k", 0}, []any{"ZADD", "k", 1, "a"}, "[k a 1]"},
		{[]any{"BZMPOP", 0, 1, "k", "MIN"}, []any{"ZADD", "k", 1, "a"}, "[k [[a 1]]]"},
	} {
		do(t, c, "DEL", "k", "d")
		do(t, c, "SET", "k", "string")
		wantErrPrefix(t, c, "WRONGTYPE", k.args...)
		do(t, c, "DEL", "k")
		wc := redis.NewClient(options(shared.Addr(), 2)) // its own pool: each waiter holds a connection
		defer wc.Close()
		waiter := blocked(t, wc, k.args...)
		n := blockedClients(t, c)
		do(t, c, "SET", "k", "string")
		time.Sleep(50 * time.Millisecond)
		if m := blockedClients(t, c); m != n {
			t.Errorf("%v: made a string, the key unblocked its waiter (%d blocked, was %d)", k.args[0], m, n)
		}
		do(t, c, "DEL", "k")
		do(t, c, k.fill...)
		if v := recv(t, waiter); fmt.Sprint(v) != k.got {
			t.Errorf("%v: got %v, want %s", k.args[0], v, k.got)
		}
	}
	// In key order: a string before a filled list is an error.
	do(t, c, "DEL", "k", "d")
	do(t, c, "SET", "s", "x")
	do(t, c, "RPUSH", "l", "a")
	wantErrPrefix(t, c, "WRONGTYPE", "BLPOP", "none", "s", "l", 0)
	want(t, c, "[l a]", "BLPOP", "none", "l", "s", 0)
	// BLMOVE into a string.
	do(t, c, "SET", "d", "x")
	waiter := blocked(t, c, "BLMOVE", "k", "d", "LEFT", "RIGHT", 0)
	do(t, c, "RPUSH", "k", "a")
	if v := recv(t, waiter); fmt.Sprint(v) == "a" || !strings.HasPrefix(fmt.Sprint(v), "WRONGTYPE") {
		t.Errorf("BLMOVE woken into a string destination: %v", v)
	}
	want(t, c, "[a]", "LRANGE", "k", 0, -1)
}
