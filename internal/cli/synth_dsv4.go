package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"reddwarf/infer"
)

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

// synthDSV4Command implements `reddwarf synth --arch deepseek4 --shape
// full|tiny256 --quant q2|f32 [--layers N] [--fast] -o FILE [--seed N]`: a
// random-weight DeepSeek V4 Flash GGUF with ds4's names (full = the real
// widths; --layers keeps the first N layers of ds4's schedule: 0, 0, then 4
// and 128 alternating). --fast writes random quantised blocks instead of
// quantising random floats (minutes instead of hours at full width).
func synthDSV4Command(args []string, stdout, stderr io.Writer) int {
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
	sh, ok := infer.DSV4Shapes[*shape]
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
	f, err := os.CreateTemp(filepath.Dir(*out), filepath.Base(*out)+".tmp*")
	if err != nil {
		fmt.Fprintf(stderr, "synth: %v\n", err)
		return 1
	}
	err = infer.SynthDSV4(f, infer.DSV4SynthOptions{Shape: sh, Quant: *quant, Seed: *seed, Fast: *fast})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), *out)
	}
	if err != nil {
		os.Remove(f.Name())
		fmt.Fprintf(stderr, "synth: %v\n", err)
		return 1
	}
	st, _ := os.Stat(*out)
	fmt.Fprintf(stdout, "wrote %s: deepseek4 %s %d layers %s, %d bytes\n", *out, sh.Name, sh.Layers, *quant, st.Size())
	return 0
}
