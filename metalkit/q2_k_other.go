//go:build !amd64 || noasm

package metalkit

// dotQ2_K is the Q2_K × Q8_K dot (no assembly: the Go reference).
func dotQ2_K(w []byte, a *q8KAct) float32 { return dotQ2_KGo(w, a) }
