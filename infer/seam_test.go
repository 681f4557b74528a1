package infer

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"testing"

	"reddwarf/infer/gguf"
	"reddwarf/infer/synth"
	"reddwarf/metalkit"
	"reddwarf/metalkit/cuda"
	"reddwarf/models"
)

// The seam path: a model on a device that is not a HostDevice runs
// llamadevice.go's forward through the Device ops, its KV pages in the
// device's pool. The tests run it on the CPU device seen through
// metalkit.DeviceOnly everywhere, so CI runs the path a GPU runs, and on
// the CUDA device where one is usable (bench/gpu-seam.sh runs them there
// with REDDWARF_GPU=1, which makes a missing GPU a failure); every result
// is compared with llama.Forward on the host (Model's own CPU path).

// onSeamDevices runs f as a subtest per device, with the bound on |Δ
// logit| between its seam path and the host path. On the CPU device the
// paths differ in the order of summation, RoPE's formulas and attention's
// kernel (AttendGroup on the host, the device's reference loop), and an
// f16 softmax weight may round one step apart: TestDeviceStoriesGreedy's
// 5e-2. On a GPU every kernel sums in its own order and the CPU path
// rounds activations to 8 bits for quantised weights: 0.5, as
// TestDeviceLlamaSpeed allows (a broken kernel gives O(1) differences).
func onSeamDevices(t *testing.T, f func(t *testing.T, d metalkit.Device, tol float64)) {
	t.Run("cpu", func(t *testing.T) { f(t, metalkit.DeviceOnly(metalkit.NewCPUDevice(nil)), 5e-2) })
	t.Run("cuda", func(t *testing.T) {
		d, err := cuda.Open(0)
		if err != nil {
			if os.Getenv("REDDWARF_GPU") == "1" {
				t.Fatalf("REDDWARF_GPU=1 but no device: %v", err)
			}
			t.Skipf("no CUDA device (%v): bench/gpu-seam.sh runs this on a GPU machine", err)
		}
		defer d.Close()
		f(t, d, 0.5)
	})
}

// openSeam opens the GGUF in data on d, a device that is not a HostDevice.
func openSeam(t testing.TB, d metalkit.Device, name string, data []byte, opt Options) *Model {
	t.Helper()
	opt.Device = d
	m, err := OpenBytes(name, data, opt)
	if err != nil {
		t.Fatal(err)
	}
	if m.fwd == nil {
		t.Fatalf("%s: not on the seam path", name)
	}
	return m
}

// closeLogits fails unless a and b are within tol everywhere.
func closeLogits(t testing.TB, tol float64, what string, a, b []float32) float64 {
	t.Helper()
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%s: %d and %d logits", what, len(a), len(b))
	}
	worst := 0.0
	for i := range a {
		e := math.Abs(float64(a[i] - b[i]))
		if e > tol || a[i] != a[i] {
			t.Fatalf("%s: logit %d: seam %v, host %v", what, i, a[i], b[i])
		}
		worst = max(worst, e)
	}
	return worst
}

// TestSeamStoriesGreedy: stories260K through Model.Step on the seam path,
// greedy from BOS, reproduces the published sample byte for byte (as
// TestStoriesGreedyGolden does for llama.Forward), each step's logits
// within the device's bound of the host path's; INFO's device says which
// device serves.
func TestSeamStoriesGreedy(t *testing.T) {
	want, err := os.ReadFile("testdata/stories260K-greedy256.txt")
	if err != nil {
		t.Fatal(err)
	}
	want = bytes.TrimSuffix(want, []byte("\n"))
	onSeamDevices(t, func(t *testing.T, d metalkit.Device, tol float64) {
		stories256(t, d, tol, want)
	})
}

func stories256(t *testing.T, d metalkit.Device, tol float64, want []byte) {
	m := openSeam(t, d, "stories", models.Stories260K, Options{})
	defer m.Close()
	host := openStories(t, "f16", 1)
	defer host.Close()
	if got := m.Info()[11]; got.Key != "device" || got.Value != d.Name() {
		t.Errorf("Info %v, want device %s", got, d.Name())
	}
	s, hs := m.NewState(), host.NewState()
	var got []byte
	worst := 0.0
	tok := int32(1)
	for step := 0; step < 256; step++ {
		if err := m.Step([]Seq{{s, []int32{tok}}}); err != nil {
			t.Fatal(err)
		}
		if err := host.Step([]Seq{{hs, []int32{tok}}}); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, closeLogits(t, tol, "step", s.Logits(), hs.Logits()))
		next := Argmax(s.Logits())
		if next == 1 {
			break
		}
		got = append(got, piece(m, tok, next)...)
		tok = next
	}
	t.Logf("%s: max |Δ logit| seam vs host %.3g", d.Name(), worst)
	if !bytes.Equal(got, want) {
		t.Errorf("greedy text differs\n got: %q\nwant: %q", got, want)
	}
}

// seamModels are the files the batch test runs: stories260K (llama, F16),
// the tiny synth llama in Q4_K (the layout the host path repacks, uploaded
// as the file has it) and the tiny synth qwen2 (Q/K/V biases), qwen3 (head
// norms) and phi3 (fused matrices) of TestArchsLlamaCpp.
func seamModels(t *testing.T) map[string][]byte {
	vocab, err := gguf.Parse(models.GPT2Vocab)
	if err != nil {
		t.Fatal(err)
	}
	var q4k bytes.Buffer
	if err := synth.Llama(&q4k, synth.Options{Shape: synth.Shapes["tiny"], Quant: gguf.TypeQ4_K, Vocab: vocab, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"llama": models.Stories260K, "llama-q4_k": q4k.Bytes()}
	for _, c := range archCases {
		if c.arch == "qwen2" || c.arch == "qwen3" || c.arch == "phi3" {
			files[c.arch] = synthArch(t, c)
		}
	}
	return files
}

// TestSeamBatchesMatchHost: three sessions in batches that mix prefill
// chunks (crossing pages) and decode tokens, on the seam path and on the
// host, fed the same tokens (the host's greedy choices): every session's
// logits agree within seamTol after every step, for each architecture of
// the llama family; and where the seam's greedy choice differs it is a
// near tie.
func TestSeamBatchesMatchHost(t *testing.T) {
	onSeamDevices(t, func(t *testing.T, d metalkit.Device, tol float64) {
		for arch, data := range seamModels(t) {
			t.Run(arch, func(t *testing.T) { seamBatches(t, d, tol, arch, data) })
		}
	})
}

func seamBatches(t *testing.T, d metalkit.Device, tol float64, arch string, data []byte) {
	m := openSeam(t, d, arch, data, Options{Ctx: 256})
	defer m.Close()
	host, err := OpenBytes(arch, data, Options{Ctx: 256, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	prompt := func(n, seed int) []int32 {
		p := make([]int32, n)
		for i := range p {
			p[i] = int32((i*7919 + seed*104729) % min(m.Vocab(), 500))
		}
		return p
	}
	ss := []*State{m.NewState(), m.NewState(), m.NewState()}
	hs := []*State{host.NewState(), host.NewState(), host.NewState()}
	worst := 0.0
	step := func(what string, toks [][]int32) {
		var b, hb []Seq
		for i, tk := range toks {
			if tk != nil {
				b, hb = append(b, Seq{ss[i], tk}), append(hb, Seq{hs[i], tk})
			}
		}
		if err := m.Step(b); err != nil {
			t.Fatal(err)
		}
		if err := host.Step(hb); err != nil {
			t.Fatal(err)
		}
		for i := range b {
			worst = max(worst, closeLogits(t, tol, what, b[i].State.Logits(), hb[i].State.Logits()))
		}
	}
	step("prefill 40 and 5", [][]int32{prompt(40, 1), prompt(5, 2), nil})
	next := func(i int) []int32 { return []int32{Argmax(hs[i].Logits())} }
	step("decode, prefill 30 and 3", [][]int32{next(0), prompt(30, 3), prompt(3, 4)})
	ties := 0
	for range 24 {
		for i := range ss {
			if a, b := Argmax(ss[i].Logits()), Argmax(hs[i].Logits()); a != b {
				if gap := float64(hs[i].Logits()[b] - hs[i].Logits()[a]); gap > 2*tol {
					t.Fatalf("session %d: seam chooses %d, host %d, %.3g apart", i, a, b, gap)
				}
				ties++
			}
		}
		step("decode", [][]int32{next(0), next(1), next(2)})
	}
	for i := range ss {
		if ss[i].Len() != hs[i].Len() || ss[i].Pages() != hs[i].Pages() {
			t.Errorf("session %d: %d tokens in %d pages, host %d in %d", i, ss[i].Len(), ss[i].Pages(), hs[i].Len(), hs[i].Pages())
		}
	}
	t.Logf("%s on %s: max |Δ logit| %.3g, %d near ties chosen differently", arch, d.Name(), worst, ties)
}

// greedy feeds tok and n-1 greedy choices after it to s on m, one token a
// step, and returns the n choices that followed each.
func greedy(t *testing.T, m *Model, s *State, n int) []int32 {
	t.Helper()
	var out []int32
	for range n {
		next := Argmax(s.Logits())
		out = append(out, next)
		if err := m.Step([]Seq{{s, []int32{next}}}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestSeamSessionsMoveBetweenPaths: a session made on the seam path and
// carried to the host path (and back) as the session store carries it —
// its full pages (AppendPagePayload, StateFromPages: SAVE and LOAD) or its
// rows and logits (AppendKVRows, RestoreStateRows: DUMP and RESTORE) —
// continues with the same greedy tokens as a session that never moved;
// a fork (Clone) on the seam path and its original each write their own
// copy of the page they share (copy-on-write on the device); and Rewind
// recomputes the logits there.
func TestSeamSessionsMoveBetweenPaths(t *testing.T) {
	onSeamDevices(t, seamSessions)
}

func seamSessions(t *testing.T, d metalkit.Device, tol float64) {
	seam := openSeam(t, d, "stories", models.Stories260K, Options{})
	defer seam.Close()
	host := openStories(t, "f16", 1)
	defer host.Close()
	prompt := []int32{1, 403, 407, 261, 378, 300, 289, 261, 420, 400}
	for len(prompt) < 45 {
		prompt = append(prompt, prompt[len(prompt)%10+1])
	}
	start := func(m *Model) *State {
		s := m.NewState()
		if err := m.Step([]Seq{{s, prompt}}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The reference: the host session that never moved.
	ref := start(host)
	want := greedy(t, host, ref, 40)

	pages := func(s *State) [][]byte {
		var out [][]byte
		for i := range s.FullPages() {
			b, err := s.AppendPagePayload(nil, i)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	rows := func(s *State) func(layer, kind int) ([]byte, KVType, error) {
		return func(layer, kind int) ([]byte, KVType, error) {
			b, err := s.AppendKVRows(nil, layer, kind, 0, s.Len())
			return b, KVF16, err
		}
	}
	for _, dir := range []struct{ from, to *Model }{{seam, host}, {host, seam}} {
		name := "seam to host"
		if dir.from == host {
			name = "host to seam"
		}
		// SAVE/LOAD: the full pages, then the tail's tokens fed again.
		src := start(dir.from)
		first := greedy(t, dir.from, src, 5)
		toks := src.Tokens()
		dst, err := dir.to.StateFromPages(toks, pages(src))
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.to.Step([]Seq{{dst, toks[dst.Len():]}}); err != nil {
			t.Fatal(err)
		}
		got := append(first, greedy(t, dir.to, dst, 35)...)
		if !equal32(got, want) {
			t.Errorf("%s by pages: greedy %v\nwant %v", name, got, want)
		}
		// DUMP/RESTORE: every row and the logits.
		src = start(dir.from)
		first = greedy(t, dir.from, src, 7)
		dst, err = dir.to.RestoreStateRows(src.Tokens(), src.Logits(), rows(src))
		if err != nil {
			t.Fatal(err)
		}
		got = append(first, greedy(t, dir.to, dst, 33)...)
		if !equal32(got, want) {
			t.Errorf("%s by rows: greedy %v\nwant %v", name, got, want)
		}
		src.Release()
		dst.Release()
	}

	// KVRow reads one row back from the device: the host's row, within
	// the bound.
	{
		s, hs := start(seam), start(host)
		w := s.Layout().Width()
		got, want := make([]float32, w), make([]float32, w)
		for _, at := range [][3]int{{0, 0, 0}, {2, 1, 40}, {4, 0, 44}} {
			if err := s.KVRow(at[0], at[1], at[2], got); err != nil {
				t.Fatal(err)
			}
			if err := hs.KVRow(at[0], at[1], at[2], want); err != nil {
				t.Fatal(err)
			}
			closeLogits(t, tol, fmt.Sprintf("KVRow layer %d kind %d position %d", at[0], at[1], at[2]), got, want)
		}
	}

	// FORK on the seam path at 45 tokens (a shared, partial last page):
	// the fork goes its own way, then the original continues as if
	// never forked.
	s := start(seam)
	f := s.Clone()
	if err := seam.Step([]Seq{{f, []int32{500, 501, 502}}}); err != nil {
		t.Fatal(err)
	}
	hf := start(host)
	if err := host.Step([]Seq{{hf, []int32{500, 501, 502}}}); err != nil {
		t.Fatal(err)
	}
	closeLogits(t, tol, "fork", f.Logits(), hf.Logits())
	if got := greedy(t, seam, s, 40); !equal32(got, want) {
		t.Errorf("original after a fork: greedy %v\nwant %v", got, want)
	}
	// The original wrote its own rows over positions 45-47: the fork's
	// must be where they were.
	if err := seam.Step([]Seq{{f, []int32{503}}}); err != nil {
		t.Fatal(err)
	}
	if err := host.Step([]Seq{{hf, []int32{503}}}); err != nil {
		t.Fatal(err)
	}
	closeLogits(t, tol, "fork after the original went on", f.Logits(), hf.Logits())
	// Rewind to 45 tokens recomputes the logits on the device.
	if err := seam.Rewind(s, 45); err != nil {
		t.Fatal(err)
	}
	if got := greedy(t, seam, s, 40); !equal32(got, want) {
		t.Errorf("after Rewind: greedy %v\nwant %v", got, want)
	}
}

// TestSeamKVPoolFull: a device's KV pool of DeviceKVBytes refuses a
// step that needs more (ErrKVFull, the state unchanged); pages come back
// when a State is released (Info counts them), and when one is dropped
// without Release (the collector's cleanup).
func TestSeamKVPoolFull(t *testing.T) {
	onSeamDevices(t, seamPoolFull)
}

func seamPoolFull(t *testing.T, d metalkit.Device, _ float64) {
	page := openStories(t, "f16", 1).Arch().KVLayout().PageBytes()
	m := openSeam(t, d, "stories", models.Stories260K, Options{DeviceKVBytes: 3*page + page/2}) // 3 pages
	defer m.Close()
	toks := make([]int32, 64)
	for i := range toks {
		toks[i] = int32(300 + i)
	}
	a, b := m.NewState(), m.NewState()
	if err := m.Step([]Seq{{a, toks}}); err != nil { // 2 pages
		t.Fatal(err)
	}
	err := m.Step([]Seq{{b, toks}})
	if !errors.Is(err, ErrKVFull) {
		t.Fatalf("a step past the pool: err %v, want ErrKVFull", err)
	}
	if b.Len() != 0 || b.Pages() != 0 || m.kv.Free() != 1 {
		t.Fatalf("after the refusal: %d tokens, %d pages, %d free; want 0, 0, 1", b.Len(), b.Pages(), m.kv.Free())
	}
	a.Release()
	if m.kv.Free() != 3 {
		t.Fatalf("after Release: %d pages free, want 3", m.kv.Free())
	}
	if info := m.Info(); len(info) != 14 || info[12] != (Field{"device_kv_pages", 3}) || info[13] != (Field{"device_kv_pages_free", 3}) {
		t.Errorf("Info ends %v, want device_kv_pages 3, device_kv_pages_free 3", info[12:])
	}
	if err := m.Step([]Seq{{b, toks}}); err != nil {
		t.Fatal(err)
	}
	b = nil // dropped without Release: the collector returns its pages
	runtime.GC()
	c := m.NewState()
	if err := m.Step([]Seq{{c, toks}}); err != nil {
		t.Fatalf("after a dropped state: %v", err)
	}
}
