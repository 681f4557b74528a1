package gguf

import "fmt"

// Type is a ggml tensor type id as stored in a GGUF tensor record. The numbers
// are ggml's and are fixed forever: ids 4 and 5 (Q4_2, Q4_3) and 31..33, 36..38
// (interleaved repacks) were removed from ggml and never appear in files.
type Type uint32

// ggml tensor types. Block layouts live with their kernels in metalkit; here
// only the block geometry matters (BlockSize, BlockBytes).
const (
	TypeF32     Type = 0  // float32
	TypeF16     Type = 1  // IEEE binary16
	TypeQ4_0    Type = 2  // {f16 d; u8 qs[16]}
	TypeQ4_1    Type = 3  // {f16 d, m; u8 qs[16]}
	TypeQ5_0    Type = 6  // {f16 d; u8 qh[4]; u8 qs[16]}
	TypeQ5_1    Type = 7  // {f16 d, m; u8 qh[4]; u8 qs[16]}
	TypeQ8_0    Type = 8  // {f16 d; i8 qs[32]}
	TypeQ8_1    Type = 9  // {f16 d, s; i8 qs[32]}
	TypeQ2_K    Type = 10 // {u8 scales[16]; u8 qs[64]; f16 d, dmin}
	TypeQ3_K    Type = 11 // {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}
	TypeQ4_K    Type = 12 // {f16 d, dmin; u8 scales[12]; u8 qs[128]}
	TypeQ5_K    Type = 13 // {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}
	TypeQ6_K    Type = 14 // {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}
	TypeQ8_K    Type = 15 // {f32 d; i8 qs[256]; i16 bsums[16]}
	TypeIQ2_XXS Type = 16 // {f16 d; u16 qs[32]}
	TypeIQ2_XS  Type = 17 // {f16 d; u16 qs[32]; u8 scales[8]}
	TypeIQ3_XXS Type = 18 // {f16 d; u8 qs[96]}
	TypeIQ1_S   Type = 19 // {f16 d; u8 qs[32]; u16 qh[8]}
	TypeIQ4_NL  Type = 20 // {f16 d; u8 qs[16]}
	TypeIQ3_S   Type = 21 // {f16 d; u8 qs[64]; u8 qh[8]; u8 signs[32]; u8 scales[4]}
	TypeIQ2_S   Type = 22 // {f16 d; u8 qs[64]; u8 qh[8]; u8 scales[8]}
	TypeIQ4_XS  Type = 23 // {f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]}
	TypeI8      Type = 24 // int8
	TypeI16     Type = 25 // int16
	TypeI32     Type = 26 // int32
	TypeI64     Type = 27 // int64
	TypeF64     Type = 28 // float64
	TypeIQ1_M   Type = 29 // {u8 qs[32]; u8 qh[16]; u8 scales[8]}
	TypeBF16    Type = 30 // bfloat16
	TypeTQ1_0   Type = 34 // {u8 qs[48]; u8 qh[4]; f16 d}
	TypeTQ2_0   Type = 35 // {u8 qs[64]; f16 d}
	TypeMXFP4   Type = 39 // {u8 e (E8M0); u8 qs[16]}
	TypeNVFP4   Type = 40 // {u8 d[4] (E4M3); u8 qs[32]}
)

// typeInfo is one row of the block-geometry table.
type typeInfo struct {
	name       string
	blockSize  int // elements per block
	blockBytes int // bytes per block
}

var typeTable = map[Type]typeInfo{
	TypeF32:     {"F32", 1, 4},
	TypeF16:     {"F16", 1, 2},
	TypeQ4_0:    {"Q4_0", 32, 18},
	TypeQ4_1:    {"Q4_1", 32, 20},
	TypeQ5_0:    {"Q5_0", 32, 22},
	TypeQ5_1:    {"Q5_1", 32, 24},
	TypeQ8_0:    {"Q8_0", 32, 34},
	TypeQ8_1:    {"Q8_1", 32, 36},
	TypeQ2_K:    {"Q2_K", 256, 84},
	TypeQ3_K:    {"Q3_K", 256, 110},
	TypeQ4_K:    {"Q4_K", 256, 144},
	TypeQ5_K:    {"Q5_K", 256, 176},
	TypeQ6_K:    {"Q6_K", 256, 210},
	TypeQ8_K:    {"Q8_K", 256, 292},
	TypeIQ2_XXS: {"IQ2_XXS", 256, 66},
	TypeIQ2_XS:  {"IQ2_XS", 256, 74},
	TypeIQ3_XXS: {"IQ3_XXS", 256, 98},
	TypeIQ1_S:   {"IQ1_S", 256, 50},
	TypeIQ4_NL:  {"IQ4_NL", 32, 18},
	TypeIQ3_S:   {"IQ3_S", 256, 110},
	TypeIQ2_S:   {"IQ2_S", 256, 82},
	TypeIQ4_XS:  {"IQ4_XS", 256, 136},
	TypeI8:      {"I8", 1, 1},
	TypeI16:     {"I16", 1, 2},
	TypeI32:     {"I32", 1, 4},
	TypeI64:     {"I64", 1, 8},
	TypeF64:     {"F64", 1, 8},
	TypeIQ1_M:   {"IQ1_M", 256, 56},
	TypeBF16:    {"BF16", 1, 2},
	TypeTQ1_0:   {"TQ1_0", 256, 54},
	TypeTQ2_0:   {"TQ2_0", 256, 66},
	TypeMXFP4:   {"MXFP4", 32, 17},
	TypeNVFP4:   {"NVFP4", 64, 36},
}

// String returns ggml's name for the type ("Q4_K"), or "type(N)" if unknown.
func (t Type) String() string {
	if ti, ok := typeTable[t]; ok {
		return ti.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block: 1 for plain types, 32 for
// Q8_0 and friends, 256 for K-quants. 0 for unknown types.
func (t Type) BlockSize() int { return typeTable[t].blockSize }

// BlockBytes is the size in bytes of one block; 0 for unknown types.
func (t Type) BlockBytes() int { return typeTable[t].blockBytes }

// Known reports whether the type's block geometry is known.
func (t Type) Known() bool { return typeTable[t].blockBytes > 0 }

// ValueType is the type tag of a GGUF metadata value. Fixed by the GGUF spec.
type ValueType uint32

const (
	ValueUint8   ValueType = 0  // u8
	ValueInt8    ValueType = 1  // i8
	ValueUint16  ValueType = 2  // u16, little-endian
	ValueInt16   ValueType = 3  // i16
	ValueUint32  ValueType = 4  // u32
	ValueInt32   ValueType = 5  // i32
	ValueFloat32 ValueType = 6  // IEEE binary32
	ValueBool    ValueType = 7  // one byte, 0 or 1 (anything else is rejected)
	ValueString  ValueType = 8  // u64 length + UTF-8 bytes, no terminator
	ValueArray   ValueType = 9  // u32 element type + u64 count + elements (no nested arrays)
	ValueUint64  ValueType = 10 // u64
	ValueInt64   ValueType = 11 // i64
	ValueFloat64 ValueType = 12 // IEEE binary64
)

var valueTypeNames = [...]string{"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32",
	"FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"}

// String returns the spec's name of the value type ("UINT32").
func (v ValueType) String() string {
	if int(v) < len(valueTypeNames) {
		return valueTypeNames[v]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(v))
}

// size is the encoded size of a fixed-size value type, 0 for string/array/unknown.
func (v ValueType) size() uint64 {
	switch v {
	case ValueUint8, ValueInt8, ValueBool:
		return 1
	case ValueUint16, ValueInt16:
		return 2
	case ValueUint32, ValueInt32, ValueFloat32:
		return 4
	case ValueUint64, ValueInt64, ValueFloat64:
		return 8
	}
	return 0
}
