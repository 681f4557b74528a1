package redistests

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// `device cpu-seam` runs the model through the metalkit.Device ops with
// its KV pages in the device's pool, as `device cuda` does on a GPU, but on
// the CPU device: these tests run that path in the real binary and compare
// every greedy text with a server on the normal CPU path. stories260K's
// greedy choices are the same on both paths (infer's TestSeamStoriesGreedy).

// greedyGen is GEN key prompt, greedy, n tokens.
func greedyGen(t *testing.T, c doer, key, prompt string, n int) string {
	t.Helper()
	return pstr(t, c, "GEN", key, prompt, "MAXTOKENS", fmt.Sprint(n), "TEMPERATURE", "0")
}

// TestSeamServerGenForkDumpRestore: on a cpu-seam server, INFO model says
// which device serves; GEN, concurrent GENs (batched together), FORK and
// a continuation after it give the CPU server's texts; a session DUMPed on
// one server and RESTOREd on the other continues with the same text both
// ways; a BGSAVE runs beside a GEN; and sessions SAVEd on the seam server
// read and continue the same after a restart.
func TestSeamServerGenForkDumpRestore(t *testing.T) {
	dir := t.TempDir()
	seamSrv := startIn(t, dir, "--device", "cpu-seam")
	seam := cli(t, seamSrv)
	cpu := cli(t, startIn(t, t.TempDir(), "--device", "cpu"))
	if got := infoField(t, seam, "model", "device"); got != "cpu (seam)" {
		t.Fatalf("INFO model device %q, want cpu (seam)", got)
	}
	if got := infoField(t, cpu, "model", "device"); got != "cpu" {
		t.Fatalf("the CPU server's INFO model device %q", got)
	}
	both := func(f func(c doer) string) string {
		t.Helper()
		a, b := f(seam), f(cpu)
		if a != b {
			t.Fatalf("seam %q\n cpu %q", a, b)
		}
		return a
	}

	both(func(c doer) string { return greedyGen(t, c, "s", "Once upon a time", 60) })

	// Concurrent GENs: the engine steps them in shared batches (one
	// session's prefill beside the others' decode tokens).
	prompts := []string{"The dog", "Lily wanted to play with her ball in the park", "Tom", "A big red"}
	cpuText := map[string]string{}
	for i, p := range prompts {
		cpuText[p] = greedyGen(t, cpu, fmt.Sprint("c", i), p, 40)
	}
	var wg sync.WaitGroup
	got := make([]string, len(prompts))
	errs := make([]error, len(prompts))
	for i, p := range prompts {
		wg.Go(func() {
			got[i], errs[i] = seam.Do(ctx, "GEN", fmt.Sprint("c", i), p, "MAXTOKENS", "40", "TEMPERATURE", "0").Text()
		})
	}
	wg.Wait()
	for i, p := range prompts {
		if errs[i] != nil || got[i] != cpuText[p] {
			t.Errorf("concurrent GEN %q on the seam: %q (%v), CPU %q", p, got[i], errs[i], cpuText[p])
		}
	}

	// FORK: the fork and the original go their own ways.
	both(func(c doer) string {
		do(t, c, "PREFILL", "sys", "Once upon a time there was a little girl named Lily. She loved to play outside.")
		do(t, c, "FORK", "sys", "b")
		return greedyGen(t, c, "b", " One day", 30) + "|" + greedyGen(t, c, "sys", " The cat", 30) + "|" + greedyGen(t, c, "b", "", 10)
	})

	// DUMP on one, RESTORE on the other, continue on both.
	for _, mv := range []struct {
		name     string
		from, to doer
	}{{"seam to cpu", seam, cpu}, {"cpu to seam", cpu, seam}} {
		payload := pstr(t, mv.from, "DUMP", "b")
		want(t, mv.to, "OK", "RESTORE", "moved", "0", payload)
		if a, b := greedyGen(t, mv.to, "moved", " Then", 25), greedyGen(t, mv.from, "b", " Then", 25); a != b {
			t.Errorf("%s: the restored session continues %q, the original %q", mv.name, a, b)
		}
		do(t, mv.to, "DEL", "moved")
	}

	// BGSAVE while a GEN runs: the snapshot's pages are read back on
	// another goroutine than the steps'.
	done := make(chan error, 1)
	go func() {
		done <- seam.Do(ctx, "GEN", "long", "The little dog", "MAXTOKENS", "150", "TEMPERATURE", "0").Err()
	}()
	time.Sleep(20 * time.Millisecond)
	want(t, seam, "Background saving started", "BGSAVE")
	waitBgsave(t, seam)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	greedyGen(t, cpu, "long", "The little dog", 150)

	// SAVE, restart, continue.
	cont := greedyGen(t, cpu, "sys", " So", 20)
	want(t, seam, "OK", "SAVE")
	seamSrv.stop()
	seam = cli(t, startIn(t, dir, "--device", "cpu-seam"))
	if got := greedyGen(t, seam, "sys", " So", 20); got != cont {
		t.Errorf("after SAVE and a restart the seam continues %q, the CPU server %q", got, cont)
	}
	if a, b := pstr(t, seam, "TEXT", "long"), pstr(t, cpu, "TEXT", "long"); a != b {
		t.Errorf("after a restart the seam's long session reads %q, the CPU server's %q", a, b)
	}
}

// TestSeamServerKVPoolFull: device-kv-memory sizes the device's KV pool
// (INFO model says how many pages it holds and how many are free); a GEN
// that needs more than it holds fails with an error that says so, and the
// session is as it was; deleting a session gives its pages back.
func TestSeamServerKVPoolFull(t *testing.T) {
	// stories260K's page (32 positions of 5 layers' K and V rows, f16) is
	// 20 KiB: 4 pages and a half.
	c := cli(t, startIn(t, t.TempDir(), "--device", "cpu-seam", "--device-kv-memory", "90kb"))
	if got := infoField(t, c, "model", "device_kv_pages"); got != "4" {
		t.Fatalf("INFO model device_kv_pages %s, want 4", got)
	}
	greedyGen(t, c, "a", "Once upon a time", 20)
	if got := infoField(t, c, "model", "device_kv_pages_free"); got != "3" {
		t.Errorf("INFO model device_kv_pages_free %s after a 25-token session, want 3", got)
	}
	toks := pstr(t, c, "TOKENS", "a")
	wantErrPrefix(t, c, "ERR infer: the device's KV pool is full", "GEN", "a", longPrompt, "MAXTOKENS", "5")
	if got := pstr(t, c, "TOKENS", "a"); got != toks {
		t.Errorf("after the failed GEN the session's tokens are %s, before %s", got, toks)
	}
	want(t, c, int64(1), "DEL", "a")
	greedyGen(t, c, "b", "The dog", 100)
}
