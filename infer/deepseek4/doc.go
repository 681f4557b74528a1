// Package deepseek4 is DeepSeek V4 Flash (general.architecture
// "deepseek4") as antirez's ds4 runs it: hyper-connections with Sinkhorn,
// sliding-window + CSA/HCA compressed attention with a lightning indexer,
// hash and biased top-k MoE, and ds4's FP8/FP4 round trips
// (infer.Options.Numerics). Comments cite sections ("spec §4.4") of
// docs/deepseek4.md, which restates what this package relies on.
//
// # Registration
//
// Like a database/sql driver, the package registers itself with infer from
// its init under the architecture name "deepseek4"; nothing else is
// exported. A program that should load deepseek4 files imports it for that
// effect alone:
//
//	import _ "reddwarf/infer/deepseek4"
//
// main.go does, and so does every test package that opens a deepseek4
// model. infer.Open then finds the loader by the file's
// general.architecture.
//
// # Files, in reading order
//
//   - model.go: config (each field with its GGUF key), the weights (each
//     tensor with its shape and GGUF name) and the loader.
//   - forward.go: one batched forward pass read top to bottom, like run.c:
//     embed, per layer HC pre → attention → HC post → HC pre → MoE → HC
//     post, then the output head. attention.go is the attention sub-layer,
//     one function per step.
//   - numerics.go: ds4's FP8/FP4 round trips, Hadamard, RoPE and norms.
//   - state.go: a session's state, kept beside infer.State as its
//     infer.ArchState: per layer the raw sliding-window ring, compressed
//     and indexer rows (fork-shared pages) and compressor frontiers, plus
//     restore points; a rollback restores the nearest restore point and
//     replays the tokens after it. Snapshots offers frozen states to
//     infer.PrefixCache (restore points, the last page boundary a prefill
//     chunk crossed, the current length), from which another session
//     resumes exactly.
//   - persist.go: that state as sections of the DSV4 file format (kinds in
//     rdb/format.go).
//
// The model keeps no paged K/V rows (its infer.KVLayout has 0 layers).
// Verified against transformers (tools/dsv4-ref) and llama.cpp's deepseek4
// (tools/llamacpp-ref/dsv4.mjs).
package deepseek4
