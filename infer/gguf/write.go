package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Writer writes a GGUF v3 file in one pass, for synthetic models and
// tests: metadata and the tensor directory first, then each tensor's bytes
// streamed in declared order, so a multi-GB model never sits in memory.
//
//	w := NewWriter(out)
//	w.AddKV("general.architecture", "llama")   // any number, in file order
//	w.AddTensor("token_embd.weight", TypeQ8_0, 2048, 50257) // dims ne0 first
//	w.WriteHeader()                             // after the last AddKV/AddTensor
//	w.WriteTensor(data)                         // once per tensor, in order
//	w.Close()                                   // flushes; checks all tensors came
//
// Metadata values are typed by their Go type: uint8, int8, uint16, int16,
// uint32, int32, float32, bool, string, uint64, int64, float64, or a slice of
// one of those (an array). KV.Value values fit, so metadata copies from
// another file unchanged.
type Writer struct {
	w         *bufio.Writer
	kvs       []KV
	tensors   []TensorInfo
	alignment uint64
	next      int    // index of the next tensor WriteTensor expects
	off       uint64 // bytes written so far
	err       error  // first write error, sticky
}

// NewWriter returns a writer to w with the default alignment (32).
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 1<<20), alignment: DefaultAlignment}
}

// AddKV appends a metadata entry. It fails on a value type GGUF can't hold.
func (g *Writer) AddKV(key string, value any) error {
	t, et, ok := valueTypeOf(value)
	if !ok {
		return fmt.Errorf("gguf write: key %s: unsupported value type %T", key, value)
	}
	if key == "general.alignment" {
		a, _ := value.(uint32)
		if a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf write: general.alignment must be a power-of-two uint32, got %v", value)
		}
		g.alignment = uint64(a)
	}
	g.kvs = append(g.kvs, KV{Key: key, Type: t, ElemType: et, Value: value})
	return nil
}

// AddTensor declares a tensor: its type and dims (ne0, the row length,
// first). Offsets are assigned in declaration order.
func (g *Writer) AddTensor(name string, typ Type, dims ...uint64) error {
	if !typ.Known() || len(dims) == 0 || len(dims) > MaxDims {
		return fmt.Errorf("gguf write: tensor %s: bad type %v or dims %v", name, typ, dims)
	}
	n := uint64(1)
	for _, d := range dims {
		n *= d
	}
	bs := uint64(typ.BlockSize())
	if dims[0]%bs != 0 {
		return fmt.Errorf("gguf write: tensor %s: row length %d not a multiple of %v's block of %d", name, dims[0], typ, bs)
	}
	var off uint64
	if k := len(g.tensors); k > 0 {
		last := g.tensors[k-1]
		off = roundUp(last.Offset+last.Size, g.alignment)
	}
	g.tensors = append(g.tensors, TensorInfo{Name: name, Dims: dims, Type: typ, Offset: off,
		Size: n / bs * uint64(typ.BlockBytes())})
	return nil
}

// Tensors returns the declared tensors (with offsets and sizes).
func (g *Writer) Tensors() []TensorInfo { return g.tensors }

// WriteHeader writes magic, version, counts, metadata, the tensor directory
// and the padding up to the data section.
func (g *Writer) WriteHeader() error {
	g.u32(Magic)
	g.u32(3)
	g.u64(uint64(len(g.tensors)))
	g.u64(uint64(len(g.kvs)))
	for _, kv := range g.kvs {
		g.str(kv.Key)
		g.u32(uint32(kv.Type))
		g.value(kv.Type, kv.ElemType, kv.Value)
	}
	for _, t := range g.tensors {
		g.str(t.Name)
		g.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			g.u64(d)
		}
		g.u32(uint32(t.Type))
		g.u64(t.Offset)
	}
	g.pad()
	return g.err
}

// WriteTensor writes the next tensor's bytes (exactly its Size) and the
// padding after it.
func (g *Writer) WriteTensor(data []byte) error {
	if g.err != nil {
		return g.err
	}
	if g.next >= len(g.tensors) {
		return fmt.Errorf("gguf write: more tensors written than declared (%d)", len(g.tensors))
	}
	t := g.tensors[g.next]
	if uint64(len(data)) != t.Size {
		return fmt.Errorf("gguf write: tensor %s: %d bytes, want %d", t.Name, len(data), t.Size)
	}
	g.write(data)
	g.next++
	if g.next < len(g.tensors) {
		g.pad()
	}
	return g.err
}

// Close flushes the buffer and checks that every tensor was written. It does
// not close the underlying writer.
func (g *Writer) Close() error {
	if g.err == nil && g.next != len(g.tensors) {
		g.err = fmt.Errorf("gguf write: %d of %d tensors written", g.next, len(g.tensors))
	}
	if g.err == nil {
		g.err = g.w.Flush()
	}
	return g.err
}

func roundUp(x, a uint64) uint64 { return (x + a - 1) / a * a }

func (g *Writer) write(p []byte) {
	if g.err != nil {
		return
	}
	_, g.err = g.w.Write(p)
	g.off += uint64(len(p))
}

func (g *Writer) pad() {
	if n := roundUp(g.off, g.alignment) - g.off; n > 0 {
		g.write(make([]byte, n))
	}
}

func (g *Writer) u32(v uint32) { g.write(binary.LittleEndian.AppendUint32(nil, v)) }
func (g *Writer) u64(v uint64) { g.write(binary.LittleEndian.AppendUint64(nil, v)) }
func (g *Writer) str(s string) { g.u64(uint64(len(s))); g.write([]byte(s)) }

// value encodes one metadata value of type t (array elements of type et).
func (g *Writer) value(t, et ValueType, v any) {
	if t == ValueArray {
		g.u32(uint32(et))
		switch a := v.(type) {
		case []string:
			g.u64(uint64(len(a)))
			for _, s := range a {
				g.str(s)
			}
		default:
			b := scalarArrayBytes(v)
			g.u64(uint64(arrayLen(v)))
			g.write(b)
		}
		return
	}
	if s, ok := v.(string); ok {
		g.str(s)
		return
	}
	g.write(scalarBytes(v))
}

// valueTypeOf maps a Go value to its GGUF type (and element type for slices).
func valueTypeOf(v any) (t, et ValueType, ok bool) {
	switch v.(type) {
	case uint8:
		return ValueUint8, 0, true
	case int8:
		return ValueInt8, 0, true
	case uint16:
		return ValueUint16, 0, true
	case int16:
		return ValueInt16, 0, true
	case uint32:
		return ValueUint32, 0, true
	case int32:
		return ValueInt32, 0, true
	case float32:
		return ValueFloat32, 0, true
	case bool:
		return ValueBool, 0, true
	case string:
		return ValueString, 0, true
	case uint64:
		return ValueUint64, 0, true
	case int64:
		return ValueInt64, 0, true
	case float64:
		return ValueFloat64, 0, true
	case []uint8:
		return ValueArray, ValueUint8, true
	case []int8:
		return ValueArray, ValueInt8, true
	case []uint16:
		return ValueArray, ValueUint16, true
	case []int16:
		return ValueArray, ValueInt16, true
	case []uint32:
		return ValueArray, ValueUint32, true
	case []int32:
		return ValueArray, ValueInt32, true
	case []float32:
		return ValueArray, ValueFloat32, true
	case []bool:
		return ValueArray, ValueBool, true
	case []string:
		return ValueArray, ValueString, true
	case []uint64:
		return ValueArray, ValueUint64, true
	case []int64:
		return ValueArray, ValueInt64, true
	case []float64:
		return ValueArray, ValueFloat64, true
	}
	return 0, 0, false
}

// scalarBytes encodes a fixed-size scalar little-endian.
func scalarBytes(v any) []byte {
	le := binary.LittleEndian
	switch x := v.(type) {
	case uint8:
		return []byte{x}
	case int8:
		return []byte{byte(x)}
	case bool:
		if x {
			return []byte{1}
		}
		return []byte{0}
	case uint16:
		return le.AppendUint16(nil, x)
	case int16:
		return le.AppendUint16(nil, uint16(x))
	case uint32:
		return le.AppendUint32(nil, x)
	case int32:
		return le.AppendUint32(nil, uint32(x))
	case float32:
		return le.AppendUint32(nil, math.Float32bits(x))
	case uint64:
		return le.AppendUint64(nil, x)
	case int64:
		return le.AppendUint64(nil, uint64(x))
	case float64:
		return le.AppendUint64(nil, math.Float64bits(x))
	}
	panic(fmt.Sprintf("gguf write: not a scalar: %T", v)) // valueTypeOf checked
}

// scalarArrayBytes encodes the elements of a fixed-size-element slice.
func scalarArrayBytes(v any) []byte {
	var out []byte
	each := func(n int, at func(i int) any) {
		for i := 0; i < n; i++ {
			out = append(out, scalarBytes(at(i))...)
		}
	}
	switch a := v.(type) {
	case []uint8:
		return append(out, a...)
	case []int8:
		each(len(a), func(i int) any { return a[i] })
	case []uint16:
		each(len(a), func(i int) any { return a[i] })
	case []int16:
		each(len(a), func(i int) any { return a[i] })
	case []uint32:
		each(len(a), func(i int) any { return a[i] })
	case []int32:
		each(len(a), func(i int) any { return a[i] })
	case []float32:
		each(len(a), func(i int) any { return a[i] })
	case []bool:
		each(len(a), func(i int) any { return a[i] })
	case []uint64:
		each(len(a), func(i int) any { return a[i] })
	case []int64:
		each(len(a), func(i int) any { return a[i] })
	case []float64:
		each(len(a), func(i int) any { return a[i] })
	}
	return out
}

func arrayLen(v any) int {
	switch a := v.(type) {
	case []uint8:
		return len(a)
	case []int8:
		return len(a)
	case []uint16:
		return len(a)
	case []int16:
		return len(a)
	case []uint32:
		return len(a)
	case []int32:
		return len(a)
	case []float32:
		return len(a)
	case []bool:
		return len(a)
	case []uint64:
		return len(a)
	case []int64:
		return len(a)
	case []float64:
		return len(a)
	}
	return 0
}
