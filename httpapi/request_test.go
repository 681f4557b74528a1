package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reddwarf/session/chattmpl"
	"reddwarf/session/jsonmask"
	"reflect"
	"slices"
	"strings"
	"testing"

	"reddwarf/session"
)

func TestDecodeRequest(t *testing.T) {
	j, err := decodeRequest([]byte(`{"model":"x","messages":[{"role":"system","content":"be brief"},
		{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
		"max_completion_tokens":9,"temperature":0,"top_p":0.5,"seed":-1,"stop":["x","y"],"stream":true,
		"stream_options":{"include_usage":true},"session":"body"}`), true, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(j.messages) != 2 || j.messages[1].Content != "ab" || j.opt.MaxTokens != 9 || j.opt.Sampler.Temperature != 0 ||
		j.opt.Sampler.TopP != 0.5 || !j.opt.HasSeed || j.opt.Sampler.Seed != 1<<64-1 || !slices.Equal(j.opt.Stops, []string{"x", "y"}) ||
		!j.stream || !j.usage || j.session != "body" || !j.opt.Chat {
		t.Fatalf("decoded %+v", j)
	}
	// The header wins over the body field.
	j, err = decodeRequest([]byte(`{"prompt":["p"],"stop":"s","session":"body"}`), false, "hdr")
	if err != nil || j.prompt != "p" || j.session != "hdr" || !slices.Equal(j.opt.Stops, []string{"s"}) || j.opt.Chat {
		t.Fatalf("decoded %+v %v", j, err)
	}
	for _, body := range []string{
		``, `[]`, `{}`, `{"prompt":1}`, `{"prompt":["a","b"]}`, `{"prompt":"a"} {}`, `{"prompt":"a","n":2}`,
		`{"prompt":"a","top_p":0}`, `{"prompt":"a","temperature":-1}`, `{"prompt":"a","min_p":2}`, `{"prompt":"a","top_k":-1}`,
		`{"prompt":"a","stop":[1]}`, `{"prompt":"a","max_tokens":-5}`, `{"prompt":"a","session":"` + strings.Repeat("k", maxSessionKey+1) + `"}`,
	} {
		if _, err := decodeRequest([]byte(body), false, ""); !isBad(err) {
			t.Errorf("completion %.60q: %v, want a bad request", body, err)
		}
	}
	for _, body := range []string{
		`{"messages":null}`, `{"messages":[{"role":"assistant","content":"a"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, `{"messages":[{"role":"user","content":5}]}`,
	} {
		if _, err := decodeRequest([]byte(body), true, ""); !isBad(err) {
			t.Errorf("chat %.60q: %v, want a bad request", body, err)
		}
	}
}

func isBad(err error) bool {
	var br *badRequest
	return errors.As(err, &br)
}

// FuzzDecodeRequest: any body decodes to a checked job or a bad request,
// never a panic, and a job's options are within their bounds.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stream":true}`,
		`{"prompt":"a","stop":["x"],"temperature":0.5,"top_p":1,"seed":3}`,
		`{"prompt":["a"],"session":"k","n":1}`, `{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		`{`, `null`, `{"prompt":"a"}{"prompt":"b"}`,
		`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"integer"}}}}}],"tool_choice":"required"}`,
		`{"messages":[{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"1","content":"r"}],"logprobs":true,"top_logprobs":3}`,
		`{"prompt":"x","logprobs":2,"response_format":{"type":"json_schema","json_schema":{"schema":{"enum":[1,"a"]}}}}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, chat bool) {
		j, err := decodeRequest(body, chat, "")
		if err != nil {
			if !isBad(err) {
				t.Fatalf("error %v is not a bad request", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		o := j.opt
		if o.MaxTokens < 1 || o.Sampler.Temperature < 0 || o.Sampler.TopP <= 0 || o.Sampler.TopP > 1 || len(j.session) > maxSessionKey {
			t.Fatalf("options out of bounds: %+v", j)
		}
		if chat && (len(j.messages) == 0 || (j.messages[len(j.messages)-1].Role != "user" && j.messages[len(j.messages)-1].Role != "tool")) {
			t.Fatalf("chat job without a last user or tool message: %+v", j)
		}
		if o.TopLogProbs < 0 || o.TopLogProbs > 20 || (j.tools != nil && j.tools.force != "" && o.Format != nil) {
			t.Fatalf("logprobs or tools out of bounds: %+v", j)
		}
		for _, s := range o.Stops {
			if s == "" {
				t.Fatal("empty stop string")
			}
		}
	})
}

func TestPromText(t *testing.T) {
	got := promText("# Clients\r\nconnected_clients:3\r\nname:abc\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\ndb3:keys=5,expires=0,avg_ttl=0\r\n# Commandstats\r\ncmdstat_get:calls=4,usec=9,usec_per_call=2.25\r\n")
	want := `# TYPE reddwarf_clients_connected_clients untyped
reddwarf_clients_connected_clients 3
# TYPE reddwarf_commandstats_calls untyped
reddwarf_commandstats_calls{cmd="get"} 4
# TYPE reddwarf_commandstats_usec untyped
reddwarf_commandstats_usec{cmd="get"} 9
# TYPE reddwarf_commandstats_usec_per_call untyped
reddwarf_commandstats_usec_per_call{cmd="get"} 2.25
# TYPE reddwarf_keyspace_avg_ttl untyped
reddwarf_keyspace_avg_ttl{db="0"} 0
reddwarf_keyspace_avg_ttl{db="3"} 0
# TYPE reddwarf_keyspace_expires untyped
reddwarf_keyspace_expires{db="0"} 1
reddwarf_keyspace_expires{db="3"} 0
# TYPE reddwarf_keyspace_keys untyped
reddwarf_keyspace_keys{db="0"} 2
reddwarf_keyspace_keys{db="3"} 5
`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDecodeMessages(t *testing.T) {
	j, err := decodeMessages([]byte(`{"model":"m","max_tokens":7,"system":[{"type":"text","text":"sys"}],
		"messages":[{"role":"user","content":"a"}],"stop_sequences":["z"],"top_k":3}`), "k")
	if err != nil || len(j.messages) != 2 || !reflect.DeepEqual(j.messages[0], session.Message{Role: "system", Content: "sys"}) ||
		j.opt.MaxTokens != 7 || j.opt.Sampler.TopK != 3 || !slices.Equal(j.opt.Stops, []string{"z"}) || j.session != "k" {
		t.Fatalf("decoded %+v %v", j, err)
	}
	for _, body := range []string{`{"messages":[{"role":"user","content":"a"}]}`, `{"max_tokens":1,"messages":[{"role":"system","content":"a"}]}`, `{"max_tokens":1,"system":5,"messages":[]}`} {
		if _, err := decodeMessages([]byte(body), ""); !isBad(err) {
			t.Errorf("%s: %v, want a bad request", body, err)
		}
	}
}

// FuzzDecodeMessages: as FuzzDecodeRequest, for /v1/messages.
func FuzzDecodeMessages(f *testing.F) {
	f.Add([]byte(`{"max_tokens":5,"system":"s","messages":[{"role":"user","content":"hi"}],"stream":true}`))
	f.Add([]byte(`{"max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"stop_sequences":["a"]}`))
	f.Add([]byte(`{"max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := decodeMessages(body, "")
		if err != nil {
			if !isBad(err) {
				t.Fatalf("error %v is not a bad request", err)
			}
			return
		}
		if last := j.messages[len(j.messages)-1].Role; len(j.messages) == 0 || (last != "user" && last != "tool") || j.opt.MaxTokens < 1 {
			t.Fatalf("bad job %+v", j)
		}
	})
}

// TestDecodeTools: tools and tool_choice are checked; a forced choice
// constrains the reply to a Hermes block; Anthropic's tool_use and
// tool_result blocks become tool_calls and tool messages.
func TestDecodeTools(t *testing.T) {
	tools := `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}}},{"type":"function","function":{"name":"g"}}]`
	for body, param := range map[string]string{
		`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web"}]}`:                                                                                     "tools[0].type",
		`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a b"}}]}`:                                                      "tools[0].function.name",
		`{"messages":[{"role":"user","content":"x"}],` + tools + `,"tool_choice":"always"}`:                                                                         "tool_choice",
		`{"messages":[{"role":"user","content":"x"}],` + tools + `,"tool_choice":{"type":"function","function":{"name":"h"}}}`:                                      "tool_choice",
		`{"messages":[{"role":"user","content":"x"}],"tool_choice":"required"}`:                                                                                     "tool_choice",
		`{"messages":[{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{oops"}}]},{"role":"user","content":"x"}]}`: "messages[0].tool_calls[0].function.arguments",
		`{"messages":[{"role":"user","content":"x"}],` + tools + `,"tool_choice":"required","response_format":{"type":"json_object"}}`:                              "tool_choice",
	} {
		_, err := decodeRequest([]byte(body), true, "")
		var br *badRequest
		if !errors.As(err, &br) || br.param != param {
			t.Errorf("%s: %v, want a 400 on %s", body, err, param)
		}
	}
	j, err := decodeRequest([]byte(`{"messages":[{"role":"user","content":"x"}],`+tools+`,"tool_choice":{"type":"function","function":{"name":"f"}}}`), true, "")
	if err != nil || len(j.toolList()) != 2 {
		t.Fatalf("forced: %+v %v", j, err)
	}
	same := func(s string) string { return s }
	f, err := j.tools.format(chattmpl.ToolsHermes, same)
	if err != nil {
		t.Fatal(err)
	}
	m := jsonmask.NewMatcher(f)
	if !m.Feed([]byte("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>")) || !m.Done() {
		t.Fatal("the forced format refuses a valid call")
	}
	if m := jsonmask.NewMatcher(f); m.Feed([]byte(`<tool_call>\n{"name": "g"`)) {
		t.Fatal("the forced format lets another tool be called")
	}
	if _, err := j.tools.format(chattmpl.ToolsNone, same); err == nil {
		t.Fatal("a forced call for a template without tool calls")
	}
	if j, err := decodeRequest([]byte(`{"messages":[{"role":"user","content":"x"}],`+tools+`,"tool_choice":"none"}`), true, ""); err != nil || j.tools != nil {
		t.Fatalf("tool_choice none: %+v %v", j, err)
	}
	j, err = decodeMessages([]byte(`{"max_tokens":9,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"messages":[
		{"role":"user","content":"q"},
		{"role":"assistant","content":[{"type":"text","text":"let me see"},{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"42"},{"type":"text","text":"thanks"}]}]}`), "")
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%+v", j.messages)
	want := `[{Role:user Content:q ToolCalls:[] ToolCallID:} {Role:assistant Content:let me see ToolCalls:[{ID:t1 Name:f Arguments:map[a:1]}] ToolCallID:} {Role:tool Content:42 ToolCalls:[] ToolCallID:t1} {Role:user Content:thanks ToolCalls:[] ToolCallID:}]`
	if got != want || j.tools == nil || j.tools.force != "*" {
		t.Fatalf("anthropic blocks became %s (force %v)\nwant %s", got, j.tools, want)
	}
}

// TestToolWatchAndIDs: streamed text passes until a call starts, in each
// format; Mistral's calls get the nine-character IDs its template needs.
func TestToolWatchAndIDs(t *testing.T) {
	type watchCase struct {
		f      chattmpl.ToolFormat
		pieces []string
		out    string
	}
	for _, c := range []watchCase{
		{chattmpl.ToolsHermes, []string{"Let me ", "look.<tool", "_call>\n{\"name\"", "...</tool_call>"}, "Let me look."},
		{chattmpl.ToolsHermes, []string{"a <to", "ast> b"}, "a <toast> b"},
		{chattmpl.ToolsLlama3, []string{" ", " {\"name\"", ": \"f\"}"}, ""},
		{chattmpl.ToolsLlama3, []string{" ", "Hello {", "}"}, " Hello {}"},
		{chattmpl.ToolsMistral, []string{"[{\"name\"", "}]"}, ""},
	} {
		w := &toolWatch{format: c.f}
		out := ""
		for _, p := range c.pieces {
			out += string(w.push([]byte(p)))
		}
		if out != c.out {
			t.Errorf("%d %q: passed %q, want %q", c.f, c.pieces, out, c.out)
		}
	}
	for _, c := range []watchCase{
		{chattmpl.ToolsLlama3, []string{"<|python", "_tag|>{\"name\"", ": \"f\"}"}, ""},
		{chattmpl.ToolsMistral, []string{"[TOOL_", "CALLS][{\"name\"", "}]"}, ""},
		{chattmpl.ToolsDeepSeekV3, []string{"Let me", " look.<｜tool▁", "calls▁begin｜><｜tool▁call▁begin｜>f"}, "Let me look."},
		{chattmpl.ToolsDeepSeekR1, []string{"Sure <｜tool▁", "calls▁begin｜>"}, "Sure"},
		{chattmpl.ToolsDSML, []string{"Checking.\n\n<｜DS", "ML｜tool_calls>\n"}, "Checking."},
		{chattmpl.ToolsDSML, []string{"\n", "\n<｜DSML｜tool_calls>"}, ""},
		{chattmpl.ToolsHermes, []string{"a ", "b"}, "a b"},
		{chattmpl.ToolsHarmony, []string{"<|channel|>final", "<|message|>Hi"}, ""},
	} {
		w := &toolWatch{format: c.f}
		out := ""
		for _, p := range c.pieces {
			out += string(w.push([]byte(p)))
		}
		if out != c.out {
			t.Errorf("%d %q: passed %q, want %q", c.f, c.pieces, out, c.out)
		}
	}
	// Harmony's text comes at the end, parsed.
	w := &toolWatch{format: chattmpl.ToolsHarmony}
	w.push([]byte("<|channel|>analysis<|message|>hm<|end|><|start|>assistant<|channel|>final<|message|>Hi there"))
	if r := w.rest("<|channel|>analysis<|message|>hm<|end|><|start|>assistant<|channel|>final<|message|>Hi there"); r != "Hi there" {
		t.Errorf("harmony rest %q", r)
	}
	_, calls := parseCalls(chattmpl.ToolsMistral, `[{"name":"f","arguments":{}},{"name":"g","arguments":{},"id":"abcdefghi"}]`, "call_")
	if len(calls) != 2 || !mistralID.MatchString(calls[0].id) || calls[1].id != "abcdefghi" {
		t.Fatalf("Mistral calls %+v", calls)
	}
}

// TestForcedFormats: a forced call's constraint, in each format with a
// call syntax, takes a call as the model writes it (and as the template
// renders one), its shortest completion is a call, and both parse back
// into the forced function with its arguments; with several tools, the
// name is any of theirs.
func TestForcedFormats(t *testing.T) {
	ts, err := decodeTools([]byte(`[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},{"type":"function","function":{"name":"get_time"}}]`), []byte(`{"type":"function","function":{"name":"get_weather"}}`))
	if err != nil {
		t.Fatal(err)
	}
	same := func(s string) string { return s }
	for f, doc := range map[chattmpl.ToolFormat]string{
		chattmpl.ToolsHermes:     "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>",
		chattmpl.ToolsLlama3:     `{"name": "get_weather", "parameters": {"city": "Oslo"}}`,
		chattmpl.ToolsMistral:    `[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}]`,
		chattmpl.ToolsDeepSeekV3: `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Oslo"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>`,
		chattmpl.ToolsDeepSeekR1: "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Oslo\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
		chattmpl.ToolsHarmony:    `<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Oslo"}`,
	} {
		s, err := ts.format(f, same)
		if err != nil {
			t.Fatalf("%d: %v", f, err)
		}
		if m := jsonmask.NewMatcher(s); !m.Feed([]byte(doc)) || !m.Done() {
			t.Errorf("%d: the forced format refuses %q", f, doc)
		}
		if m := jsonmask.NewMatcher(s); m.Feed([]byte(strings.Replace(doc, "get_weather", "get_time", 1))) && m.Done() {
			t.Errorf("%d: the forced format calls another tool", f)
		}
		short := jsonmask.NewMatcher(s).Completion()
		for _, d := range []string{doc, short} {
			text, calls := parseCalls(f, d, "call_")
			if text != "" || len(calls) != 1 || calls[0].name != "get_weather" {
				t.Errorf("%d: %q parses as %q %+v", f, d, text, calls)
			}
		}
		if _, calls := parseCalls(f, doc, "call_"); len(calls) == 1 && calls[0].args != `{"city":"Oslo"}` {
			t.Errorf("%d: arguments %s", f, calls[0].args)
		}
	}
	// DSML: the required parameters, a string one as text, others JSON.
	for f, doc := range map[chattmpl.ToolFormat]string{
		chattmpl.ToolsDSML:              "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"city\" string=\"true\">Oslo</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
		chattmpl.ToolsDSMLFunctionCalls: "\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"city\" string=\"true\">Oslo</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>",
	} {
		s, err := ts.format(f, same)
		if err != nil {
			t.Fatal(err)
		}
		if m := jsonmask.NewMatcher(s); !m.Feed([]byte(doc)) || !m.Done() {
			t.Errorf("%d: the forced format refuses %q", f, doc)
		}
		for d, args := range map[string]string{doc: `{"city":"Oslo"}`, jsonmask.NewMatcher(s).Completion(): `{"city":""}`} {
			if text, calls := parseCalls(f, d, "call_"); text != "" || len(calls) != 1 || calls[0].name != "get_weather" || calls[0].args != args {
				t.Errorf("%d: %q parses as %q %+v", f, d, text, calls)
			}
		}
	}
	ts.force = "*"
	if _, err := ts.format(chattmpl.ToolsDSML, same); err == nil {
		t.Error("a forced DSML call among two functions")
	}
	for _, f := range []chattmpl.ToolFormat{chattmpl.ToolsDeepSeekV3, chattmpl.ToolsHarmony, chattmpl.ToolsLlama3} {
		s, err := ts.format(f, same)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"get_weather", "get_time"} {
			syn, _ := f.Call()
			doc := syn.Open + name + syn.Mid + `{"any": [1]}` + syn.Close
			if syn.NameKey != "" {
				doc = `{"name": "` + name + `", "parameters": {"any": [1]}}`
			}
			if m := jsonmask.NewMatcher(s); !m.Feed([]byte(doc)) || !m.Done() {
				t.Errorf("%d: required refuses %q", f, doc)
			}
		}
	}
}
