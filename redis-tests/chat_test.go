package redistests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestChatQwen2 tries GEN … CHAT as a user would with a model whose
// vocabulary has a chat format: `reddwarf synth` writes a random-weight
// qwen2 model with Qwen2's real vocabulary (ChatML), the server loads it,
// and a CHAT turn's tokens are the ChatML rendering of the prompt exactly
// as llama.cpp tokenises it (the ids in infer/testdata/llamacpp-qwen2-tiny.json),
// followed by the generated reply; a second turn opens a second user turn.
func TestChatQwen2(t *testing.T) {
	onlyReddwarf(t)
	model := filepath.Join(t.TempDir(), "qwen2.gguf")
	vocab, _ := filepath.Abs("../infer/tokenizer/testdata/ggml-vocab-qwen2.gguf")
	synth := exec.Command(serverBinary, "synth", "--arch", "qwen2", "--shape", "tiny", "--quant", "q8_0", "--vocab", vocab, "-o", model)
	if out, err := synth.CombinedOutput(); err != nil {
		t.Fatalf("reddwarf synth: %v\n%s", err, out)
	}
	s := startServer(t, "--model", model)
	c := ownClient(t, s, 2)

	mod := do(t, c, "MODEL").([]any)
	if mod[0] != "architecture" || mod[1] != "qwen2" {
		t.Fatalf("MODEL: %v", mod)
	}

	// llama.cpp's ids for "<|im_start|>user\nWhat is 2+2? Answer in one
	// word.<|im_end|>\n<|im_start|>assistant\n".
	raw, err := os.ReadFile("../infer/testdata/llamacpp-qwen2-tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Prompts []struct {
			Text   string
			Tokens []int64
		}
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	turn := ref.Prompts[2]
	if turn.Text != "<|im_start|>user\nWhat is 2+2? Answer in one word.<|im_end|>\n<|im_start|>assistant\n" {
		t.Fatalf("reference prompt 2 is %q", turn.Text)
	}

	// The model's own template (Qwen2's, which the vocabulary file carries
	// and synth copies) opens a conversation without a system turn with
	// its default one, then the user turn llama.cpp tokenizes as above.
	str(t, c, "GEN", "chat", "What is 2+2? Answer in one word.", "CHAT", "MAXTOKENS", 3, "SEED", 1)
	toks := int64s(t, do(t, c, "TOKENS", "chat"))
	imStart := turn.Tokens[0] // <|im_start|>
	k := slices.Index(toks, imStart)
	if k >= 0 {
		k = slices.Index(toks[k+1:], imStart) + k + 1 // the user turn, after the system turn
	}
	if k <= 0 || len(toks) <= k+len(turn.Tokens) || len(toks) > k+len(turn.Tokens)+3 {
		t.Fatalf("after one turn: %v, want a system turn, the %d tokens of the user turn and 1 to 3 generated", toks, len(turn.Tokens))
	}
	if !slices.Equal(toks[k:k+len(turn.Tokens)], turn.Tokens) {
		t.Fatalf("CHAT turn tokens\n got %v\nwant %v (llama.cpp's ChatML)", toks[k:k+len(turn.Tokens)], turn.Tokens)
	}
	if text := str(t, c, "TEXT", "chat"); !strings.HasPrefix(text, "system\nYou are a helpful assistant\nuser\nWhat is 2+2?") {
		t.Fatalf("TEXT %q: not Qwen2's template", text)
	}

	// A second turn opens a second ChatML user turn after the reply.
	str(t, c, "GEN", "chat", "And 3+3?", "CHAT", "MAXTOKENS", 3, "SEED", 1)
	toks2 := int64s(t, do(t, c, "TOKENS", "chat"))
	if !slices.Equal(toks2[:len(toks)], toks) {
		t.Fatalf("the second turn changed the first: %v", toks2)
	}
	if n := count(toks2, imStart); n != 5 {
		t.Errorf("two turns hold %d <|im_start|> tokens, want 5 (system, then user and assistant twice): %v", n, toks2)
	}
}

func int64s(t *testing.T, v any) []int64 {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("reply %v is not an array", v)
	}
	out := make([]int64, len(a))
	for i, x := range a {
		if out[i], ok = x.(int64); !ok {
			t.Fatalf("reply element %v is not an integer", x)
		}
	}
	return out
}

func count(a []int64, x int64) int {
	n := 0
	for _, v := range a {
		if v == x {
			n++
		}
	}
	return n
}

// TestArchSessionsSurviveRestart: sessions of the other architectures
// (random-weight qwen3moe and gemma3 from `reddwarf synth`, GPT-2's
// vocabulary) are saved and restored like llama's: after SAVE and a
// restart, the session's tokens are the same and its greedy continuation
// is what an unrestarted fork generated. gemma3's prompt is longer than
// its sliding window (8).
func TestArchSessionsSurviveRestart(t *testing.T) {
	onlyReddwarf(t)
	for _, arch := range []string{"qwen3moe", "gemma3"} {
		t.Run(arch, func(t *testing.T) {
			dir := t.TempDir()
			model := filepath.Join(dir, arch+".gguf")
			synth := exec.Command(serverBinary, "synth", "--arch", arch, "--shape", "tiny", "--quant", "q8_0", "--std", "0.25", "-o", model)
			if out, err := synth.CombinedOutput(); err != nil {
				t.Fatalf("reddwarf synth: %v\n%s", err, out)
			}
			s := startIn(t, dir, "--model", model)
			c := cli(t, s)
			do(t, c, "GEN", "s", "Once upon a time there was a model with many layers", "MAXTOKENS", "12", "TEMPERATURE", "0")
			tokens := pstr(t, c, "TOKENS", "s")
			do(t, c, "FORK", "s", "fork")
			wantText := pstr(t, c, "GEN", "fork", " and", "MAXTOKENS", "12", "TEMPERATURE", "0")
			do(t, c, "DEL", "fork")
			want(t, c, "OK", "SAVE")
			s.stop()

			s = startIn(t, dir, "--model", model)
			c = cli(t, s)
			if got := pstr(t, c, "TOKENS", "s"); got != tokens {
				t.Fatalf("tokens after restart differ")
			}
			if got := pstr(t, c, "GEN", "s", " and", "MAXTOKENS", "12", "TEMPERATURE", "0"); got != wantText {
				t.Fatalf("restored session continues %q, an unrestarted fork %q", got, wantText)
			}
		})
	}
}
