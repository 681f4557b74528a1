package tokenizer

import "unicode/utf8"

// Piece returns the bytes id decodes to: a byte token its byte, "▁" as a
// space, GPT-2's byte-to-code-point mapping undone, user-defined tokens
// verbatim, control tokens nothing. The slice is shared: don't modify it.
// A piece may be part of a UTF-8 character; StreamDecoder reassembles them.
func (t *Tokenizer) Piece(id int32) []byte {
	if id < 0 || int(id) >= len(t.tokens) {
		return nil
	}
	a, b := t.pieceOff[id], t.pieceOff[id+1]
	return t.pieceData[a:b:b]
}

// leadingSpaceAfterBOS reports whether the first text of a sequence loses
// its leading space: SentencePiece's dummy prefix, which llama.cpp and
// llama2.c drop when printing.
func (t *Tokenizer) leadingSpaceAfterBOS() bool { return t.model == "llama" && t.addSpacePrefix }

// Decode converts ids to text. For SentencePiece models the leading space of
// the first piece is dropped when the sequence starts the text (ids[0] is
// BOS, a control token, or the first piece itself): it is the dummy prefix
// Encode added. Out-of-range ids decode to nothing.
func (t *Tokenizer) Decode(ids []int32) string {
	var out []byte
	strip := t.leadingSpaceAfterBOS()
	for _, id := range ids {
		p := t.Piece(id)
		if strip && len(p) > 0 {
			if p[0] == ' ' {
				p = p[1:]
			}
			strip = false
		}
		out = append(out, p...)
	}
	return string(out)
}

// StreamDecoder turns ids into text one at a time without ever splitting a
// UTF-8 character: bytes of an incomplete character are held back until the
// piece that completes it arrives. For SentencePiece models, pushing BOS
// first makes the next piece lose its leading space, as Decode does.
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
	pushed  bool // anything pushed yet
	strip   bool // drop the leading space of the next non-empty piece
	// Markers: control tokens come out as their text (KeepMarkers).
	markers bool
}

// NewStreamDecoder returns a decoder in the middle of a sequence: pieces are
// emitted as they are, unless BOS is pushed first.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder { return &StreamDecoder{t: t} }

// KeepMarkers makes d write control tokens (chat markers, "<|channel|>")
// as their text, where Piece gives nothing: a reply whose structure is
// spelled in them (gpt-oss's channels, a tool call's markers) can then be
// parsed from its text.
func (d *StreamDecoder) KeepMarkers() { d.markers = true }

// Push adds id and returns the text that is now complete (possibly "").
func (d *StreamDecoder) Push(id int32) string {
	if !d.pushed && id == d.t.bos && d.t.leadingSpaceAfterBOS() {
		d.strip = true
	}
	d.pushed = true
	p := d.t.Piece(id)
	if d.markers && d.t.Type(id) == TypeControl {
		p = []byte(d.t.Text(id))
	}
	if d.strip && len(p) > 0 {
		if p[0] == ' ' {
			p = p[1:]
		}
		d.strip = false
	}
	d.pending = append(d.pending, p...)
	cut := completePrefix(d.pending)
	out := string(d.pending[:cut])
	d.pending = append(d.pending[:0], d.pending[cut:]...)
	return out
}

// Flush returns whatever is held back (an incomplete character's bytes).
func (d *StreamDecoder) Flush() string {
	out := string(d.pending)
	d.pending = d.pending[:0]
	return out
}

// completePrefix returns the length of the longest prefix of b that does not
// end inside a UTF-8 character that could still be completed. Invalid bytes
// count as complete (they will never become valid).
func completePrefix(b []byte) int {
	for k := len(b) - 1; k >= 0 && k >= len(b)-3; k-- {
		if utf8.RuneStart(b[k]) {
			if !utf8.FullRune(b[k:]) {
				return k
			}
			break
		}
	}
	return len(b)
}
