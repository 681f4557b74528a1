package session

import (
	"reddwarf/infer"
	"reddwarf/infer/tokenizer"
	"reddwarf/server"
)

// Encoding a prompt off the loop.
//
// Tokenising is the part of a GEN or PREFILL whose cost grows with the
// prompt's bytes before the engine can even refuse it: a 16 MiB prompt
// takes about a second, during which a loop that did it served nobody.
// So a front end asks Encoder, on the loop, for the work of encoding a
// job's prompt, runs it on a goroutine of its own, and submits the job
// back on the loop.
//
// A prompt's tokens depend on the session it is appended to, but only
// through its last token (encLast; -1 for an empty session): a text
// starts a sequence (SentencePiece's dummy-prefix space) or continues
// one, and a CHAT turn closes the previous assistant turn unless it ended
// with its end-of-turn token. When the key holds something else by the
// time the job is submitted (Stale) the front end encodes again, off the
// loop; when it does by the time the job starts (a job queued behind
// another on its key), start encodes again on the loop, which is rare.

// OffLoop runs enc, the work Encoder returned for j, on the calling
// goroutine (not the loop) once one of the engine's encoding slots is
// free: tokenising a 16 MiB prompt takes seconds of CPU and, for
// SentencePiece, about 600 MB for its merge state, so only a few run at
// once whatever the number of clients sending such prompts. It reports
// false, having encoded nothing, when j was canceled (Cancel: CLIENT
// UNBLOCK, a disconnect) or stop closed before a slot came. j is nil for
// work that is no job's (TOKENIZE).
func (e *Engine) OffLoop(j *Job, enc func(), stop <-chan struct{}) bool {
	var gone chan struct{} // nil: never closed
	if j != nil {
		gone = j.encodeStop
	}
	select {
	case e.encodeSlots <- struct{}{}:
	case <-gone:
		return false
	case <-stop:
		return false
	}
	defer func() { <-e.encodeSlots }()
	select {
	case <-gone:
		return false
	default:
	}
	if j != nil {
		j.offLoop = true // read on the loop after the caller's Post
	}
	enc()
	return true
}

// reencodeLater hands j back to be encoded again off the loop, reporting
// true, when the session it would start on now is not the one its
// prompt, large enough to have been encoded off the loop, was encoded for:
// a job queued behind another on its key, which changed the key's last
// token (a CHAT turn after another) or emptied it. start would encode it
// on the loop, stalling every client for as long as the front end spared
// them. The key is not busy meanwhile; once encoded, the job is submitted
// again and admitted as a new one (an error ends it through OnDone),
// unless it was canceled. On the loop, at start.
func (e *Engine) reencodeLater(j *Job) bool {
	if !j.offLoop || j.encodedFor(e.lastToken(j.DB, j.Key)) {
		return false
	}
	e.unbusy(j)
	enc := e.Encoder(j)
	go func() {
		if !e.OffLoop(j, enc, nil) {
			return // canceled
		}
		e.ks.Post(func() {
			if j.done {
				return // canceled meanwhile
			}
			if err := e.Submit(j); err != nil {
				e.fail(j, err)
				if j.OnDone != nil {
					j.OnDone(j)
				}
			}
		})
	}()
	return true
}

// InlineEncodeBytes is the largest prompt a front end encodes without
// OffLoop: about a millisecond of tokenising, less than handing it to a
// goroutine would save; a larger one is encoded off the loop, through
// OffLoop (a 16 MiB prompt takes seconds).
const InlineEncodeBytes = 4 << 10

// encodeSlotsFor is how many prompts OffLoop encodes at once: one on a
// machine of two cores or fewer (the loop needs the other), else two.
func encodeSlotsFor(procs int) int { return max(1, min(2, procs/2)) }

// Encoder returns the work of encoding j's prompt (a text GEN or PREFILL,
// or a GEN CHAT turn) for the session j's key holds now, to run on any
// goroutine; Submit j on the loop only after it returned. It returns nil
// for a job with nothing to encode (ids given). Call it on the loop.
func (e *Engine) Encoder(j *Job) func() {
	if j.text == "" && !j.Opt.Chat {
		return nil
	}
	if j.encodeStop == nil {
		j.encodeStop = make(chan struct{})
	}
	last := e.lastToken(j.DB, j.Key)
	text, chat, conv, tools, think, isChat := j.text, j.chat, j.conv, j.Tools, j.Opt.Think, j.Opt.Chat
	return func() {
		var p []int32
		var err error
		switch {
		case conv != nil:
			p, err = e.encodeConversation(conv, tools, last, think)
		case isChat:
			p, err = e.encodeChat(chat, last, think)
		default:
			p = e.encodeText(text, last)
		}
		j.prompt, j.encErr, j.encLast, j.encoded = p, err, last, true
	}
}

// Stale reports whether j's prompt was encoded (Encoder) for another
// session than the one its key holds now, while no job on the key could
// still change it before j starts: the front end should encode it again
// before Submit. On the loop.
func (e *Engine) Stale(j *Job) bool {
	if !j.encoded || e.KeyBusy(j.DB, j.Key) {
		return false
	}
	return !j.encodedFor(e.lastToken(j.DB, j.Key))
}

// encodedFor reports whether j's prompt fits a session whose last token is
// last (-1: empty): a text only cares whether the session is empty.
func (j *Job) encodedFor(last int32) bool {
	switch {
	case !j.encoded:
		return false
	case j.Opt.Chat:
		return j.encLast == last
	default:
		return (j.encLast < 0) == (last < 0)
	}
}

// promptFor makes j's prompt fit st, the session it starts on, when it was
// encoded for another one (or not at all: a job made by NewChatGen and
// submitted without Encoder). On the loop, at start.
func (e *Engine) promptFor(j *Job, st *infer.State) error {
	if j.text == "" && !j.Opt.Chat {
		return nil
	}
	last := lastOf(st)
	if !j.encodedFor(last) {
		switch {
		case j.conv != nil:
			j.prompt, j.encErr = e.encodeConversation(j.conv, j.Tools, last, j.Opt.Think)
		case j.Opt.Chat:
			j.prompt, j.encErr = e.encodeChat(j.chat, last, j.Opt.Think)
		default:
			j.prompt = e.encodeText(j.text, last)
		}
		j.encLast, j.encoded = last, true
	}
	return j.encErr
}

// encodeText encodes a text prompt for a session ending in last: as a
// sequence start for an empty one (the job adds BOS), as its continuation
// otherwise, so "ti" then "me" reads "time", not "ti me". Any goroutine.
func (e *Engine) encodeText(text string, last int32) []int32 {
	return e.Tok.Encode(text, tokenizer.EncodeOptions{ParseSpecial: true, Continue: last >= 0})
}

// encodeChat renders and encodes a GEN CHAT user turn for a session ending
// in last (renderChat). Any goroutine: the engine's formats and template
// do not change after NewEngine.
func (e *Engine) encodeChat(text string, last int32, think bool) ([]int32, error) {
	var prev []int32
	if last >= 0 {
		prev = []int32{last}
	}
	if e.tmpl != nil {
		return e.tmpl.encode(e.Tok, text, prev, think)
	}
	if e.chat == nil {
		return nil, ErrNoChatFormat
	}
	afterEnd := false
	if id, ok := e.Tok.Lookup(e.chat.turnEnd); ok && last >= 0 {
		afterEnd = last == id
	}
	return e.chat.Encode(e.Tok, text, afterEnd, think, e.hasThink), nil
}

// lastToken is the last token of the session key holds, or -1 when it
// holds none (missing, empty, or another type, which Submit refuses).
func (e *Engine) lastToken(db *server.DB, key string) int32 {
	o := db.Peek(key)
	if o == nil || o.Type != server.TypeKVState {
		return -1
	}
	return lastOf(o.Val.(*Session).State)
}

// lastOf is st's last token, or -1 when it is empty.
func lastOf(st *infer.State) int32 {
	if st.Len() == 0 {
		return -1
	}
	return st.Tokens()[st.Len()-1]
}
