package store

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"reddwarf/rdb"
)

// The kill -9 test runs the writer in a child process (this test binary
// again, with crashChildEnv set): it opens the store, continues every
// session from what the store replayed, and prints "ack key n" after
// each Flush returned (a reply leaving), while rewrites run now and
// then. The parent kills it with SIGKILL at a random moment, opens the
// store, and checks that every acknowledged token is there, that no
// session holds a token it was not given, and that every stored page
// has the bytes it was written with. Twenty rounds on one store, each
// continuing where the last was killed.

const crashChildEnv = "REDDWARF_STORE_CRASH_CHILD"

// crashToken is the token at position i of session key: the parent can
// check any replayed prefix without the child telling it.
func crashToken(key string, i int) int32 {
	h := uint32(2166136261)
	for _, c := range []byte(key) {
		h = (h ^ uint32(c)) * 16777619
	}
	return int32((h ^ uint32(i)*2654435761) % 30000)
}

func crashPayload(tokens []int32, depth int) []byte {
	b := make([]byte, 700)
	for i := range b {
		b[i] = byte(int(tokens[i%len(tokens)]) + i + depth)
	}
	return b
}

func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("run by TestKill9 in a child process")
	}
	dir, policy, _ := strings.Cut(spec, ",")
	fsync, _ := ParseFsync(policy)
	ks := NewKeyspace(testPageTokens)
	s, err := Open(Options{Dir: dir, Fsync: fsync, Model: testModel, SegmentMax: 16 << 10, RewriteRate: 4 << 20}, ks.Apply)
	if err != nil {
		fmt.Println("open failed:", err)
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	sessions := ks.dbMap()
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	var rw *Rewrite
	for step := 0; ; step++ {
		key := keys[rng.IntN(len(keys))]
		sess := sessions[key]
		if sess == nil {
			sess = &Session{}
			sessions[key] = sess
		}
		// One GEN step: 1..20 tokens, the pages that filled.
		n := 1 + rng.IntN(20)
		var toks []int32
		for i := 0; i < n; i++ {
			toks = append(toks, crashToken(key, len(sess.Tokens)+i))
		}
		rec := rdb.AppendTokensRecord(nil, []byte(key), toks)
		sess.Tokens = append(sess.Tokens, toks...)
		full := len(sess.Tokens) / testPageTokens
		if full > sess.Stored {
			hs := ChainHashes(sess.Tokens[:full*testPageTokens], testPageTokens)
			for i := sess.Stored; i < full; i++ {
				parent := uint64(0)
				if i > 0 {
					parent = hs[i-1]
				}
				page := sess.Tokens[i*testPageTokens : (i+1)*testPageTokens]
				if _, err := s.PutPage(&rdb.PageRecord{PageKey: rdb.PageKey{Hash: hs[i], Fingerprint: testModel.Fingerprint, Kind: testModel.PageKind}, Parent: parent, Depth: uint32(i), Tokens: page, Payload: crashPayload(page, i)}); err != nil {
					fmt.Println("put page:", err)
					os.Exit(3)
				}
			}
			rec = rdb.PagesRecord(rec, []byte(key), sess.Stored, hs[sess.Stored:])
			sess.Stored = full
		}
		s.Append(rec)
		if err := s.Flush(); err != nil {
			fmt.Println("flush:", err)
			os.Exit(3)
		}
		fmt.Fprintf(out, "ack %s %d\n", key, len(sess.Tokens))
		out.Flush()
		// Now and then a rewrite: begun, written a little at a time
		// while steps go on, committed.
		switch {
		case rw == nil && step%97 == 50:
			if rw, err = s.BeginRewrite(); err != nil {
				fmt.Println("rewrite:", err)
				os.Exit(3)
			}
			for k, sess := range sessions {
				rw.Append(sess.Records(nil, []byte(k), testPageTokens))
			}
		case rw != nil && step%97 == 80:
			if err := rw.Commit(); err != nil {
				fmt.Println("commit:", err)
				os.Exit(3)
			}
			rw = nil
		}
	}
}

func TestKill9(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("child")
	}
	for _, policy := range []string{"always", "everysec"} {
		t.Run(policy, func(t *testing.T) { kill9Rounds(t, policy) })
	}
}

func kill9Rounds(t *testing.T, policy string) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(11, 12))
	acked := map[string]int{}
	rewrites, lastBase := 0, uint64(1) // rewrites committed across the rounds
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir+","+policy)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		kill := time.After(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		killed := false
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				f := strings.Fields(l)
				if len(f) == 3 && f[0] == "ack" {
					n, _ := strconv.Atoi(f[2])
					acked[f[1]] = n
				} else if strings.Contains(l, "failed") || strings.HasPrefix(l, "flush") || strings.HasPrefix(l, "put page") || strings.HasPrefix(l, "rewrite") || strings.HasPrefix(l, "commit") {
					t.Fatalf("round %d: child: %s", round, l)
				}
			case <-kill:
				if !killed {
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d: the child exited by itself", round)
		}
		// Everything acknowledged is there; nothing else is.
		ks := NewKeyspace(testPageTokens)
		var log bytes.Buffer
		s, err := Open(Options{Dir: dir, Model: testModel, Fsync: FsyncNo, Logf: func(f string, a ...any) { fmt.Fprintf(&log, f+"\n", a...) }}, ks.Apply)
		if err != nil {
			t.Fatalf("round %d: open after kill -9: %v", round, err)
		}
		for key, n := range acked {
			sess := ks.DBs[0][key]
			if sess == nil || len(sess.Tokens) < n {
				t.Fatalf("round %d: session %s: %d tokens acknowledged, %v replayed", round, key, n, sess)
			}
			for i, tok := range sess.Tokens {
				if tok != crashToken(key, i) {
					t.Fatalf("round %d: session %s token %d is %d, not the one written", round, key, i, tok)
				}
			}
			acked[key] = len(sess.Tokens) // a step flushed but not yet acked also counts now
			for i, k := range s.PageKeys(sess.Tokens[:sess.Stored*testPageTokens]) {
				p, err := s.ReadPage(k)
				if err != nil {
					t.Fatalf("round %d: session %s page %d: %v", round, key, i, err)
				}
				if !bytes.Equal(p.Payload, crashPayload(p.Tokens, i)) {
					t.Fatalf("round %d: session %s page %d: wrong bytes", round, key, i)
				}
			}
		}
		st := s.Stats()
		s.Close()
		if m, err := os.ReadFile(dir + "/appendonly.aof.manifest"); err == nil {
			if man, err := rdb.ParseManifest(m, "m"); err == nil {
				if b, ok := man.Base(); ok && b.Seq != lastBase {
					rewrites, lastBase = rewrites+1, b.Seq
				}
			}
		}
		if round == rounds-1 {
			total := 0
			for _, n := range acked {
				total += n
			}
			t.Logf("%d rounds: %d tokens in %d sessions, %d segments, %d rewrites committed, repairs: %q", rounds, total, len(acked), st.Segments, rewrites, strings.TrimSpace(log.String()))
		}
	}
	if err := Check(dir, "", &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
}
