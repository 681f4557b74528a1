package server

import (
	"errors"
	"slices"
	"testing"
)

// Every kind of hook is called on every registered subsystem, in
// registration order, with the documented rule for combining them.
func TestHooksInRegistrationOrder(t *testing.T) {
	s := newTestServer(t)
	var calls []string
	errA, errB := errors.New("a refuses"), errors.New("b refuses")
	refuse := map[string]bool{}
	hooks := func(name string, err error) Hooks {
		return Hooks{
			Name: name,
			Cron: func() { calls = append(calls, "cron "+name) },
			Gate: func(*Client, *Spec, [][]byte) error {
				calls = append(calls, "gate "+name)
				if refuse[name] {
					return err
				}
				return nil
			},
			Shutdown: func(bool) error {
				calls = append(calls, "shutdown "+name)
				if refuse[name] {
					return err
				}
				return nil
			},
			Info: func(section string) []string {
				if section == name || section == "shared" {
					return []string{"from:" + name}
				}
				return nil
			},
			InfoNames:  []string{name},
			FreeMemory: func() int64 { return int64(len(name)) },
		}
	}
	s.Register(hooks("a", errA))
	s.Register(hooks("bb", errB))

	s.cronHooks()
	if want := []string{"cron a", "cron bb"}; !slices.Equal(calls, want) {
		t.Fatalf("cron calls %v, want %v", calls, want)
	}
	calls = nil
	c := &Client{DB: s.DBs[0]}
	if err := s.gate(c, &Spec{Name: "x"}, nil); err != nil || !slices.Equal(calls, []string{"gate a", "gate bb"}) {
		t.Fatalf("gate: %v after %v", err, calls)
	}
	// The first refusal wins and the subsystems after it are not asked.
	refuse["a"], refuse["bb"] = true, true
	calls = nil
	if err := s.gate(c, &Spec{Name: "x"}, nil); err != errA || !slices.Equal(calls, []string{"gate a"}) {
		t.Fatalf("gate: %v after %v, want %v after gate a", err, calls, errA)
	}
	calls = nil
	if err := s.shutdownHooks(true); err != errA || !slices.Equal(calls, []string{"shutdown a"}) {
		t.Fatalf("shutdown: %v after %v", err, calls)
	}
	refuse["a"] = false
	calls = nil
	if err := s.shutdownHooks(true); err != errB || !slices.Equal(calls, []string{"shutdown a", "shutdown bb"}) {
		t.Fatalf("shutdown: %v after %v", err, calls)
	}
	if got := s.infoHook("shared"); !slices.Equal(got, []string{"from:a"}) {
		t.Errorf("INFO shared from %v, want the first registered", got)
	}
	if got := s.infoHook("bb"); !slices.Equal(got, []string{"from:bb"}) {
		t.Errorf("INFO bb from %v", got)
	}
	if got := s.infoHook("none"); got != nil {
		t.Errorf("INFO none: %v", got)
	}
	if got := s.infoNames(); !slices.Equal(got, []string{"a", "bb"}) {
		t.Errorf("INFO names %v", got)
	}
	if n := s.freeMemoryHooks(); n != 3 {
		t.Errorf("freed %d bytes, want 1+2", n)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice did not panic")
		}
	}()
	s.Register(Hooks{Name: "a"})
}

// The BUSY rule: while a subsystem has work, a write to a key it reports
// busy is refused, unless the command queues behind the job; reads pass.
func TestBusyGate(t *testing.T) {
	s := newTestServer(t)
	working := true
	s.Register(Hooks{
		HasWork: func() bool { return working },
		Step:    func() {},
		KeyBusy: func(db *DB, key string) bool { return key == "busy" },
	})
	c := &Client{DB: s.DBs[0]}
	write := &Spec{Name: "set", Arity: -3, Flags: FlagWrite, FirstKey: 1, LastKey: 1, Step: 1}
	queues := &Spec{Name: "gen", Arity: -3, Flags: FlagWrite | FlagQueueBehindJob, FirstKey: 1, LastKey: 1, Step: 1}
	read := &Spec{Name: "get", Arity: 2, Flags: FlagReadonly, FirstKey: 1, LastKey: 1, Step: 1}
	args := func(key string) [][]byte { return [][]byte{[]byte("x"), []byte(key), []byte("v")} }

	err := s.gates(c, write, args("busy"))
	if err == nil || ErrorCode(err) != "BUSY" {
		t.Fatalf("write to a busy key: %v, want -BUSY", err)
	}
	for _, tc := range []struct {
		spec *Spec
		key  string
	}{{write, "free"}, {queues, "busy"}, {read, "busy"}} {
		if err := s.gates(c, tc.spec, args(tc.key)); err != nil {
			t.Errorf("%s %s: %v", tc.spec.Name, tc.key, err)
		}
	}
	// Keys are busy only while there is work: the gate asks nothing then.
	working = false
	if err := s.gates(c, write, args("busy")); err != nil {
		t.Errorf("write with no work pending: %v", err)
	}
}

// Commands flagged FlagModel run only once a subsystem serving a model is
// registered.
func TestModelGate(t *testing.T) {
	s := newTestServer(t)
	c := &Client{DB: s.DBs[0]}
	spec := &Spec{Name: "tokenize", Arity: 2, Flags: FlagReadonly | FlagModel}
	args := [][]byte{[]byte("tokenize"), []byte("hi")}
	if err := s.gates(c, spec, args); err != errNoModel {
		t.Fatalf("without a model: %v, want %v", err, errNoModel)
	}
	if err := s.gates(c, &Spec{Name: "ping", Arity: -1}, [][]byte{[]byte("ping")}); err != nil {
		t.Fatalf("PING without a model: %v", err)
	}
	s.Register(Hooks{Name: "inference", Model: true})
	if err := s.gates(c, spec, args); err != nil {
		t.Fatalf("with a model: %v", err)
	}
}

// The hook list is the loop's once the server runs: registering after
// Start is a programmer error.
func TestRegisterAfterStartPanics(t *testing.T) {
	s := newTestServer(t)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.Stop(0)
		s.Wait()
	}()
	defer func() {
		if recover() == nil {
			t.Error("registering after Start did not panic")
		}
	}()
	s.Register(Hooks{Name: "late"})
}
