package metalkit

import "time"

// ReadBandwidth measures the memory read bandwidth of this machine in
// bytes/s, the roofline of batch-1 decode: every thread of a pool of
// threads streams its share of a buffer of size bytes (make it far larger
// than the last-level cache; 256 MiB is plenty) through a SIMD byte sum that
// reads each byte once, and the best of passes passes is returned. The
// buffer is allocated and touched before timing.
func ReadBandwidth(threads, size, passes int) float64 {
	const slice = 1 << 20
	size = max(slice, size&^(slice-1))
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	p := NewPool(threads)
	defer p.Close()
	sums := make([]uint64, size/slice)
	best := 0.0
	for range max(1, passes) {
		t0 := time.Now()
		p.Parallel(len(sums), func(s, e int) {
			sums[s] = sumBytes(buf[s*slice : e*slice])
		})
		best = max(best, float64(size)/time.Since(t0).Seconds())
	}
	return best
}
