package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// Synth implements `reddwarf synth --arch llama --shape 1b|tiny
// --quant q8_0|q4_k|f32 -o FILE [--vocab FILE] [--seed N]`: it writes a
// random-weight GGUF v3 model (that llama.cpp loads too) for benchmarks.
// The vocabulary is GPT-2's (embedded in the binary, so the same model
// comes out wherever it runs) unless --vocab names a GGUF to copy it from.
func Synth(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if synthArch(args) == "deepseek4" {
		return synthDSV4Command(args, stdout, stderr)
	}
	fs := flag.NewFlagSet("synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	arch := fs.String("arch", "llama", "architecture (only llama for now)")
	shape := fs.String("shape", "tiny", "model shape: 1b or tiny")
	quant := fs.String("quant", "q8_0", "weight type: f32, f16, q8_0, q4_0, q4_k or q6_k")
	out := fs.String("o", "", "output GGUF `file` (required)")
	vocabPath := fs.String("vocab", "", "GGUF `file` whose tokenizer.* metadata to copy (default: GPT-2's, 50,257 tokens)")
	seed := fs.Uint64("seed", 1, "weight noise seed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sh, okShape := synth.Shapes[*shape]
	q, okQuant := synthQuants[strings.ToLower(*quant)]
	switch {
	case *arch != "llama":
		fmt.Fprintf(stderr, "synth: architecture %q not supported (llama)\n", *arch)
		return 2
	case !okShape:
		fmt.Fprintf(stderr, "synth: unknown shape %q (1b, tiny)\n", *shape)
		return 2
	case !okQuant:
		fmt.Fprintf(stderr, "synth: unknown quant %q (f32, f16, q8_0, q4_0, q4_k, q6_k)\n", *quant)
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
	if err := writeSynth(*out, synth.Options{Shape: sh, Quant: q, Vocab: vocab, Seed: *seed}); err != nil {
		fmt.Fprintf(stderr, "synth: %v\n", err)
		return 1
	}
	st, _ := os.Stat(*out)
	fmt.Fprintf(stdout, "wrote %s: llama %s %s, %d bytes\n", *out, sh.Name, q, st.Size())
	return 0
}

// writeSynth writes the model to a temp file beside path and renames it
// into place, so a failed run leaves no half file.
func writeSynth(path string, opt synth.Options) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := synth.Llama(f, opt); err != nil {
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
