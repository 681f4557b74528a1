package session

import "math"

// TokenLogProb is a generated token's log-probability under the model
// (the log-softmax of its logits: before temperature, the sampler's cuts
// and any JSON mask, as OpenAI's logprobs report), with the most likely
// alternatives at that step.
type TokenLogProb struct {
	ID      int32
	LogProb float64
	Top     []TokenAlt // GenOptions.TopLogProbs most likely, best first
}

// TokenAlt is one alternative at a step.
type TokenAlt struct {
	ID      int32
	LogProb float64
}

// MaxTopLogProbs bounds GenOptions.TopLogProbs (OpenAI's bound).
const MaxTopLogProbs = 20

// tokenLogProb computes t's entry from the logits it was drawn from.
func tokenLogProb(logits []float32, t int32, top int) TokenLogProb {
	mx := math.Inf(-1)
	for _, v := range logits {
		if float64(v) > mx {
			mx = float64(v)
		}
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - mx)
	}
	lse := mx + math.Log(sum)
	e := TokenLogProb{ID: t, LogProb: float64(logits[t]) - lse}
	if top <= 0 {
		return e
	}
	// The top best by logit, ties to the lower id, kept sorted: top is
	// at most MaxTopLogProbs, so an insertion costs little and most
	// logits fail the first comparison.
	best := make([]TokenAlt, 0, top)
	for i, v := range logits {
		lp := float64(v) - lse
		if len(best) == top && lp <= best[top-1].LogProb {
			continue
		}
		at := len(best)
		for at > 0 && best[at-1].LogProb < lp {
			at--
		}
		if len(best) < top {
			best = append(best, TokenAlt{})
		}
		copy(best[at+1:], best[at:len(best)-1])
		best[at] = TokenAlt{ID: int32(i), LogProb: lp}
	}
	e.Top = best
	return e
}
