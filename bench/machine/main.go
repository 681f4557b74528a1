// Command machine prints, as one JSON object, what bench/compare.sh needs to
// know about this machine: the metalkit backend in use and the memory read
// bandwidth (metalkit.ReadBandwidth over 256 MiB, best of 5) at --threads.
package main

import (
	"encoding/json"
	"flag"
	"os"

	"reddwarf/metalkit"
)

func main() {
	threads := flag.Int("threads", 1, "threads reading memory")
	flag.Parse()
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"backend":   metalkit.Backend(),
		"threads":   *threads,
		"read_gb_s": metalkit.ReadBandwidth(*threads, 256<<20, 5) / 1e9,
	})
}
