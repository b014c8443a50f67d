package httpframe

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/replaygw/replaygw/compare/lines"
)

// Cutter finds where messages begin and end in one direction of an
// HTTP/1.x stream without building them: no net/http parse, no
// allocation per message once its buffers have grown. The copier's
// protocol adapter (protocol/http) runs one per stream on the hot path;
// Requests and Responses parse the messages fully where a comparison
// needs them.
//
// The rules are those of the framers: a request has a body by
// Content-Length or chunked Transfer-Encoding, none otherwise; a
// response to HEAD, a 204, a 304 and a 1xx have none, a chunked or
// Content-Length body ends where it says, any other body runs to the end
// of the stream (Close). A 1xx other than 101 is part of the final
// response that follows it. A 101 response, a 2xx response to CONNECT
// and, on the client side, a request asking for an Upgrade or a CONNECT
// end HTTP framing: later bytes are Opaque.
//
// Once a stream is found not to be HTTP (Err), Step consumes everything
// without events.
type Cutter struct {
	response bool
	st       cutState
	text     lines.Joiner // a line split across segments
	head     int          // bytes of the head so far
	remain   int64        // body or chunk bytes left
	msg      msgFacts
	expect   []Method // methods of the requests whose responses are due (response side)
	exp0     int      // index of the first due method in expect
	expected int      // Expect calls
	answered int      // final responses read (response side)
	lines    int      // request lines read (request side)
	off      int64    // stream offset of the next byte
	err      error
	// Facts of the last message whose head was read.
	method Method
	status int
}

type cutState uint8

const (
	stIdle       cutState = iota // between messages
	stStartLine                  // inside a request or status line
	stHeaders                    // inside the header lines
	stBody                       // remain bytes of a Content-Length body
	stChunkSize                  // a chunk-size line
	stChunkData                  // remain bytes of chunk data
	stChunkEnd                   // the CRLF after chunk data
	stTrailer                    // trailer lines up to the blank line
	stUntilClose                 // a body delimited by the end of the stream
	stOpaque                     // no more HTTP framing (101, CONNECT, Upgrade)
	stBroken                     // not HTTP: Err says why
	stSync                       // looking for the first start line (Resync)
)

// msgFacts are what the head of the current message says about its body.
type msgFacts struct {
	length  int64 // Content-Length, -1 none
	chunked bool
	te      bool // some Transfer-Encoding
	upgrade bool // request: an Upgrade header
	http10  bool // HTTP/1.0: Transfer-Encoding is ignored, as net/http does
}

// Method is a request method as the framing needs it; MethodOther is any
// other token.
type Method uint8

const (
	MethodOther Method = iota
	MethodGet
	MethodHead
	MethodPost
	MethodPut
	MethodDelete
	MethodPatch
	MethodOptions
	MethodConnect
	MethodTrace
)

var methodNames = [...]string{"", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}

// String is the method's name, "" for MethodOther.
func (m Method) String() string { return methodNames[m] }

func lookupMethod(b []byte) Method {
	for i := 1; i < len(methodNames); i++ {
		if string(b) == methodNames[i] {
			return Method(i)
		}
	}
	return MethodOther
}

// Event says what a Step found.
type Event uint8

const (
	// Start: a message begins at the first byte Step consumed.
	Start Event = 1 << iota
	// End: a message ends at the last byte Step consumed.
	End
)

// Limits of one head.
const (
	MaxHead = 1 << 20 // request or status line and headers
)

// ErrNotHTTP wraps every framing error of a Cutter.
var ErrNotHTTP = errors.New("not HTTP/1.x")

// Init makes c a new cutter of a server->client stream (response) or
// of a client->server one, for cutters held by value.
func (c *Cutter) Init(response bool) { *c = Cutter{response: response} }

// Resync makes c skip bytes up to the first line, starting a segment or
// following a line end within one, that is a valid request line (status
// line): for a capture that began in the middle of a session.
func (c *Cutter) Resync() { c.st = stSync }

// NewRequestCutter returns the cutter of a client->server stream.
func NewRequestCutter() *Cutter { return &Cutter{} }

// NewResponseCutter returns the cutter of a server->client stream; tell it
// each request's method with Expect.
func NewResponseCutter() *Cutter { return &Cutter{response: true} }

// Expect queues the method of the next request (response side); without
// one, GET is assumed.
func (c *Cutter) Expect(m Method) {
	c.expected++
	if c.expected <= c.answered {
		return // its response came before it was expected
	}
	if c.exp0 == len(c.expect) {
		c.expect, c.exp0 = c.expect[:0], 0
	}
	c.expect = append(c.expect, m)
}

func (c *Cutter) due() Method {
	if c.exp0 < len(c.expect) {
		return c.expect[c.exp0]
	}
	return MethodGet
}

// Err is why the stream is not HTTP, or nil.
func (c *Cutter) Err() error { return c.err }

// Opaque reports whether HTTP framing ended (upgrade, tunnel) or broke.
func (c *Cutter) Opaque() bool { return c.st == stOpaque || c.st == stBroken }

// Method is the method of the last request whose line was read (request
// side) or of the request the last response answers (response side).
func (c *Cutter) Method() Method { return c.method }

// Requests is the number of request lines read (request side): Method is
// known for the request of that number.
func (c *Cutter) Requests() int { return c.lines }

// Status is the status of the last response whose status line was read.
func (c *Cutter) Status() int { return c.status }

// Offset is the stream offset of the next byte.
func (c *Cutter) Offset() int64 { return c.off }

// InMessage reports whether a message has begun and not ended.
func (c *Cutter) InMessage() bool {
	return c.st != stIdle && c.st != stOpaque && c.st != stBroken && c.st != stSync
}

func (c *Cutter) fail(format string, args ...any) {
	c.err = fmt.Errorf("httpframe: at stream offset %d: %w: %s", c.off, ErrNotHTTP, fmt.Sprintf(format, args...))
	c.st = stBroken
	c.text.Reset()
}

// Step consumes the bytes of p up to and including the next event (all
// of p when there is none) and says what it found. n > 0 whenever p is
// not empty.
func (c *Cutter) Step(p []byte) (n int, ev Event) {
	for n < len(p) {
		q := p[n:]
		switch c.st {
		case stOpaque, stBroken:
			c.off += int64(len(q))
			return len(p), ev
		case stIdle:
			if ev&End != 0 {
				return n, ev
			}
			// Blank lines between messages belong to none.
			if q[0] == '\r' || q[0] == '\n' {
				n++
				c.off++
				continue
			}
			if n > 0 {
				return n, ev // the next Step reports the start
			}
			ev |= Start
			c.st, c.head, c.msg = stStartLine, 0, msgFacts{length: -1}
		case stBody, stChunkData:
			k := int(min(int64(len(q)), c.remain))
			n += k
			c.off += int64(k)
			c.remain -= int64(k)
			if c.remain == 0 {
				if c.st == stChunkData {
					c.st = stChunkEnd
				} else {
					c.st = stIdle
					return n, ev | End
				}
			}
		case stUntilClose:
			c.off += int64(len(q))
			return len(p), ev
		case stSync:
			k := c.sync(q)
			n += k
			c.off += int64(k)
		default: // line states
			line, k, st := c.text.Cut(q)
			n += k
			c.off += int64(k)
			c.head += k
			if c.head > MaxHead {
				c.fail("head longer than %d bytes", MaxHead)
			} else if st == lines.Line && c.lineDone(line) {
				return n, ev | End
			}
			if c.st == stBroken {
				c.off += int64(len(p) - n)
				return len(p), ev
			}
		}
	}
	return n, ev
}

// lineDone handles one complete line (without its LF); true when it ends
// the message.
func (c *Cutter) lineDone(l []byte) bool {
	if c.head > MaxHead {
		c.fail("head longer than %d bytes", MaxHead)
		return false
	}
	l = bytes.TrimSuffix(l, []byte{'\r'})
	switch c.st {
	case stStartLine:
		if c.response {
			c.statusLine(l)
		} else {
			c.requestLine(l)
		}
	case stHeaders:
		if len(l) == 0 {
			return c.headDone()
		}
		c.header(l)
	case stChunkSize:
		size, ok := chunkSize(l)
		if !ok {
			c.fail("bad chunk size line %q", clipLine(l))
			return false
		}
		if size == 0 {
			c.st = stTrailer
		} else {
			c.st, c.remain = stChunkData, size
		}
	case stChunkEnd:
		if len(l) != 0 {
			c.fail("chunk data not followed by CRLF")
			return false
		}
		c.st = stChunkSize
	case stTrailer:
		if len(l) == 0 {
			c.st = stIdle
			return true
		}
	}
	return false
}

func clipLine(l []byte) []byte {
	if len(l) > 40 {
		return l[:40]
	}
	return l
}

// isToken reports whether b is a non-empty RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, ch := range b {
		if ch <= ' ' || ch >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), ch) >= 0 {
			return false
		}
	}
	return true
}

func validProto(b []byte) bool {
	return len(b) == 8 && string(b[:7]) == "HTTP/1." && b[7] >= '0' && b[7] <= '9'
}

// sync returns how many bytes of q to skip: up to a valid start line, or
// all of q (then the state stays stSync).
func (c *Cutter) sync(q []byte) int {
	for pos := 0; pos < len(q); {
		i := bytes.IndexByte(q[pos:], '\n')
		if i < 0 {
			return len(q)
		}
		l := bytes.TrimSuffix(q[pos:pos+i], []byte{'\r'})
		ok := false
		if c.response {
			_, ok = parseStatusLine(l)
		} else {
			_, ok = parseRequestLine(l)
		}
		if ok {
			c.st = stIdle
			return pos
		}
		pos += i + 1
	}
	return len(q)
}

// parseRequestLine checks "METHOD target HTTP/1.x".
func parseRequestLine(l []byte) (Method, bool) {
	sp1 := bytes.IndexByte(l, ' ')
	sp2 := bytes.LastIndexByte(l, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 || !isToken(l[:sp1]) || !validProto(l[sp2+1:]) {
		return 0, false
	}
	return lookupMethod(l[:sp1]), true
}

// parseStatusLine checks "HTTP/1.x NNN reason" and returns the code.
func parseStatusLine(l []byte) (int, bool) {
	if len(l) < 12 || !validProto(l[:8]) || l[8] != ' ' || (len(l) > 12 && l[12] != ' ') {
		return 0, false
	}
	code := 0
	for _, d := range l[9:12] {
		if d < '0' || d > '9' {
			return 0, false
		}
		code = code*10 + int(d-'0')
	}
	return code, code >= 100
}

func (c *Cutter) requestLine(l []byte) {
	m, ok := parseRequestLine(l)
	if !ok {
		c.fail("bad request line %q", clipLine(l))
		return
	}
	c.method = m
	c.msg.http10 = l[len(l)-1] == '0'
	c.lines++
	c.st = stHeaders
}

func (c *Cutter) statusLine(l []byte) {
	code, ok := parseStatusLine(l)
	if !ok {
		c.fail("bad status line %q", clipLine(l))
		return
	}
	c.status, c.method = code, c.due()
	c.msg.http10 = l[7] == '0'
	c.st = stHeaders
}

// header reads the framing facts of one header line.
func (c *Cutter) header(l []byte) {
	if l[0] == ' ' || l[0] == '\t' {
		return // continuation of the previous value
	}
	colon := bytes.IndexByte(l, ':')
	if colon <= 0 || !isToken(l[:colon]) {
		c.fail("bad header line %q", clipLine(l))
		return
	}
	name, value := l[:colon], bytes.TrimSpace(l[colon+1:])
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		n, ok := decimal(value)
		if !ok || (c.msg.length >= 0 && c.msg.length != n) {
			c.fail("bad Content-Length %q", clipLine(value))
			return
		}
		c.msg.length = n
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		c.msg.te = true
		last := value
		if i := bytes.LastIndexByte(value, ','); i >= 0 {
			last = bytes.TrimSpace(value[i+1:])
		}
		c.msg.chunked = bytes.EqualFold(last, []byte("chunked"))
	case bytes.EqualFold(name, []byte("Upgrade")):
		c.msg.upgrade = true
	}
}

// headDone decides how the body ends; true when the message ended.
func (c *Cutter) headDone() bool {
	f := c.msg
	if f.http10 {
		f.chunked, f.te = false, false
	}
	if c.response {
		switch {
		case c.status == 101:
			c.popDue()
			c.st = stOpaque
			return true
		case c.status < 200:
			// Informational: the final response follows, as part of
			// the same message.
			c.st, c.head, c.msg = stStartLine, 0, msgFacts{length: -1}
			return false
		case c.method == MethodConnect && c.status < 300:
			c.popDue()
			c.st = stOpaque
			return true
		}
		c.popDue()
		switch {
		case c.method == MethodHead || c.status == 204 || c.status == 304:
		case f.chunked:
			c.st = stChunkSize
			return false
		case f.te:
			c.st = stUntilClose
			return false
		case f.length > 0:
			c.st, c.remain = stBody, f.length
			return false
		case f.length < 0:
			c.st = stUntilClose
			return false
		}
		c.st = stIdle
		return true
	}
	switch {
	case f.te && !f.chunked:
		c.fail("request Transfer-Encoding is not chunked")
		return false
	case f.chunked:
		c.st = stChunkSize
	case f.length > 0:
		c.st, c.remain = stBody, f.length
	default:
		c.st = stIdle
	}
	if c.method == MethodConnect || f.upgrade {
		// What follows the head is another protocol, or this request's
		// body and then another protocol: stop framing.
		c.st = stOpaque
		return true
	}
	return c.st == stIdle
}

func (c *Cutter) popDue() {
	c.answered++
	if c.exp0 < len(c.expect) {
		c.exp0++
	}
}

// Close ends the stream; End when it completed a body delimited by it.
func (c *Cutter) Close() Event {
	if c.st == stUntilClose {
		c.st = stIdle
		return End
	}
	return 0
}

func decimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// chunkSize parses a chunk-size line: hex digits, then optional
// whitespace and ";extensions".
func chunkSize(l []byte) (int64, bool) {
	if i := bytes.IndexByte(l, ';'); i >= 0 {
		l = l[:i]
	}
	l = bytes.TrimRight(l, " \t")
	if len(l) == 0 || len(l) > 15 {
		return 0, false
	}
	var n int64
	for _, d := range l {
		switch {
		case d >= '0' && d <= '9':
			n = n<<4 | int64(d-'0')
		case d >= 'a' && d <= 'f':
			n = n<<4 | int64(d-'a'+10)
		case d >= 'A' && d <= 'F':
			n = n<<4 | int64(d-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
