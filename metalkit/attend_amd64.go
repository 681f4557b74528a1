//go:build !noasm

package metalkit

// attnScores32Z is attnScores32Go on ZMM (attend_amd64.s): len(k) ≥ 32·hd,
// len(q) ≥ heads·hd, len(out) ≥ 32·heads, hd a multiple of 4. (AVX512F)
//
//go:noescape
func attnScores32Z(k *uint16, hd int, q *float32, heads int, out *float32)

// attnOut32Z is attnOut32Go on ZMM: len(v) ≥ 32·hd, len(w) ≥ 32·heads,
// len(out) ≥ heads·hd, hd a multiple of 16. (AVX512F)
//
//go:noescape
func attnOut32Z(v *uint16, hd int, w *float32, heads int, mask uint32, out *float32)

func attnScores32AVX512(k []uint16, hd int, q []float32, heads int, out []float32) {
	if hd <= 0 || hd%4 != 0 || heads <= 0 || len(k) < attnPage*hd || len(q) < heads*hd || len(out) < attnPage*heads {
		attnScores32Go(k, hd, q, heads, out)
		return
	}
	attnScores32Z(&k[0], hd, &q[0], heads, &out[0])
}

func attnOut32AVX512(v []uint16, hd int, w []float32, heads int, mask uint32, out []float32) {
	if hd <= 0 || hd%16 != 0 || heads <= 0 || len(v) < attnPage*hd || len(w) < attnPage*heads || len(out) < heads*hd {
		attnOut32Go(v, hd, w, heads, mask, out)
		return
	}
	attnOut32Z(&v[0], hd, &w[0], heads, mask, &out[0])
}

// maxAVX512 returns the largest of x, len(x) ≥ 1. (AVX512F)
//
//go:noescape
func maxAVX512(x []float32) float32

// scaleRound16AVX512 sets x[i] = roundF16Fast(x[i]·s). (AVX512F)
//
//go:noescape
func scaleRound16AVX512(x []float32, s float32)

// softmax16AVX512 is softmaxInPlace(x, true) with ZMM loops.
func softmax16AVX512(x []float32) {
	if len(x) == 0 {
		return
	}
	scaleRound16AVX512(x, 1/expSubAVX512(x, maxAVX512(x)))
}
