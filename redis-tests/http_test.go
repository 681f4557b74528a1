package redistests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"reddwarf/infer/gguf"
)

// startHTTPServer runs reddwarf with a qwen2 synth model (ChatML, Qwen2's
// real vocabulary), requirepass pw and the HTTP front end on a free port;
// it returns the server, its HTTP base URL and an authenticated client.
func startHTTPServer(t *testing.T, pw string) (*Server, string, *redis.Client) {
	vocab, _ := filepath.Abs("../infer/tokenizer/testdata/ggml-vocab-qwen2.gguf")
	return startHTTPServerVocab(t, pw, vocab)
}

// startHTTPServerVocab is startHTTPServer with the tokenizer (and chat
// template) of the GGUF vocab, and the server arguments args.
func startHTTPServerVocab(t *testing.T, pw, vocab string, args ...string) (*Server, string, *redis.Client) {
	t.Helper()
	onlyReddwarf(t)
	model := filepath.Join(t.TempDir(), "qwen2.gguf")
	synth := exec.Command(serverBinary, "synth", "--arch", "qwen2", "--shape", "tiny", "--quant", "q8_0", "--vocab", vocab, "-o", model)
	if out, err := synth.CombinedOutput(); err != nil {
		t.Fatalf("reddwarf synth: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, append([]string{"--model", model, "--http-port", fmt.Sprint(port), "--requirepass", pw}, args...)...)
	o := options(s.Addr(), 2)
	o.Password = pw
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return s, fmt.Sprintf("http://127.0.0.1:%d", port), c
}

// curl runs curl with args and returns its output (body, then the status
// code written by -w).
func curl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-sS", "-w", "\n%{http_code}"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestHTTPCurl: the OpenAI endpoints through curl; a chat on a session key
// continues it as GEN … CHAT does, and redis-cli's TOKENS and FORK work on it.
func TestHTTPCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is not installed (.ci/run installs it)")
	}
	_, url, c := startHTTPServer(t, "pw")
	auth := "Authorization: Bearer pw"
	if out := curl(t, url+"/v1/models"); !strings.HasSuffix(out, "\n401") || !strings.Contains(out, `"type":"authentication_error"`) {
		t.Fatalf("no token: %s", out)
	}
	chat := `{"messages":[{"role":"user","content":"What is 2+2? Answer in one word."}],"max_tokens":3,"seed":1}`
	out := curl(t, "-H", auth, "-H", "X-Session-Key: web", url+"/v1/chat/completions", "-d", chat)
	if !strings.HasSuffix(out, "\n200") || !strings.Contains(out, `"object":"chat.completion"`) {
		t.Fatalf("chat: %s", out)
	}
	// The same turn by GEN CHAT on another key holds the same tokens.
	str(t, c, "GEN", "resp", "What is 2+2? Answer in one word.", "CHAT", "MAXTOKENS", 3, "SEED", 1)
	web, resp := int64s(t, do(t, c, "TOKENS", "web")), int64s(t, do(t, c, "TOKENS", "resp"))
	if fmt.Sprint(web) != fmt.Sprint(resp) {
		t.Fatalf("HTTP chat tokens %v, GEN CHAT's %v", web, resp)
	}
	if n := do(t, c, "FORK", "web", "web2"); n != int64(1) {
		t.Fatalf("FORK: %v", n)
	}
	// Streamed: SSE events ending in [DONE].
	out = curl(t, "-N", "-H", auth, url+"/v1/chat/completions", "-d",
		`{"messages":[{"role":"user","content":"hi"}],"max_tokens":4,"stream":true,"session":"web"}`)
	if !strings.HasPrefix(out, "data: {") || !strings.HasSuffix(out, "data: [DONE]\n\n\n200") {
		t.Fatalf("stream: %q", out)
	}
	if n := len(int64s(t, do(t, c, "TOKENS", "web"))); n <= len(web) {
		t.Fatalf("the streamed turn left web at %d tokens (had %d)", n, len(web))
	}
	if out := curl(t, "-H", auth, url+"/v1/chat/completions", "-d", `{"messages":`); !strings.HasSuffix(out, "\n400") || !strings.Contains(out, `"invalid_request_error"`) {
		t.Fatalf("malformed JSON: %s", out)
	}
	if out := curl(t, "-H", auth, url+"/metrics"); !strings.Contains(out, "\nreddwarf_keyspace_keys{db=\"0\"} 3\n") || !strings.Contains(out, "reddwarf_inference_tokens_generated ") {
		t.Fatalf("metrics: %s", out)
	}
}

// TestHTTPChatHistory: a chat request on a new key renders the whole
// conversation, system message included, as a stateless request renders
// it; one continuing the key appends the messages after the last assistant
// message (here a tool result and a user message), so the key grows by
// exactly those.
func TestHTTPChatHistory(t *testing.T) {
	_, url, c := startHTTPServer(t, "pw")
	auth := "Authorization: Bearer pw"
	chat := func(key, msgs string) string {
		out := curl(t, "-H", auth, "-H", "X-Session-Key: "+key, url+"/v1/chat/completions", "-d",
			`{"messages":[`+msgs+`],"max_tokens":3,"temperature":0}`)
		if !strings.HasSuffix(out, "\n200") {
			t.Fatalf("chat %s: %s", msgs, out)
		}
		var r struct {
			Choices []struct{ Message struct{ Content string } }
		}
		if err := json.Unmarshal([]byte(strings.TrimSuffix(out, "\n200")), &r); err != nil || len(r.Choices) != 1 {
			t.Fatalf("chat reply %s: %v", out, err)
		}
		return r.Choices[0].Message.Content
	}
	sys := `{"role":"system","content":"SYSTEM-MARK"},{"role":"user","content":"first question"}`
	reply := chat("hist", sys)
	text := str(t, c, "TEXT", "hist")
	if !strings.HasPrefix(text, "system\nSYSTEM-MARK\nuser\nfirst question\nassistant\n") {
		t.Fatalf("first request left %q", text)
	}
	before := int64s(t, do(t, c, "TOKENS", "hist"))
	rj, _ := json.Marshal(reply)
	chat("hist", sys+`,{"role":"assistant","content":`+string(rj)+`},{"role":"tool","content":"TOOL-RESULT"},{"role":"user","content":"second question"}`)
	after := int64s(t, do(t, c, "TOKENS", "hist"))
	if len(after) <= len(before) || fmt.Sprint(after[:len(before)]) != fmt.Sprint(before) {
		t.Fatalf("the second request did not append to the session: %v then %v", before, after)
	}
	text = str(t, c, "TEXT", "hist")
	for _, w := range []string{"SYSTEM-MARK", "first question", "TOOL-RESULT", "second question"} {
		if strings.Count(text, w) != 1 {
			t.Fatalf("hist holds %q: want %q once", text, w)
		}
	}
	// This vocabulary's template (Qwen2's) gives a tool result its own turn.
	if !strings.Contains(text, "\ntool\nTOOL-RESULT\nuser\nsecond question\nassistant\n") {
		t.Fatalf("the tool result and the user message are not rendered by the template: %q", text)
	}
}

// hermesVocab writes Qwen2's vocabulary with Qwen2.5's chat template,
// which lists tools and writes tool calls as Hermes <tool_call> blocks
// (the vocabulary's own Qwen2 template has no tools).
func hermesVocab(t *testing.T) string {
	return templateVocab(t, "Qwen-Qwen2.5-7B-Instruct.jinja")
}

// templateVocab writes Qwen2's vocabulary with the chat template in
// session/chattmpl/testdata/name.
func templateVocab(t *testing.T, name string) string {
	t.Helper()
	f, err := gguf.Open("../infer/tokenizer/testdata/ggml-vocab-qwen2.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tmpl, err := os.ReadFile("../session/chattmpl/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := gguf.NewWriter(&buf)
	for _, kv := range f.KVs {
		v := kv.Value
		if kv.Key == "tokenizer.chat_template" {
			v = string(tmpl)
		}
		if err := w.AddKV(kv.Key, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := f.Get("tokenizer.chat_template"); !ok {
		w.AddKV("tokenizer.chat_template", string(tmpl))
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vocab-qwen2-"+strings.TrimSuffix(name, ".jinja")+".gguf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHTTPToolCalls runs http-node/tools.test.js (tool calls through both
// SDKs) on a model with a Hermes template, then checks what the tool
// results left in the sessions.
func TestHTTPToolCalls(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the SDK tests need node and npm")
	}
	_, url, c := startHTTPServerVocab(t, "sdk-pass", hermesVocab(t))
	dir, _ := filepath.Abs("http-node")
	npmCI(t, dir, "@anthropic-ai/sdk")
	cmd := exec.Command(node, "--test", "--test-reporter=spec", "tools.test.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDDWARF_HTTP_URL="+url, "REDDWARF_PASSWORD=sdk-pass", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "pass 3\n") {
		t.Fatalf("node --test did not pass the 3 tests:\n%s", out)
	}
	// The call the model was made to write, the tool's result as the
	// template renders it, and a new assistant turn after it.
	for key, result := range map[string]string{"tools-openai": `{"temp":21}`, "tools-anthropic": "sunny"} {
		text := str(t, c, "TEXT", key)
		if !strings.Contains(text, "<tool_call>\n{\"name\"") || !strings.Contains(text, "\n</tool_call>") ||
			!strings.Contains(text, "user\n<tool_response>\n"+result+"\n</tool_response>\nassistant\n") || !strings.Contains(text, "get_weather") {
			t.Fatalf("%s holds %q", key, text)
		}
	}
}

// npmCI installs dir's packages (pinned by its package-lock.json) the
// first time: when node_modules has no module yet.
func npmCI(t *testing.T, dir, module string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", module)); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed: the test needs it (npm ci in " + dir + ")")
	}
	ci := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	ci.Dir = dir
	if out, err := ci.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}

// TestHTTPNodeSDKs runs http-node's tests: the official openai and
// @anthropic-ai/sdk packages (pinned by package-lock.json, installed by
// `npm ci` the first time) against the HTTP front end, streaming and not,
// with a session key and without. The keys their sessions made are then
// checked here.
func TestHTTPNodeSDKs(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the SDK tests need node and npm")
	}
	_, url, c := startHTTPServer(t, "sdk-pass")
	dir, _ := filepath.Abs("http-node")
	npmCI(t, dir, "@anthropic-ai/sdk")
	cmd := exec.Command(node, "--test", "--test-reporter=spec", "openai.test.js", "anthropic.test.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDDWARF_HTTP_URL="+url, "REDDWARF_PASSWORD=sdk-pass", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "pass 12\n") {
		t.Fatalf("node --test did not pass the 12 tests:\n%s", out)
	}
	// Two chat turns on openai-chat: two user turns in the session (TEXT
	// leaves out the special tokens around the roles; Qwen2's template
	// opens with a system turn saying "assistant").
	text := str(t, c, "TEXT", "openai-chat")
	if strings.Count(text, "\nuser\n") != 2 || strings.Count(text, "\nassistant\n") != 2 || !strings.Contains(text, "Hello there") || !strings.Contains(text, "And again") {
		t.Fatalf("openai-chat holds %q", text)
	}
	if text := str(t, c, "TEXT", "openai-text"); !strings.HasPrefix(text, "Once upon a time") || !strings.Contains(text, " and then") {
		t.Fatalf("openai-text holds %q", text)
	}
	if text := str(t, c, "TEXT", "anthropic-chat"); !strings.Contains(text, "Tell me a story") {
		t.Fatalf("anthropic-chat holds %q", text)
	}
	// A system message, then a history re-sent: the system message and each
	// user message once, in order.
	for key, want := range map[string][]string{
		"openai-history":    {"You speak like a pirate.", "Ahoy there", "Where is the treasure?"},
		"anthropic-history": {"You are terse.", "Ping", "Pong"},
	} {
		text, at := str(t, c, "TEXT", key), 0
		for _, w := range want {
			i := strings.Index(text[at:], w)
			if i < 0 || strings.Count(text, w) != 1 {
				t.Fatalf("%s holds %q: want %q once, after %q", key, text, w, text[:at])
			}
			at += i + len(w)
		}
	}
	if n := do(t, c, "DBSIZE"); n != int64(5) {
		t.Fatalf("DBSIZE %v: stateless requests must leave no key", n)
	}
}

// TestHTTPThinking: with Qwen3's template, reasoning_effort (OpenAI) and
// thinking (Anthropic) let the model think (enable_thinking), and without
// them the template closes the thinking block at once, as GEN … CHAT with
// and without THINK; the reply's thinking comes back apart (a random-weight
// model never closes it, so all its reply is thinking).
func TestHTTPThinking(t *testing.T) {
	_, url, c := startHTTPServerVocab(t, "pw", templateVocab(t, "Qwen-Qwen3-0.6B.jinja"))
	post := func(path, key, body string) map[string]any {
		out := curl(t, "-H", "Authorization: Bearer pw", "-H", "X-Session-Key: "+key, url+path, "-d", body)
		if !strings.HasSuffix(out, "\n200") {
			t.Fatalf("%s %s: %s", path, body, out)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(strings.TrimSuffix(out, "\n200")), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	msgs := `"messages":[{"role":"user","content":"2+2?"}],"max_tokens":4,"temperature":0`
	off := post("/v1/chat/completions", "think-off", `{`+msgs+`}`)
	on := post("/v1/chat/completions", "think-on", `{`+msgs+`,"reasoning_effort":"high"}`)
	if text := str(t, c, "TEXT", "think-off"); !strings.Contains(text, "assistant\n<think>\n\n</think>\n\n") {
		t.Fatalf("without reasoning_effort the template should close the thinking block: %q", text)
	}
	if text := str(t, c, "TEXT", "think-on"); strings.Contains(text, "assistant\n<think>\n\n</think>") {
		t.Fatalf("with reasoning_effort the template must leave thinking open: %q", text)
	}
	msg := on["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	if _, ok := msg["reasoning_content"].(string); !ok || msg["content"] != "" {
		t.Fatalf("a thinking reply never closed is all reasoning_content: %v", msg)
	}
	if _, ok := off["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["reasoning_content"]; ok {
		t.Fatalf("reasoning_content without reasoning_effort: %v", off)
	}
	// (At temperature 1 this model writes visible text, not only spaces.)
	a := post("/v1/messages", "think-anthropic", `{"messages":[{"role":"user","content":"2+2?"}],"max_tokens":6,"temperature":1,"thinking":{"type":"enabled","budget_tokens":1024}}`)
	content := a["content"].([]any)
	if text := str(t, c, "TEXT", "think-anthropic"); strings.Contains(text, "assistant\n<think>\n\n</think>") {
		t.Fatalf("thinking enabled, but the template closed it: %q", text)
	}
	if len(content) == 0 || content[0].(map[string]any)["type"] != "thinking" {
		t.Fatalf("anthropic thinking reply %v", a)
	}
	// Streamed, the thinking comes as thinking_delta events of block 0.
	out := curl(t, "-N", "-H", "Authorization: Bearer pw", url+"/v1/messages", "-d", `{`+msgs+`,"stream":true,"thinking":{"type":"enabled","budget_tokens":1024}}`)
	if !strings.Contains(out, `"content_block":{"signature":"","thinking":"","type":"thinking"}`) || !strings.Contains(out, "event: message_stop") {
		t.Fatalf("streamed thinking: %s", out)
	}
	// A forced tool call is the whole reply, thinking asked or not: it
	// comes back as a call, not as reasoning.
	tools := `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}}}],"tool_choice":"required"`
	forced := post("/v1/chat/completions", "think-tool", `{`+msgs+`,`+tools+`,"max_tokens":60,"reasoning_effort":"high"}`)
	if ch := forced["choices"].([]any)[0].(map[string]any); ch["finish_reason"] != "tool_calls" || ch["message"].(map[string]any)["reasoning_content"] != nil {
		t.Fatalf("forced call with reasoning_effort: %v", forced)
	}
	out = curl(t, "-N", "-H", "Authorization: Bearer pw", url+"/v1/chat/completions", "-d", `{`+msgs+`,`+tools+`,"max_tokens":60,"reasoning_effort":"high","stream":true}`)
	if !strings.Contains(out, `"tool_calls":[{`) || strings.Contains(out, "reasoning_content") {
		t.Fatalf("streamed forced call with reasoning_effort: %s", out)
	}
	a = post("/v1/messages", "think-tool-anthropic", `{"messages":[{"role":"user","content":"2+2?"}],"max_tokens":60,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"thinking":{"type":"enabled","budget_tokens":1024}}`)
	if a["stop_reason"] != "tool_use" {
		t.Fatalf("anthropic forced call with thinking: %v", a)
	}
}
