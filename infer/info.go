package infer

import (
	"reddwarf/infer/gguf"
)

// Field is one named value of Model.Info.
type Field struct {
	Key   string
	Value any // string, int or int64
}

// Info describes the model, in a fixed order: architecture, params, quant,
// ctx, vocab, bytes_mapped, layers, dim, heads, kv_heads, name, device (the
// metalkit device the forward passes run on: "cpu", "cuda:0 …"), and on a
// device that is not a HostDevice device_kv_pages and device_kv_pages_free
// (its KV pool's size and free pages, now). The server logs it at start
// and MODEL replies it as a map.
func (m *Model) Info() []Field {
	sh := m.arch.Shape()
	name, _ := m.file.String("general.name")
	if name == "" {
		name = m.name
	}
	var params int64
	for i := range m.file.Tensors {
		params += int64(m.file.Tensors[i].Elements())
	}
	f := []Field{
		{"architecture", m.archID},
		{"params", params},
		{"quant", quantName(m.file)},
		{"ctx", m.ctx},
		{"vocab", sh.Vocab},
		{"bytes_mapped", int64(m.file.Size)},
		{"layers", sh.Layers},
		{"dim", sh.Dim},
		{"heads", sh.Heads},
		{"kv_heads", sh.KVHeads},
		{"name", name},
		{"device", m.dev.Name()},
	}
	if m.kv != nil {
		// The device's KV pool, which every session shares.
		f = append(f, Field{"device_kv_pages", m.kv.pages}, Field{"device_kv_pages_free", m.kv.Free()})
	}
	return f
}

// fileTypes names llama.cpp's general.file_type values (enum llama_ftype).
var fileTypes = map[uint64]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
	10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S",
	15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS",
	32: "BF16",
}

// quantName is general.file_type's name, else the tensor type holding the
// most bytes.
func quantName(f *gguf.File) string {
	if ft, ok := f.Uint("general.file_type"); ok {
		if s, ok := fileTypes[ft]; ok {
			return s
		}
	}
	bytes := map[gguf.Type]uint64{}
	for i := range f.Tensors {
		bytes[f.Tensors[i].Type] += f.Tensors[i].Size
	}
	best, most := gguf.Type(0), uint64(0)
	for t, b := range bytes {
		if b > most || (b == most && t < best) {
			best, most = t, b
		}
	}
	return best.String()
}
