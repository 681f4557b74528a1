package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"reddwarf/infer"
	"reddwarf/metalkit"
	"reddwarf/models"
)

// Bench implements `reddwarf bench [--model FILE] [--threads N]
// [--prompt-tokens N] [--gen-tokens N] [--sessions N] [--chunk N] [--kv f16|f32]
// [--device cpu|cuda|auto|cpu-seam]`:
// it prefills every session with a deterministic pseudo-random prompt, then
// decodes greedily, all sessions batched in each step, and prints one JSON
// object per line: progress, then a summary with prefill_tok_s and
// decode_tok_s (aggregate over sessions). Without --model it runs the
// embedded stories260K. tools/llamacpp-ref/bench.mjs prints the same shape
// for llama.cpp.
func Bench(args []string, _ io.Reader, stdout, stderr io.Writer) int {

	// benchResult is the last line of bench output.
	type benchResult struct {
		Engine          string  `json:"engine"`
		Model           string  `json:"model"`
		Threads         int     `json:"threads"`
		PromptTokens    int     `json:"prompt_tokens"`
		GenTokens       int     `json:"gen_tokens"`
		Sessions        int     `json:"sessions"`
		KV              string  `json:"kv"`
		PrefillTokS     float64 `json:"prefill_tok_s"`
		DecodeTokS      float64 `json:"decode_tok_s"`
		DecodeSessTokS  float64 `json:"decode_tok_s_per_session"`
		PrefillMS       float64 `json:"prefill_ms"`
		DecodeMS        float64 `json:"decode_ms"`
		WeightBytes     int64   `json:"weight_bytes_per_token"` // weight bytes one decode step reads
		Layers          int     `json:"layers"`                 // transformer blocks
		LayerBytes      int64   `json:"layer_bytes_per_token"`  // the part of WeightBytes in blocks (blk.N.*), all layers
		DecodeWeightGBs float64 `json:"decode_weight_gb_s"`     // weight bytes × decode steps ÷ decode time
		ReadGBs         float64 `json:"read_bandwidth_gb_s"`    // measured memory read bandwidth, same threads
		RooflineTokS    float64 `json:"roofline_decode_tok_s"`  // read bandwidth ÷ weight bytes: batch-1 decode ceiling
		RooflineFrac    float64 `json:"decode_roofline_frac"`   // per-session decode rate ÷ roofline
	}

	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelPath := fs.String("model", "", "GGUF `file` (default: the embedded stories260K)")
	threads := fs.Int("threads", runtime.NumCPU(), "compute threads")
	promptTokens := fs.Int("prompt-tokens", 128, "prompt tokens per session")
	genTokens := fs.Int("gen-tokens", 64, "tokens to generate per session")
	sessions := fs.Int("sessions", 1, "concurrent sessions, decoded in one batch")
	chunk := fs.Int("chunk", 512, "prefill chunk (tokens per session per step)")
	kv := fs.String("kv", "f16", "KV cache type: f16 or f32")
	device := fs.String("device", "cpu", "where the passes run, as the server's device directive: cpu, cuda, auto or cpu-seam")
	measureBW := fs.Bool("bandwidth", true, "measure memory read bandwidth for the roofline")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *threads < 1 || *promptTokens < 1 || *genTokens < 0 || *sessions < 1 || *chunk < 1 {
		fmt.Fprintln(stderr, "bench: --threads, --prompt-tokens, --sessions and --chunk must be ≥ 1, --gen-tokens ≥ 0")
		return 2
	}
	enc := json.NewEncoder(stdout)
	fail := func(err error) int {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}

	// Load.
	opt := infer.Options{Threads: *threads, KVType: *kv, Ctx: *promptTokens + *genTokens}
	t0 := time.Now()
	var (
		m    *infer.Model
		err  error
		name = *modelPath
	)
	if name == "" {
		name = "stories260K.gguf (embedded)"
	}
	open := func(opt infer.Options) (*infer.Model, error) {
		if *modelPath == "" {
			return infer.OpenBytes(name, models.Stories260K, opt)
		}
		return infer.Open(name, opt)
	}
	logf := func(level, format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }
	switch *device {
	case "cpu", "cuda", "auto", "cpu-seam":
		m, err = openOnDevice(*device, opt, open, logf)
	default:
		err = fmt.Errorf("--device %q: want cpu, cuda, auto or cpu-seam", *device)
	}
	if err != nil {
		return fail(err)
	}
	defer m.Close()
	info := map[string]any{"event": "loaded", "load_ms": ms(time.Since(t0))}
	for _, f := range m.Info() {
		info[f.Key] = f.Value
	}
	enc.Encode(info)

	// Prompts: BOS-free pseudo-random ids, different per session, the same
	// every run.
	states := make([]*infer.State, *sessions)
	prompts := make([][]int32, *sessions)
	for i := range states {
		states[i] = m.NewState()
		prompts[i] = benchPrompt(*promptTokens, m.Vocab(), uint64(i+1))
	}

	// Prefill: each step takes the next chunk of every session.
	t0 = time.Now()
	for pos := 0; pos < *promptTokens; pos += *chunk {
		end := min(*promptTokens, pos+*chunk)
		batch := make([]infer.Seq, len(states))
		for i, s := range states {
			batch[i] = infer.Seq{State: s, Tokens: prompts[i][pos:end]}
		}
		if err := m.Step(batch); err != nil {
			return fail(err)
		}
	}
	prefill := time.Since(t0)
	totalPrompt := *promptTokens * *sessions
	enc.Encode(map[string]any{"event": "prefill", "tokens": totalPrompt, "ms": ms(prefill),
		"tok_s": float64(totalPrompt) / prefill.Seconds()})

	// Decode: one greedy token per session per step.
	batch := make([]infer.Seq, len(states))
	toks := make([]int32, len(states))
	t0 = time.Now()
	for step := 0; step < *genTokens; step++ {
		for i, s := range states {
			toks[i] = infer.Argmax(s.Logits())
			batch[i] = infer.Seq{State: s, Tokens: toks[i : i+1]}
		}
		if err := m.Step(batch); err != nil {
			return fail(err)
		}
		if (step+1)%16 == 0 || step+1 == *genTokens {
			el := time.Since(t0)
			enc.Encode(map[string]any{"event": "decode", "steps": step + 1, "ms": ms(el),
				"tok_s": float64((step+1)**sessions) / el.Seconds()})
		}
	}
	decode := time.Since(t0)

	modelBytes, layerBytes := decodeWeightBytes(m)
	res := benchResult{
		Engine: "reddwarf", Model: name, Threads: m.Threads(), PromptTokens: *promptTokens,
		GenTokens: *genTokens, Sessions: *sessions, KV: *kv,
		PrefillTokS: float64(totalPrompt) / prefill.Seconds(),
		PrefillMS:   ms(prefill), DecodeMS: ms(decode), WeightBytes: modelBytes,
		Layers: m.Arch().Shape().Layers, LayerBytes: layerBytes,
	}
	if *genTokens > 0 {
		res.DecodeTokS = float64(*genTokens**sessions) / decode.Seconds()
		res.DecodeSessTokS = float64(*genTokens) / decode.Seconds()
		res.DecodeWeightGBs = float64(modelBytes) * float64(*genTokens) / decode.Seconds() / 1e9
	}
	if *measureBW {
		res.ReadGBs = readBandwidth(*threads) / 1e9
		res.RooflineTokS = res.ReadGBs * 1e9 / float64(modelBytes)
		res.RooflineFrac = res.DecodeSessTokS / res.RooflineTokS
	}
	enc.Encode(res)
	return 0
}

// benchPrompt returns n pseudo-random token ids in [3, vocab) (skipping the
// usual control ids 0-2), from a splitmix64 stream seeded with seed.
func benchPrompt(n, vocab int, seed uint64) []int32 {
	out := make([]int32, n)
	x := seed * 0x9e3779b97f4a7c15
	for i := range out {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		out[i] = int32(3 + z%uint64(vocab-3))
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// decodeWeightBytes is the weight bytes one decode step reads (total), and
// the part of them in the transformer blocks (tensors "blk.N.*"): every
// tensor, except
//   - the token embedding when a separate output.weight exists (then only
//     one embedding row per token is read), and so a hash-routing table
//     (deepseek4's ffn_gate_tid2eid, one row per token);
//   - routed experts (tensors "*_exps.weight", all experts of a layer in
//     one tensor), of which a token reads expert_used_count of
//     expert_count: that share of their bytes.
func decodeWeightBytes(m *infer.Model) (total, layers int64) {
	f := m.File()
	arch := f.Architecture()
	experts, _ := f.Uint(arch + ".expert_count")
	used, _ := f.Uint(arch + ".expert_used_count")
	_, untied := f.Tensor("output.weight")
	for i := range f.Tensors {
		t := &f.Tensors[i]
		n := int64(t.Size)
		switch {
		case untied && t.Name == "token_embd.weight":
			continue
		case strings.HasSuffix(t.Name, ".ffn_gate_tid2eid.weight") && len(t.Dims) == 2 && t.Dims[1] > 0:
			n /= int64(t.Dims[1])
		case strings.HasSuffix(t.Name, "_exps.weight") && experts > 0 && used <= experts:
			n = n / int64(experts) * int64(used)
		}
		total += n
		if strings.HasPrefix(t.Name, "blk.") {
			layers += n
		}
	}
	return total, layers
}

// readBandwidth measures memory read bandwidth in bytes/s at threads
// threads: metalkit.ReadBandwidth, the probe bench/compare.sh uses (the
// best of several read loops over 256 MiB, far larger than any cache).
func readBandwidth(threads int) float64 {
	return metalkit.ReadBandwidth(threads, 256<<20, 5)
}
