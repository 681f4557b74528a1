package redistests

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestHTTPToolFormats: for each template whose tool calls are not Hermes
// blocks (Llama 3.2, Mistral Nemo, DeepSeek V3.1 and R1, gpt-oss), on a
// qwen2 synth model with that template, through curl: a forced
// tool_choice gives a call written in the template's own syntax (checked
// in the session's text), which comes back as OpenAI tool_calls and
// Anthropic tool_use blocks, whole and streamed; tool_choice required streams one call too; and the tool's
// result, re-sent with the conversation, is rendered by the template, on a
// new session and on the one that made the call. A
// random-weight model never calls a tool by itself: forcing is what makes
// the call, the parsing is what turns it into tool_calls.
func TestHTTPToolFormats(t *testing.T) {
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}}},` +
		`{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string"}}}}}]`
	for _, c := range []struct {
		template string
		call     string // the call's syntax in the session's text, up to its arguments (or its JSON, the name inside) (TEXT drops control tokens; Qwen2's vocabulary has none of these markers)
		result   string // the tool result as the template renders it
	}{
		{"meta-llama-Llama-3.2-3B-Instruct.jinja", "<|start_header_id|>assistant<|end_header_id|>\n\n{", "ipython<|end_header_id|>\n\n\"21 degrees\""},
		{"mistralai-Mistral-Nemo-Instruct-2407.jinja", "[/INST][TOOL_CALLS][{", `[TOOL_RESULTS]{"content": 21 degrees, "call_id": "`},
		{"deepseek-ai-DeepSeek-V3.1.jinja", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{", "<｜tool▁output▁begin｜>21 degrees<｜tool▁output▁end｜>"},
		{"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{", "<｜tool▁output▁begin｜>21 degrees<｜tool▁output▁end｜>"},
		{"openai-gpt-oss-120b.jinja", "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{", "functions.get_weather to=assistant<|channel|>commentary<|message|>\"21 degrees\"<|end|>"},
		{"deepseek-ai-DeepSeek-V4.jinja", "<｜Assistant｜></think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"city\" string=\"true\">", "<｜User｜><tool_result>21 degrees</tool_result><｜Assistant｜>"},
		{"deepseek-ai-DeepSeek-V4-Flash-0731.jinja", "<｜Assistant｜></think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"city\" string=\"true\">", "<｜User｜><tool_result>21 degrees</tool_result><｜Assistant｜>"},
	} {
		t.Run(strings.TrimSuffix(c.template, ".jinja"), func(t *testing.T) {
			// (A 2048-token context: Qwen2's vocabulary spells DeepSeek's
			// markers in many tokens, and the long prompts and calls must fit.)
			_, url, rc := startHTTPServerVocab(t, "pw", templateVocab(t, c.template), "--ctx", "2048")
			post := func(key, body string) string {
				args := []string{"-N", "-H", "Authorization: Bearer pw", url + "/v1/chat/completions", "-d", body}
				if key != "" {
					args = append(args, "-H", "X-Session-Key: "+key)
				}
				out := curl(t, args...)
				if !strings.HasSuffix(out, "\n200") {
					t.Fatalf("%s: %s", body, out)
				}
				return strings.TrimSuffix(out, "\n200")
			}
			user := `"messages":[{"role":"user","content":"Weather in Oslo?"}]`
			var resp struct {
				Choices []struct {
					FinishReason string `json:"finish_reason"`
					Message      struct {
						Content   *string `json:"content"`
						ToolCalls []struct {
							ID       string `json:"id"`
							Type     string `json:"type"`
							Function struct {
								Name      string `json:"name"`
								Arguments string `json:"arguments"`
							} `json:"function"`
						} `json:"tool_calls"`
					} `json:"message"`
				} `json:"choices"`
			}
			out := post("tools", `{`+user+`,`+tools+`,"tool_choice":{"type":"function","function":{"name":"get_weather"}},"max_tokens":300,"seed":3,"temperature":1}`)
			if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Choices) != 1 {
				t.Fatalf("%v: %s", err, out)
			}
			ch := resp.Choices[0]
			var args map[string]any
			if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 || ch.Message.ToolCalls[0].Function.Name != "get_weather" ||
				json.Unmarshal([]byte(ch.Message.ToolCalls[0].Function.Arguments), &args) != nil || len(args) != 2 {
				t.Fatalf("forced call: %s", out)
			}
			if _, ok := args["city"].(string); !ok {
				t.Fatalf("arguments %v lack the required city", args)
			}
			if d, ok := args["days"].(float64); !ok || d != float64(int64(d)) {
				t.Fatalf("arguments %v lack the required integer days", args)
			}
			if ch.Message.Content != nil && *ch.Message.Content != "" {
				t.Fatalf("the call leaked into content: %q", *ch.Message.Content)
			}
			// (A random-weight model fills the JSON with whitespace.)
			if text := noSpace(str(t, rc, "TEXT", "tools")); !strings.Contains(text, noSpace(c.call)) || !strings.Contains(text[strings.Index(text, noSpace(c.call)):], `"get_weather"`) && !strings.Contains(c.call, "get_weather") {
				t.Fatalf("the session does not hold the call in the template's syntax %q:\n%q", c.call, text)
			}

			// Streamed, forced by name and by required.
			for _, choice := range []string{`{"type":"function","function":{"name":"get_weather"}}`, `"required"`} {
				body := `{` + user + `,` + tools + `,"tool_choice":` + choice + `,"max_tokens":300,"seed":5,"temperature":1,"stream":true}`
				if dsml := strings.Contains(c.template, "V4"); dsml && choice == `"required"` {
					// DSML writes each function's parameters apart: a forced
					// call must name its function when several are given.
					if out := curl(t, "-H", "Authorization: Bearer pw", url+"/v1/chat/completions", "-d", body); !strings.HasSuffix(out, "\n400") || !strings.Contains(out, `"param":"tool_choice"`) {
						t.Fatalf("DSML, required among two functions: %s", out)
					}
					continue
				}
				out := post("", body)
				var calls []string
				content, finish := "", ""
				for _, line := range strings.Split(out, "\n") {
					data, ok := strings.CutPrefix(line, "data: ")
					if !ok || data == "[DONE]" {
						continue
					}
					var ev struct {
						Choices []struct {
							Delta struct {
								Content   string `json:"content"`
								ToolCalls []struct {
									Index    int `json:"index"`
									Function struct {
										Name      string `json:"name"`
										Arguments string `json:"arguments"`
									} `json:"function"`
								} `json:"tool_calls"`
							} `json:"delta"`
							FinishReason *string `json:"finish_reason"`
						} `json:"choices"`
					}
					if err := json.Unmarshal([]byte(data), &ev); err != nil {
						t.Fatalf("%v: %s", err, data)
					}
					for _, c := range ev.Choices {
						content += c.Delta.Content
						for _, tc := range c.Delta.ToolCalls {
							if !json.Valid([]byte(tc.Function.Arguments)) {
								t.Fatalf("streamed arguments %q", tc.Function.Arguments)
							}
							calls = append(calls, tc.Function.Name)
						}
						if c.FinishReason != nil {
							finish = *c.FinishReason
						}
					}
				}
				if finish != "tool_calls" || content != "" || len(calls) != 1 || (calls[0] != "get_weather" && (choice != `"required"` || calls[0] != "get_time")) {
					t.Fatalf("streamed %s: finish %q content %q calls %v\n%s", choice, finish, content, calls, out)
				}
			}

			// Anthropic's API, whole and streamed: a tool_use block.
			atools := `"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],"tool_choice":{"type":"tool","name":"get_weather"}`
			out = strings.TrimSuffix(curl(t, "-H", "x-api-key: pw", url+"/v1/messages", "-d", `{`+user+`,`+atools+`,"max_tokens":300,"temperature":1}`), "\n200")
			var msg struct {
				StopReason string `json:"stop_reason"`
				Content    []struct {
					Type, Name, Text string
					Input            map[string]any
				} `json:"content"`
			}
			if err := json.Unmarshal([]byte(out), &msg); err != nil || msg.StopReason != "tool_use" || len(msg.Content) == 0 {
				t.Fatalf("anthropic: %v %s", err, out)
			}
			for _, b := range msg.Content {
				if _, ok := b.Input["city"].(string); b.Type != "tool_use" || b.Name != "get_weather" || !ok {
					t.Fatalf("anthropic block %+v in %s", b, out)
				}
			}
			out = curl(t, "-N", "-H", "x-api-key: pw", url+"/v1/messages", "-d", `{`+user+`,`+atools+`,"max_tokens":300,"temperature":1,"stream":true}`)
			if !strings.Contains(out, `"name":"get_weather","type":"tool_use"`) ||
				!strings.Contains(out, `"stop_reason":"tool_use"`) || strings.Contains(out, `"text_delta"`) {
				t.Fatalf("anthropic stream: %s", out)
			}

			// The result, with the conversation re-sent (stateless): the
			// template renders the call and the result.
			call := ch.Message.ToolCalls[0]
			argsJSON, _ := json.Marshal(call.Function.Arguments)
			hist := `"messages":[{"role":"user","content":"Weather in Oslo?"},` +
				`{"role":"assistant","content":null,"tool_calls":[{"id":"` + call.ID + `","type":"function","function":{"name":"get_weather","arguments":` + string(argsJSON) + `}}]},` +
				`{"role":"tool","tool_call_id":"` + call.ID + `","content":"21 degrees"}]`
			post("after", `{`+hist+`,`+tools+`,"max_tokens":2}`)
			if text := str(t, rc, "TEXT", "after"); !strings.Contains(text, c.result) {
				t.Fatalf("the template did not render the result as %q:\n%q", c.result, text)
			}
			// And on the session that made the call: only the result is
			// appended after it.
			before := len(int64s(t, do(t, rc, "TOKENS", "tools")))
			post("tools", `{`+hist+`,`+tools+`,"max_tokens":2}`)
			if text := str(t, rc, "TEXT", "tools"); !strings.Contains(text, c.result) || strings.Count(noSpace(text), noSpace(c.call)) != 1 {
				t.Fatalf("the session did not get the result %q after its call:\n%q", c.result, text)
			}
			if n := len(int64s(t, do(t, rc, "TOKENS", "tools"))); n <= before {
				t.Fatalf("the session did not grow: %d then %d tokens", before, n)
			}
		})
	}
}

// noSpace is s without its whitespace.
func noSpace(s string) string { return strings.Join(strings.Fields(s), "") }
