//go:build !noasm

package metalkit

// quantQ8KBlocksAVX2 quantises nb super-blocks of 256 activations into qs,
// d, bs16 and bs32, exactly as quantActGo with 256-value blocks (q8k_amd64.s).
// (AVX2)
//
//go:noescape
func quantQ8KBlocksAVX2(x *float32, nb int, qs *int8, d *float32, bs16, bs32 *int16)

// quant256AVX2 is quantAct for 256-value blocks (the K-quants' prefill
// quantises every column of every matrix's input with it).
func quant256AVX2(a *q8Act, x []float32) {
	nb := len(x) / qkBlock
	if nb == 0 {
		return
	}
	if len(a.qs) < nb*qkBlock || len(a.d) < nb || len(a.bs16) < 16*nb || len(a.bs32) < 8*nb {
		panic("metalkit: activation quantisation out of bounds")
	}
	quantQ8KBlocksAVX2(&x[0], nb, &a.qs[0], &a.d[0], &a.bs16[0], &a.bs32[0])
}
