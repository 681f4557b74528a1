package deepseek4

import (
	"encoding/binary"
	"slices"
	"testing"

	"reddwarf/infer"
	"reddwarf/rdb"
)

// fullModel is the DeepSeek V4 Flash shape without weights (state sizes):
// the widths of the spec's table, and ds4's ratio schedule (0 on layers 0
// and 1, then 4 on even and 128 on odd layers).
func fullModel() *model {
	c := config{Dim: 4096, Layers: 43, Vocab: 129280, Ctx: 1 << 20, Heads: 64, HeadDim: 512,
		RopeDim: 64, QLora: 1024, OGroups: 8, OLora: 1024, Experts: 256,
		ExpertsUsed: 6, ExpertFFN: 2048, Shared: 1, HashLayers: 3, Window: 128,
		IHeads: 64, IDim: 128, ITopK: 512, HC: 4, Sinkhorn: 20, Ratios: make([]int, 43)}
	for i := range c.Ratios {
		switch {
		case i < 2:
		case i%2 == 0:
			c.Ratios[i] = 4
		default:
			c.Ratios[i] = 128
		}
	}
	return &model{cfg: c}
}

// TestStateBytesPerToken: at DeepSeek V4 Flash's shape the state grows
// by 13,764 bytes a token (spec §9.2: 21 CSA layers × (512 + 128) floats / 4,
// 20 HCA layers × 512 floats / 128, the token id), and a 10,000-token
// state holds that much plus the fixed ring and frontiers.
func TestStateBytesPerToken(t *testing.T) {
	m := fullModel()
	if g := m.GrowthBytesPerToken(); g != 13764 {
		t.Errorf("growth %v bytes/token, want 13764", g)
	}
	st := fillState(m, 10000)
	t.Logf("10,000-token state: %d bytes (%.1f KB/token with the fixed parts)", st.Bytes(), float64(st.Bytes())/10000/1000)
}

// fillState makes a state of n tokens with arbitrary row values.
func fillState(m *model, n int) *state {
	st := m.NewArchState().(*state)
	c := &m.cfg
	row := make([]float32, c.HeadDim)
	for i := range row {
		row[i] = float32(i) / 7
	}
	for li, r := range c.Ratios {
		l := &st.layers[li]
		if r != 0 {
			for i := 0; i < n/r; i++ {
				l.comp.append(row)
			}
		}
		if r == 4 {
			for i := 0; i < n/4; i++ {
				l.idx.append(row[:c.IDim])
			}
		}
	}
	st.n = n
	return st
}

// BenchmarkStatePersist encodes and restores a 10,000-token DeepSeek V4
// Flash state (the deepseek4 part of SAVE/LOAD; rdb adds the file I/O).
func BenchmarkStatePersist(b *testing.B) {
	m := fullModel()
	st := fillState(m, 10000)
	toks := make([]int32, 10000)
	for i := 0; i < b.N; i++ {
		secs, err := st.Sections()
		if err != nil {
			b.Fatal(err)
		}
		var size int64
		for _, s := range secs {
			size += int64(len(s.Data))
		}
		b.SetBytes(size)
		if err := m.NewArchState().(*state).RestoreSections(len(toks), secs); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRestoreSections replaces or adds one section of a real 100-token
// state's: restoring never panics, and a state it accepts describes at
// most the session's tokens, with the rows that many tokens make.
func FuzzRestoreSections(f *testing.F) {
	m := openTiny(f, "ds4", "f16")
	s := m.NewState()
	toks := make([]int32, 100)
	for i := range toks {
		toks[i] = int32(i * 7 % m.Vocab())
	}
	if err := m.Step([]infer.Seq{{State: s, Tokens: toks}}); err != nil {
		f.Fatal(err)
	}
	secs, err := s.Ext().(*state).Sections()
	if err != nil {
		f.Fatal(err)
	}
	huge := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 1<<31), 6)
	f.Add(uint16(0), uint16(rdb.SectionDeepSeek4Header), uint32(0), huge)
	f.Add(uint16(0), uint16(rdb.SectionDeepSeek4Header), uint32(0), secs[0].Data[:4])
	f.Add(uint16(3), uint16(rdb.SectionDeepSeek4Comp), uint32(2), secs[3].Data[:8])
	f.Add(uint16(len(secs)), uint16(rdb.SectionDeepSeek4Index), uint32(1), []byte{})
	f.Add(uint16(1), uint16(rdb.SectionDeepSeek4Ring), uint32(7), secs[1].Data)
	f.Fuzz(func(t *testing.T, i, kind uint16, layer uint32, data []byte) {
		mod := slices.Clone(secs)
		sec := rdb.Section{Kind: kind, DType: rdb.DTypeF32, Layer: layer, Size: int64(len(data)), Data: data}
		if k := int(i) % (len(mod) + 1); k == len(mod) {
			mod = append(mod, sec)
		} else {
			mod[k] = sec
		}
		st := m.NewState().Ext().(*state)
		if err := st.RestoreSections(len(toks), mod); err != nil {
			return
		}
		if st.n > len(toks) {
			t.Fatalf("restored state describes %d of %d tokens", st.n, len(toks))
		}
		for li, r := range st.arch.cfg.Ratios {
			if r != 0 && st.layers[li].comp.n != st.n/r {
				t.Fatalf("layer %d: %d compressed rows for %d tokens", li, st.layers[li].comp.n, st.n)
			}
		}
	})
}
