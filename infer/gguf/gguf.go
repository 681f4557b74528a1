package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Container constants.
const (
	Magic            = 0x46554747 // "GGUF" read as a little-endian u32
	DefaultAlignment = 32         // when general.alignment is absent
	MaxDims          = 4          // GGML_MAX_DIMS

)

// Sentinel errors, tested with errors.Is. Every error returned by Open and
// Parse wraps one of them and says where (byte offset, key or tensor name).
var (
	ErrBadMagic  = errors.New("not a GGUF file (bad magic)")
	ErrVersion   = errors.New("unsupported GGUF version")
	ErrTruncated = errors.New("truncated")
	ErrCorrupt   = errors.New("corrupt")        // a value that cannot be right: bad type tag, bool not 0/1, duplicate key...
	ErrTensor    = errors.New("invalid tensor") // bad dims, unknown type, misaligned or out-of-file data
	ErrTooLarge  = errors.New("size overflows") // a count or product that overflows 64 bits
)

// KV is one metadata entry. Value holds the Go type matching Type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64, float64, or for ValueArray a slice of one of those ([]string,
// []float32, []int32 ...). ElemType is the array element type (ValueArray only).
type KV struct {
	Key      string
	Type     ValueType
	ElemType ValueType
	Value    any
}

// TensorInfo describes one tensor. Dims are in ggml order: Dims[0] (ne0) is the
// row length, the contiguous dimension.
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   Type
	Offset uint64 // relative to File.DataOffset, a multiple of File.Alignment
	Size   uint64 // bytes
}

// Elements returns the product of the dims (1 for a 0-dim tensor).
// Parse has checked that it does not overflow.
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file: metadata and tensor directory; tensor bytes are
// read in place (TensorData) from the mmap or the caller's slice.
type File struct {
	Version    uint32
	KVs        []KV         // in file order
	Tensors    []TensorInfo // in file order
	Alignment  uint64       // general.alignment or DefaultAlignment
	DataOffset uint64       // file offset of the tensor data section
	Size       uint64       // file bytes

	data    []byte // whole file
	kvIndex map[string]int
	tIndex  map[string]int
	unmap   func() error
}

// Parse parses a GGUF file held in memory (for example the go:embed'ed default
// model). data must stay unchanged while the File is used: TensorData returns
// sub-slices of it.
func Parse(data []byte) (*File, error) {
	f := &File{data: data, Size: uint64(len(data))}
	if err := f.parse(); err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	return f, nil
}

// Close releases the mapping made by Open; slices returned by TensorData are
// invalid afterwards. Close on a File from Parse does nothing.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	u := f.unmap
	f.unmap = nil
	f.data = nil
	return u()
}

// reader decodes little-endian fields with bounds checks. Every method fails
// with ErrTruncated (wrapped with the offset) rather than reading past the end.
type reader struct {
	b   []byte
	off uint64
}

func (r *reader) remaining() uint64 { return uint64(len(r.b)) - r.off }

func (r *reader) need(n uint64, what string) error {
	if n > r.remaining() {
		return fmt.Errorf("offset %d: %s needs %d bytes, %d left: %w", r.off, what, n, r.remaining(), ErrTruncated)
	}
	return nil
}

func (r *reader) bytes(n uint64, what string) ([]byte, error) {
	if err := r.need(n, what); err != nil {
		return nil, err
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

func (r *reader) u8(what string) (uint8, error) {
	p, err := r.bytes(1, what)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func (r *reader) u16(what string) (uint16, error) {
	p, err := r.bytes(2, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(p), nil
}

func (r *reader) u32(what string) (uint32, error) {
	p, err := r.bytes(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(p), nil
}

func (r *reader) u64(what string) (uint64, error) {
	p, err := r.bytes(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(p), nil
}

// str reads a u64 length and that many bytes; the length is checked against
// the remaining input before anything is allocated.
func (r *reader) str(what string) (string, error) {
	at := r.off
	n, err := r.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > r.remaining() {
		return "", fmt.Errorf("offset %d: %s length %d exceeds the %d bytes left: %w", at, what, n, r.remaining(), ErrTruncated)
	}
	p, _ := r.bytes(n, what)
	return string(p), nil
}

func (f *File) parse() error {
	r := &reader{b: f.data}

	// Header: magic, version, tensor count, KV count.
	magic, err := r.u32("magic")
	if err != nil {
		return err
	}
	if magic != Magic {
		return fmt.Errorf("offset 0: magic %#08x: %w", magic, ErrBadMagic)
	}
	ver, err := r.u32("version")
	if err != nil {
		return err
	}
	switch {
	case ver == 1:
		return fmt.Errorf("offset 4: version 1 (32-bit counts) is not supported, re-convert the model: %w", ErrVersion)
	case ver == 2 || ver == 3:
	case ver&0xffff == 0 && bits.ReverseBytes32(ver) <= 3:
		return fmt.Errorf("offset 4: big-endian GGUF (version %d) is not supported: %w", bits.ReverseBytes32(ver), ErrVersion)
	default:
		return fmt.Errorf("offset 4: version %d: %w", ver, ErrVersion)
	}
	f.Version = ver
	nTensors, err := r.u64("tensor count")
	if err != nil {
		return err
	}
	nKV, err := r.u64("metadata count")
	if err != nil {
		return err
	}
	// Smallest encodings: a KV is key length (8) + type (4) + 1 byte; a tensor
	// record is name length (8) + n_dims (4) + type (4) + offset (8).
	if nKV > r.remaining()/13 {
		return fmt.Errorf("offset 16: metadata count %d cannot fit in %d bytes: %w", nKV, r.remaining(), ErrTruncated)
	}
	if nTensors > r.remaining()/24 {
		return fmt.Errorf("offset 8: tensor count %d cannot fit in %d bytes: %w", nTensors, r.remaining(), ErrTruncated)
	}

	// Metadata.
	f.KVs = make([]KV, 0, nKV)
	f.kvIndex = make(map[string]int, nKV)
	for i := uint64(0); i < nKV; i++ {
		at := r.off
		kv, err := readKV(r)
		if err != nil {
			return fmt.Errorf("metadata entry %d: %w", i, err)
		}
		if _, dup := f.kvIndex[kv.Key]; dup {
			return fmt.Errorf("offset %d: duplicate key %q: %w", at, kv.Key, ErrCorrupt)
		}
		f.kvIndex[kv.Key] = len(f.KVs)
		f.KVs = append(f.KVs, kv)
	}
	f.Alignment = DefaultAlignment
	if kv, ok := f.Get("general.alignment"); ok {
		a, isU32 := kv.Value.(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("general.alignment must be a power-of-two UINT32, got %s %v: %w", kv.Type, kv.Value, ErrCorrupt)
		}
		f.Alignment = uint64(a)
	}

	// Tensor directory.
	f.Tensors = make([]TensorInfo, 0, nTensors)
	f.tIndex = make(map[string]int, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		at := r.off
		t, err := f.readTensorInfo(r)
		if err != nil {
			return fmt.Errorf("tensor record %d: %w", i, err)
		}
		if _, dup := f.tIndex[t.Name]; dup {
			return fmt.Errorf("offset %d: duplicate tensor %q: %w", at, t.Name, ErrCorrupt)
		}
		f.tIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}

	// Data section: header end rounded up to the alignment. A file with no
	// tensors (vocab-only) may end before that.
	f.DataOffset, err = alignUp(r.off, f.Alignment)
	if err != nil {
		return err
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		start := f.DataOffset + t.Offset
		end := start + t.Size
		if start < f.DataOffset || end < start || end > f.Size {
			return fmt.Errorf("tensor %q: data [%d,%d) past end of file (size %d): %w", t.Name, start, end, f.Size, ErrTruncated)
		}
	}
	return nil
}

func alignUp(x, a uint64) (uint64, error) {
	y := (x + a - 1) / a * a
	if y < x {
		return 0, fmt.Errorf("offset %d aligned to %d: %w", x, a, ErrTooLarge)
	}
	return y, nil
}

func readKV(r *reader) (KV, error) {
	at := r.off
	key, err := r.str("key")
	if err != nil {
		return KV{}, err
	}
	vt, err := r.u32("value type")
	if err != nil {
		return KV{}, fmt.Errorf("key %q: %w", key, err)
	}
	kv := KV{Key: key, Type: ValueType(vt)}
	if kv.Type == ValueArray {
		kv.ElemType, kv.Value, err = readArray(r)
	} else {
		kv.Value, err = readValue(r, kv.Type)
	}
	if err != nil {
		return KV{}, fmt.Errorf("key %q at offset %d: %w", key, at, err)
	}
	return kv, nil
}

func readValue(r *reader, t ValueType) (any, error) {
	at := r.off
	switch t {
	case ValueUint8:
		return r.u8("UINT8")
	case ValueInt8:
		v, err := r.u8("INT8")
		return int8(v), err
	case ValueUint16:
		return r.u16("UINT16")
	case ValueInt16:
		v, err := r.u16("INT16")
		return int16(v), err
	case ValueUint32:
		return r.u32("UINT32")
	case ValueInt32:
		v, err := r.u32("INT32")
		return int32(v), err
	case ValueFloat32:
		v, err := r.u32("FLOAT32")
		return math.Float32frombits(v), err
	case ValueBool:
		v, err := r.u8("BOOL")
		if err != nil {
			return nil, err
		}
		if v > 1 {
			return nil, fmt.Errorf("offset %d: bool byte %d is not 0 or 1: %w", at, v, ErrCorrupt)
		}
		return v == 1, nil
	case ValueString:
		return r.str("string")
	case ValueUint64:
		return r.u64("UINT64")
	case ValueInt64:
		v, err := r.u64("INT64")
		return int64(v), err
	case ValueFloat64:
		v, err := r.u64("FLOAT64")
		return math.Float64frombits(v), err
	}
	return nil, fmt.Errorf("offset %d: unknown value type %d: %w", at, uint32(t), ErrCorrupt)
}

// readArray reads an array body. The count is checked against the remaining
// bytes (count × element size, or count × 8 for strings) before allocating.
func readArray(r *reader) (ValueType, any, error) {
	at := r.off
	et32, err := r.u32("array element type")
	if err != nil {
		return 0, nil, err
	}
	et := ValueType(et32)
	n, err := r.u64("array count")
	if err != nil {
		return 0, nil, err
	}
	min := et.size()
	switch et {
	case ValueString:
		min = 8
	case ValueArray:
		return 0, nil, fmt.Errorf("offset %d: nested arrays are not supported: %w", at, ErrCorrupt)
	}
	if min == 0 {
		return 0, nil, fmt.Errorf("offset %d: unknown array element type %d: %w", at, et32, ErrCorrupt)
	}
	if n > r.remaining()/min {
		return 0, nil, fmt.Errorf("offset %d: array of %d %s cannot fit in the %d bytes left: %w", at, n, et, r.remaining(), ErrTruncated)
	}
	if et == ValueString {
		out := make([]string, n)
		for i := range out {
			if out[i], err = r.str("array string"); err != nil {
				return 0, nil, fmt.Errorf("element %d: %w", i, err)
			}
		}
		return et, out, nil
	}
	// Fixed-size elements: all bytes are present (checked above).
	p, _ := r.bytes(n*min, "array")
	le := binary.LittleEndian
	switch et {
	case ValueUint8:
		return et, append([]uint8(nil), p...), nil
	case ValueInt8:
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(p[i])
		}
		return et, out, nil
	case ValueBool:
		out := make([]bool, n)
		for i := range out {
			if p[i] > 1 {
				return 0, nil, fmt.Errorf("offset %d: bool element %d is %d, not 0 or 1: %w", r.off-n+uint64(i), i, p[i], ErrCorrupt)
			}
			out[i] = p[i] == 1
		}
		return et, out, nil
	case ValueUint16:
		out := make([]uint16, n)
		for i := range out {
			out[i] = le.Uint16(p[2*i:])
		}
		return et, out, nil
	case ValueInt16:
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(le.Uint16(p[2*i:]))
		}
		return et, out, nil
	case ValueUint32:
		out := make([]uint32, n)
		for i := range out {
			out[i] = le.Uint32(p[4*i:])
		}
		return et, out, nil
	case ValueInt32:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(le.Uint32(p[4*i:]))
		}
		return et, out, nil
	case ValueFloat32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(p[4*i:]))
		}
		return et, out, nil
	case ValueUint64:
		out := make([]uint64, n)
		for i := range out {
			out[i] = le.Uint64(p[8*i:])
		}
		return et, out, nil
	case ValueInt64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(le.Uint64(p[8*i:]))
		}
		return et, out, nil
	default: // ValueFloat64
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(le.Uint64(p[8*i:]))
		}
		return et, out, nil
	}
}

func (f *File) readTensorInfo(r *reader) (TensorInfo, error) {
	at := r.off
	name, err := r.str("tensor name")
	if err != nil {
		return TensorInfo{}, err
	}
	fail := func(format string, args ...any) (TensorInfo, error) {
		return TensorInfo{}, fmt.Errorf("offset %d: tensor %q: "+format, append([]any{at, name}, args...)...)
	}
	nd, err := r.u32("n_dims")
	if err != nil {
		return fail("%w", err)
	}
	if nd > MaxDims {
		return fail("%d dims (ggml allows at most %d): %w", nd, MaxDims, ErrTensor)
	}
	t := TensorInfo{Name: name, Dims: make([]uint64, nd)}
	elems := uint64(1)
	for i := range t.Dims {
		if t.Dims[i], err = r.u64("dim"); err != nil {
			return fail("%w", err)
		}
		if t.Dims[i] > math.MaxInt64 {
			return fail("dim %d is %d: %w", i, t.Dims[i], ErrTooLarge)
		}
		hi, lo := bits.Mul64(elems, t.Dims[i])
		if hi != 0 || lo > math.MaxInt64 {
			return fail("element count of dims %v: %w", t.Dims, ErrTooLarge)
		}
		elems = lo
	}
	ty, err := r.u32("tensor type")
	if err != nil {
		return fail("%w", err)
	}
	t.Type = Type(ty)
	if !t.Type.Known() {
		return fail("unknown tensor type %d: %w", ty, ErrTensor)
	}
	if t.Offset, err = r.u64("tensor offset"); err != nil {
		return fail("%w", err)
	}
	if t.Offset%f.Alignment != 0 {
		return fail("data offset %d not aligned to %d: %w", t.Offset, f.Alignment, ErrTensor)
	}
	bs := uint64(t.Type.BlockSize())
	var ne0 uint64 = 1
	if nd > 0 {
		ne0 = t.Dims[0]
	}
	if ne0%bs != 0 {
		return fail("row length %d is not a multiple of the %s block size %d: %w", ne0, t.Type, bs, ErrTensor)
	}
	hi, size := bits.Mul64(elems/bs, uint64(t.Type.BlockBytes()))
	if hi != 0 {
		return fail("byte size of dims %v: %w", t.Dims, ErrTooLarge)
	}
	t.Size = size
	return t, nil
}
