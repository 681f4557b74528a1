package redistests

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Issue 13: a 16 MiB GEN prompt was tokenised on the event loop, which
// stalled every other client for over a second (two such clients pushed
// PING to 2-3 s). Prompts are now tokenised off the loop; these tests
// measure the stall against the tokenising itself, in the same test, so
// they do not depend on the machine's speed.

// bigPrompt is a prompt of the largest size GEN and PREFILL accept.
var bigPrompt = strings.Repeat("Tom had apples. ", 1<<20)

// pingsDuring runs cmd on a client of its own while another client sends
// PING after PING; it returns cmd's reply error, how long cmd took, the
// slowest PING and the number of PINGs.
func pingsDuring(t *testing.T, s *Server, cmd ...any) (err error, took, slowest time.Duration, pings int) {
	t.Helper()
	// Tokenising 16 MiB with stories260K's SentencePiece takes seconds.
	o := options(s.Addr(), 2)
	o.ReadTimeout = 2 * time.Minute
	gen := redis.NewClient(o)
	t.Cleanup(func() { gen.Close() })
	pinger := ownClient(t, s, 2)
	if err := pinger.Ping(ctx).Err(); err != nil { // connected before cmd starts
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- gen.Do(ctx, cmd...).Err() }()
	for {
		select {
		case err = <-done:
			return err, time.Since(t0), slowest, pings
		default:
		}
		p0 := time.Now()
		if err := pinger.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(p0))
		pings++
		time.Sleep(time.Millisecond) // leave the CPU to the server
	}
}

// checkNoStall fails when the slowest PING took more than a quarter of
// the big command: on a loop that tokenises, a PING sent meanwhile waits
// for the whole tokenising, the most of the command's time.
func checkNoStall(t *testing.T, what string, took, slowest time.Duration, pings int) {
	t.Helper()
	t.Logf("%s took %v; %d PINGs meanwhile; the slowest reply to another client %v", what, took, pings, slowest)
	if slowest > max(took/4, 20*time.Millisecond) {
		t.Errorf("%s stalled the loop: a PING took %v of the command's %v", what, slowest, took)
	}
}

func TestBigPromptDoesNotStallOtherClients(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t)
	c := ownClient(t, s, 2)
	do(t, c, "PREFILL", "k", "Once upon a time")
	for _, cmd := range [][]any{
		{"PREFILL", "new", bigPrompt},
		{"PREFILL", "k", bigPrompt[:2<<20]}, // a continuation
		{"GEN", "k", bigPrompt[:2<<20], "MAXTOKENS", 5},
	} {
		err, took, slowest, pings := pingsDuring(t, s, cmd...)
		// The prompt is past the context of 2,048 tokens: it is refused,
		// once tokenised, with the count of its tokens.
		what := fmt.Sprintf("%s %s <%d MiB>", cmd[0], cmd[1], len(cmd[2].(string))>>20)
		if err == nil || !strings.HasPrefix(err.Error(), "ERR context window full") {
			t.Fatalf("%s: %v, want context window full", what, err)
		}
		checkNoStall(t, what, took, slowest, pings)
		if cmd[1] == "new" {
			// The 16 MiB's tokenising peaked at 1.86 GB of RSS with
			// SentencePiece's merge queue; it is about 600 MB.
			if hwm := peakRSS(t, s); hwm > 1<<30 {
				t.Errorf("%s: peak RSS %d MB, want under 1 GB", what, hwm>>20)
			} else {
				t.Logf("%s: peak RSS %d MB", what, hwm>>20)
			}
		}
	}
	want(t, c, int64(1), "EXISTS", "k")
	want(t, c, int64(0), "EXISTS", "new")

	// TOKENIZE of its largest text, 1 MiB, is tokenised off the loop too.
	err, took, slowest, pings := pingsDuring(t, s, "TOKENIZE", bigPrompt[:1<<20])
	if err != nil {
		t.Fatalf("TOKENIZE <1 MiB>: %v", err)
	}
	checkNoStall(t, "TOKENIZE <1 MiB>", took, slowest, pings)
	// Off the loop (over 4 KiB), the ids are the text's: they decode to it.
	text := bigPrompt[:8<<10]
	ids, err := c.Do(ctx, "TOKENIZE", text).Slice()
	if err != nil || len(ids) < 1000 {
		t.Fatalf("TOKENIZE <8 KiB>: %d ids, %v", len(ids), err)
	}
	if back := str(t, c, append([]any{"DETOKENIZE"}, ids...)...); back != text {
		t.Errorf("DETOKENIZE(TOKENIZE(8 KiB)) differs from the text: %d bytes, %.40q", len(back), back)
	}
	// The ordinary path still works, as does a prompt just past what is
	// tokenised on the loop (4 KiB), continued by a GEN.
	if n, err := c.Do(ctx, "PREFILL", "k", strings.Repeat("Lily ran. ", 420)).Int64(); err != nil || n < 1000 {
		t.Errorf("PREFILL of 4,200 bytes: %d tokens, %v", n, err)
	}
	if text := str(t, c, "GEN", "k", " The end.", "MAXTOKENS", 3, "TEMPERATURE", 0); text == "" {
		t.Error("GEN after the big prompts replied no text")
	}
}

// peakRSS is the server process's peak resident memory (VmHWM), in bytes.
func peakRSS(t *testing.T, s *Server) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// TestBigChatPromptDoesNotStallOtherClients: a GEN CHAT turn is rendered
// and tokenised off the loop too, with a model that has a chat format.
func TestBigChatPromptDoesNotStallOtherClients(t *testing.T) {
	onlyReddwarf(t)
	model := filepath.Join(t.TempDir(), "qwen2.gguf")
	vocab, _ := filepath.Abs("../infer/tokenizer/testdata/ggml-vocab-qwen2.gguf")
	synth := exec.Command(serverBinary, "synth", "--arch", "qwen2", "--shape", "tiny", "--quant", "q8_0", "--vocab", vocab, "-o", model)
	if out, err := synth.CombinedOutput(); err != nil {
		t.Fatalf("reddwarf synth: %v\n%s", err, out)
	}
	s := startServer(t, "--model", model)
	err, took, slowest, pings := pingsDuring(t, s, "GEN", "chat", bigPrompt[:4<<20], "CHAT", "MAXTOKENS", 3)
	if err == nil || !strings.HasPrefix(err.Error(), "ERR context window full") {
		t.Fatalf("GEN CHAT <4 MiB>: %v, want context window full", err)
	}
	checkNoStall(t, "GEN chat <4 MiB> CHAT", took, slowest, pings)
	c := ownClient(t, s, 2)
	if text := str(t, c, "GEN", "chat", "Hi!", "CHAT", "MAXTOKENS", 3, "SEED", 1); text == "" {
		t.Error("GEN CHAT after the big prompt replied no text")
	}
}

// waitBlocked waits until c's server has n blocked clients; it returns
// the slowest INFO it sent meanwhile.
func waitBlocked(t *testing.T, c doer, n int64) (slowest time.Duration) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		t0 := time.Now()
		got := infoInt(t, c, "clients", "blocked_clients")
		slowest = max(slowest, time.Since(t0))
		if got == n {
			return slowest
		}
		if time.Now().After(deadline) {
			t.Fatalf("blocked_clients never became %d", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A client that goes away (disconnects, or is unblocked) while its prompt
// is being tokenised leaves everything as it was: its job is never
// queued, no keyspace event fires, the key keeps its tokens. The context
// is raised so far that the prompt would be admitted: a job that ran
// anyway would show in INFO inference.
func TestClientGoneWhileTokenisingChangesNothing(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--ctx", "16777216", "--notify-keyspace-events", "KEA")
	c := ownClient(t, s, 2)
	do(t, c, "PREFILL", "k", "Once upon a time")
	do(t, c, "SET", "str", "a string")
	before := do(t, c, "TOKENS", "k")
	events := c.PSubscribe(ctx, "__keyspace@0__:*")
	defer events.Close()
	if _, err := events.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	ch := events.Channel()
	prompt := bigPrompt[:4<<20]
	var slowest time.Duration // of c's INFO while prompts were sent
	wait := func(n int64) { slowest = max(slowest, waitBlocked(t, c, n)) }

	for _, how := range []string{"disconnect", "unblock", "unblock error"} {
		if how == "disconnect" {
			r := dialRaw(t, s.Addr())
			r.send(fmt.Sprintf("*3\r\n$7\r\nPREFILL\r\n$1\r\nk\r\n$%d\r\n%s\r\n", len(prompt), prompt))
			wait(1)
			r.c.Close()
			wait(0)
			continue
		}
		// CLIENT UNBLOCK id: a GEN replies the empty text, as one
		// unblocked before its first token does; ERROR: -UNBLOCKED.
		gen := conn(t, ownClient(t, s, 2))
		id := do(t, gen, "CLIENT", "ID").(int64)
		args, unblock := []any{"GEN", "k", prompt, "MAXTOKENS", 5, "WITHSTATS"}, []any{"CLIENT", "UNBLOCK", id}
		if how == "unblock error" {
			args, unblock = []any{"PREFILL", "k", prompt}, append(unblock, "ERROR")
		}
		done := make(chan *redis.Cmd, 1)
		go func() { cmd := gen.Do(ctx, args...); cmd.Err(); done <- cmd }()
		wait(1)
		want(t, c, int64(1), unblock...)
		var cmd *redis.Cmd
		select {
		case cmd = <-done:
		case <-time.After(time.Second):
			t.Fatalf("%s: no reply a second after CLIENT UNBLOCK", how)
		}
		v, err := cmd.Result()
		if how == "unblock error" {
			if err == nil || err.Error() != "UNBLOCKED client unblocked via CLIENT UNBLOCK" {
				t.Errorf("PREFILL after CLIENT UNBLOCK ERROR: %v, %v", v, err)
			}
		} else if st, _ := v.([]any); err != nil || len(st) != 16 || st[1] != "" || st[11] != "cancelled" {
			t.Errorf("GEN after CLIENT UNBLOCK: %v, %v; want the empty text, stop_reason cancelled", v, err)
		}
		want(t, gen, "PONG", "PING") // the connection goes on
		wait(0)
	}
	// A prompt tokenised after those (they would have been submitted
	// by now) is refused as a command on a string is.
	o := options(s.Addr(), 2)
	o.ReadTimeout = time.Minute
	probe := redis.NewClient(o)
	defer probe.Close()
	t0 := time.Now()
	if err := probe.Do(ctx, "PREFILL", "str", prompt).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		t.Fatalf("PREFILL str <4 MiB>: %v, want WRONGTYPE", err)
	}
	// That took a tokenising at least (and the wait for the earlier
	// ones): the loop stalled for none of it.
	checkNoStall(t, "PREFILL str <4 MiB>", time.Since(t0), slowest, 0)
	time.Sleep(100 * time.Millisecond)
	if a, q := infoInt(t, c, "inference", "active_gens"), infoInt(t, c, "inference", "queued_gens"); a+q != 0 {
		t.Fatalf("%d jobs running and %d queued after their clients went away", a, q)
	}
	want(t, c, before, "TOKENS", "k")
	// The first event is the marker's: nothing touched k before it.
	do(t, c, "SET", "marker", "1")
	select {
	case m := <-ch:
		if m.Channel != "__keyspace@0__:marker" {
			t.Errorf("keyspace event %s %s before the marker's", m.Channel, m.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Error("no keyspace event for SET marker")
	}
	// The key is not busy: a small PREFILL runs at once.
	if n := num(t, c, "PREFILL", "k", " there was a cat."); n <= int64(len(before.([]any))) {
		t.Errorf("PREFILL after: %d tokens", n)
	}
}

// A large prompt queued behind another job on its key is encoded for the
// session the key held when it arrived; when that job changes it (here:
// creates it, so the prompt must continue it, not start it), the prompt
// is encoded again off the loop too, not when its job starts on the loop.
func TestBigPromptQueuedBehindAJobIsEncodedAgainOffTheLoop(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t)
	c := ownClient(t, s, 2)
	prompt := bigPrompt[:2<<20]
	// How long a tokenising of the prompt takes: refused once tokenised.
	t0 := time.Now()
	if err := c.Do(ctx, "PREFILL", "fresh", prompt).Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR context window full") {
		t.Fatalf("PREFILL fresh <2 MiB>: %v", err)
	}
	encode := time.Since(t0)
	// A GEN of 2,000 tokens on k, which does not exist until it ends
	// (seconds; a minute with the race detector).
	o := options(s.Addr(), 2)
	o.ReadTimeout = 2 * time.Minute
	gen := redis.NewClient(o)
	defer gen.Close()
	done := make(chan error, 1)
	go func() {
		done <- gen.Do(ctx, "GEN", "k", "Once upon a time", "MAXTOKENS", 2000, "TEMPERATURE", 0).Err()
	}()
	for infoInt(t, c, "inference", "active_gens") != 1 {
		time.Sleep(time.Millisecond)
	}
	err, took, slowest, pings := pingsDuring(t, s, "PREFILL", "k", prompt)
	if gerr := <-done; gerr != nil {
		t.Fatalf("the GEN before: %v", gerr)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "ERR context window full: the session has 2") {
		t.Fatalf("PREFILL k <2 MiB> after the GEN: %v, want context window full for a session of 2,00x tokens", err)
	}
	t.Logf("a tokenising of 2 MiB takes %v; PREFILL k <2 MiB> queued behind the GEN took %v, %d PINGs meanwhile, the slowest %v", encode, took, pings, slowest)
	if slowest > max(encode/4, 20*time.Millisecond) {
		t.Errorf("a PING took %v, over a quarter of one tokenising (%v)", slowest, encode)
	}
}

// The HTTP front end tokenises a large prompt on its own goroutine, never
// on the loop: a RESP client's PINGs are answered meanwhile, for a
// completion's prompt and a stateless chat's conversation alike.
func TestHTTPBigPromptDoesNotStallTheLoop(t *testing.T) {
	onlyReddwarf(t)
	_, url, c := startHTTPServer(t, "pw")
	text := bigPrompt[:8<<20]
	for _, req := range []struct{ path, body string }{
		{"/v1/completions", `{"prompt":"` + text + `","max_tokens":3}`},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"` + text + `"}],"max_tokens":3}`},
	} {
		done := make(chan int, 1)
		t0 := time.Now()
		go func() {
			r, err := http.NewRequest("POST", url+req.path, strings.NewReader(req.body))
			if err != nil {
				done <- 0
				return
			}
			r.Header.Set("Authorization", "Bearer pw")
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				done <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		var slowest time.Duration
		pings := 0
		for code := -1; code < 0; {
			select {
			case code = <-done:
				if code != http.StatusBadRequest {
					t.Errorf("POST %s <8 MiB>: status %d, want 400 (past the context)", req.path, code)
				}
				continue
			default:
			}
			p0 := time.Now()
			if err := c.Ping(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			slowest = max(slowest, time.Since(p0))
			pings++
			time.Sleep(time.Millisecond)
		}
		checkNoStall(t, "POST "+req.path+" <8 MiB>", time.Since(t0), slowest, pings)
	}
}
