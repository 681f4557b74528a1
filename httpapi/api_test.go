package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"reddwarf/internal/cli"
	"reddwarf/server"
	"reddwarf/session"
)

// newTestAPI runs a real server (no RESP port) with the embedded model and
// serves its HTTP front end from httptest.
func newTestAPI(t *testing.T, args ...string) (*API, *httptest.Server) {
	t.Helper()
	// The server must listen somewhere to start: a free loopback port.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cfg := server.NewConfig()
	if err := cfg.LoadArgs(append([]string{"--port", port, "--bind", "127.0.0.1", "--save", ""}, args...)); err != nil {
		t.Fatal(err)
	}
	s := server.New(cfg)
	e, err := cli.LoadModel(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Register(e.Hooks())
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(0) })
	a := New(s, e)
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(hs.Close)
	return a, hs
}

func post(t *testing.T, hs *httptest.Server, path, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", hs.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: reply is not JSON: %v", path, err)
	}
	return resp.StatusCode, m
}

// sessionLen reads key's token count on the loop (-1: no such key).
func sessionLen(a *API, key string) int {
	n := -1
	a.onLoop(context.Background(), func() {
		if o := a.s.DBs[0].Lookup(key); o != nil {
			n = o.Val.(*session.Session).State.Len()
		}
	})
	return n
}

func TestCompletionSessionAndStateless(t *testing.T) {
	a, hs := newTestAPI(t)
	code, m := post(t, hs, "/v1/completions", `{"prompt":"Once upon a time","max_tokens":4,"seed":7}`)
	if code != 200 {
		t.Fatalf("stateless: %d %v", code, m)
	}
	u := m["usage"].(map[string]any)
	if u["completion_tokens"].(float64) < 1 || u["prompt_tokens"].(float64) < 4 {
		t.Fatalf("usage %v", u)
	}
	n := -1
	a.onLoop(context.Background(), func() { n = a.s.DBs[0].Len() })
	if n != 0 {
		t.Fatalf("a stateless request left %d keys", n)
	}
	// Named by header, then continued by the body field: the key grows by
	// each request's prompt and reply.
	code, m = post(t, hs, "/v1/completions", `{"prompt":"Once upon a time","max_tokens":4}`, "X-Session-Key", "story")
	if code != 200 {
		t.Fatalf("session: %d %v", code, m)
	}
	u = m["usage"].(map[string]any)
	first := sessionLen(a, "story")
	if want := int(u["total_tokens"].(float64)); first != want {
		t.Fatalf("session holds %d tokens, usage says %d", first, want)
	}
	code, m = post(t, hs, "/v1/completions", `{"prompt":" there","max_tokens":3,"session":"story"}`)
	if code != 200 {
		t.Fatalf("continue: %d %v", code, m)
	}
	u = m["usage"].(map[string]any)
	if got, want := sessionLen(a, "story"), first+int(u["total_tokens"].(float64)); got != want {
		t.Fatalf("continued session holds %d tokens, want %d", got, want)
	}
}

func TestErrors(t *testing.T) {
	_, hs := newTestAPI(t, "--requirepass", "sekret")
	for _, c := range []struct {
		method, path, body, auth string
		code                     int
		param                    string
	}{
		{"POST", "/v1/completions", `{"prompt":"x"}`, "", 401, ""},
		{"POST", "/v1/completions", `{"prompt":"x"}`, "Bearer wrong", 401, ""},
		{"POST", "/v1/completions", `{"prompt":`, "Bearer sekret", 400, ""},
		{"POST", "/v1/completions", `{"prompt":"x","max_tokens":0}`, "Bearer sekret", 400, "max_tokens"},
		{"POST", "/v1/completions", `{"prompt":"x","temperature":"hot"}`, "Bearer sekret", 400, ""},
		{"POST", "/v1/completions", `{"prompt":"x","stop":[""]}`, "Bearer sekret", 400, "stop"},
		// Past the context of 2,048 tokens: the request's fault, not the
		// server's (it was a 500).
		{"POST", "/v1/completions", `{"prompt":"` + strings.Repeat("Tom had apples. ", 1000) + `"}`, "Bearer sekret", 400, ""},
		// The embedded model has no chat format.
		{"POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, "Bearer sekret", 400, "messages"},
		{"POST", "/v1/chat/completions", `{"messages":[{"role":"wizard","content":"x"}]}`, "Bearer sekret", 400, "messages[0].role"},
		{"POST", "/v1/chat/completions", `{"messages":[]}`, "Bearer sekret", 400, "messages"},
		{"GET", "/v1/completions", ``, "Bearer sekret", 405, ""},
		{"GET", "/v2/nothing", ``, "Bearer sekret", 404, ""},
		{"POST", "/v1/completions", `{"prompt":"` + strings.Repeat("a", maxBody) + `"}`, "Bearer sekret", 413, ""},
	} {
		req, _ := http.NewRequest(c.method, hs.URL+c.path, strings.NewReader(c.body))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Error struct {
				Message, Type string
				Param         *string
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != c.code || err != nil || m.Error.Message == "" || m.Error.Type == "" {
			t.Errorf("%s %s %.40q: %d %+v (%v), want %d and an error object", c.method, c.path, c.body, resp.StatusCode, m, err, c.code)
			continue
		}
		if c.param != "" && (m.Error.Param == nil || *m.Error.Param != c.param) {
			t.Errorf("%.40q: param %v, want %s", c.body, m.Error.Param, c.param)
		}
	}
	req, _ := http.NewRequest("GET", hs.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer sekret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("models with the password: %v %v", resp, err)
	}
	resp.Body.Close()
}

// A client that goes away mid-stream cancels the job as CLIENT KILL does:
// the session keeps the tokens it had.
func TestDisconnectMidStream(t *testing.T) {
	a, hs := newTestAPI(t)
	if code, m := post(t, hs, "/v1/completions", `{"prompt":"Once","max_tokens":2}`, "X-Session-Key", "k"); code != 200 {
		t.Fatalf("%d %v", code, m)
	}
	before := sessionLen(a, "k")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/v1/completions",
		strings.NewReader(`{"prompt":" upon","max_tokens":200,"stream":true,"session":"k"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: {") {
		t.Fatalf("first event %q %v", line, err)
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := true
		a.onLoop(context.Background(), func() { busy = a.e.HasWork() })
		if !busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job still runs after its client went away")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := sessionLen(a, "k"); got != before {
		t.Fatalf("after a disconnect the session holds %d tokens, had %d", got, before)
	}
}

func TestStreamMatchesWhole(t *testing.T) {
	_, hs := newTestAPI(t)
	body := `{"prompt":"Once upon a time","max_tokens":12,"seed":3,"stream":%s,"stream_options":{"include_usage":true}}`
	_, m := post(t, hs, "/v1/completions", strings.Replace(body, "%s", "false", 1))
	whole := m["choices"].([]any)[0].(map[string]any)["text"].(string)
	resp, err := http.Post(hs.URL+"/v1/completions", "application/json", strings.NewReader(strings.Replace(body, "%s", "true", 1)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	raw, _ := io.ReadAll(resp.Body)
	var text, finish string
	done, usage := false, false
	for _, ev := range strings.Split(strings.TrimSpace(string(raw)), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || done {
			t.Fatalf("bad event %q (after [DONE]: %v)", ev, done)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c struct {
			Choices []struct {
				Text         string
				FinishReason *string `json:"finish_reason"`
			}
			Usage map[string]any
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		for _, ch := range c.Choices {
			text += ch.Text
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
		usage = usage || c.Usage != nil
	}
	if text != whole || finish != "length" || !done || !usage {
		t.Fatalf("stream %q finish %q done %v usage %v; whole reply %q", text, finish, done, usage, whole)
	}
}

func TestMetrics(t *testing.T) {
	_, hs := newTestAPI(t)
	post(t, hs, "/v1/completions", `{"prompt":"Once","max_tokens":2}`, "X-Session-Key", "m")
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(raw)
	for _, want := range []string{
		"\nreddwarf_keyspace_keys{db=\"0\"} 1\n",
		"\nreddwarf_clients_connected_clients ",
		"\nreddwarf_memory_used_memory ",
		"\nreddwarf_inference_tokens_generated 2\n",
		"\nreddwarf_model_vocab ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	seen := map[string]bool{}
	last := ""
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(l, "# ") {
			continue
		}
		name, _, _ := strings.Cut(l, " ")
		name, _, _ = strings.Cut(name, "{")
		if name != last && seen[name] {
			t.Errorf("family %s is split", name)
		}
		seen[name], last = true, name
	}
}

// TestResponseFormat: response_format json_object and json_schema constrain
// the reply of stories260K (which knows nothing of JSON) so it parses, and
// validates, for many seeds; a schema outside the subset is a 400 naming
// response_format.
func TestResponseFormat(t *testing.T) {
	_, hs := newTestAPI(t)
	schema := `{"type":"object","properties":{"hero":{"type":"string"},"year":{"type":"integer"}},"required":["hero","year"]}`
	for seed := range 16 {
		rf := `{"type":"json_object"}`
		if seed%2 == 1 {
			rf = `{"type":"json_schema","json_schema":{"name":"story","strict":true,"schema":` + schema + `}}`
		}
		code, m := post(t, hs, "/v1/completions", `{"prompt":"Once upon a time","max_tokens":40,"temperature":1.2,"seed":`+strconv.Itoa(seed)+`,"response_format":`+rf+`}`)
		if code != 200 {
			t.Fatalf("%d %v", code, m)
		}
		text := m["choices"].([]any)[0].(map[string]any)["text"].(string)
		var v any
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			t.Fatalf("seed %d: %q is not JSON: %v", seed, text, err)
		}
		if seed%2 == 1 {
			o, _ := v.(map[string]any)
			hero, ok1 := o["hero"].(string)
			year, ok2 := o["year"].(float64)
			if !ok1 || !ok2 || year != float64(int64(year)) || len(o) != 2 {
				t.Fatalf("seed %d: %q does not validate", seed, text)
			}
			_ = hero
		}
	}
	code, m := post(t, hs, "/v1/completions", `{"prompt":"x","response_format":{"type":"json_schema","json_schema":{"schema":{"type":"string","pattern":"a+"}}}}`)
	if e, _ := m["error"].(map[string]any); code != 400 || e["param"] != "response_format" {
		t.Fatalf("unsupported schema: %d %v", code, m)
	}
}

// TestLogprobs: /v1/completions with logprobs n gives every generated
// token's log-probability and n alternatives, best first; greedy decoding
// draws the best, so each token's log-probability is its first
// alternative's. Streamed, the same entries arrive with the pieces.
func TestLogprobs(t *testing.T) {
	_, hs := newTestAPI(t)
	code, m := post(t, hs, "/v1/completions", `{"prompt":"Once upon a time","max_tokens":8,"temperature":0,"logprobs":3}`)
	if code != 200 {
		t.Fatalf("%d %v", code, m)
	}
	ch := m["choices"].([]any)[0].(map[string]any)
	lp := ch["logprobs"].(map[string]any)
	toks, lps, tops := lp["tokens"].([]any), lp["token_logprobs"].([]any), lp["top_logprobs"].([]any)
	n := int(m["usage"].(map[string]any)["completion_tokens"].(float64))
	if len(toks) != n || len(lps) != n || len(tops) != n {
		t.Fatalf("%d tokens, logprobs %v", n, lp)
	}
	text := ""
	for i := range toks {
		text += toks[i].(string)
		top := tops[i].(map[string]any)
		best := -1e9
		for _, v := range top {
			best = max(best, v.(float64))
		}
		l := lps[i].(float64)
		if len(top) != 3 || l > 0 || l != best {
			t.Fatalf("token %d: logprob %v, top %v", i, l, top)
		}
	}
	if text != ch["text"].(string) {
		t.Fatalf("tokens spell %q, text %q", text, ch["text"])
	}
	// Streamed: the same log-probabilities, piece by piece.
	resp, err := http.Post(hs.URL+"/v1/completions", "application/json", strings.NewReader(`{"prompt":"Once upon a time","max_tokens":8,"temperature":0,"logprobs":3,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var streamed []any
	for _, ev := range strings.Split(strings.TrimSpace(string(raw)), "\n\n") {
		data := strings.TrimPrefix(ev, "data: ")
		if data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Logprobs *struct {
					TokenLogprobs []any `json:"token_logprobs"`
				}
			}
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatal(err)
		}
		for _, x := range c.Choices {
			if x.Logprobs != nil {
				streamed = append(streamed, x.Logprobs.TokenLogprobs...)
			}
		}
	}
	if fmt.Sprint(streamed) != fmt.Sprint(lps) {
		t.Fatalf("streamed logprobs %v, whole %v", streamed, lps)
	}
	for _, body := range []string{`{"prompt":"x","logprobs":99}`, `{"prompt":"x","logprobs":true}`} {
		if code, m := post(t, hs, "/v1/completions", body); code != 400 {
			t.Fatalf("%s: %d %v", body, code, m)
		}
	}
}

// smallBuffers gives accepted connections a small send buffer, so a client
// that never reads blocks the server's writes after a few KiB.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// TestSlowReader: a client that opens a stream and never reads loses its
// job as CLIENT KILL would take it (the key keeps what it had), whether
// the pieces waiting for it pass MaxPending or one write waits past
// WriteTimeout; memory waiting for it stays bounded either way.
func TestSlowReader(t *testing.T) {
	a, _ := newTestAPI(t)
	hs := httptest.NewUnstartedServer(a.Handler())
	hs.Listener = smallBuffers{hs.Listener}
	hs.Start()
	t.Cleanup(hs.Close)
	for _, c := range []struct {
		name       string
		maxPending int
		timeout    time.Duration
	}{{"max-pending", 4096, 0}, {"write-timeout", 0, 300 * time.Millisecond}} {
		t.Run(c.name, func(t *testing.T) {
			a.MaxPending, a.WriteTimeout = c.maxPending, c.timeout
			key := "slow-" + c.name
			if code, m := post(t, hs, "/v1/completions", `{"prompt":"Once","max_tokens":2,"seed":1}`, "X-Session-Key", key); code != 200 {
				t.Fatalf("%d %v", code, m)
			}
			before := sessionLen(a, key)
			var generated int64
			a.onLoop(context.Background(), func() { generated = a.e.Stats().TokensGenerated })
			conn, err := net.Dial("tcp", hs.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.(*net.TCPConn).SetReadBuffer(1024)
			body := `{"prompt":" upon","max_tokens":1500,"temperature":1.5,"top_k":0,"seed":5,"logprobs":20,"stream":true,"session":"` + key + `"}`
			fmt.Fprintf(conn, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			// Never read; wait for the job to start, then to go.
			deadline := time.Now().Add(20 * time.Second)
			for started := false; ; {
				busy, n := true, int64(0)
				a.onLoop(context.Background(), func() { busy, n = a.e.HasWork(), a.e.Stats().TokensGenerated })
				started = started || n > generated
				if started && !busy {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the job of a client that never reads still runs")
				}
				time.Sleep(20 * time.Millisecond)
			}
			var after int64
			a.onLoop(context.Background(), func() { after = a.e.Stats().TokensGenerated })
			if got := sessionLen(a, key); got != before {
				t.Fatalf("the key holds %d tokens, had %d: the job was committed, not dropped", got, before)
			}
			if n := after - generated; n >= 1500 {
				t.Fatalf("the job generated all %d tokens for a client that never read", n)
			} else {
				t.Logf("dropped after %d tokens", n)
			}
		})
	}
}
