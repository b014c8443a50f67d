// Package httpframe cuts reassembled HTTP/1.x byte streams into messages.
//
// Data flow, per session and direction:
//
//	client stream segments -> Requests.Feed -> Request (method, path, headers, body)
//	                                              | method
//	                                              v
//	response stream segments -> Responses.Expect(method); Responses.Feed -> Response
//
// Segments may be of any size; a message is produced once all its bytes have
// arrived. Parsing is done by net/http (ReadRequest, ReadResponse) on the
// buffered, not yet consumed bytes: an attempt that runs into the end of the
// buffer means "more bytes needed", any other error is a protocol error.
// Keep-alive and pipelining (several messages in one segment), chunked
// bodies (extensions, trailers), Content-Length, 1xx informational
// responses (kept on the final response that follows), HEAD, 204 and 304
// (no body) and bodies delimited by the end of the stream (Close) are
// handled. A 101 Switching Protocols response ends HTTP framing of the
// stream: later bytes are counted in Opaque.
//
// Cost: a message is parsed by net/http once its head says it can be
// complete (ready.go); until then only the head is read again per segment
// and chunk boundaries are walked once. MaxMessage bounds the buffered size
// of one message.
package httpframe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// DefaultMaxMessage is the largest message (head and body) buffered.
const DefaultMaxMessage = 64 << 20

// ErrTooLarge: a message grew beyond MaxMessage before it was complete.
var ErrTooLarge = errors.New("httpframe: message larger than the limit")

// edgeReader is a bytes reader that remembers whether a read reached its end.
type edgeReader struct {
	b   []byte
	off int
	hit bool
}

func (r *edgeReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		r.hit = true
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	if r.off >= len(r.b) {
		r.hit = true
	}
	return n, nil
}

// attempt runs parse on buf (called once headEnd found the head's end:
// textproto would take a last line without its end as complete). It returns the bytes parse consumed, or
// incomplete when parse failed because it ran into the end of buf.
func attempt(buf []byte, parse func(*bufio.Reader) error) (n int, incomplete bool, err error) {
	er := &edgeReader{b: buf}
	br := bufio.NewReaderSize(er, 4096)
	if err := parse(br); err != nil {
		if er.hit && truncated(err) {
			return 0, true, nil
		}
		return 0, false, err
	}
	return er.off - br.Buffered(), false, nil
}

// truncated reports whether err is net/http's way of saying the input ended
// (a trailer whose blank line has not arrived yet reads as "suspiciously
// long"; MaxMessage bounds the wait).
func truncated(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "unexpected EOF") ||
		strings.Contains(err.Error(), "suspiciously long trailer")
}

// buffer is the unconsumed part of one direction's stream.
type buffer struct {
	buf    []byte
	offset int64 // stream offset of buf[0]
	max    int
	err    error
	walk   chunkWalk // progress over the chunks of the message at buf[0]
	parses int       // full parse attempts, for tests
}

func (b *buffer) add(p []byte) error {
	if b.err != nil {
		return b.err
	}
	b.buf = append(b.buf, p...)
	return nil
}

func (b *buffer) consume(n int) {
	b.walk = chunkWalk{}
	b.offset += int64(n)
	b.buf = append(b.buf[:0], b.buf[n:]...)
}

func (b *buffer) limit() int {
	if b.max > 0 {
		return b.max
	}
	return DefaultMaxMessage
}

// check fails a message that outgrew the limit while incomplete.
func (b *buffer) check() error {
	if len(b.buf) > b.limit() {
		return b.fail(ErrTooLarge)
	}
	return nil
}

func (b *buffer) fail(err error) error {
	b.err = fmt.Errorf("httpframe: at stream offset %d: %w", b.offset, err)
	return b.err
}

// Request is one framed request.
type Request struct {
	Method string
	Target string // request target as sent (path and query)
	Path   string // path only
	Proto  string
	Host   string
	Header http.Header
	Body   []byte
	Size   int   // bytes on the wire
	Offset int64 // stream offset of the first byte
}

// Requests frames a client->server stream.
type Requests struct {
	b   buffer
	out []Request
}

// NewRequests returns a request framer; max 0 means DefaultMaxMessage.
func NewRequests(max int) *Requests { return &Requests{b: buffer{max: max}} }

// Feed adds the next bytes of the stream and frames what is complete.
func (f *Requests) Feed(p []byte) error {
	if err := f.b.add(p); err != nil {
		return err
	}
	for len(f.b.buf) > 0 {
		if !f.b.ready(requestFraming) {
			return f.b.check()
		}
		f.b.parses++
		var req Request
		n, more, err := attempt(f.b.buf, func(br *bufio.Reader) error {
			r, err := http.ReadRequest(br)
			if err != nil {
				return err
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return err
			}
			req = Request{Method: r.Method, Target: r.RequestURI, Path: r.URL.Path, Proto: r.Proto,
				Host: r.Host, Header: r.Header, Body: body}
			return nil
		})
		if err != nil {
			return f.b.fail(err)
		}
		if more {
			return f.b.check()
		}
		req.Size, req.Offset = n, f.b.offset
		f.out = append(f.out, req)
		f.b.consume(n)
	}
	return nil
}

// Next takes the oldest framed request.
func (f *Requests) Next() (Request, bool) { return take(&f.out) }

// Pending is the number of buffered bytes not yet framed.
func (f *Requests) Pending() int { return len(f.b.buf) }

// take pops the first element of q.
func take[T any](q *[]T) (T, bool) {
	var zero T
	if len(*q) == 0 {
		return zero, false
	}
	v := (*q)[0]
	*q = (*q)[1:]
	return v, true
}

// Response is one framed final response.
type Response struct {
	Method        string // method of the request it answers
	Status        int
	Proto         string
	Header        http.Header
	Trailer       http.Header
	Body          []byte // decoded (de-chunked), not decompressed
	Informational []int  // 1xx statuses received before it
	UntilClose    bool   // body delimited by the end of the stream
	Size          int    // bytes on the wire, informational responses included
	Offset        int64  // stream offset of the first byte
}

// Responses frames a server->client stream. The framer must be told the
// method of each request (Expect) before its response is complete; without
// one, GET is assumed.
type Responses struct {
	b       buffer
	methods []string
	info    []int
	infoLen int
	infoOff int64
	out     []Response
	Opaque  int64 // bytes after a 101 Switching Protocols
	upgrade bool
	closed  bool
}

// NewResponses returns a response framer; max 0 means DefaultMaxMessage.
func NewResponses(max int) *Responses { return &Responses{b: buffer{max: max}} }

// Expect queues the method of the next request sent on the connection.
func (f *Responses) Expect(method string) { f.methods = append(f.methods, method) }

func (f *Responses) method() string {
	if len(f.methods) == 0 {
		return http.MethodGet
	}
	return f.methods[0]
}

// Feed adds the next bytes of the stream and frames what is complete.
func (f *Responses) Feed(p []byte) error {
	if f.upgrade {
		f.Opaque += int64(len(p))
		return nil
	}
	if err := f.b.add(p); err != nil {
		return err
	}
	return f.frame(false)
}

// Close marks the end of the stream: a body delimited by it is complete.
// Bytes left that are not a complete message are an error.
func (f *Responses) Close() error {
	if f.b.err != nil || f.closed {
		return f.b.err
	}
	f.closed = true
	if err := f.frame(true); err != nil {
		return err
	}
	if len(f.b.buf) > 0 {
		return f.b.fail(fmt.Errorf("stream ended inside a response (%d bytes left)", len(f.b.buf)))
	}
	return nil
}

func (f *Responses) frame(eof bool) error {
	for len(f.b.buf) > 0 && !f.upgrade {
		var resp Response
		untilClose := false
		method := f.method()
		if !f.b.ready(func(head []byte) (framing, error) { return responseFraming(head, method) }) {
			return f.b.check()
		}
		f.b.parses++
		n, more, err := attempt(f.b.buf, func(br *bufio.Reader) error {
			r, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				return err
			}
			resp = Response{Method: method, Status: r.StatusCode, Proto: r.Proto, Header: r.Header}
			if r.StatusCode >= 100 && r.StatusCode < 200 {
				return nil
			}
			if r.ContentLength < 0 && len(r.TransferEncoding) == 0 && r.Body != http.NoBody {
				untilClose = true
				if !eof {
					return errors.New("body runs to the end of the stream")
				}
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return err
			}
			resp.Body, resp.Trailer = body, r.Trailer
			return nil
		})
		if untilClose && !eof && err != nil {
			// Wait for Close: everything buffered belongs to this body.
			more, err = true, nil
		}
		if err != nil {
			return f.b.fail(err)
		}
		if more {
			return f.b.check()
		}
		if resp.Status >= 100 && resp.Status < 200 && resp.Status != http.StatusSwitchingProtocols {
			if len(f.info) == 0 {
				f.infoOff = f.b.offset
			}
			f.info = append(f.info, resp.Status)
			f.infoLen += n
			f.b.consume(n)
			continue
		}
		resp.Informational, resp.UntilClose = f.info, untilClose
		resp.Size, resp.Offset = n+f.infoLen, f.b.offset
		if len(f.info) > 0 {
			resp.Offset = f.infoOff
		}
		f.info, f.infoLen = nil, 0
		if len(f.methods) > 0 {
			f.methods = f.methods[1:]
		}
		f.out = append(f.out, resp)
		f.b.consume(n)
		if resp.Status == http.StatusSwitchingProtocols {
			f.upgrade = true
			f.Opaque += int64(len(f.b.buf))
			f.b.consume(len(f.b.buf))
		}
	}
	return nil
}

// Next takes the oldest framed response.
func (f *Responses) Next() (Response, bool) { return take(&f.out) }

// Pending is the number of buffered bytes not yet framed.
func (f *Responses) Pending() int { return len(f.b.buf) }

// Upgraded reports whether a 101 response ended HTTP framing.
func (f *Responses) Upgraded() bool { return f.upgrade }
