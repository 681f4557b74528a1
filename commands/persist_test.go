package commands

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/cespare/xxhash/v2"

	"reddwarf/infer"
	"reddwarf/models"
	"reddwarf/persist"
	"reddwarf/rdb"
	"reddwarf/server"
	"reddwarf/session"
)

// sessionDump makes a model, a codec for it, and the DUMP payload of a
// short session.
func sessionDump(t testing.TB) (persist.SessionCodec, []byte) {
	t.Helper()
	m, err := infer.OpenBytes("stories260K", models.Stories260K, infer.Options{Threads: 1, Ctx: 256})
	if err != nil {
		t.Fatal(err)
	}
	live := session.NewSessions()
	c, err := session.NewCodec(m, live)
	if err != nil {
		t.Fatal(err)
	}
	st := m.NewState()
	if err := m.Step([]infer.Seq{{State: st, Tokens: []int32{1, 400, 50, 7, 9}}}); err != nil {
		t.Fatal(err)
	}
	s := live.New(st, 7)
	s.SetCheckpoint("c")
	o := server.NewValue(server.TypeKVState, s)
	p, err := dumpObject(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

func resealDump(b []byte) []byte {
	if len(b) < 8 {
		return b
	}
	binary.LittleEndian.PutUint64(b[len(b)-8:], xxhash.Sum64(b[:len(b)-8]))
	return b
}

func corrupt(rng *rand.Rand, b []byte) []byte {
	c := append([]byte(nil), b...)
	switch rng.IntN(3) {
	case 0:
		for n := 1 + rng.IntN(4); n > 0; n-- {
			c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
		}
	case 1:
		c = c[:rng.IntN(len(c))]
	case 2:
		c = append(c, byte(rng.IntN(256)))
	}
	if bytes.Equal(c, b) {
		c = c[:len(c)-1]
	}
	return c
}

// TestRestoreCorruptPayloads: 1,000 corrupted or truncated DUMP payloads
// of a session and of a string are all refused with Redis's error, and
// the same with the checksum recomputed (so the decoders' own checks are
// hit) never panic and never give a partial value.
func TestRestoreCorruptPayloads(t *testing.T) {
	codec, good := sessionDump(t)
	if o, err := restoreObject(nil, codec, good); err != nil || o.Type != server.TypeKVState {
		t.Fatalf("good payload: %v", err)
	}
	str := rdb.DumpString([]byte("a string value"))
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 1000; i++ {
		src := good
		if i%4 == 0 {
			src = str
		}
		b := corrupt(rng, src)
		if _, err := restoreObject(nil, codec, b); err != errDumpPayload {
			t.Fatalf("case %d: %v, want %v", i, err, errDumpPayload)
		}
		if o, err := restoreObject(nil, codec, resealDump(b)); err == nil {
			// Accepted after resealing: a complete value that dumps again.
			if _, err := dumpObject(codec, o); err != nil {
				t.Fatalf("case %d: restored value does not dump: %v", i, err)
			}
			if o.Val != nil {
				o.Val.Release()
			}
		}
	}
}

func FuzzRestore(f *testing.F) {
	codec, good := sessionDump(f)
	f.Add(good)
	f.Add(rdb.DumpString([]byte("x")))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range [][]byte{b, resealDump(append([]byte(nil), b...))} {
			o, err := restoreObject(nil, codec, p)
			if err != nil {
				continue
			}
			again, err := dumpObject(codec, o)
			if err != nil {
				t.Fatal(err)
			}
			if o.Type == server.TypeString && !bytes.Equal(again, p) {
				t.Fatal("string payload does not round-trip")
			}
			if o.Val != nil {
				o.Val.Release()
			}
		}
	})
}
