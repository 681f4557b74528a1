package infer

import (
	"testing"
)

// fullDSV4 is the DeepSeek V4 Flash shape without weights (state sizes).
func fullDSV4() *dsv4 {
	s := DSV4Shapes["full"]
	c := dsv4Config{Dim: s.Dim, Layers: s.Layers, Vocab: s.Vocab, Ctx: s.Ctx, Heads: s.Heads, HeadDim: s.HeadDim,
		RopeDim: s.RopeDim, QLora: s.QLora, OGroups: s.OGroups, OLora: s.OLora, Experts: s.Experts,
		ExpertsUsed: s.ExpertsUsed, ExpertFFN: s.FFN, Shared: 1, HashLayers: s.Hash, Window: s.Window,
		IHeads: s.IHeads, IDim: s.IDim, ITopK: s.ITopK, HC: 4, Sinkhorn: 20, Ratios: s.ratios()}
	return &dsv4{cfg: c}
}

// TestDSV4StateBytesPerToken: at DeepSeek V4 Flash's shape the state grows
// by 13,764 bytes a token (spec §9.2: 21 CSA layers × (512 + 128) floats / 4,
// 20 HCA layers × 512 floats / 128, the token id), and a 10,000-token
// state holds that much plus the fixed ring and frontiers.
func TestDSV4StateBytesPerToken(t *testing.T) {
	m := fullDSV4()
	if g := m.GrowthBytesPerToken(); g != 13764 {
		t.Errorf("growth %v bytes/token, want 13764", g)
	}
	st := fillDSV4State(m, 10000)
	t.Logf("10,000-token state: %d bytes (%.1f KB/token with the fixed parts)", st.Bytes(), float64(st.Bytes())/10000/1000)
}

// fillDSV4State makes a state of n tokens with arbitrary row values.
func fillDSV4State(m *dsv4, n int) *dsv4State {
	st := m.NewArchState().(*dsv4State)
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

// BenchmarkDSV4StatePersist encodes and restores a 10,000-token DeepSeek V4
// Flash state (the deepseek4 part of SAVE/LOAD; rdb adds the file I/O).
func BenchmarkDSV4StatePersist(b *testing.B) {
	m := fullDSV4()
	st := fillDSV4State(m, 10000)
	toks := make([]int32, 10000)
	for i := 0; i < b.N; i++ {
		blobs, err := DSV4StateBlobs(st)
		if err != nil {
			b.Fatal(err)
		}
		var size int64
		for _, bl := range blobs {
			size += int64(len(bl.Data))
		}
		b.SetBytes(size)
		s := &State{tokens: toks, ext: m.NewArchState()}
		if err := DSV4RestoreBlobs(s, blobs); err != nil {
			b.Fatal(err)
		}
	}
}
