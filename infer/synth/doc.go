// Package synth writes random-weight models as GGUF files, for benchmarks
// and tests: the real shapes and tensor names of an architecture with
// gaussian-noise weights, so speed can be measured without downloading
// weights and engines can be compared on the same bytes (llama.cpp loads
// these files too).
//
// Llama writes a llama model of a Shape (Shapes holds the named ones that
// `reddwarf synth --shape` offers), quantised to Options.Quant, with the
// tokenizer metadata copied from Options.Vocab. Model writes any other
// architecture infer runs (qwen2, qwen3, qwen3moe, phi3, gemma3) of an
// ArchShape (ArchShapes per architecture), with its own tensors: biases,
// head norms, experts, fused matrices, sandwich norms; its norm weights are
// 1 plus noise, so a norm applied with the wrong weights shows. DeepSeek4
// writes DeepSeek V4 Flash with ds4's tensor names and metadata, at its
// real widths ("full") or the smallest that holds K-quant blocks
// ("tiny256"), in F32 or ds4's 2-bit mix. The same options always give
// the same bytes: each tensor's noise comes from PCG streams keyed by the
// seed, the tensor's index and the row chunk, not by how many goroutines
// ran, which is what lets tests pin a file by its hash.
//
// The package never imports infer: it only needs the GGUF writer
// (gguf.Writer) and metalkit's quantisers, so infer's own tests can build
// models with it.
package synth
