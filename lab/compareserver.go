package lab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CompareServer is one build of the comparison lab's HTTP service: GET
// /item/<n>?id=<id> and /slow/<n>?id=<id> answer a small JSON object
// {"id":..., "n":..., "color":"red"} of fixed length. A build that differs
// from production does so on known requests, chosen by n (see
// CompareServerOptions), so a test knows exactly which exchanges must
// differ and how. Any other path (a warm-up probe, say) gets the same
// answer with n = 0. It counts the distinct ids it answered.
type CompareServer struct {
	opts CompareServerOptions
	srv  *http.Server
	ln   net.Listener
	done chan struct{}

	Requests atomic.Uint64

	mu  sync.Mutex
	ids map[string]struct{}
}

// CompareServerOptions are one build's differences from production (the
// zero value is production). An Every field of 0 never applies.
type CompareServerOptions struct {
	StatusEvery int // request n with n%StatusEvery == 0 answers 503 (same body)
	HeaderEvery int // ... carries an extra header X-Extra: 1
	JSONEvery   int // ... has "color":"tan" (same length: no other change)
	// SlowPath requests wait Work and, in this build, Slow more.
	SlowPath string
	Work     time.Duration
	Slow     time.Duration
	// RandomHeader puts a random X-Random on every response (a field that
	// differs between any two runs of the same build).
	RandomHeader bool
	Logger       *slog.Logger // server errors; default discards
}

// CompareSlowPath is the path prefix of the lab's slow endpoint.
const CompareSlowPath = "/slow/"

// NewCompareServer serves on ln (typically from Lab.Listen) until Close.
func NewCompareServer(ln net.Listener, opts CompareServerOptions) *CompareServer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SlowPath == "" {
		opts.SlowPath = CompareSlowPath
	}
	s := &CompareServer{opts: opts, ln: ln, ids: map[string]struct{}{}}
	s.srv, s.done = serveHTTP(ln, s, opts.Logger, "compareserver")
	return s
}

// CompareN is the request number of a path /<endpoint>/<n>; 0 when none.
func CompareN(path string) int {
	i := strings.LastIndexByte(path, '/')
	n, err := strconv.Atoi(path[i+1:])
	if i < 0 || err != nil || n < 0 {
		return 0
	}
	return n
}

func every(n, k int) bool { return k > 0 && n > 0 && n%k == 0 }

// ServeHTTP answers one request.
func (s *CompareServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Requests.Add(1)
	id := r.URL.Query().Get("id")
	n := CompareN(r.URL.Path)
	o := &s.opts
	if strings.HasPrefix(r.URL.Path, o.SlowPath) {
		time.Sleep(o.Work + o.Slow)
	}
	color := "red"
	if every(n, o.JSONEvery) {
		color = "tan"
	}
	body := fmt.Sprintf(`{"id":%q,"n":%d,"color":%q}`+"\n", id, n, color)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if every(n, o.HeaderEvery) {
		h.Set("X-Extra", "1")
	}
	if o.RandomHeader {
		var b [8]byte
		_, _ = rand.Read(b[:])
		h.Set("X-Random", hex.EncodeToString(b[:]))
	}
	status := http.StatusOK
	if every(n, o.StatusEvery) {
		status = http.StatusServiceUnavailable
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
	if id != "" {
		s.mu.Lock()
		s.ids[id] = struct{}{}
		s.mu.Unlock()
	}
}

// Seen is how many distinct ids the server answered.
func (s *CompareServer) Seen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// SeenID reports whether a request with id was answered.
func (s *CompareServer) SeenID(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

// Close stops the server and waits for it.
func (s *CompareServer) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}
