package persist

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"reddwarf/infer"
	"reddwarf/models"
	"reddwarf/server"
	"reddwarf/session"
)

// benchKeyspace fills a server with n sessions of 2,000 tokens (each a
// fork of one prefilled state: the snapshot writes every one in full) and
// returns its persistence.
func benchKeyspace(b *testing.B, n int) (*Engine, int64) {
	m, err := infer.OpenBytes("stories260K", models.Stories260K, infer.Options{Ctx: 2048})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	live := session.NewSessions()
	c, err := session.NewCodec(m, live)
	if err != nil {
		b.Fatal(err)
	}
	st := m.NewState()
	toks := make([]int32, 2000)
	for i := range toks {
		toks[i] = int32(1 + (i*7919)%(m.Vocab()-1))
	}
	for i := 0; i < len(toks); i += 500 {
		if err := m.Step([]infer.Seq{{State: st, Tokens: toks[i : i+500]}}); err != nil {
			b.Fatal(err)
		}
	}
	cfg := server.NewConfig()
	cfg.Dir = b.TempDir()
	if d := os.Getenv("RDB_BENCH_DIR"); d != "" {
		cfg.Dir = d
	}
	srv := server.New(cfg)
	for i := 0; i < n; i++ {
		srv.DBs[0].Set(fmt.Sprintf("s:%d", i), server.NewValue(server.TypeKVState, live.New(st.Clone(), 1)), false)
	}
	p := New(srv, c)
	items, _, err := p.takeView()
	if err != nil {
		b.Fatal(err)
	}
	if err := writeView(p.Path(), items, p.aux(), nil, nil); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(p.Path())
	return p, fi.Size()
}

// BenchmarkSaveSessions: SAVE of 200 sessions of 2,000 tokens (view,
// encode, write, fsync, rename).
func BenchmarkSaveSessions(b *testing.B) {
	p, size := benchKeyspace(b, 200)
	b.SetBytes(size)
	for b.Loop() {
		if err := p.Save(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadSessions: start-up load of the same snapshot and the
// first access of every session (read, verify, decode, rebuild pages).
func BenchmarkLoadSessions(b *testing.B) {
	p, size := benchKeyspace(b, 200)
	b.SetBytes(size)
	for b.Loop() {
		srv := server.New(p.s.Config)
		q := New(srv, p.codec)
		if _, err := q.loadSnapshot(filepath.Join(p.s.Config.Dir, p.s.Config.Get("dbfilename"))); err != nil {
			b.Fatal(err)
		}
		srv.DBs[0].Dict(func(key string, o *server.Object, _ int64) bool {
			v, err := o.Val.(server.Lazy).Materialize()
			if err != nil {
				b.Fatal(err)
			}
			v.Release()
			return true
		})
	}
}
