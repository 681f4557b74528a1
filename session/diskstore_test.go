package session

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"reddwarf/infer"
	"reddwarf/models"
	"reddwarf/persist/store"
	"reddwarf/rdb"
)

// greedySteps decodes n tokens from st one step at a time, as GEN with
// TEMPERATURE 0 does, calling after (if set) after each step.
func greedySteps(t *testing.T, m *infer.Model, st *infer.State, n int, after func()) []int32 {
	t.Helper()
	var out []int32
	for i := 0; i < n; i++ {
		tok := infer.Argmax(st.Logits())
		if err := m.Step([]infer.Seq{{State: st, Tokens: []int32{tok}}}); err != nil {
			t.Fatal(err)
		}
		out = append(out, tok)
		if after != nil {
			after()
		}
	}
	return out
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestStoreContinuesExactly: a session generated step by step with its
// pages and tokens logged to a store (fsync always), the store closed
// and opened again, is rebuilt from its stored pages plus at most one
// page of prefill — and its logits and greedy continuation are bit for
// bit those of the session that never left memory. Lengths ending inside
// a page and on a page boundary; a damaged page is recomputed.
func TestStoreContinuesExactly(t *testing.T) {
	for _, kv := range []string{"f16", "f32"} {
		for _, extra := range []int{13, 2*infer.PageTokens - 40} {
			t.Run(fmt.Sprintf("%s/len%d", kv, 40+extra), func(t *testing.T) {
				testStoreContinues(t, kv, extra, false)
			})
		}
		t.Run(kv+"/damaged-page", func(t *testing.T) { testStoreContinues(t, kv, 2*infer.PageTokens-30, true) })
	}
}

func testStoreContinues(t *testing.T, kv string, gen int, damage bool) {
	m, err := infer.OpenBytes("stories260K", models.Stories260K, infer.Options{Threads: 2, Ctx: 512, KVType: kv})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := StoreModel(m)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ds, err := store.Open(store.Options{Dir: dir, Fsync: store.FsyncAlways, Model: sm}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("s")
	prompt := []int32{1}
	for i := 0; len(prompt) < 40; i++ {
		prompt = append(prompt, int32(100+7*i%400))
	}
	st := m.NewState()
	stored := 0
	// logStep logs what a step added: the new tokens, the pages that
	// became full; flushed (and fsynced) as before a reply.
	logged := 0
	logStep := func() {
		rec := rdb.AppendTokensRecord(nil, key, st.Tokens()[logged:])
		logged = st.Len()
		var err error
		if rec, stored, err = StorePages(ds, sm, rec, key, st, stored); err != nil {
			t.Fatal(err)
		}
		ds.Append(rec)
		if err := ds.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Step([]infer.Seq{{State: st, Tokens: prompt}}); err != nil {
		t.Fatal(err)
	}
	logStep()
	greedySteps(t, m, st, gen, logStep)
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}
	// What the session does next if nothing happens to it.
	fork := st.Clone()
	wantLogits := slices.Clone(fork.Logits())
	want := greedySteps(t, m, fork, 40, nil)

	if damage {
		man, _ := os.ReadFile(filepath.Join(dir, "appendonly.aof.manifest"))
		mf, _ := rdb.ParseManifest(man, "m")
		seg := filepath.Join(dir, mf.Of(rdb.ManifestSegment)[0].Name)
		b, _ := os.ReadFile(seg)
		b[rdb.SegmentHeader+rdb.PageHeader+4*infer.PageTokens+100] ^= 1 // page 0's payload
		os.WriteFile(seg, b, 0o644)
	}
	ks := store.NewKeyspace(infer.PageTokens)
	ds, err = store.Open(store.Options{Dir: dir, Model: sm}, ks.Apply)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	d := ks.DBs[0]["s"]
	if d == nil || !slices.Equal(d.Tokens, st.Tokens()) {
		t.Fatalf("replayed session %+v, want %d tokens", d, st.Len())
	}
	got, fed, err := RestoreState(m, ds, sm, d)
	if err != nil {
		t.Fatal(err)
	}
	maxFed := infer.PageTokens
	if damage {
		maxFed = st.Len()
	}
	if damage && ds.Stats().PagesCorrupt != 1 {
		t.Errorf("%d damaged pages found, want 1", ds.Stats().PagesCorrupt)
	}
	if fed < 1 || fed > maxFed {
		t.Errorf("fed %d tokens to rebuild %d, want 1..%d", fed, st.Len(), maxFed)
	}
	if !sameBits(got.Logits(), wantLogits) {
		t.Fatal("rebuilt logits differ from the session's")
	}
	if cont := greedySteps(t, m, got, 40, nil); !slices.Equal(cont, want) {
		t.Fatalf("rebuilt session continues %v, the session itself %v", cont, want)
	}
	t.Logf("%d tokens, %d from stored pages, %d fed; page reads %d", st.Len(), st.Len()-fed, fed, ds.Stats().PageReads)
}

// TestStoredPrefixAfterRestart: after the store is closed and opened
// again (a restart), a prompt that starts like a stored session takes
// those pages from disk, and the prefill that continues from them gives
// bit for bit the logits of a cold prefill.
func TestStoredPrefixAfterRestart(t *testing.T) {
	m, err := infer.OpenBytes("stories260K", models.Stories260K, infer.Options{Threads: 2, Ctx: 512})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := StoreModel(m)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ds, err := store.Open(store.Options{Dir: dir, Model: sm}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var a []int32
	for i := 0; i < 200; i++ {
		a = append(a, int32(1+(i*37)%500))
	}
	st := m.NewState()
	if err := m.Step([]infer.Seq{{State: st, Tokens: a}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := StorePages(ds, sm, nil, []byte("a"), st, 0); err != nil {
		t.Fatal(err)
	}
	ds.Close()

	ds, err = store.Open(store.Options{Dir: dir, Model: sm}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	prompt := append(slices.Clone(a[:150]), 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
	got, n, err := LookupStored(m, ds, prompt, len(prompt)-1)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4*infer.PageTokens {
		t.Fatalf("%d tokens from disk, want %d (the stored pages the prompt starts with)", n, 4*infer.PageTokens)
	}
	if err := m.Step([]infer.Seq{{State: got, Tokens: prompt[n:]}}); err != nil {
		t.Fatal(err)
	}
	cold := m.NewState()
	if err := m.Step([]infer.Seq{{State: cold, Tokens: prompt}}); err != nil {
		t.Fatal(err)
	}
	if !sameBits(got.Logits(), cold.Logits()) {
		t.Fatal("logits after the stored prefix differ from a cold prefill")
	}
	if none, n, _ := LookupStored(m, ds, []int32{3, 3, 3}, 3); none != nil || n != 0 {
		t.Errorf("a prompt nothing stored starts with found %d tokens", n)
	}
}
