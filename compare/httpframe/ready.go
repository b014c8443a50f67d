package httpframe

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
)

// Before a full parse, the framer checks cheaply whether the message can be
// complete: the head must have arrived, a Content-Length body must be all
// there, a chunked body must have reached its last chunk and trailer. So a
// large body arriving in many segments is parsed once, not once per
// segment; the chunk walk resumes where the previous one stopped.

// headEnd returns the length of the head (through its blank line), or -1.
func headEnd(b []byte) int {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		e := i + j + 1
		switch {
		case e < len(b) && b[e] == '\n':
			return e + 1
		case e+1 < len(b) && b[e] == '\r' && b[e+1] == '\n':
			return e + 2
		}
		i = e
	}
	return -1
}

// framing is how a message's body ends, read from its head.
type framing struct {
	length  int64 // Content-Length, -1 unknown
	chunked bool
	noBody  bool
}

// responseFraming parses the head of a response.
func responseFraming(head []byte, method string) (framing, error) {
	r, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), &http.Request{Method: method})
	if err != nil {
		return framing{}, err
	}
	return framing{length: r.ContentLength, chunked: isChunked(r.TransferEncoding), noBody: r.Body == http.NoBody}, nil
}

// requestFraming parses the head of a request.
func requestFraming(head []byte) (framing, error) {
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return framing{}, err
	}
	return framing{length: r.ContentLength, chunked: isChunked(r.TransferEncoding), noBody: r.Body == http.NoBody}, nil
}

func isChunked(te []string) bool { return len(te) > 0 && te[0] == "chunked" }

// chunkWalk remembers how far the chunks of the buffered message were read.
type chunkWalk struct {
	pos     int // next chunk-size line (or trailer line), index in buf
	trailer bool
}

// ready reports whether buf may hold the whole message, so that a full
// parse is worth it. Malformed framing reports true: the full parse
// gives the error.
func (b *buffer) ready(frame func(head []byte) (framing, error)) bool {
	he := headEnd(b.buf)
	if he < 0 {
		return false
	}
	f, err := frame(b.buf[:he])
	switch {
	case err != nil || f.noBody:
		return true
	case f.chunked:
		if b.walk.pos < he {
			b.walk = chunkWalk{pos: he}
		}
		return b.walkChunks()
	case f.length >= 0:
		return int64(len(b.buf)-he) >= f.length
	}
	return true
}

// walkChunks advances over complete chunks; true at the end of the trailer.
func (b *buffer) walkChunks() bool {
	w := &b.walk
	for {
		j := bytes.IndexByte(b.buf[w.pos:], '\n')
		if j < 0 {
			return false
		}
		line := bytes.TrimRight(b.buf[w.pos:w.pos+j], "\r")
		next := w.pos + j + 1
		if w.trailer {
			w.pos = next
			if len(line) == 0 {
				return true
			}
			continue
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return true
		}
		if size == 0 {
			w.pos, w.trailer = next, true
			continue
		}
		end := next + int(size) + 2
		if end > len(b.buf) || end < next {
			return false
		}
		w.pos = end
	}
}
