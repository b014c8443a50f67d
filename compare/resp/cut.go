package resp

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/replaygw/replaygw/compare/lines"
)

// Cutter finds where RESP2/RESP3 values begin and end in a stream without
// building them: no allocation per value once its buffers have grown. It
// counts the values an aggregate still owes (a stack of counts, one per
// open aggregate) and skips blob bodies by length. The copier's protocol
// adapter (protocol/redis) runs one per stream; Framer parses values
// fully where a comparison needs them.
//
// A client stream holds commands: RESP arrays, or inline commands (a line
// of words; blank lines are no command). A reply stream holds replies; a
// top-level push (>) is out of band (Push).
//
// Once a stream is found not to be RESP (Err), Step consumes everything
// without events.
type Cutter struct {
	client bool
	st     cutState
	text   lines.Joiner // a line split across segments
	remain int64        // blob bytes left, CRLF included
	stack  []level
	push   bool // the value in progress is a top-level push
	off    int64
	err    error
	name   [32]byte // first element of the command in progress (client)
	nameN  int
	elem   int // index of the top-level element in progress (client)
}

type cutState uint8

const (
	cIdle   cutState = iota // between values
	cHeader                 // a type line
	cBlob                   // remain bytes of a blob and its CRLF
	cChunk                  // a streamed string's ;n line
	cInline                 // an inline command's line
	cOpaque                 // no more framing (the adapter said so)
	cBroken
	cSync // looking for the first command (Resync)
)

// level is one open aggregate.
type level struct {
	remain   int64 // values still owed; streamed: until '.'
	streamed bool
	attr     bool // an attribute: the value it belongs to follows
}

// MaxLine bounds one type line or inline command.
const MaxLine = 64 << 10

// Event says what a Step found.
type Event uint8

const (
	// Start: a value (command, reply) begins at the first byte consumed.
	Start Event = 1 << iota
	// End: it ends at the last byte consumed.
	End
)

// ErrNotRESP wraps every framing error of a Cutter.
var ErrNotRESP = errors.New("not RESP")

// Init makes c a new cutter of a client stream (commands) or of a reply
// stream, for cutters held by value.
func (c *Cutter) Init(client bool) {
	*c = Cutter{client: client, text: lines.Joiner{Max: MaxLine}}
}

// Err is why the stream is not RESP, or nil.
func (c *Cutter) Err() error { return c.err }

// Push reports whether the last value that ended was a top-level push.
func (c *Cutter) Push() bool { return c.push }

// Name is the command's name as sent (its first element, cut to 32
// bytes), valid once its first element has been read, until the next
// command starts.
func (c *Cutter) Name() []byte { return c.name[:c.nameN] }

// Stop ends framing: later bytes are consumed without events.
func (c *Cutter) Stop() {
	if c.st != cBroken {
		c.st = cOpaque
	}
}

// Opaque reports whether framing stopped or broke, or the cutter is
// still looking for a command (Resync): bytes consumed now belong to no
// value.
func (c *Cutter) Opaque() bool { return c.st == cOpaque || c.st == cBroken || c.st == cSync }

// Resync makes a client cutter skip bytes up to the first line, starting a
// segment or following a line end within one, that opens a command array
// of blobs ("*<n>\r\n$"): for a capture that began in the middle of a
// session. Inline commands are not looked for.
func (c *Cutter) Resync() {
	if c.client {
		c.st = cSync
	}
}

// sync returns how many bytes of q to skip: up to a command's start, or
// all of q (then the state stays cSync).
func (c *Cutter) sync(q []byte) int {
	for pos := 0; pos < len(q); {
		if commandStart(q[pos:]) {
			c.st = cIdle
			return pos
		}
		i := bytes.IndexByte(q[pos:], '\n')
		if i < 0 {
			return len(q)
		}
		pos += i + 1
	}
	return len(q)
}

// commandStart reports whether q begins "*<digits>\r\n$".
func commandStart(q []byte) bool {
	if len(q) < 5 || q[0] != '*' {
		return false
	}
	i := 1
	for i < len(q) && i < 12 && q[i] >= '0' && q[i] <= '9' {
		i++
	}
	return i > 1 && len(q) >= i+3 && q[i] == '\r' && q[i+1] == '\n' && q[i+2] == '$'
}

func (c *Cutter) fail(format string, args ...any) {
	c.err = fmt.Errorf("resp: at stream offset %d: %w: %s", c.off, ErrNotRESP, fmt.Sprintf(format, args...))
	c.st = cBroken
	c.text.Reset()
}

// Step consumes the bytes of p up to and including the next event (all
// of p when there is none). n > 0 whenever p is not empty.
func (c *Cutter) Step(p []byte) (n int, ev Event) {
	for n < len(p) {
		q := p[n:]
		switch c.st {
		case cOpaque, cBroken:
			c.off += int64(len(q))
			return len(p), ev
		case cSync:
			k := c.sync(q)
			n += k
			c.off += int64(k)
		case cIdle:
			if c.client && (q[0] == '\r' || q[0] == '\n' || q[0] == ' ') {
				n++
				c.off++
				continue
			}
			if n > 0 {
				return n, ev
			}
			ev |= Start
			c.stack, c.push, c.nameN, c.elem = c.stack[:0], q[0] == '>', 0, -1
			c.st = cHeader
			if c.client && q[0] != '*' {
				c.st = cInline
			}
		case cBlob:
			k := int(min(int64(len(q)), c.remain))
			if c.remain <= 2 || int64(k) > c.remain-2 {
				// The CRLF after the blob is in this piece.
				for i := max(0, int(c.remain)-2); i < k; i++ {
					want := byte('\r')
					if c.remain-int64(i) == 1 {
						want = '\n'
					}
					if q[i] != want {
						c.off += int64(i)
						c.fail("blob not followed by CRLF")
						return len(p), ev
					}
				}
			}
			if c.client && c.elem == 0 && len(c.stack) == 1 && c.remain > 2 {
				body := q[:min(k, int(c.remain-2))]
				c.nameN += copy(c.name[c.nameN:], body)
			}
			n += k
			c.off += int64(k)
			c.remain -= int64(k)
			if c.remain == 0 {
				if c.inString() {
					c.st = cChunk // the next chunk of a streamed string
					continue
				}
				c.st = cHeader
				if c.value() {
					return n, ev | End
				}
			}
		default: // line states
			line, k, st := c.text.Cut(q)
			n += k
			c.off += int64(k)
			if st == lines.TooLong {
				c.fail("line longer than %d bytes", MaxLine)
			} else if st == lines.Line && c.lineDone(line) {
				return n, ev | End
			}
			if c.st == cBroken {
				c.off += int64(len(p) - n)
				return len(p), ev
			}
		}
	}
	return n, ev
}

// inString: the open level is a streamed string ($?), whose level owes
// owesString.
func (c *Cutter) inString() bool {
	return len(c.stack) > 0 && c.stack[len(c.stack)-1].remain == owesString
}

// Owed counts of streamed levels.
const (
	owesString    = -1
	owesAggregate = -2
)

// value counts a complete value in the open aggregates; true when the
// top-level value is complete.
func (c *Cutter) value() bool {
	if c.client && len(c.stack) == 1 {
		c.elem++
	}
	for len(c.stack) > 0 {
		top := &c.stack[len(c.stack)-1]
		if top.streamed {
			return false
		}
		top.remain--
		if top.remain > 0 {
			return false
		}
		attr := top.attr
		c.stack = c.stack[:len(c.stack)-1]
		if attr {
			return false // the value the attribute belongs to follows
		}
	}
	c.st = cIdle
	return true
}

// open starts an aggregate owing n values (streamed when n < 0).
func (c *Cutter) open(n int64, attr bool) bool {
	if len(c.stack) >= maxDepth {
		c.fail("nesting deeper than %d", maxDepth)
		return false
	}
	if n == 0 && !attr {
		return c.value()
	}
	if n == 0 {
		return false // an empty attribute: its value follows
	}
	c.stack = append(c.stack, level{remain: n, streamed: n < 0, attr: attr})
	return false
}

// lineDone handles one complete line (without its LF); true when it ends
// the top-level value.
func (c *Cutter) lineDone(l []byte) bool {
	if c.st == cInline {
		// A line of words; the first names the command.
		l = bytes.TrimSpace(l)
		w := l
		if i := bytes.IndexAny(l, " \t"); i >= 0 {
			w = l[:i]
		}
		c.nameN = copy(c.name[:], w)
		c.st = cIdle
		return true
	}
	if len(l) == 0 || l[len(l)-1] != '\r' {
		c.fail("line without CR before LF")
		return false
	}
	l = l[:len(l)-1]
	if c.st == cChunk {
		if len(l) == 0 || l[0] != ';' {
			c.fail("streamed string chunk starts with %q, want ';'", clipLine(l))
			return false
		}
		n, err := length(l[1:], ';', maxBlob)
		if err != nil || n < 0 {
			c.fail("bad chunk length %q", clipLine(l))
			return false
		}
		if n == 0 {
			c.stack = c.stack[:len(c.stack)-1]
			c.st = cHeader
			return c.value()
		}
		c.st, c.remain = cBlob, n+2
		return false
	}
	if len(l) == 0 {
		c.fail("empty type line")
		return false
	}
	t, text := l[0], l[1:]
	switch t {
	case '+', '-', '(', ',', ':', '#', '_':
		if c.client && len(c.stack) == 1 && c.elem == 0 && c.nameN == 0 {
			c.nameN = copy(c.name[:], text)
		}
		return c.value()
	case '$', '!', '=':
		if t == '$' && string(text) == "?" {
			c.stack = append(c.stack, level{remain: owesString, streamed: true})
			c.st = cChunk
			return false
		}
		n, err := length(text, t, maxBlob)
		if err != nil {
			c.fail("%v", err)
			return false
		}
		if n < 0 {
			return c.value()
		}
		c.st, c.remain = cBlob, n+2
		return false
	case '*', '~', '>', '%', '|':
		if t == '>' && len(c.stack) == 0 {
			c.push = true // after an attribute too
		}
		if string(text) == "?" && t != '|' {
			return c.open(owesAggregate, false)
		}
		n, err := length(text, t, 1<<31)
		if err != nil {
			c.fail("%v", err)
			return false
		}
		if n < 0 {
			if t != '*' {
				c.fail("null length for type %q", t)
				return false
			}
			return c.value()
		}
		if t == '%' || t == '|' {
			n *= 2
		}

		if c.client && len(c.stack) == 0 {
			c.elem = 0
		}
		return c.open(n, t == '|')
	case '.':
		if len(text) != 0 || len(c.stack) == 0 || !c.stack[len(c.stack)-1].streamed {
			c.fail("'.' outside a streamed aggregate")
			return false
		}
		c.stack = c.stack[:len(c.stack)-1]
		return c.value()
	}
	c.fail("unknown type byte %q", t)
	return false
}

func clipLine(l []byte) []byte {
	if len(l) > 40 {
		return l[:40]
	}
	return l
}
