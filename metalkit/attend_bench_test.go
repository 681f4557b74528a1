package metalkit

import (
	"fmt"
	"testing"
)

// f16Pages is an f16 cache's pages, as HostKVPages.
type f16Pages [][]uint16

func (p f16Pages) KVPage(pi int) ([]uint16, []float32) { return p[pi], nil }

// BenchmarkAttendGroup times one KV head's attention for a group of query
// heads of the 1B synth shape (4 heads of 64 sharing a KV head, pages of
// 32 positions, f16 cache) over n positions: a decode step runs it
// layers × KV heads times per session. Each page holds the head's K block
// then its V block.
func BenchmarkAttendGroup(b *testing.B) {
	const hd, group, pt = 64, 4, 32
	r := newRand(b, 11)
	for _, n := range []int{80, 512} {
		b.Run(fmt.Sprintf("n%d", n), func(b *testing.B) {
			var pages f16Pages
			for i := 0; i < (n+pt-1)/pt; i++ {
				p := make([]uint16, 2*hd*pt)
				for j := range p {
					p[j] = F32ToF16(float32(r.NormFloat64()))
				}
				pages = append(pages, p)
			}
			kv := HostKVHead{K: 0, V: hd * pt, Len: hd * pt, PageTokens: pt, F16: true}
			q := randVec(r, group*hd)
			out := make([]float32, group*hd)
			sc := NewAttnScratch(group, hd, n, pt)
			b.SetBytes(int64(2 * n * hd * 2))
			for i := 0; i < b.N; i++ {
				AttendGroup(pages, kv, hd, group, 0, n, q, out, sc)
			}
		})
	}
}
