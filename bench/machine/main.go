// Command machine prints, as one JSON object, what bench/compare.sh needs to
// know about this machine: the metalkit backend in use, the CPU's vector
// and matrix flags, and the memory read bandwidth at --threads
// (metalkit.ReadBandwidth over 256 MiB: the best of several read loops at
// 1 to --threads threads, each the best of 5 passes; every probe is listed).
package main

import (
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"slices"

	"reddwarf/metalkit"
)

func main() {
	threads := flag.Int("threads", 1, "threads reading memory (every count from 1 is tried)")
	flag.Parse()
	probes := metalkit.ReadBandwidthProbes(*threads, 256<<20, 5)
	best := metalkit.BandwidthProbe{}
	var list []string
	for _, p := range probes {
		if p.BytesPerSec > best.BytesPerSec {
			best = p
		}
		list = append(list, p.String())
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"backend":    metalkit.Backend(),
		"cpu_flags":  cpuFlags(),
		"threads":    *threads,
		"read_gb_s":  best.BytesPerSec / 1e9,
		"read_best":  best.String(),
		"read_probe": list,
	})
}

// cpuFlags lists /proc/cpuinfo's AVX2, AVX-512 and AMX flags, sorted
// (empty where there is no /proc/cpuinfo).
func cpuFlags() []string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	seen := map[string]bool{}
	for _, f := range regexp.MustCompile(`\b(avx2|avx512\w*|amx\w*)\b`).FindAllString(string(b), -1) {
		seen[f] = true
	}
	var flags []string
	for f := range seen {
		flags = append(flags, f)
	}
	slices.Sort(flags)
	return flags
}
