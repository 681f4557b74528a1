package redistests

import (
	"strings"
	"testing"
	"time"
)

// CLIENT UNBLOCK id (TIMEOUT) ends a running GEN: it replies what it
// generated so far, committed to the key as a MAXTOKENS stop would, with
// stop_reason cancelled. CLIENT UNBLOCK id ERROR replies -UNBLOCKED and
// leaves the key as it was, as CLIENT KILL does.
func TestClientUnblockEndsAGen(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	gen := conn(t, c)
	id := do(t, gen, "CLIENT", "ID").(int64)
	sub := c.Subscribe(ctx, "__gen__:k")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := gen.Do(ctx, "GEN", "k", "Once upon a time", "MAXTOKENS", 1500, "TEMPERATURE", 0, "STREAM", "WITHSTATS").Result()
		done <- result{v, err}
	}()
	// Once it has streamed some text, it is generating.
	if _, err := sub.ReceiveMessage(ctx); err != nil {
		t.Fatal(err)
	}
	want(t, c, int64(1), "CLIENT", "UNBLOCK", id)
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("GEN still running 10 s after CLIENT UNBLOCK")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	st := map[string]any{}
	flat := r.v.([]any)
	for i := 0; i+1 < len(flat); i += 2 {
		st[flat[i].(string)] = flat[i+1]
	}
	n := st["generated_tokens"].(int64)
	if st["stop_reason"] != "cancelled" || n < 1 || n >= 1500 {
		t.Fatalf("unblocked GEN: %v", st)
	}
	// Committed: the session holds the prompt and every generated token,
	// and its text ends with the reply's.
	if toks := do(t, c, "TOKENS", "k").([]any); int64(len(toks)) != st["prompt_tokens"].(int64)+n {
		t.Errorf("the session holds %d tokens, want %d prompt + %d generated", len(toks), st["prompt_tokens"], n)
	}
	if text := str(t, c, "TEXT", "k"); !strings.HasSuffix(text, st["text"].(string)) {
		t.Errorf("TEXT k = %q, does not end with the reply %q", text, st["text"])
	}
	want(t, c, int64(0), "CLIENT", "UNBLOCK", id) // no longer blocked

	// ERROR: nothing happens to the key.
	go func() {
		v, err := gen.Do(ctx, "GEN", "k2", "Once upon a time", "MAXTOKENS", 1500, "TEMPERATURE", 0).Result()
		done <- result{v, err}
	}()
	for do(t, c, "CLIENT", "UNBLOCK", id, "ERROR") != int64(1) {
		time.Sleep(time.Millisecond)
	}
	r = <-done
	if r.err == nil || r.err.Error() != "UNBLOCKED client unblocked via CLIENT UNBLOCK" {
		t.Errorf("GEN after CLIENT UNBLOCK ERROR: %v, %v", r.v, r.err)
	}
	want(t, c, int64(0), "EXISTS", "k2")
	want(t, c, "PONG", "PING") // the connection goes on
	want(t, gen, "PONG", "PING")

	// A job with nothing to commit yet (a PREFILL; TIMEOUT or ERROR alike)
	// is cancelled: -UNBLOCKED, and the key stays absent.
	long := strings.Repeat("Once upon a time there was a little dog. ", 150)
	go func() {
		v, err := gen.Do(ctx, "PREFILL", "k3", long).Result()
		done <- result{v, err}
	}()
	for {
		if do(t, c, "CLIENT", "UNBLOCK", id) == int64(1) {
			r = <-done
			if r.err == nil || r.err.Error() != "UNBLOCKED client unblocked via CLIENT UNBLOCK" {
				t.Errorf("PREFILL after CLIENT UNBLOCK: %v, %v", r.v, r.err)
			}
			want(t, c, int64(0), "EXISTS", "k3")
			break
		}
		select {
		case r = <-done: // finished before it could be unblocked: try again
			do(t, c, "DEL", "k3")
			go func() {
				v, err := gen.Do(ctx, "PREFILL", "k3", long).Result()
				done <- result{v, err}
			}()
		default:
		}
	}
}
