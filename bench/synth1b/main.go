// Command synth1b writes `reddwarf synth --arch llama --shape 1b --quant Q`
// (seed 1, GPT-2's vocabulary) for Q in q8_0 and q4_k into DIR: the same
// files, from a binary a fifth of reddwarf's size, for a GPU machine whose
// call can carry only a few megabytes (bench/gpu-llamacpp.sh).
//
//	synth1b DIR
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"reddwarf/infer/gguf"
	"reddwarf/infer/synth"
	"reddwarf/models"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: synth1b DIR")
		os.Exit(2)
	}
	vocab, err := gguf.Parse(models.GPT2Vocab)
	if err != nil {
		fail(err)
	}
	for _, q := range []struct {
		name string
		t    gguf.Type
	}{{"q8_0", gguf.TypeQ8_0}, {"q4_k", gguf.TypeQ4_K}} {
		path := filepath.Join(os.Args[1], "llama1b-"+q.name+".gguf")
		f, err := os.Create(path)
		if err != nil {
			fail(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		if err := synth.Llama(w, synth.Options{Shape: synth.Shapes["1b"], Quant: q.t, Vocab: vocab, Seed: 1}); err != nil {
			fail(err)
		}
		if err := w.Flush(); err != nil {
			fail(err)
		}
		if err := f.Close(); err != nil {
			fail(err)
		}
		fmt.Println("wrote", path)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "synth1b:", err)
	os.Exit(1)
}
