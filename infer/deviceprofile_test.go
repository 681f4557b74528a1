package infer

import (
	"os"
	"strings"
	"testing"
	"time"

	"reddwarf/metalkit/cuda"
)

// TestDeviceLlamaProfile says where a step of the seam's llama forward
// spends its GPU time, kernel by kernel (cuda.Device.StartProfile: each
// kernel between two CUDA events, the ops launched one by one), on the
// GGUF file REDDWARF_GPU_MODEL names: one session decoding (32 steps from
// position 32), 8 sessions decoding together (16 steps), and a 512-token
// prefill. Each table is per step, beside the step's time as the server
// runs it (a CUDA graph a step for decode, logits read back each step):
// the kernels' sum below that time is what launch gaps cost. It is a
// measurement, not a check; bench/gpu-seam.sh runs it and prints the
// tables. Without REDDWARF_GPU_MODEL it skips.
func TestDeviceLlamaProfile(t *testing.T) {
	path := os.Getenv("REDDWARF_GPU_MODEL")
	if path == "" {
		t.Skip("REDDWARF_GPU_MODEL is not set: bench/gpu-seam.sh runs this on a GPU machine")
	}
	c, err := cuda.Open(0)
	if err != nil {
		t.Fatalf("no CUDA device: %v", err)
	}
	defer c.Close()
	m, err := Open(path, Options{Device: c, KVType: "f16", Ctx: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	// sessions returns n states, each prefilled with the same 32 tokens.
	prompt := make([]int32, 32)
	for i := range prompt {
		prompt[i] = int32(1 + i)
	}
	sessions := func(n int) []Seq {
		var batch []Seq
		for range n {
			s := m.NewState()
			if err := m.Step([]Seq{{s, prompt}}); err != nil {
				t.Fatal(err)
			}
			batch = append(batch, Seq{State: s})
		}
		return batch
	}
	// decode runs steps steps of batch (each seq its argmax token) and
	// returns the seconds per step.
	decode := func(batch []Seq, steps int) float64 {
		start := time.Now()
		for range steps {
			for i := range batch {
				batch[i].Tokens = []int32{Argmax(batch[i].State.Logits())}
			}
			if err := m.Step(batch); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start).Seconds() / float64(steps)
	}
	profile := func(what string, steps int, stepSec float64, run func()) {
		if err := c.StartProfile(); err != nil {
			t.Fatal(err)
		}
		run()
		times, err := c.StopProfile()
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		cuda.WriteProfile(&sb, times, steps)
		t.Logf("%s on %s, %s: %.1f µs a step as the server runs it; GPU time by kernel, per step:\n%s", path, c.Name(), what, stepSec*1e6, sb.String())
	}

	stepSec := map[int]float64{}
	for _, n := range []int{1, 8} {
		batch := sessions(n)
		decode(batch, 4) // warm up: the recording
		sec := decode(batch, 32)
		stepSec[n] = sec
		steps := 32
		if n > 1 {
			steps = 16
		}
		profile(map[int]string{1: "decode, 1 session", 8: "decode, 8 sessions together"}[n], steps, sec, func() { decode(batch, steps) })
		for _, sq := range batch {
			sq.State.Release()
		}
	}

	// Issue 15: 8 sessions decoding together against 1, aggregate.
	t.Logf("%s on %s: decode 1 session %.1f tok/s, 8 together %.1f tok/s in all: %.2f×", path, c.Name(),
		1/stepSec[1], 8/stepSec[8], stepSec[1]*8/stepSec[8])

	long := make([]int32, 512)
	for i := range long {
		long[i] = int32(1 + i%1000)
	}
	prefill := func() float64 {
		s := m.NewState()
		defer s.Release()
		start := time.Now()
		if err := m.Step([]Seq{{s, long}}); err != nil {
			t.Fatal(err)
		}
		return time.Since(start).Seconds()
	}
	prefill() // warm up
	sec := min(prefill(), prefill())
	t.Logf("%s on %s: prefill of 512 tokens %.2f ms, %.0f tok/s", path, c.Name(), sec*1e3, 512/sec)
	profile("prefill of 512 tokens", 1, sec, func() { prefill() })
}
