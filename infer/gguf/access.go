package gguf

import "math"

// Get returns the metadata entry for key.
func (f *File) Get(key string) (KV, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return KV{}, false
	}
	return f.KVs[i], true
}

// Architecture returns general.architecture ("llama", "deepseek4"), or "".
func (f *File) Architecture() string {
	s, _ := f.String("general.architecture")
	return s
}

// String returns a STRING value.
func (f *File) String(key string) (string, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return "", false
	}
	s, ok := kv.Value.(string)
	return s, ok
}

// Bool returns a BOOL value.
func (f *File) Bool(key string) (bool, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return false, false
	}
	b, ok := kv.Value.(bool)
	return b, ok
}

// Uint returns an integer value of any width or signedness, if it is
// non-negative. (Converters disagree on u32 vs u64 vs i32 for the same key.)
func (f *File) Uint(key string) (uint64, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return asUint(kv.Value)
}

// Float returns a FLOAT32, FLOAT64 or integer value as float64.
func (f *File) Float(key string) (float64, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	switch v := kv.Value.(type) {
	case float32:
		return float64(v), true
	case float64:
		return v, true
	}
	if i, ok := asInt(kv.Value); ok {
		return float64(i), true
	}
	if u, ok := asUint(kv.Value); ok {
		return float64(u), true
	}
	return 0, false
}

// Strings returns an array of STRING. The slice is shared; don't modify it.
func (f *File) Strings(key string) ([]string, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	s, ok := kv.Value.([]string)
	return s, ok
}

// Float32s returns an array of FLOAT32 (shared), or of FLOAT64 converted.
func (f *File) Float32s(key string) ([]float32, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	switch v := kv.Value.(type) {
	case []float32:
		return v, true
	case []float64:
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out, true
	}
	return nil, false
}

// Int32s returns an array of INT32 (shared), or of any other integer type
// converted if every element fits in an int32.
func (f *File) Int32s(key string) ([]int32, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	if v, ok := kv.Value.([]int32); ok {
		return v, true
	}
	return convertInts(kv.Value, func(x int64) (int32, bool) {
		return int32(x), x >= math.MinInt32 && x <= math.MaxInt32
	})
}

// Uints returns an array of UINT32 (shared), or of any other integer type
// converted if every element fits in a uint32.
func (f *File) Uints(key string) ([]uint32, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	if v, ok := kv.Value.([]uint32); ok {
		return v, true
	}
	return convertInts(kv.Value, func(x int64) (uint32, bool) {
		return uint32(x), x >= 0 && x <= math.MaxUint32
	})
}

// Tensor returns the tensor record named name.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the tensor's bytes, len == t.Size, in place (the mmap or
// the slice given to Parse): read-only, valid until Close.
func (f *File) TensorData(t *TensorInfo) []byte {
	start := f.DataOffset + t.Offset
	return f.data[start : start+t.Size : start+t.Size]
}

func asUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	}
	if i, ok := asInt(v); ok && i >= 0 {
		return uint64(i), true
	}
	return 0, false
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// convertInts converts an integer array element by element; ok is false if
// v is not an integer array or some element does not fit.
func convertInts[T any](v any, conv func(int64) (T, bool)) ([]T, bool) {
	var xs []int64
	switch a := v.(type) {
	case []uint8:
		xs = widen(a)
	case []int8:
		xs = widen(a)
	case []uint16:
		xs = widen(a)
	case []int16:
		xs = widen(a)
	case []uint32:
		xs = widen(a)
	case []int32:
		xs = widen(a)
	case []int64:
		xs = a
	case []uint64:
		xs = make([]int64, len(a))
		for i, x := range a {
			if x > math.MaxInt64 {
				return nil, false
			}
			xs[i] = int64(x)
		}
	default:
		return nil, false
	}
	out := make([]T, len(xs))
	for i, x := range xs {
		var ok bool
		if out[i], ok = conv(x); !ok {
			return nil, false
		}
	}
	return out, true
}

func widen[T uint8 | int8 | uint16 | int16 | uint32 | int32](a []T) []int64 {
	out := make([]int64, len(a))
	for i, x := range a {
		out[i] = int64(x)
	}
	return out
}
