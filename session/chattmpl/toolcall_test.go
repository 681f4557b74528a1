package chattmpl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseToolCalls(t *testing.T) {
	for _, c := range []struct {
		in, text string
		calls    string // the calls as JSON
	}{
		{"plain answer", "plain answer", "null"},
		{"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"days\": 3}}\n</tool_call>", "",
			`[{"ID":"","Name":"get_weather","Arguments":{"city":"Oslo","days":3}}]`},
		{"Let me check.\n<tool_call>\n{\"name\":\"a\",\"arguments\":{}}\n</tool_call>\n<tool_call>{\"name\":\"b\",\"arguments\":\"{\\\"x\\\":1.5}\"}</tool_call>", "Let me check.",
			`[{"ID":"","Name":"a","Arguments":{}},{"ID":"","Name":"b","Arguments":{"x":1.5}}]`},
		{"<tool_call>{\"name\":\"a\"}</tool_call>", "", `[{"ID":"","Name":"a","Arguments":{}}]`},
		// Broken blocks stay text.
		{"<tool_call>{\"name\": oops}</tool_call>", "<tool_call>{\"name\": oops}</tool_call>", "null"},
		{"<tool_call>{\"arguments\":{}}</tool_call>", "<tool_call>{\"arguments\":{}}</tool_call>", "null"},
		{"<tool_call>{\"name\":\"a\",\"arguments\":[1]}</tool_call>", "<tool_call>{\"name\":\"a\",\"arguments\":[1]}</tool_call>", "null"},
		{"x <tool_call>{\"name\":\"a\"}", "x <tool_call>{\"name\":\"a\"}", "null"},
	} {
		text, calls := ParseToolCalls(c.in)
		got, _ := json.Marshal(calls)
		if text != c.text || string(got) != c.calls {
			t.Errorf("%q: text %q calls %s, want %q %s", c.in, text, got, c.text, c.calls)
		}
	}
}

// TestRenderToolCalls: Qwen2.5's real template renders tools in its
// system turn, an assistant's tool calls in the Hermes format and a tool
// result as a <tool_response> in a user turn.
func TestRenderToolCalls(t *testing.T) {
	src := readTemplate(t, "Qwen-Qwen2.5-7B-Instruct.jinja")
	tm, err := Compile(src, "", "<|im_end|>")
	if err != nil {
		t.Fatal(err)
	}
	var tools []any
	json.Unmarshal([]byte(`[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]`), &tools)
	out, err := tm.Render([]Message{
		{Role: "user", Content: "Weather in Oslo?"},
		{Role: "assistant", ToolCalls: []ToolCall{{ID: "c1", Name: "get_weather", Arguments: map[string]any{"city": "Oslo"}}}},
		{Role: "tool", Content: `{"temp":21}`, ToolCallID: "c1"},
	}, true, map[string]any{"tools": tools})
	if err != nil {
		t.Fatal(err)
	}
	// (Decoded JSON objects are Go maps: tojson writes their keys sorted,
	// where Python keeps the request's order.)
	for _, want := range []string{"<tools>\n{\"function\": {\"description\": \"Weather of a city\", \"name\": \"get_weather\"",
		"<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call><|im_end|>",
		"<|im_start|>user\n<tool_response>\n{\"temp\":21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n"} {
		if !contains(out, want) {
			t.Errorf("rendering lacks %q:\n%s", want, out)
		}
	}
}

func readTemplate(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestToolFormats: each template's format is told from its source, and
// replies in it parse into calls; anything else stays text.
func TestToolFormats(t *testing.T) {
	for file, want := range map[string]ToolFormat{
		"Qwen-Qwen2.5-7B-Instruct.jinja": ToolsHermes, "Qwen-Qwen3-0.6B.jinja": ToolsHermes,
		"meta-llama-Llama-3.2-3B-Instruct.jinja": ToolsLlama3, "mistralai-Mistral-Nemo-Instruct-2407.jinja": ToolsMistral,
		"google-gemma-2-2b-it.jinja": ToolsNone, "microsoft-Phi-3.5-mini-instruct.jinja": ToolsNone,
		"deepseek-ai-DeepSeek-V3.1.jinja": ToolsDeepSeekV3, "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": ToolsDeepSeekR1,
		"deepseek-ai-DeepSeek-V3.2.jinja": ToolsDSMLFunctionCalls, "deepseek-ai-DeepSeek-V4.jinja": ToolsDSML, "deepseek-ai-DeepSeek-V4-Flash-0731.jinja": ToolsDSML,
		"openai-gpt-oss-120b.jinja": ToolsHarmony,
	} {
		if got := DetectToolFormat(readTemplate(t, file)); got != want {
			t.Errorf("%s: format %d, want %d", file, got, want)
		}
	}
	for _, c := range []struct {
		f        ToolFormat
		in, text string
		calls    string
	}{
		{ToolsLlama3, ` {"name": "get_weather", "parameters": {"city": "Oslo"}}`, "", `[{"ID":"","Name":"get_weather","Arguments":{"city":"Oslo"}}]`},
		{ToolsLlama3, `<|python_tag|>{"name": "f", "parameters": {}}`, "", `[{"ID":"","Name":"f","Arguments":{}}]`},
		{ToolsLlama3, `The weather is {"name": "f"}`, `The weather is {"name": "f"}`, "null"},
		{ToolsMistral, `[{"name": "f", "arguments": {"a": 1}, "id": "abcDEF123"}]`, "", `[{"ID":"abcDEF123","Name":"f","Arguments":{"a":1}}]`},
		{ToolsMistral, `Sure. [TOOL_CALLS][{"name": "f", "arguments": {}}]`, "Sure.", `[{"ID":"","Name":"f","Arguments":{}}]`},
		{ToolsMistral, `[1, 2]`, `[1, 2]`, "null"},
		{ToolsNone, `<tool_call>{"name":"f"}</tool_call>`, `<tool_call>{"name":"f"}</tool_call>`, "null"},

		// DeepSeek V3.1: text, then calls in the section markers.
		{ToolsDeepSeekV3, "I will look.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Oslo\"}<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{\"zone\": \"CET\", \"h24\": true}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
			"I will look.", `[{"ID":"","Name":"get_weather","Arguments":{"city":"Oslo"}},{"ID":"","Name":"get_time","Arguments":{"h24":true,"zone":"CET"}}]`},
		{ToolsDeepSeekV3, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{}<｜tool▁call▁end｜>", "", `[{"ID":"","Name":"f","Arguments":{}}]`}, // cut before the section's end
		{ToolsDeepSeekV3, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{oops}<｜tool▁call▁end｜>",
			"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{oops}<｜tool▁call▁end｜>", "null"},
		{ToolsDeepSeekV3, "no calls here", "no calls here", "null"},
		// DeepSeek R1: the type, the name on its line, fenced JSON (the
		// closing fence with or without a newline before it).
		{ToolsDeepSeekR1, "<think>\nThe user wants weather.\n</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Oslo\", \"days\": 2}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{\"zone\": \"CET\"}```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
			"<think>\nThe user wants weather.\n</think>", `[{"ID":"","Name":"get_weather","Arguments":{"city":"Oslo","days":2}},{"ID":"","Name":"get_time","Arguments":{"zone":"CET"}}]`},
		{ToolsDeepSeekR1, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Os",
			"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Os", "null"},
		// DeepSeek V4 / V4 Flash (DSML): string and JSON parameters, two
		// invokes, text before the block; V3.2's function_calls too.
		{ToolsDSML, "Let me check.\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"city\" string=\"true\">New York</｜DSML｜parameter>\n<｜DSML｜parameter name=\"days\" string=\"false\">2</｜DSML｜parameter>\n</｜DSML｜invoke>\n<｜DSML｜invoke name=\"get_time\">\n\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
			"Let me check.", `[{"ID":"","Name":"get_weather","Arguments":{"city":"New York","days":2}},{"ID":"","Name":"get_time","Arguments":{}}]`},
		{ToolsDSML, "<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"xs\" string=\"false\">[1, {\"a\": null}]</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>",
			"", `[{"ID":"","Name":"f","Arguments":{"xs":[1,{"a":null}]}}]`},
		{ToolsDSML, "<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"n\" string=\"false\">not json</｜DSML｜parameter>\n</｜DSML｜invoke>",
			"<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"n\" string=\"false\">not json</｜DSML｜parameter>\n</｜DSML｜invoke>", "null"},
		// gpt-oss (harmony, markers kept): thinking, then a call with the
		// recipient in the channel header or in the role header; a final
		// answer; a preamble before a call.
		{ToolsHarmony, "<|channel|>analysis<|message|>Need weather for Oslo.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Oslo\"}",
			"", `[{"ID":"","Name":"get_weather","Arguments":{"city":"Oslo"}}]`},
		{ToolsHarmony, " to=functions.get_time<|channel|>commentary json<|message|>{\"zone\": \"CET\"}", "", `[{"ID":"","Name":"get_time","Arguments":{"zone":"CET"}}]`},
		{ToolsHarmony, "<|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>final<|message|>It is 4.", "It is 4.", "null"},
		{ToolsHarmony, "<|channel|>commentary<|message|>Checking the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{}",
			"Checking the weather.", `[{"ID":"","Name":"get_weather","Arguments":{}}]`},
		{ToolsHarmony, "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{\"a\": tru",
			"<|channel|>commentary to=functions.f <|constrain|>json<|message|>{\"a\": tru", "null"},
		{ToolsHarmony, "plain text without markers", "plain text without markers", "null"},
	} {
		text, calls := c.f.Parse(c.in)
		got, _ := json.Marshal(calls)
		if text != c.text || string(got) != c.calls {
			t.Errorf("%d %q: text %q calls %s, want %q %s", c.f, c.in, text, got, c.text, c.calls)
		}
	}
}

// TestHarmonyThinking: gpt-oss's analysis messages are its thinking, kept
// apart from the final answer and from a call's arguments; other formats
// hold none apart.
func TestHarmonyThinking(t *testing.T) {
	for reply, want := range map[string]string{
		"<|channel|>analysis<|message|>Add them.<|end|><|start|>assistant<|channel|>final<|message|>4":                                                      "Add them.",
		"<|channel|>analysis<|message|>Need data.<|end|><|start|>assistant<|channel|>analysis to=functions.f <|constrain|>json<|message|>{}":                "Need data.",
		"<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>commentary<|message|>b<|end|><|start|>assistant<|channel|>analysis<|message|>c": "a\n\nc",
		"<|channel|>final<|message|>4": "",
		"no markers":                   "",
	} {
		if got := ToolsHarmony.Thinking(reply); got != want {
			t.Errorf("%q: thinking %q, want %q", reply, got, want)
		}
	}
	if got := ToolsDeepSeekV3.Thinking("<think>x</think>y"); got != "" {
		t.Errorf("DeepSeek thinking %q: its <think> is text to the HTTP layer", got)
	}
}
