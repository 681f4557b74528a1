package models

import _ "embed"

// Stories260K is the embedded default model: karpathy's TinyStories 260K
// llama (MIT), GGUF v3, all F32, tokenizer included.
//
//go:embed stories260K.gguf
var Stories260K []byte
