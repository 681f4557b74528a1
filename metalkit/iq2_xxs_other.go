//go:build !amd64 || noasm

package metalkit

// dotIQ2_XXS is the IQ2_XXS × Q8_K dot (no assembly: the Go reference).
func dotIQ2_XXS(w []byte, a *q8KAct) float32 { return dotIQ2_XXSGo(w, a) }
