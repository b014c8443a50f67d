// Package resp frames Redis replies (RESP2 and RESP3) from a reassembled
// server->client byte stream fed in segments of any size.
//
// Data flow, per session:
//
//	response stream segments -> Framer.Feed -> Reply (value tree, raw bytes)
//	                                             -> Next, in stream order
//
// Every RESP3 type is understood: simple string +, error -, integer :,
// blob string $ (and $-1 null), array * (and *-1 null), null _, double ,,
// boolean #, blob error !, verbatim string =, big number (, map %, set ~,
// push >, attribute | (attached to the value it precedes, Value.Attr), and
// streamed strings ($? with ;n chunks, ;0 ends) and streamed aggregates
// (*?, %?, ~? and >? ended by .). A push at the top level is out of band: the
// pairing must not match it with a request (Reply.Push).
//
// An incomplete reply is parsed again from its start when more bytes
// arrive; MaxReply bounds the buffered size of one reply.
package resp

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Limits on what one reply may declare.
const (
	DefaultMaxReply = 64 << 20
	maxDepth        = 128
	maxBlob         = 512 << 20
	maxPrealloc     = 1024
)

// Value is one RESP value.
type Value struct {
	Type  byte    // the type byte: + - : $ * _ , # ! = ( % ~ > |
	Str   []byte  // text of + - $ ! = ( , (verbatim keeps its "txt:" prefix)
	Int   int64   // value of : and # (1 true, 0 false)
	Null  bool    // _, $-1, *-1
	Elems []Value // elements of * ~ >; keys and values alternating for % |
	Attr  *Value  // attribute (|) sent before this value
}

// Reply is one framed top-level value.
type Reply struct {
	Value
	Raw    []byte // the bytes on the wire
	Push   bool   // an out-of-band push (>), not the answer to a request
	Offset int64  // stream offset of the first byte
}

// IsError reports whether the reply is an error (- or !).
func (v Value) IsError() bool { return v.Type == '-' || v.Type == '!' }

var errIncomplete = errors.New("incomplete")

// Framer frames one reply stream.
type Framer struct {
	buf []byte
	off int64
	out []Reply
	max int
	err error
}

// NewFramer returns a framer; max 0 means DefaultMaxReply.
func NewFramer(max int) *Framer {
	if max <= 0 {
		max = DefaultMaxReply
	}
	return &Framer{max: max}
}

// Feed adds the next bytes of the stream and frames the complete replies.
func (f *Framer) Feed(p []byte) error {
	if f.err != nil {
		return f.err
	}
	f.buf = append(f.buf, p...)
	for len(f.buf) > 0 {
		v, n, err := parse(f.buf, 0, 0)
		if err == errIncomplete {
			if len(f.buf) > f.max {
				return f.fail(0, fmt.Errorf("reply larger than the limit %d", f.max))
			}
			return nil
		}
		if err != nil {
			return f.fail(0, err)
		}
		// The reply's slices point into buf: later bytes are appended
		// after them, never over them.
		f.out = append(f.out, Reply{Value: v, Raw: f.buf[:n:n], Push: v.Type == '>', Offset: f.off})
		f.off += int64(n)
		f.buf = f.buf[n:]
	}
	return nil
}

func (f *Framer) fail(at int, err error) error {
	f.err = fmt.Errorf("resp: reply at stream offset %d: %w", f.off+int64(at), err)
	return f.err
}

// Next takes the oldest framed reply.
func (f *Framer) Next() (Reply, bool) {
	if len(f.out) == 0 {
		return Reply{}, false
	}
	r := f.out[0]
	f.out = f.out[1:]
	return r, true
}

// Pending is the number of buffered bytes not yet framed.
func (f *Framer) Pending() int { return len(f.buf) }

// line returns the text from pos up to CRLF and the position after it.
func line(b []byte, pos int) ([]byte, int, error) {
	i := bytes.Index(b[pos:], []byte("\r\n"))
	if i < 0 {
		return nil, 0, errIncomplete
	}
	return b[pos : pos+i], pos + i + 2, nil
}

func length(s []byte, what byte, max int64) (int64, error) {
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || n < -1 || n > max {
		return 0, fmt.Errorf("bad length %q for type %q", s, what)
	}
	return n, nil
}

// parse reads one value at pos.
func parse(b []byte, pos, depth int) (Value, int, error) {
	if depth > maxDepth {
		return Value{}, 0, fmt.Errorf("nesting deeper than %d", maxDepth)
	}
	if pos >= len(b) {
		return Value{}, 0, errIncomplete
	}
	t := b[pos]
	text, next, err := line(b, pos+1)
	if err != nil {
		return Value{}, 0, err
	}
	v := Value{Type: t}
	switch t {
	case '+', '-', '(':
		v.Str = text
		return v, next, nil
	case ',':
		if _, err := strconv.ParseFloat(string(text), 64); err != nil && !isSpecialDouble(text) {
			return v, 0, fmt.Errorf("bad double %q", text)
		}
		v.Str = text
		return v, next, nil
	case ':':
		n, err := strconv.ParseInt(string(text), 10, 64)
		if err != nil {
			return v, 0, fmt.Errorf("bad integer %q", text)
		}
		v.Int = n
		return v, next, nil
	case '#':
		switch string(text) {
		case "t":
			v.Int = 1
		case "f":
		default:
			return v, 0, fmt.Errorf("bad boolean %q", text)
		}
		return v, next, nil
	case '_':
		if len(text) != 0 {
			return v, 0, fmt.Errorf("bad null %q", text)
		}
		v.Null = true
		return v, next, nil
	case '$', '!', '=':
		if t == '$' && string(text) == "?" {
			return streamedString(b, next, v)
		}
		n, err := length(text, t, maxBlob)
		if err != nil {
			return v, 0, err
		}
		if n < 0 {
			v.Null = true
			return v, next, nil
		}
		end := next + int(n)
		if len(b) < end+2 {
			return v, 0, errIncomplete
		}
		if b[end] != '\r' || b[end+1] != '\n' {
			return v, 0, fmt.Errorf("blob of %d bytes not followed by CRLF", n)
		}
		v.Str = b[next:end]
		if t == '=' && (n < 4 || v.Str[3] != ':') {
			return v, 0, fmt.Errorf("verbatim string without a format prefix")
		}
		return v, end + 2, nil
	case '*', '~', '>', '%', '|':
		return aggregate(b, next, depth, v, text)
	}
	return v, 0, fmt.Errorf("unknown type byte %q", t)
}

func isSpecialDouble(s []byte) bool {
	switch string(s) {
	case "inf", "-inf", "nan":
		return true
	}
	return false
}

// streamedString reads ;n chunks up to ;0.
func streamedString(b []byte, pos int, v Value) (Value, int, error) {
	var s []byte
	for {
		if pos >= len(b) {
			return v, 0, errIncomplete
		}
		if b[pos] != ';' {
			return v, 0, fmt.Errorf("streamed string chunk starts with %q, want ';'", b[pos])
		}
		text, next, err := line(b, pos+1)
		if err != nil {
			return v, 0, err
		}
		n, err := length(text, ';', maxBlob)
		if err != nil || n < 0 {
			return v, 0, fmt.Errorf("bad chunk length %q", text)
		}
		if n == 0 {
			v.Str = s
			return v, next, nil
		}
		end := next + int(n)
		if len(b) < end+2 {
			return v, 0, errIncomplete
		}
		s = append(s, b[next:end]...)
		pos = end + 2
	}
}

// aggregate reads the elements of * ~ > % | (n of them, or up to '.' when
// streamed), then for | the value the attribute belongs to.
func aggregate(b []byte, pos, depth int, v Value, text []byte) (Value, int, error) {
	pairs := v.Type == '%' || v.Type == '|'
	count := int64(-2) // streamed
	if string(text) != "?" || v.Type == '|' {
		n, err := length(text, v.Type, 1<<31)
		if err != nil {
			return v, 0, err
		}
		if n < 0 {
			if v.Type != '*' {
				return v, 0, fmt.Errorf("null length for type %q", v.Type)
			}
			v.Null = true
			return v, pos, nil
		}
		if pairs {
			n *= 2
		}
		count = n
		v.Elems = make([]Value, 0, min(n, maxPrealloc))
	}
	for i := int64(0); count < 0 || i < count; i++ {
		if count < 0 {
			if pos >= len(b) {
				return v, 0, errIncomplete
			}
			if b[pos] == '.' {
				rest, next, err := line(b, pos+1)
				if err != nil {
					return v, 0, err
				}
				if len(rest) != 0 || (pairs && len(v.Elems)%2 != 0) {
					return v, 0, fmt.Errorf("bad end of streamed aggregate")
				}
				pos = next
				break
			}
		}
		e, next, err := parse(b, pos, depth+1)
		if err != nil {
			return v, 0, err
		}
		v.Elems = append(v.Elems, e)
		pos = next
	}
	if v.Type != '|' {
		return v, pos, nil
	}
	attr := v
	target, next, err := parse(b, pos, depth+1)
	if err != nil {
		return v, 0, err
	}
	target.Attr = &attr
	return target, next, nil
}
