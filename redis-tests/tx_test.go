package redistests

import (
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestMultiExecRunsQueuedCommandsInOrder(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	want(t, cn, "OK", "MULTI")
	want(t, cn, "QUEUED", "SET", "a", "1")
	want(t, cn, "QUEUED", "INCR", "a")
	want(t, cn, "QUEUED", "GET", "a")
	want(t, cn, []any{"OK", int64(2), "2"}, "EXEC")
	do(t, cn, "MULTI")
	want(t, cn, []any{}, "EXEC")
}

func TestExecWithoutMultiAndNestedMultiAreErrors(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	wantErr(t, cn, "ERR EXEC without MULTI", "EXEC")
	wantErr(t, cn, "ERR DISCARD without MULTI", "DISCARD")
	do(t, cn, "MULTI")
	wantErr(t, cn, "ERR MULTI calls can not be nested", "MULTI")
	wantErr(t, cn, "ERR WATCH inside MULTI is not allowed", "WATCH", "x")
	want(t, cn, []any{}, "EXEC")
}

func TestDiscardDropsTheQueue(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "MULTI")
	do(t, cn, "SET", "a", "1")
	want(t, cn, "OK", "DISCARD")
	want(t, cn, int64(0), "EXISTS", "a")
}

func TestQueuedSyntaxErrorAbortsExec(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "MULTI")
	do(t, cn, "SET", "a", "1")
	wantErr(t, cn, "ERR wrong number of arguments for 'set' command", "SET", "b")
	wantErr(t, cn, "ERR unknown command 'nosuch', with args beginning with: ", "nosuch")
	wantErr(t, cn, "EXECABORT Transaction discarded because of previous errors.", "EXEC")
	want(t, cn, int64(0), "EXISTS", "a")
}

func TestRuntimeErrorInsideExecDoesNotStopTheRest(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "SET", "s", "abc")
	do(t, cn, "MULTI")
	do(t, cn, "INCR", "s")
	do(t, cn, "SET", "b", "2")
	v, err := cn.Do(ctx, "EXEC").Slice()
	if err != nil || len(v) != 2 {
		t.Fatalf("EXEC = %v, %v", v, err)
	}
	if e, ok := v[0].(error); !ok || e.Error() != "ERR value is not an integer or out of range" {
		t.Errorf("EXEC[0] = %#v", v[0])
	}
	if v[1] != "OK" {
		t.Errorf("EXEC[1] = %#v", v[1])
	}
}

func TestWatchedKeyChangedMakesExecReturnNil(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "SET", "w", "1")
	want(t, cn, "OK", "WATCH", "w")
	do(t, c, "SET", "w", "2") // another connection
	do(t, cn, "MULTI")
	do(t, cn, "SET", "w", "3")
	want(t, cn, nil, "EXEC")
	want(t, cn, "2", "GET", "w")
}

func TestWatchSeesExpiryDeleteAndFlush(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	for _, change := range [][]any{{"DEL", "w"}, {"FLUSHALL"}, {"EXPIRE", "w", 100}, {"RENAME", "w", "w2"}} {
		do(t, cn, "SET", "w", "1")
		do(t, cn, "WATCH", "w")
		do(t, c, change...)
		do(t, cn, "MULTI")
		do(t, cn, "PING")
		want(t, cn, nil, "EXEC")
	}
}

func TestUnwatchAndExecForgetWatchedKeys(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "WATCH", "w")
	do(t, c, "SET", "w", "x")
	want(t, cn, "OK", "UNWATCH")
	do(t, cn, "MULTI")
	do(t, cn, "PING")
	want(t, cn, []any{"PONG"}, "EXEC")
	// Watching a key that is missing and stays missing does not abort.
	do(t, cn, "WATCH", "missing")
	do(t, cn, "MULTI")
	do(t, cn, "PING")
	want(t, cn, []any{"PONG"}, "EXEC")
}

func TestGoRedisTxPipelinedAndWatchRetry(t *testing.T) {
	c := client(t)
	cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "a", "1", 0)
		p.Incr(ctx, "a")
		return nil
	})
	if err != nil || len(cmds) != 2 || cmds[1].(*redis.IntCmd).Val() != 2 {
		t.Fatalf("TxPipelined = %v, %v", cmds, err)
	}
	// Optimistic increment with WATCH, losing the race once.
	raced := false
	incr := func(tx *redis.Tx) error {
		n, err := tx.Get(ctx, "a").Int()
		if err != nil {
			return err
		}
		if !raced {
			raced = true
			c.Set(ctx, "a", "100", 0)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "a", n+1, 0)
			return nil
		})
		return err
	}
	if err := c.Watch(ctx, incr, "a"); !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("first Watch = %v, want TxFailedErr", err)
	}
	if err := c.Watch(ctx, incr, "a"); err != nil {
		t.Fatalf("second Watch = %v", err)
	}
	if v := c.Get(ctx, "a").Val(); v != "101" {
		t.Errorf("a = %q, want 101", v)
	}
}

func TestSwapdbAndFlushdbTouchWatchedKeys(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	other := conn(t, c)
	do(t, other, "SELECT", 1)
	do(t, other, "SET", "w", "db1")
	do(t, cn, "SET", "w", "db0")
	do(t, cn, "WATCH", "w")
	do(t, c, "SWAPDB", 0, 1)
	do(t, cn, "MULTI")
	do(t, cn, "GET", "w")
	want(t, cn, nil, "EXEC")
	do(t, cn, "WATCH", "w")
	do(t, other, "FLUSHDB") // a different database: no effect on the watch
	do(t, cn, "MULTI")
	do(t, cn, "GET", "w")
	want(t, cn, []any{"db1"}, "EXEC")
}

func TestExecWithWrongArityAbortsEvenOutsideMulti(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	wantErr(t, cn, "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command", "EXEC", "x")
	do(t, cn, "MULTI")
	do(t, cn, "SET", "a", "1")
	wantErr(t, cn, "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command", "EXEC", "x")
	wantErr(t, cn, "ERR EXEC without MULTI", "EXEC")
	want(t, c, int64(0), "EXISTS", "a")
}
