// Command reddwarf is a Redis-protocol server whose keys are LLM inference
// sessions.
//
//	reddwarf [config-file] [--directive value ...]   serve (default 127.0.0.1:6380)
//	reddwarf check FILE                              verify a snapshot or state file
//	reddwarf bench --model FILE ...                  performance harness (JSON lines)
//	reddwarf synth --arch llama ... -o FILE          write a random-weight GGUF
//	reddwarf tokenize --model FILE                   print token ids of stdin
//
// The subcommands live in internal/cli; `reddwarf --help` lists them.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"

	"reddwarf/commands"
	"reddwarf/httpapi"
	"reddwarf/internal/cli"
	"reddwarf/persist"
	"reddwarf/script"
	"reddwarf/server"
	"reddwarf/session"

	// Architectures register with infer when imported, like database/sql
	// drivers; llama is part of infer itself.
	_ "reddwarf/infer/deepseek4"
)

func main() {
	if len(os.Args) > 1 {
		if c, ok := cli.Lookup(os.Args[1]); ok {
			os.Exit(c.Run(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
		}
		switch os.Args[1] {
		case "-h", "--help", "help":
			cli.Help(os.Stdout)
			return
		case "-v", "--version", "version":
			fmt.Println("reddwarf " + server.Version)
			return
		}
	}
	os.Exit(serve(os.Args[1:]))
}

// serve parses the configuration, starts the server and waits for it to
// stop (SHUTDOWN, SIGTERM, SIGINT).
func serve(args []string) int {
	cfg := server.NewConfig()
	if len(args) > 0 && !strings.HasPrefix(args[0], "--") {
		if err := cfg.LoadFile(args[0]); err != nil {
			fmt.Fprintln(os.Stderr, "reddwarf:", err)
			return 1
		}
		args = args[1:]
	}
	if err := cfg.LoadArgs(args); err != nil {
		fmt.Fprintln(os.Stderr, "reddwarf:", err)
		return 1
	}
	if path := os.Getenv("REDDWARF_CPUPROFILE"); path != "" {
		// A CPU profile of the whole run, written at shutdown (for
		// profiling the server under redis-benchmark).
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if path := os.Getenv("REDDWARF_MEMPROFILE"); path != "" {
		// Every allocation site since the start (go tool pprof
		// -sample_index=alloc_space), written at shutdown: what a
		// command costs the GC per request.
		defer writeHeapProfile(path)
	}
	s := server.New(cfg)
	e, err := cli.LoadModel(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reddwarf:", err)
		return 1
	}
	codec, err := e.Codec()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reddwarf:", err)
		return 1
	}
	p := persist.New(s, codec)
	sm, err := session.StoreModel(e.Model)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reddwarf:", err)
		return 1
	}
	p.SetStoreModel(sm)
	e.SetJournal(p, sm)
	s.Register(p.Hooks())
	s.Register(e.Hooks())
	s.Commands.Register(commands.All(e, p)...)
	sc := script.New(s)
	s.Register(sc.Hooks())
	s.Commands.Register(commands.Scripting(sc)...)
	// An unreadable or corrupt snapshot stops the start: the server must
	// not come up on an empty keyspace silently.
	if err := p.Load(); err != nil {
		fmt.Fprintln(os.Stderr, "reddwarf:", err)
		return 1
	}
	if err := httpapi.New(s, e).Listen(); err != nil {
		fmt.Fprintln(os.Stderr, "reddwarf:", err)
		return 1
	}
	if err := s.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "reddwarf:", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for sig := range sigs {
			s.Logf("warning", "Received %s scheduling shutdown...", sig)
			s.Post(func() {
				if err := s.Shutdown(false, false, false); err != nil {
					s.Logf("warning", "SIGTERM received but errors trying to shut down the server, check the logs for more information")
				}
			})
		}
	}()
	return s.Wait()
}

// writeHeapProfile writes the heap profile to path, errors to stderr.
func writeHeapProfile(path string) {
	runtime.GC() // the profile counts what the last completed cycle saw
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "reddwarf: memory profile:", err)
	}
}
