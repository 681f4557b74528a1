package metalkit

import (
	"fmt"
	"time"
)

// BandwidthProbe is one memory read measurement: a read loop at a thread
// count, best of its passes.
type BandwidthProbe struct {
	Pattern     string  // which read loop (readPatterns)
	Threads     int     // threads reading, each its own contiguous share
	BytesPerSec float64 // best pass
}

func (p BandwidthProbe) String() string {
	return fmt.Sprintf("%s×%d %.2f GB/s", p.Pattern, p.Threads, p.BytesPerSec/1e9)
}

// readPattern is a loop that reads every byte of a buffer once.
type readPattern struct {
	name string
	read func(b []byte) uint64
}

// ReadBandwidth measures the memory read bandwidth of this machine in
// bytes/s, the roofline of batch-1 decode at threads threads: the best of
// ReadBandwidthProbes. No kernel streams weights faster than the best of
// several plain read loops, so a kernel above it means the probe is wrong
// (one loop alone, a SIMD byte sum, read 15% under what llama.cpp decodes
// at on a Sapphire Rapids).
func ReadBandwidth(threads, size, passes int) float64 {
	best := 0.0
	for _, p := range ReadBandwidthProbes(threads, size, passes) {
		best = max(best, p.BytesPerSec)
	}
	return best
}

// ReadBandwidthProbes runs every read pattern this CPU has (a SIMD byte
// sum, plain loads, loads with software prefetch at two distances) at
// every thread count from 1 to threads over a buffer of size bytes (make
// it far larger than the last-level cache; 256 MiB is plenty), each the
// best of passes passes. Each thread reads its contiguous share of the
// buffer, as MatMul's workers read their rows. The buffer is allocated
// and touched before timing.
func ReadBandwidthProbes(threads, size, passes int) []BandwidthProbe {
	const slice = 1 << 20
	size = max(slice, size&^(slice-1))
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	sums := make([]uint64, size/slice)
	var probes []BandwidthProbe
	for n := 1; n <= max(1, threads); n++ {
		p := NewPool(n)
		for _, pat := range readPatterns() {
			best := 0.0
			for range max(1, passes) {
				t0 := time.Now()
				p.Parallel(len(sums), func(s, e int) {
					sums[s] = pat.read(buf[s*slice : e*slice])
				})
				best = max(best, float64(size)/time.Since(t0).Seconds())
			}
			probes = append(probes, BandwidthProbe{pat.name, n, best})
		}
		p.Close()
	}
	return probes
}
