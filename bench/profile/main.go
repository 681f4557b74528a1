// Command profile writes a CPU profile of reddwarf decoding a GGUF, for
// `go tool pprof`: it prefills a short pseudo-random prompt (not profiled),
// then decodes --tokens tokens greedily with the profiler on: one session,
// or --sessions N decoded together in one batch per step (continuous
// batching's decode, where the weights read once serve N columns).
// With --prefill it profiles the prompt's prefill instead (one Step).
//
//	go run ./bench/profile --model FILE --threads 2 --tokens 32 -o cpu.pprof
//	go tool pprof -top cpu.pprof
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"reddwarf/infer"
)

func main() {
	model := flag.String("model", "", "GGUF `file`")
	threads := flag.Int("threads", 2, "compute threads")
	prompt := flag.Int("prompt-tokens", 16, "prompt tokens (not profiled)")
	tokens := flag.Int("tokens", 32, "decode steps to profile")
	out := flag.String("o", "cpu.pprof", "profile `file`")
	prefill := flag.Bool("prefill", false, "profile the prefill instead of decode")
	sessions := flag.Int("sessions", 1, "sessions decoded together")
	flag.Parse()
	if err := run(*model, *threads, *prompt, *tokens, *sessions, *out, *prefill); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

func run(path string, threads, prompt, tokens, sessions int, out string, prefill bool) error {
	m, err := infer.Open(path, infer.Options{Threads: threads, KVType: "f16", Ctx: prompt + tokens})
	if err != nil {
		return err
	}
	defer m.Close()
	s := m.NewState()
	ids := make([]int32, prompt)
	for i := range ids {
		ids[i] = int32(3 + (i*7919)%(m.Vocab()-3))
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if prefill {
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		t0 := time.Now()
		err := m.Step([]infer.Seq{{State: s, Tokens: ids}})
		el := time.Since(t0)
		pprof.StopCPUProfile()
		fmt.Printf("prefill %d tokens in %v: %.2f tok/s\n", prompt, el, float64(prompt)/el.Seconds())
		return err
	}
	batch := make([]infer.Seq, sessions)
	for i := range batch {
		st := s
		if i > 0 {
			st = m.NewState()
		}
		if err := m.Step([]infer.Seq{{State: st, Tokens: ids}}); err != nil {
			return err
		}
		batch[i] = infer.Seq{State: st, Tokens: make([]int32, 1)}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	t0 := time.Now()
	for i := 0; i < tokens; i++ {
		for _, sq := range batch {
			sq.Tokens[0] = infer.Argmax(sq.State.Logits())
		}
		if err := m.Step(batch); err != nil {
			pprof.StopCPUProfile()
			return err
		}
	}
	el := time.Since(t0)
	pprof.StopCPUProfile()
	fmt.Printf("decode %d steps of %d sessions in %v: %.2f tok/s\n", tokens, sessions, el, float64(tokens*sessions)/el.Seconds())
	return nil
}
