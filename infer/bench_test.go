package infer

import (
	"fmt"
	"testing"

	"reddwarf/models"
)

// BenchmarkStep times Model.Step on stories260K (embedded, f32 weights, f16
// cache) on one thread: decode (one token after a 64-token prompt, then
// the state is cut back, so every step sees the same length) and a
// 64-token prefill chunk. It uses only the Model API, so the same file
// measures the code before and after a change to the forward pass
// (issue 15's seam: the CPU path must not get slower).
func BenchmarkStep(b *testing.B) {
	m, err := OpenBytes("stories260K.gguf", models.Stories260K, Options{Threads: 1, KVType: "f16"})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	prompt := make([]int32, 64)
	for i := range prompt {
		prompt[i] = int32(1 + (i*37)%500)
	}
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			s := m.NewState()
			if n == 1 {
				if err := m.Step([]Seq{{s, prompt}}); err != nil {
					b.Fatal(err)
				}
			}
			base := s.Len()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := m.Step([]Seq{{s, prompt[:n]}}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := s.Truncate(base); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
