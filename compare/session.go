package compare

import (
	"fmt"
	"strings"

	"github.com/replaygw/replaygw/compare/httpframe"
	"github.com/replaygw/replaygw/compare/resp"
)

// HTTPExchange is one request with both responses and their comparison.
type HTTPExchange struct {
	Request        httpframe.Request
	Online, Target httpframe.Response
	Diff           Diff
}

// Endpoint is "METHOD target" for EndpointKey.
func (x HTTPExchange) Endpoint() string { return x.Request.Method + " " + x.Request.Target }

// HTTPSession pairs one HTTP session's streams: the client's requests
// tell both response framers which method each response answers, and
// each request is compared once both responses are framed.
type HTTPSession struct {
	differ         *HTTP
	req            *httpframe.Requests
	online, target *httpframe.Responses
	pending        []httpframe.Request
	onQ, tgQ       []httpframe.Response
}

// NewHTTPSession returns the pairing state of one session; max bounds one
// message (0: httpframe.DefaultMaxMessage).
func NewHTTPSession(d *HTTP, max int) *HTTPSession {
	return &HTTPSession{differ: d, req: httpframe.NewRequests(max),
		online: httpframe.NewResponses(max), target: httpframe.NewResponses(max)}
}

// Client feeds the captured client stream.
func (s *HTTPSession) Client(p []byte) error {
	if err := s.req.Feed(p); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	for r, ok := s.req.Next(); ok; r, ok = s.req.Next() {
		s.online.Expect(r.Method)
		s.target.Expect(r.Method)
		s.pending = append(s.pending, r)
	}
	return nil
}

// Online feeds production's response stream; eof: it has ended.
func (s *HTTPSession) Online(p []byte, eof bool) error {
	return feedResponses("online", s.online, &s.onQ, p, eof)
}

// Target feeds the target's response stream; eof: it has ended.
func (s *HTTPSession) Target(p []byte, eof bool) error {
	return feedResponses("target", s.target, &s.tgQ, p, eof)
}

func feedResponses(side string, f *httpframe.Responses, q *[]httpframe.Response, p []byte, eof bool) error {
	err := f.Feed(p)
	if err == nil && eof {
		err = f.Close()
	}
	for r, ok := f.Next(); ok; r, ok = f.Next() {
		*q = append(*q, r)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", side, err)
	}
	return nil
}

// Next takes the oldest request that has both responses.
func (s *HTTPSession) Next() (HTTPExchange, bool) {
	if len(s.pending) == 0 || len(s.onQ) == 0 || len(s.tgQ) == 0 {
		return HTTPExchange{}, false
	}
	x := HTTPExchange{Request: s.pending[0], Online: s.onQ[0], Target: s.tgQ[0]}
	s.pending, s.onQ, s.tgQ = s.pending[1:], s.onQ[1:], s.tgQ[1:]
	x.Diff = s.differ.Diff(&x.Online, &x.Target)
	return x, true
}

// RESPExchange is one command with both replies and their comparison.
type RESPExchange struct {
	Command        string // upper-case command name, "" when the client stream was not RESP
	Online, Target resp.Reply
	Diff           Diff
}

// RESPSession pairs one Redis session's replies in order. Pushes (>) are
// out of band: counted, never paired.
type RESPSession struct {
	client, online, target *resp.Framer
	cmds                   []string
	onQ, tgQ               []resp.Reply
	Pushes                 struct{ Online, Target int }
	clientErr              error
}

// NewRESPSession returns the pairing state of one session.
func NewRESPSession(max int) *RESPSession {
	return &RESPSession{client: resp.NewFramer(max), online: resp.NewFramer(max), target: resp.NewFramer(max)}
}

// Client feeds the client stream (commands are arrays of blob strings);
// it only names the commands, so a client stream that is not RESP (inline
// commands) leaves them unnamed rather than failing the session.
func (s *RESPSession) Client(p []byte) {
	if s.clientErr != nil {
		return
	}
	if s.clientErr = s.client.Feed(p); s.clientErr != nil {
		return
	}
	for c, ok := s.client.Next(); ok; c, ok = s.client.Next() {
		name := ""
		if len(c.Elems) > 0 {
			name = strings.ToUpper(string(c.Elems[0].Str))
		}
		s.cmds = append(s.cmds, name)
	}
}

// Online feeds production's reply stream.
func (s *RESPSession) Online(p []byte) error {
	return feedReplies("online", s.online, &s.onQ, &s.Pushes.Online, p)
}

// Target feeds the target's reply stream.
func (s *RESPSession) Target(p []byte) error {
	return feedReplies("target", s.target, &s.tgQ, &s.Pushes.Target, p)
}

func feedReplies(side string, f *resp.Framer, q *[]resp.Reply, pushes *int, p []byte) error {
	err := f.Feed(p)
	for r, ok := f.Next(); ok; r, ok = f.Next() {
		if r.Push {
			*pushes++
			continue
		}
		*q = append(*q, r)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", side, err)
	}
	return nil
}

// Next takes the oldest pair of replies.
func (s *RESPSession) Next() (RESPExchange, bool) {
	if len(s.onQ) == 0 || len(s.tgQ) == 0 {
		return RESPExchange{}, false
	}
	x := RESPExchange{Online: s.onQ[0], Target: s.tgQ[0]}
	s.onQ, s.tgQ = s.onQ[1:], s.tgQ[1:]
	if len(s.cmds) > 0 {
		x.Command, s.cmds = s.cmds[0], s.cmds[1:]
	}
	x.Diff = RESP(x.Online, x.Target)
	return x, true
}

// Stream cuts a response stream of a protocol without a framer ("tcp") at
// request boundaries: the bytes received between two request starts
// answer the first (bytes before the first request - a server banner -
// count as part of the first response).
type Stream struct {
	cur     []byte
	started bool
	done    [][]byte
}

// Request marks the start of a new request: what was received since the
// previous one is its response.
func (s *Stream) Request() {
	if s.started {
		s.done = append(s.done, s.cur)
		s.cur = nil
	}
	s.started = true
}

// Feed adds response bytes.
func (s *Stream) Feed(p []byte) { s.cur = append(s.cur, p...) }

// Close ends the stream: the last request's response is complete.
func (s *Stream) Close() {
	if s.started {
		s.done = append(s.done, s.cur)
		s.cur, s.started = nil, false
	}
}

// Next takes the oldest complete response.
func (s *Stream) Next() ([]byte, bool) {
	if len(s.done) == 0 {
		return nil, false
	}
	b := s.done[0]
	s.done = s.done[1:]
	return b, true
}
