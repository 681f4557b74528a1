package cli

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"reddwarf/infer/gguf"
	"reddwarf/infer/synth"
	"reddwarf/models"
)

// synthQuants are the --quant names and their weight types.
var synthQuants = map[string]gguf.Type{
	"f32": gguf.TypeF32, "f16": gguf.TypeF16, "q8_0": gguf.TypeQ8_0,
	"q4_0": gguf.TypeQ4_0, "q4_k": gguf.TypeQ4_K, "q6_k": gguf.TypeQ6_K,
}

// Synth implements `reddwarf synth [--arch llama|qwen2|qwen3|qwen3moe|phi3|
// gemma3|deepseek4] --shape NAME --quant q8_0|q4_k|f32... -o FILE
// [--vocab FILE] [--seed N] [--std X]`: it writes a random-weight GGUF v3
// model (that llama.cpp loads too) for benchmarks and tests. The
// vocabulary is GPT-2's (embedded in the binary, so the same model comes out
// wherever it runs) unless --vocab names a GGUF to copy it from.
func Synth(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if synthArch(args) == "deepseek4" {
		return synthDeepSeek4(args, stdout, stderr)
	}
	fs := flag.NewFlagSet("synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	arch := fs.String("arch", "llama", "architecture: "+strings.Join(synthArches(), ", ")+" or deepseek4")
	shape := fs.String("shape", "tiny", "model shape (per architecture; llama: 1b or tiny)")
	quant := fs.String("quant", "q8_0", "weight type: f32, f16, q8_0, q4_0, q4_k or q6_k")
	out := fs.String("o", "", "output GGUF `file` (required)")
	vocabPath := fs.String("vocab", "", "GGUF `file` whose tokenizer.* metadata to copy (default: GPT-2's, 50,257 tokens)")
	seed := fs.Uint64("seed", 1, "weight noise seed")
	std := fs.Float64("std", 0, "weight noise standard deviation (0: 0.02)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	shapes := synthShapes(*arch)
	sh, okShape := shapes[*shape]
	q, okQuant := synthQuants[strings.ToLower(*quant)]
	switch {
	case shapes == nil:
		fmt.Fprintf(stderr, "synth: architecture %q not supported (%s, deepseek4)\n", *arch, strings.Join(synthArches(), ", "))
		return 2
	case !okShape:
		fmt.Fprintf(stderr, "synth: unknown %s shape %q (%s)\n", *arch, *shape, strings.Join(slices.Sorted(maps.Keys(shapes)), ", "))
		return 2
	case !okQuant:
		fmt.Fprintf(stderr, "synth: unknown quant %q (f32, f16, q8_0, q4_0, q4_k, q6_k)\n", *quant)
		return 2
	case *std < 0 || math.IsNaN(*std) || math.IsInf(*std, 0):
		fmt.Fprintf(stderr, "synth: --std %v: want a finite number ≥ 0\n", *std)
		return 2
	case *out == "":
		fmt.Fprintln(stderr, "synth: -o FILE is required")
		return 2
	}
	vocab, err := openVocab(*vocabPath)
	if err != nil {
		fmt.Fprintf(stderr, "synth: vocab: %v\n", err)
		return 1
	}
	defer vocab.Close()
	opt := synth.Options{Quant: q, Vocab: vocab, Seed: *seed, Std: *std}
	err = writeAtomically(*out, func(w io.Writer) error { return synth.Model(w, *arch, sh, opt) })
	if err != nil {
		fmt.Fprintf(stderr, "synth: %v\n", err)
		return 1
	}
	st, _ := os.Stat(*out)
	fmt.Fprintf(stdout, "wrote %s: %s %s %s, %d bytes\n", *out, *arch, sh.Name, q, st.Size())
	return 0
}

// synthArches lists the architectures synth.Model writes, llama first.
func synthArches() []string {
	return append([]string{"llama"}, slices.Sorted(maps.Keys(synth.ArchShapes))...)
}

// synthShapes returns arch's named shapes, nil for an unknown architecture.
func synthShapes(arch string) map[string]synth.ArchShape {
	if arch != "llama" {
		return synth.ArchShapes[arch]
	}
	out := map[string]synth.ArchShape{}
	for name, sh := range synth.Shapes {
		out[name] = synth.ArchShape{Shape: sh}
	}
	return out
}

// writeAtomically has write fill a temp file beside path and renames it
// into place, so a failed run leaves no half file.
func writeAtomically(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// openVocab opens the GGUF at path, or the embedded GPT-2 vocabulary if
// path is empty.
func openVocab(path string) (*gguf.File, error) {
	if path == "" {
		return gguf.Parse(models.GPT2Vocab)
	}
	return gguf.Open(path)
}

// synthArch returns the value of --arch in args ("" if absent), so
// Synth can hand other architectures their own flag set.
func synthArch(args []string) string {
	for i, a := range args {
		switch {
		case (a == "--arch" || a == "-arch") && i+1 < len(args):
			return args[i+1]
		case len(a) > 7 && a[:7] == "--arch=":
			return a[7:]
		case len(a) > 6 && a[:6] == "-arch=":
			return a[6:]
		}
	}
	return ""
}

// synthDeepSeek4 implements `reddwarf synth --arch deepseek4 --shape
// full|tiny256 --quant q2|f32 [--layers N] [--fast] -o FILE [--seed N]`: a
// random-weight DeepSeek V4 Flash GGUF with ds4's names (full = the real
// widths; --layers keeps the first N layers of ds4's schedule: 0, 0, then 4
// and 128 alternating). --fast writes random quantised blocks instead of
// quantising random floats (minutes instead of hours at full width).
func synthDeepSeek4(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("arch", "deepseek4", "architecture")
	shape := fs.String("shape", "tiny256", "model shape: full or tiny256")
	quant := fs.String("quant", "q2", "weights: q2 (ds4's 2-bit mix) or f32")
	layers := fs.Int("layers", 0, "layers (0 = the shape's)")
	fast := fs.Bool("fast", false, "random quantised blocks instead of quantised random floats")
	out := fs.String("o", "", "output GGUF `file` (required)")
	seed := fs.Uint64("seed", 1, "weight noise seed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sh, ok := synth.DeepSeek4Shapes[*shape]
	switch {
	case !ok:
		fmt.Fprintf(stderr, "synth: unknown deepseek4 shape %q (full, tiny256)\n", *shape)
		return 2
	case *quant != "q2" && *quant != "f32":
		fmt.Fprintf(stderr, "synth: deepseek4 quant %q: want q2 or f32\n", *quant)
		return 2
	case *out == "":
		fmt.Fprintln(stderr, "synth: -o FILE is required")
		return 2
	}
	if *layers > 0 {
		sh.Layers = *layers
	}
	opt := synth.DeepSeek4Options{Shape: sh, Quant: *quant, Seed: *seed, Fast: *fast}
	if err := writeAtomically(*out, func(w io.Writer) error { return synth.DeepSeek4(w, opt) }); err != nil {
		fmt.Fprintf(stderr, "synth: %v\n", err)
		return 1
	}
	st, _ := os.Stat(*out)
	fmt.Fprintf(stdout, "wrote %s: deepseek4 %s %d layers %s, %d bytes\n", *out, sh.Name, sh.Layers, *quant, st.Size())
	return 0
}
