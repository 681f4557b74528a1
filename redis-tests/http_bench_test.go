package redistests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Issue 16's two HTTP benchmarks.
//
//	go test ./redis-tests -run '^$' -bench 'HTTPChatTurns|HTTPvsRESP' -benchtime 3x

// startHTTPBench starts reddwarf with the HTTP front end and directives,
// and returns it and its base URL.
func startHTTPBench(b *testing.B, dirs ...string) (*Server, string) {
	b.Helper()
	port, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	s, err := start(b.TempDir(), append([]string{"--http-port", fmt.Sprint(port)}, dirs...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.stop)
	return s, fmt.Sprintf("http://127.0.0.1:%d", port)
}

// sseResult is what one streamed request gave.
type sseResult struct {
	ttft             time.Duration // to the first chunk carrying text
	total            time.Duration
	text             string
	prompt, cached   int
	completionTokens int
}

// streamRequest POSTs body (stream true, usage included) to url and reads
// the SSE stream to its end.
func streamRequest(b *testing.B, url string, body map[string]any) sseResult {
	b.Helper()
	body["stream"] = true
	body["stream_options"] = map[string]any{"include_usage": true}
	js, _ := json.Marshal(body)
	t0 := time.Now()
	resp, err := http.Post(url, "application/json", bytes.NewReader(js))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		b.Fatalf("%s: %d %s", url, resp.StatusCode, buf.String())
	}
	var r sseResult
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ev struct {
			Choices []struct {
				Text  string `json:"text"`
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Usage *struct {
				Prompt     int `json:"prompt_tokens"`
				Completion int `json:"completion_tokens"`
				Details    struct {
					Cached int `json:"cached_tokens"`
				} `json:"prompt_tokens_details"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			b.Fatalf("SSE event %q: %v", data, err)
		}
		for _, c := range ev.Choices {
			piece := c.Text + c.Delta.Content
			if piece != "" && r.ttft == 0 {
				r.ttft = time.Since(t0)
			}
			r.text += piece
		}
		if ev.Usage != nil {
			r.prompt, r.cached, r.completionTokens = ev.Usage.Prompt, ev.Usage.Details.Cached, ev.Usage.Completion
		}
	}
	r.total = time.Since(t0)
	return r
}

// BenchmarkHTTPChatTurns: a 10-turn chat through /v1/chat/completions,
// stateless, re-sending the whole history each turn as agent frameworks
// do. It reports the time to first token of turn 10 beside a cold prefill
// of the same history (a fresh server), and the prompt tokens recomputed
// per turn (prompt_tokens − cached_tokens: the prefix cache serves the
// rest). Model: a synth qwen2 (Qwen2's vocabulary and ChatML).
func BenchmarkHTTPChatTurns(b *testing.B) {
	if target != "reddwarf" {
		b.Skip("reddwarf's HTTP front end")
	}
	vocab, _ := filepath.Abs("../infer/tokenizer/testdata/ggml-vocab-qwen2.gguf")
	model := filepath.Join(b.TempDir(), "qwen2.gguf")
	if out, err := exec.Command(serverBinary, "synth", "--arch", "qwen2", "--shape", "tiny", "--quant", "q8_0", "--vocab", vocab, "-o", model).CombinedOutput(); err != nil {
		b.Fatalf("reddwarf synth: %v\n%s", err, out)
	}
	user := strings.Repeat("Please look at this file and tell me what the function does, step by step. ", 6)
	var turn10, cold time.Duration
	var recomputed, lastRecomputed, lastPrompt int
	for it := 0; it < b.N; it++ {
		_, url := startHTTPBench(b, "--model", model, "--appendonly", "no", "--ctx", "4096")
		msgs := []map[string]any{{"role": "system", "content": "You are a careful coding agent."}}
		recomputed = 0
		var last sseResult
		for turn := 1; turn <= 10; turn++ {
			msgs = append(msgs, map[string]any{"role": "user", "content": fmt.Sprintf("Turn %d. %s", turn, user)})
			last = streamRequest(b, url+"/v1/chat/completions", map[string]any{"model": "m", "messages": msgs, "max_tokens": 24, "temperature": 0})
			recomputed += last.prompt - last.cached
			msgs = append(msgs, map[string]any{"role": "assistant", "content": last.text})
		}
		turn10 += last.ttft
		lastRecomputed, lastPrompt = last.prompt-last.cached, last.prompt
		// The same history, cold: a fresh server has nothing cached.
		_, url2 := startHTTPBench(b, "--model", model, "--appendonly", "no", "--ctx", "4096")
		c := streamRequest(b, url2+"/v1/chat/completions", map[string]any{"model": "m", "messages": msgs[:len(msgs)-1], "max_tokens": 24, "temperature": 0})
		cold += c.ttft
	}
	b.ReportMetric(float64(turn10.Microseconds())/1000/float64(b.N), "turn10_ttft_ms")
	b.ReportMetric(float64(cold.Microseconds())/1000/float64(b.N), "cold_ttft_ms")
	b.ReportMetric(float64(lastRecomputed), "turn10_recomputed_tokens")
	b.ReportMetric(float64(lastPrompt), "turn10_prompt_tokens")
	b.ReportMetric(float64(recomputed)/10, "recomputed_tokens/turn")
}

// BenchmarkHTTPvsRESP: decode tok/s of a streamed /v1/completions beside
// the same GEN over RESP, alternating in one run on one server
// (stories260K, greedy, 128 tokens each; issue 16 asks ≥ 0.97×).
func BenchmarkHTTPvsRESP(b *testing.B) {
	if target != "reddwarf" {
		b.Skip("reddwarf's HTTP front end")
	}
	s, url := startHTTPBench(b, "--appendonly", "no")
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	ctx := context.Background()
	const n = 128
	var httpTime, respTime time.Duration
	var httpTok, respTok int
	for it := 0; it < b.N; it++ {
		r := streamRequest(b, url+"/v1/completions", map[string]any{"model": "m", "prompt": "Once upon a time", "max_tokens": n, "temperature": 0})
		httpTime += r.total
		httpTok += r.completionTokens
		t0 := time.Now()
		st, err := c.Do(ctx, "GEN", fmt.Sprint("k", it), "Once upon a time", "MAXTOKENS", n, "TEMPERATURE", 0, "WITHSTATS").Slice()
		respTime += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		respTok += int(st[9].(int64))
		c.Del(ctx, fmt.Sprint("k", it))
	}
	h, r := float64(httpTok)/httpTime.Seconds(), float64(respTok)/respTime.Seconds()
	b.ReportMetric(h, "http_tok/s")
	b.ReportMetric(r, "resp_tok/s")
	b.ReportMetric(h/r, "http/resp")
}
