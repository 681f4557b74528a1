// Package infer runs language models for reddwarf: it loads a GGUF file,
// keeps each session's state (tokens, paged KV cache, next-token logits) and
// advances many sessions together in one batched forward pass.
//
// # Types
//
//   - Model (model.go): a loaded GGUF plus its architecture and the
//     metalkit.Device its passes run on (Options.Device; by default the CPU
//     device on a pool of Threads). On a metalkit.HostDevice each
//     architecture runs its own pass on host memory; on any other device
//     (a GPU) the llama family runs llamadevice.go's pass through the
//     Device ops, its States' KV pages in the device's pool (devicekv.go).
//     Open maps a file read-only; OpenBytes uses bytes in memory (the
//     embedded stories260K). Info describes it; Step runs a batch.
//   - Arch (model.go): one architecture's forward pass, registered by its
//     general.architecture name. llama.go is the llama architecture, written
//     like llama2.c's run.c: a config, a weights struct, a scratch struct and
//     one forward read top to bottom, batched over token rows. The same
//     forward runs qwen2.go (Q/K/V biases), qwen3.go (per-head Q/K norms),
//     qwen3moe.go (a mixture-of-experts FFN, moe.go) and phi3.go (fused
//     matrices split at load); gemma3.go has its own forward (sandwich
//     norms, GeGLU, sliding-window local layers) over llama's blocks. Each
//     is checked against llama.cpp (archs_test.go).
//   - State (kv.go): a session. Tokens, the KV cache in reference-counted
//     pages of PageTokens positions, and the logits after the last token.
//     Clone forks in O(pages) with copy-on-write; Truncate rolls back.
//   - Architectures outside infer register themselves when imported, like
//     database/sql drivers: infer/deepseek4 (DeepSeek V4 Flash) keeps its
//     session state as an ArchState in State.ext (archstate.go) and
//     reaches a State only through its exported methods (Ext, Tokens,
//     SetLogits). main imports it with _.
//   - Seq (model.go): one State and the tokens to append to it in a Step.
//   - Sampler (sampler.go): greedy, temperature, top-k, top-p, min-p, with a
//     seeded splitmix64 RNG per session.
//
// Random-weight models for benchmarks and tests are written by infer/synth,
// GGUF files by gguf.Writer.
//
// # Basics
//
//	m, _ := infer.Open("model.gguf", infer.Options{})
//	a, b := m.NewState(), m.NewState()
//	m.Step([]infer.Seq{{State: a, Tokens: prompt}, {State: b, Tokens: []int32{next}}})
//	tok := infer.NewSampler(infer.SamplerConfig{Temperature: 0.8, Seed: 1}).Sample(a.Logits())
//
// One Step pushes every token row of every Seq through each weight matrix in
// a single matmul, so a prefill chunk of one session and decode
// tokens of many others share one read of the weights (continuous
// batching); attention then runs per session over its own pages, causally.
//
// # Caveats
//
//   - A Step either changes every State in the batch or none: bad token ids,
//     a full context, an empty or duplicated Seq are rejected before any
//     work. Step calls are serialised per Model; States are not safe for
//     concurrent use (the server's loop goroutine owns them).
//   - Logits() and Tokens() return the State's own slices: copy them to keep
//     them across Steps.
//   - Truncate drops the logits (they belonged to the removed last token);
//     Model.Rewind truncates and recomputes them by re-feeding one token.
//   - Pages shared by Clone are written only after a copy (refs > 1); call
//     Release on a State that is being deleted so its pages' counts drop.
//   - On a device that is not a HostDevice the pages are slots of one
//     pool of fixed size (Options.DeviceKVBytes): a Step that needs more
//     than are free fails with ErrKVFull and changes nothing; a released
//     State's pages go back at once, a dropped one's when the collector
//     finds it.
//   - KV rows are f16 by default, like llama.cpp; with f16 the attention
//     products round q and the softmax weights to f16 as llama.cpp does.
//     Options.KVType "f32" is exact (the tests compare it with a float64
//     forward).
package infer
