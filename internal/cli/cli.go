// Package cli holds reddwarf's subcommands other than serving: check, bench,
// synth and tokenize, one file each (with its test), and the model loading
// that serving shares with them (model.go). main dispatches os.Args[1] here
// through Lookup; Help prints the usage that lists them all.
//
// Every subcommand takes the arguments after its name and the process's
// streams (tests hand in buffers) and returns the exit status: 0 on success,
// 1 when the work failed, 2 on a usage error.
package cli

import (
	"fmt"
	"io"
	"strings"
)

// A Command is one reddwarf subcommand.
type Command struct {
	Name    string
	Usage   string // the arguments, as the help shows them
	Summary string // what it does, one line
	Run     func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// Commands returns the subcommands, in the order Help lists them.
func Commands() []Command {
	return []Command{
		{"check", "FILE", "verify a snapshot (dump.dsv4) or a session state file end to end", Check},
		{"bench", "[--model FILE] [--threads N] [--prompt-tokens N] [--gen-tokens N] [--sessions N]", "prefill and decode speed, as JSON lines", Bench},
		{"synth", "[--arch ARCH] --shape NAME --quant TYPE -o FILE", "write a random-weight GGUF model: " + strings.Join(synthArches(), ", ") + " or deepseek4", Synth},
		{"tokenize", "--model FILE [--add-bos] [--parse-special] < text", "print the token ids of stdin", Tokenize},
	}
}

// Lookup returns the subcommand called name.
func Lookup(name string) (Command, bool) {
	for _, c := range Commands() {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

// Help writes reddwarf's usage: serving, then every subcommand.
func Help(w io.Writer) {
	fmt.Fprintln(w, "usage: reddwarf [config-file] [--directive value ...]")
	fmt.Fprintln(w, "         serve the Redis protocol (default 127.0.0.1:6380) with the model the")
	fmt.Fprintln(w, "         `model` directive names (default: the embedded stories260K)")
	for _, c := range Commands() {
		fmt.Fprintf(w, "       reddwarf %s %s\n         %s\n", c.Name, c.Usage, c.Summary)
	}
	fmt.Fprintln(w, "       reddwarf help | version")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Directives take redis.conf syntax in the config file, or --name value on the")
	fmt.Fprintln(w, "command line; README.md (\"Directives\") lists each with its default.")
	fmt.Fprintln(w, "`reddwarf SUBCOMMAND -h` lists a subcommand's flags.")
}
