package session

import (
	"fmt"

	"reddwarf/infer"
	"reddwarf/rdb"
)

// deepseek4's sections of the DSV4 payload: infer's blobs (infer/
// deepseek4_persist.go), kind k stored as rdb kind SectionDeepSeek4First+k.
func init() { RegisterArchSections("deepseek4", dsv4Sections{}) }

type dsv4Sections struct{}

func (dsv4Sections) Sections(ext infer.ArchState) ([]rdb.Section, error) {
	blobs, err := infer.DSV4StateBlobs(ext)
	if err != nil {
		return nil, err
	}
	out := make([]rdb.Section, len(blobs))
	for i, b := range blobs {
		dt := uint8(rdb.DTypeF32)
		if b.Kind == infer.DSV4BlobHeader {
			dt = rdb.DTypeBytes
		}
		out[i] = rdb.Section{Kind: rdb.SectionDeepSeek4First + b.Kind, DType: dt, Layer: uint32(b.Layer), Size: int64(len(b.Data)), Data: b.Data}
	}
	return out, nil
}

func (dsv4Sections) Restore(st *infer.State, sections []rdb.Section) error {
	blobs := make([]infer.DSV4Blob, 0, len(sections))
	for _, s := range sections {
		if s.Kind < rdb.SectionDeepSeek4First || s.Kind > rdb.SectionDeepSeek4Last {
			return fmt.Errorf("deepseek4: section kind %d is not deepseek4's", s.Kind)
		}
		blobs = append(blobs, infer.DSV4Blob{Kind: s.Kind - rdb.SectionDeepSeek4First, Layer: int(s.Layer), Data: s.Data})
	}
	return infer.DSV4RestoreBlobs(st, blobs)
}
