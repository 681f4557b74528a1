//go:build !amd64 || noasm

package metalkit

// asmBackends: none without amd64 assembly.
func asmBackends() []*backend { return nil }

func sumBytes(b []byte) uint64 { return sumBytesGo(b) }
