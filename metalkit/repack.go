package metalkit

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
)

var le = binary.LittleEndian

// layout says how a Matrix's Data is arranged.
type layout uint8

const (
	layoutGGUF    layout = iota // rows back to back, as in the file
	layoutQ4Kx16                // Q4_K×16 groups (q4_kx16.go), then GGUF rows
	layoutQ8_0x16               // Q8_0×16 groups (q8_0x16.go), then GGUF rows
)

// groupRows is the number of rows in a group of every repacked layout.
const groupRows = 16

// Repack returns m with its Data rearranged into the layout the kernels in
// use stream best, in a new heap slice of the same size; m.Data is only
// read, so the caller may then release the pages it came from (the file
// stays the source of truth). When there is no better layout (another type,
// fewer than 16 rows, a backend without such kernels, or m already
// repacked) it returns m itself. Only MatMul and Row understand a repacked
// Data: don't slice it into row ranges.
func Repack(m Matrix) Matrix {
	if !kern.formats[m.Type].repack {
		return m
	}
	return repack(m)
}

// repack is Repack whatever the backend.
func repack(m Matrix) Matrix {
	var move func(dst, src []byte, nb int)
	var to layout
	switch m.Type {
	case Q4_K:
		move, to = repackQ4Kx16, layoutQ4Kx16
	case Q8_0:
		move, to = repackQ8_0x16, layoutQ8_0x16
	default:
		return m
	}
	if m.layout != layoutGGUF || m.Rows < groupRows {
		return m
	}
	rb := m.rowBytes()
	if rb <= 0 || len(m.Data) != m.Rows*rb {
		panic(fmt.Sprintf("metalkit: Repack %v %dx%d: %d bytes", m.Type, m.Rows, m.Cols, len(m.Data)))
	}
	out := make([]byte, len(m.Data))
	groups := m.Rows / groupRows
	// A 1B model's 600 MB take a few hundred ms; split them across cores.
	n := min(groups, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		g0, g1 := groups*w/n*groupRows*rb, groups*(w+1)/n*groupRows*rb
		wg.Go(func() { move(out[g0:g1], m.Data[g0:g1], rb/m.Type.BlockBytes()) })
	}
	wg.Wait()
	copy(out[groups*groupRows*rb:], m.Data[groups*groupRows*rb:])
	m.Data, m.layout = out, to
	return m
}

// Repacked reports whether m's Data is in a repacked layout.
func (m Matrix) Repacked() bool { return m.layout != layoutGGUF }
