//go:build !noasm

package metalkit

// asmBackends lists the assembly backends this CPU supports, slowest first.
func asmBackends() []*backend { return nil }
