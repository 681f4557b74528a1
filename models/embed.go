// Package models holds the model files compiled into reddwarf.
package models

import _ "embed"

// Stories260K is the embedded default model: karpathy's TinyStories 260K
// llama (MIT), GGUF v3, all F32, tokenizer included.
//
//go:embed stories260K.gguf
var Stories260K []byte

// GPT2Vocab is GPT-2's byte-level BPE vocabulary (50,257 tokens) as a
// vocab-only GGUF from llama.cpp's models/ directory (MIT; provenance in
// infer/tokenizer/testdata/README.md). `reddwarf synth` copies its
// tokenizer into the models it writes unless told another, so a synthetic
// model has a real vocabulary's size wherever the binary runs.
//
//go:embed ggml-vocab-gpt-2.gguf
var GPT2Vocab []byte
