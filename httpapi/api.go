package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"reddwarf/server"
	"reddwarf/session"
	"reddwarf/session/chattmpl"
)

// API serves the HTTP endpoints for one server and its engine.
type API struct {
	s   *server.Server
	e   *session.Engine
	seq uint64 // numbers stateless jobs' private keys; loop goroutine only

	// A streaming client that reads too slowly loses its stream and its
	// job, as CLIENT KILL would: when one event waits WriteTimeout to be
	// taken by its connection, or the pieces not yet written pass
	// MaxPending bytes (events).
	WriteTimeout time.Duration
	MaxPending   int
}

// Defaults of API's slow-reader bounds.
const (
	DefaultWriteTimeout = 30 * time.Second
	DefaultMaxPending   = 4 << 20
)

// New makes the front end of s and e.
func New(s *server.Server, e *session.Engine) *API {
	return &API{s: s, e: e, WriteTimeout: DefaultWriteTimeout, MaxPending: DefaultMaxPending}
}

// Listen opens http-port on bind's addresses and serves them in the
// background; nothing when http-port is 0. Call before server.Start,
// from the goroutine that configured s (it reads s.Config).
func (a *API) Listen() error {
	hs := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// A body that trickles in holds only its goroutine, but not forever.
		ReadTimeout: 60 * time.Second,
	}
	var lns []net.Listener
	for _, la := range server.ListenAddrs(a.s.Config.Bind, a.s.Config.HTTPPort) {
		ln, err := net.Listen(la.Network, la.Addr)
		if err != nil {
			if la.Optional {
				continue
			}
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("http-port: %w", err)
		}
		lns = append(lns, ln)
	}
	for _, ln := range lns {
		a.s.Logf("notice", "HTTP front end listening on %s", ln.Addr())
		go hs.Serve(ln)
	}
	return nil
}

// Handler routes the endpoints.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", a.post(func(w http.ResponseWriter, r *http.Request, body []byte) {
		a.complete(w, r, body, true)
	}))
	mux.HandleFunc("/v1/completions", a.post(func(w http.ResponseWriter, r *http.Request, body []byte) {
		a.complete(w, r, body, false)
	}))
	mux.HandleFunc("/v1/messages", a.post(a.messages))
	mux.HandleFunc("/v1/models", a.get(a.models))
	mux.HandleFunc("/metrics", a.get(a.metrics))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(w, r) {
			return
		}
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "unknown endpoint "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// onLoop runs fn on the loop and waits for it; false if ctx ended first
// (fn may still run).
func (a *API) onLoop(ctx context.Context, fn func()) bool {
	done := make(chan struct{})
	a.s.Post(func() { fn(); close(done) })
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// authorized checks the bearer token against requirepass (read on the
// loop, as CONFIG SET may change it) and answers 401 when it fails.
func (a *API) authorized(w http.ResponseWriter, r *http.Request) bool {
	var pass string
	if !a.onLoop(r.Context(), func() { pass = a.s.Config.RequirePass }) {
		return false
	}
	if pass == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if k := r.Header.Get("X-Api-Key"); !ok && k != "" {
		got, ok = k, true // Anthropic's clients send the key this way
	}
	if ok && subtle.ConstantTimeCompare([]byte(got), []byte(pass)) == 1 {
		return true
	}
	writeError(w, http.StatusUnauthorized, "authentication_error", "", "a valid bearer token (requirepass) is required")
	return false
}

func (a *API) get(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(w, r) {
			return
		}
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "use GET")
			return
		}
		h(w, r)
	}
}

// post checks the method and reads the body, refusing one over maxBody
// with 413.
func (a *API) post(h func(http.ResponseWriter, *http.Request, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(w, r) {
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "use POST")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "", fmt.Sprintf("request body over %d bytes", maxBody))
				return
			}
			writeError(w, http.StatusBadRequest, "invalid_request_error", "", "reading the body: "+err.Error())
			return
		}
		h(w, r, body)
	}
}

// writeError answers in OpenAI's error shape.
func writeError(w http.ResponseWriter, status int, typ, param, msg string) {
	var p any
	if param != "" {
		p = param
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": p, "code": nil,
	}})
}

// jobError answers an error admission or the job gave.
func jobError(w http.ResponseWriter, err error) {
	status, typ, param := classify(err)
	writeError(w, status, typ, param, errorText(err))
}

// classify gives an error its HTTP status, OpenAI error type and the
// request field at fault.
func classify(err error) (status int, typ, param string) {
	var br *badRequest
	switch {
	case errors.As(err, &br):
		return http.StatusBadRequest, "invalid_request_error", br.param
	case errors.Is(err, session.ErrContextFull), err == session.ErrNoChatFormat:
		return http.StatusBadRequest, "invalid_request_error", "messages"
	case err == server.ErrWrongType:
		return http.StatusConflict, "invalid_request_error", "session"
	case err == session.ErrOOM:
		return http.StatusServiceUnavailable, "server_error", ""
	}
	return http.StatusInternalServerError, "server_error", ""
}

func errorText(err error) string {
	var br *badRequest
	if errors.As(err, &br) {
		return br.msg
	}
	return err.Error()
}

// modelName is the served model's name (MODEL's "name").
func (a *API) modelName() string {
	for _, f := range a.e.Model.Info() {
		if s, ok := f.Value.(string); ok && f.Key == "name" && s != "" {
			return s
		}
	}
	return "reddwarf"
}

// GET /v1/models
func (a *API) models(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []any{map[string]any{
		"id": a.modelName(), "object": "model", "created": a.s.StartTime().Unix(), "owned_by": "reddwarf",
	}}})
}

// submit makes j's session.Job and admits it on the loop, as GEN does.
// The prompt is encoded on this goroutine, between two visits to the loop
// (session.Engine.Encoder), so a long one never stalls other clients; if
// the key changed meanwhile in a way its tokens depend on, it is encoded
// again (at most maxEncodes times; then the engine does when the job's turn
// comes).
func (a *API) submit(ctx context.Context, j *job, ev *events) (*session.Job, error) {
	// A large prompt is encoded through OffLoop, which bounds how many
	// are at once; a small one at once.
	size := len(j.prompt)
	for _, m := range j.messages {
		size += len(m.Content)
	}
	encode := func(sj *session.Job, enc func()) bool {
		if size <= session.InlineEncodeBytes {
			enc()
			return true
		}
		return a.e.OffLoop(sj, enc, ctx.Done())
	}
	if a.parsed(j) {
		j.opt.Markers = true // the reply is parsed, markers and all
	}
	if j.tools != nil {
		if j.tools.force != "" {
			f, err := j.tools.format(a.e.ToolFormat(), a.e.MaskSpelling)
			if err != nil {
				return nil, err
			}
			j.opt.Format = f
		}
	}
	if j.opt.Format != nil {
		a.e.PrepareFormats() // its first call indexes the vocabulary: not on the loop
	}
	var toks []int32 // a stateless chat: the whole conversation, rendered
	if j.chat && j.session == "" {
		var err error
		if !encode(nil, func() { toks, err = a.e.EncodeMessages(j.messages, j.toolList()) }) {
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, err
		}
	}
	var sj *session.Job
	var enc func()
	ok := a.onLoop(ctx, func() {
		db := a.s.DBs[0]
		key, discard := j.session, j.session == ""
		if discard {
			// A private key no command can name while the job runs (it
			// is never written): jobs on different keys run together.
			for {
				a.seq++
				key = "\x00http\x00" + strconv.FormatUint(a.seq, 10)
				if db.Lookup(key) == nil {
					break
				}
			}
		}
		switch {
		case j.chat && !discard:
			sj = session.NewChatMessages(db, key, j.messages, j.opt)
			sj.Tools = j.toolList()
		case j.chat:
			o := j.opt
			o.Chat = false // rendered already; Chat would render it again
			sj = session.NewGen(db, key, toks, true, o)
		default:
			sj = session.NewTextGen(db, key, j.prompt, nil, j.opt)
		}
		sj.Discard = discard
		enc = a.e.Encoder(sj)
	})
	if !ok {
		return nil, ctx.Err()
	}
	for tries := maxEncodes; ; tries-- {
		if enc != nil && !encode(sj, enc) {
			return nil, ctx.Err()
		}
		stale := false
		var err error
		ok := a.onLoop(ctx, func() {
			if tries > 1 && a.e.Stale(sj) {
				stale, enc = true, a.e.Encoder(sj)
				return
			}
			ev.attach(sj, j.stream, a.e.Cancel)
			err = a.e.Submit(sj)
		})
		if !ok {
			return nil, ctx.Err()
		}
		if !stale {
			return sj, err
		}
	}
}

// parsed reports whether j's reply is parsed in the model's tool format:
// a chat with tools, or any chat of a gpt-oss model, whose answer is one
// channel of several (the others its thinking, or calls).
func (a *API) parsed(j *job) bool {
	return j.chat && (j.tools != nil || a.e.ToolFormat() == chattmpl.ToolsHarmony)
}

// sseWriter writes a stream's events, each within a.WriteTimeout (a
// client that stops reading fails the write, not the server) and flushed.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (a *API) newSSE(w http.ResponseWriter) *sseWriter {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w: w, rc: http.NewResponseController(w), timeout: a.WriteTimeout}
}

// write sends b; false when the client is gone or too slow.
func (s *sseWriter) write(b []byte) bool {
	if s.timeout > 0 {
		s.rc.SetWriteDeadline(time.Now().Add(s.timeout)) // not every writer has deadlines
	}
	if _, err := s.w.Write(b); err != nil {
		return false
	}
	err := s.rc.Flush()
	return err == nil || errors.Is(err, http.ErrNotSupported)
}

// maxEncodes bounds how often submit encodes a prompt whose key keeps
// changing under it.
const maxEncodes = 4

// cancel drops sj as CLIENT KILL drops a GEN: the key stays as it was.
func (a *API) cancel(sj *session.Job) {
	a.s.Post(func() { a.e.Cancel(sj) })
}
