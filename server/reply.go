package server

import (
	"math"
	"strconv"
	"strings"
)

// Reply builds a client's output in the RESP version it negotiated. Each
// method appends one protocol element; aggregate headers (Array, Map, Set,
// Push) are followed by their elements. The loop goroutine is the only
// writer; the client's network goroutine takes the bytes under the client's
// output lock (see Client.flush).
type Reply struct {
	buf  []byte
	resp int // 2 or 3
}

// OK and the other common replies, pre-encoded once (Redis's shared objects).
var (
	respOK     = []byte("+OK\r\n")
	respQueued = []byte("+QUEUED\r\n")
	respPong   = []byte("+PONG\r\n")
	respNull2  = []byte("$-1\r\n")
	respNullA2 = []byte("*-1\r\n")
	respNull3  = []byte("_\r\n")
	respZero   = []byte(":0\r\n")
	respOne    = []byte(":1\r\n")
)

// Resp is the protocol version the client negotiated (2 or 3), for the
// few replies whose shape, not only encoding, differs (HRANDFIELD's pairs).
func (r *Reply) Resp() int { return r.resp }

// Len reports the bytes buffered so far.
func (r *Reply) Len() int { return len(r.buf) }

// Raw appends already-encoded protocol bytes.
func (r *Reply) Raw(b []byte) { r.buf = append(r.buf, b...) }

// OK appends +OK.
func (r *Reply) OK() { r.buf = append(r.buf, respOK...) }

// Status appends a simple string (+text).
func (r *Reply) Status(s string) {
	r.buf = append(r.buf, '+')
	r.buf = append(r.buf, s...)
	r.buf = append(r.buf, '\r', '\n')
}

// Error appends an error. err.Error() already carries its prefix (ERR,
// WRONGTYPE...). Newlines would break the protocol, so they become spaces.
func (r *Reply) Error(err error) {
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		msg = strings.NewReplacer("\r", " ", "\n", " ").Replace(msg)
	}
	r.buf = append(r.buf, '-')
	r.buf = append(r.buf, msg...)
	r.buf = append(r.buf, '\r', '\n')
}

// Int appends an integer reply.
func (r *Reply) Int(n int64) {
	switch n {
	case 0:
		r.buf = append(r.buf, respZero...)
	case 1:
		r.buf = append(r.buf, respOne...)
	default:
		r.buf = append(r.buf, ':')
		r.buf = strconv.AppendInt(r.buf, n, 10)
		r.buf = append(r.buf, '\r', '\n')
	}
}

// Bool appends a RESP3 boolean, or 1/0 in RESP2.
func (r *Reply) Bool(b bool) {
	if r.resp == 3 {
		if b {
			r.buf = append(r.buf, "#t\r\n"...)
		} else {
			r.buf = append(r.buf, "#f\r\n"...)
		}
		return
	}
	if b {
		r.Int(1)
	} else {
		r.Int(0)
	}
}

// bulkHeaders are the "$n\r\n" headers of short bulk strings, encoded
// once (Redis's shared.bulkhdr): an LRANGE of 100 short elements
// otherwise formats 100 lengths.
var bulkHeaders = func() (h [32][]byte) {
	for i := range h {
		h[i] = []byte("$" + strconv.Itoa(i) + "\r\n")
	}
	return h
}()

// Bulk appends a bulk string.
func (r *Reply) Bulk(b []byte) {
	if len(b) < len(bulkHeaders) {
		r.buf = append(r.buf, bulkHeaders[len(b)]...)
	} else {
		r.buf = append(r.buf, '$')
		r.buf = strconv.AppendInt(r.buf, int64(len(b)), 10)
		r.buf = append(r.buf, '\r', '\n')
	}
	r.buf = append(r.buf, b...)
	r.buf = append(r.buf, '\r', '\n')
}

// BulkString appends a bulk string from a Go string.
func (r *Reply) BulkString(s string) {
	r.buf = append(r.buf, '$')
	r.buf = strconv.AppendInt(r.buf, int64(len(s)), 10)
	r.buf = append(r.buf, '\r', '\n')
	r.buf = append(r.buf, s...)
	r.buf = append(r.buf, '\r', '\n')
}

// Verbatim appends a RESP3 verbatim string (txt), or a bulk string in RESP2.
func (r *Reply) Verbatim(s string) {
	if r.resp != 3 {
		r.BulkString(s)
		return
	}
	r.buf = append(r.buf, '=')
	r.buf = strconv.AppendInt(r.buf, int64(len(s)+4), 10)
	r.buf = append(r.buf, "\r\ntxt:"...)
	r.buf = append(r.buf, s...)
	r.buf = append(r.buf, '\r', '\n')
}

// Null appends a null bulk string ($-1 in RESP2, _ in RESP3).
func (r *Reply) Null() {
	if r.resp == 3 {
		r.buf = append(r.buf, respNull3...)
	} else {
		r.buf = append(r.buf, respNull2...)
	}
}

// NullArray appends a null array (*-1 in RESP2, _ in RESP3).
func (r *Reply) NullArray() {
	if r.resp == 3 {
		r.buf = append(r.buf, respNull3...)
	} else {
		r.buf = append(r.buf, respNullA2...)
	}
}

func (r *Reply) header(c byte, n int) {
	r.buf = append(r.buf, c)
	r.buf = strconv.AppendInt(r.buf, int64(n), 10)
	r.buf = append(r.buf, '\r', '\n')
}

// Array appends an array header of n elements.
func (r *Reply) Array(n int) { r.header('*', n) }

// Map appends a map header of n key/value pairs (a flat array of 2n in RESP2).
func (r *Reply) Map(n int) {
	if r.resp == 3 {
		r.header('%', n)
	} else {
		r.header('*', 2*n)
	}
}

// Set appends a set header (an array in RESP2).
func (r *Reply) Set(n int) {
	if r.resp == 3 {
		r.header('~', n)
	} else {
		r.header('*', n)
	}
}

// Push appends an out-of-band push header (an array in RESP2).
func (r *Reply) Push(n int) {
	if r.resp == 3 {
		r.header('>', n)
	} else {
		r.header('*', n)
	}
}

// Double appends a RESP3 double, or its bulk-string form in RESP2.
func (r *Reply) Double(f float64) {
	if r.resp == 3 {
		r.buf = append(r.buf, ',')
		r.buf = appendDouble(r.buf, f)
		r.buf = append(r.buf, '\r', '\n')
		return
	}
	r.Bulk(appendDouble(nil, f))
}

// Fixed appends f with prec decimals: a RESP3 double, a RESP2 bulk
// string. For measurements (WITHSTATS' milliseconds), where Double's 17
// significant digits would print the float's error (12.3450000000001).
func (r *Reply) Fixed(f float64, prec int) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		r.Double(f)
		return
	}
	if r.resp == 3 {
		r.buf = append(r.buf, ',')
		r.buf = strconv.AppendFloat(r.buf, f, 'f', prec, 64)
		r.buf = append(r.buf, '\r', '\n')
		return
	}
	r.Bulk(strconv.AppendFloat(nil, f, 'f', prec, 64))
}

// AppendDouble appends f as Redis 7.0 prints a double (%.17g, inf, -inf).
func AppendDouble(b []byte, f float64) []byte { return appendDouble(b, f) }

func appendDouble(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	case math.IsNaN(f):
		return append(b, "nan"...)
	}
	return strconv.AppendFloat(b, f, 'g', 17, 64)
}

// Strings appends an array of bulk strings.
func (r *Reply) Strings(ss []string) {
	r.Array(len(ss))
	for _, s := range ss {
		r.BulkString(s)
	}
}

// Deferred returns an empty reply in r's protocol version, for a part
// whose header is known only once it is built (Redis's
// addReplyDeferredLen): build into it, write the header to r, then
// Append it.
func (r *Reply) Deferred() *Reply { return &Reply{resp: r.resp} }

// Append appends what o built.
func (r *Reply) Append(o *Reply) { r.buf = append(r.buf, o.buf...) }
