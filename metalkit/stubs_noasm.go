//go:build !amd64 || noasm

package metalkit

// asmBackends: none without amd64 assembly.
func asmBackends(*backend) ([]*backend, []string) {
	return nil, []string{"every assembly backend (built with -tags noasm or for another GOARCH)"}
}

func sumBytes(b []byte) uint64 { return sumBytesGo(b) }

// readPatterns: the byte sum and a word loop, in Go.
func readPatterns() []readPattern {
	return []readPattern{{"sum", sumBytesGo}, {"load", xorWordsGo}}
}
