// Package gguf reads GGUF model files (versions 2 and 3), the container
// llama.cpp and ds4 load weights from, and writes version 3 (Writer, for
// synthetic models and tests).
//
// A GGUF file is a little-endian header (magic "GGUF", version, tensor count,
// metadata count), the metadata key/value pairs, the tensor directory (name,
// dims with ne0 first, ggml type, data offset), padding to general.alignment
// (default 32), and the tensor data section. Open maps the file read-only and
// parses everything before the data section; Parse does the same over bytes
// already in memory (the embedded default model). Both return a *File:
//
//   - KVs holds the metadata in file order; Get, String, Uint, Float, Bool,
//     Strings, Float32s, Int32s and Uints look keys up by name, converting
//     between integer widths where converters disagree (u32 vs u64 vs i32).
//   - Tensors holds the directory; Tensor finds one by name and TensorData
//     returns its bytes in place, without copying.
//   - Type names a ggml tensor type and gives its block geometry
//     (BlockSize elements in BlockBytes bytes); decoding blocks is metalkit's job.
//
// # Validation
//
// The input is treated as hostile. Every count and length is checked against
// the bytes that remain before anything is allocated, so a string length of
// 2^60 or an array count of 2^40 is an ErrTruncated error, not an allocation.
// Tensors must have at most four dims whose product and byte size fit in 63
// bits, a known type whose block size divides the row length, an aligned
// offset, and data that ends inside the file. Duplicate keys or tensor names,
// bool bytes other than 0/1 and nested arrays are ErrCorrupt. Errors name the
// byte offset, key or tensor and wrap one of the sentinel errors (ErrBadMagic,
// ErrVersion, ErrTruncated, ErrCorrupt, ErrTensor, ErrTooLarge). Nothing here
// panics on input; FuzzParse checks that.
//
// # Caveats
//
// Slices returned by TensorData point into the mapping (or the slice given to
// Parse): they are read-only and become invalid after Close. Metadata values
// are copied out, so they stay valid. Slices returned by the array accessors
// may be shared with the File; don't modify them.
package gguf
