package cli

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"strconv"

	"reddwarf/infer/gguf"
	"reddwarf/infer/tokenizer"
)

// Tokenize implements `reddwarf tokenize --model FILE`: it reads all of
// stdin, tokenizes it with the model's tokenizer and prints the ids on one
// line, space-separated. By default no BOS is added and special-token texts
// are plain text, as llama.cpp's tokenizer test (test-tokenizer-0) runs.
func Tokenize(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", "GGUF `file` whose tokenizer to use (required)")
	addBOS := fs.Bool("add-bos", false, "prepend BOS if the model wants one")
	special := fs.Bool("parse-special", false, "recognise control-token texts such as <|endoftext|>")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: reddwarf tokenize --model FILE [--add-bos] [--parse-special] < text")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *model == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}

	f, err := gguf.Open(*model)
	if err != nil {
		fmt.Fprintf(stderr, "reddwarf tokenize: %v\n", err)
		return 1
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		fmt.Fprintf(stderr, "reddwarf tokenize: %s: %v\n", *model, err)
		return 1
	}
	text, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "reddwarf tokenize: reading stdin: %v\n", err)
		return 1
	}

	ids := tok.Encode(string(text), tokenizer.EncodeOptions{AddBOS: *addBOS, ParseSpecial: *special})
	w := bufio.NewWriter(stdout)
	var buf []byte
	for i, id := range ids {
		if i > 0 {
			buf = append(buf, ' ')
		}
		buf = strconv.AppendInt(buf, int64(id), 10)
		if len(buf) > 4096 {
			w.Write(buf)
			buf = buf[:0]
		}
	}
	buf = append(buf, '\n')
	w.Write(buf)
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "reddwarf tokenize: %v\n", err)
		return 1
	}
	return 0
}
