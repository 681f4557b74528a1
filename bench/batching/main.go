// Command batching measures how much continuous batching buys: the decode
// rate of N sessions stepped together against one session, in one process
// on one loaded model, the two alternating in short runs so that both see
// the same share of a machine whose other load comes and goes. It prints
// each side's median, first-quartile and best step rate and their ratio;
// on a shared host read the ratio of medians or quartiles, not of two
// separate `reddwarf bench` runs.
//
//	go run ./bench/batching --model /tmp/m/llama1b-q8_0.gguf --threads 2 --sessions 8
//
// Every session holds a prompt of --prompt-tokens (default 65) and decodes
// --steps tokens per run, then is cut back to the prompt. 65 keeps the page
// the decode writes into (positions 64..95) across runs: with a prompt of
// 64, cutting back would drop that page and every run would pay for a new
// one (1 MB a session on the 1B file), which a real decode pays once per 32
// tokens.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"reddwarf/infer"
)

func main() {
	model := flag.String("model", "", "GGUF `file`")
	threads := flag.Int("threads", 2, "compute threads")
	sessions := flag.Int("sessions", 8, "sessions decoded together")
	prompt := flag.Int("prompt-tokens", 65, "prompt tokens per session")
	steps := flag.Int("steps", 4, "decode steps per run")
	rounds := flag.Int("rounds", 25, "runs of each side")
	flag.Parse()
	if err := run(*model, *threads, *sessions, *prompt, *steps, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "batching:", err)
		os.Exit(1)
	}
}

func run(path string, threads, sessions, prompt, steps, rounds int) error {
	m, err := infer.Open(path, infer.Options{Threads: threads, KVType: "f16", Ctx: prompt + steps})
	if err != nil {
		return err
	}
	defer m.Close()
	states := make([]*infer.State, sessions)
	ids := make([]int32, prompt)
	for i := range states {
		for j := range ids {
			ids[j] = int32(3 + (i*131+j*7919)%(m.Vocab()-3))
		}
		states[i] = m.NewState()
		if err := m.Step([]infer.Seq{{State: states[i], Tokens: ids}}); err != nil {
			return err
		}
	}
	// decode steps n sessions steps times (fixed tokens: the time of a
	// step does not depend on them), appending each step's time to times,
	// and cuts them back to the prompt.
	decode := func(n int, times *[]time.Duration) error {
		batch := make([]infer.Seq, n)
		for i := range batch {
			batch[i] = infer.Seq{State: states[i], Tokens: make([]int32, 1)}
		}
		for s := 0; s < steps; s++ {
			for i := range batch {
				batch[i].Tokens[0] = int32(3 + (i*31+s)%(m.Vocab()-3))
			}
			t0 := time.Now()
			if err := m.Step(batch); err != nil {
				return err
			}
			*times = append(*times, time.Since(t0))
		}
		for _, st := range states[:n] {
			if err := st.Truncate(prompt); err != nil {
				return err
			}
		}
		return nil
	}
	var one, all []time.Duration
	for r := 0; r < rounds; r++ {
		if err := decode(1, &one); err != nil {
			return err
		}
		if err := decode(sessions, &all); err != nil {
			return err
		}
	}
	slices.Sort(one)
	slices.Sort(all)
	at := func(t []time.Duration, q float64) float64 { return t[int(q*float64(len(t)-1))].Seconds() }
	fmt.Printf("model %s, %d threads, prompt %d, %d rounds of %d steps\n", path, threads, prompt, rounds, steps)
	for _, q := range []struct {
		name string
		at   float64
	}{{"median", 0.5}, {"first quartile", 0.25}, {"best", 0}} {
		r1, rn := 1/at(one, q.at), float64(sessions)/at(all, q.at)
		fmt.Printf("%-15s 1 session %7.2f tok/s   %d sessions %7.2f tok/s   ratio %.2f\n", q.name, r1, sessions, rn, rn/r1)
	}
	return nil
}
