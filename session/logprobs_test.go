package session

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"reddwarf/infer"
)

// TestTokenLogProb: the entry of a token is infer.LogSoftmax's value, and
// its alternatives the best ones by a full sort (ties to the lower id).
func TestTokenLogProb(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 3)
	}
	logits[7], logits[9] = logits[500], logits[500] // ties
	ls := make([]float64, len(logits))
	infer.LogSoftmax(ls, logits)
	ids := make([]int, len(logits))
	for i := range ids {
		ids[i] = i
	}
	sort.SliceStable(ids, func(a, b int) bool { return ls[ids[a]] > ls[ids[b]] })
	for _, top := range []int{0, 1, 5, MaxTopLogProbs} {
		e := tokenLogProb(logits, 42, top)
		if math.Abs(e.LogProb-ls[42]) > 1e-9 || len(e.Top) != top {
			t.Fatalf("top %d: %+v, want logprob %v", top, e, ls[42])
		}
		for i, alt := range e.Top {
			if alt.ID != int32(ids[i]) || math.Abs(alt.LogProb-ls[ids[i]]) > 1e-9 {
				t.Fatalf("top %d: alternative %d is %+v, want id %d (%v)", top, i, alt, ids[i], ls[ids[i]])
			}
		}
	}
}
