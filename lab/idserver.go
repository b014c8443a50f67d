package lab

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replaygw/replaygw/counter"
)

// IDServerStats counts what an IDServer saw.
type IDServerStats struct {
	Requests   atomic.Uint64 // every request
	Unique     atomic.Uint64 // requests with an id not seen before
	Duplicates atomic.Uint64 // requests repeating a seen id
	NoID       atomic.Uint64 // requests without an id
}

// Counters lists the stats.
func (s *IDServerStats) Counters() []counter.Metric {
	return []counter.Metric{
		counter.Of(&s.Requests, "idserver_requests_total", "HTTP requests served"),
		counter.Of(&s.Unique, "idserver_unique_ids_total", "requests carrying a new id"),
		counter.Of(&s.Duplicates, "idserver_duplicate_ids_total", "requests repeating an id"),
		counter.Of(&s.NoID, "idserver_missing_ids_total", "requests without an id"),
	}
}

// IDServer is an HTTP/1.1 server (keep-alive on) that records the unique id
// of every request, taken from the path /r/<id> or the X-Req-Id header, and
// its response time at the socket: from the read that brought the request
// to the write of the response (HTTP parsing, handler and the send syscall;
// the network is not included). It answers 200 with the id as
// the body.
type IDServer struct {
	Stats IDServerStats

	srv  *http.Server
	ln   net.Listener
	done chan struct{}

	mu    sync.Mutex
	ids   map[string]struct{}
	srcs  map[netip.Addr]int // requests per client address
	lat   []time.Duration
	work  time.Duration
	onReq func(id, remoteAddr string)
}

// IDServerOptions configures NewIDServer.
type IDServerOptions struct {
	// Work is a simulated service time added to each request (0 = none).
	Work time.Duration
	// Logger receives server errors; default discards.
	Logger *slog.Logger
	// OnRequest, when set, is called for every request with its id and
	// the client's address:port as the server saw it.
	OnRequest func(id, remoteAddr string)
}

// NewIDServer serves on ln (typically from Lab.Listen) until Close.
func NewIDServer(ln net.Listener, opts IDServerOptions) *IDServer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &IDServer{ln: ln, ids: make(map[string]struct{}), srcs: make(map[netip.Addr]int), work: opts.Work, onReq: opts.OnRequest}
	ln = &timedListener{Listener: ln, s: s}
	s.srv, s.done = serveHTTP(ln, s, opts.Logger, "idserver")
	return s
}

// Addr is the listening address.
func (s *IDServer) Addr() net.Addr { return s.ln.Addr() }

// RequestID extracts the id of r: the X-Req-Id header, else the path
// element after /r/.
func RequestID(r *http.Request) string {
	if id := r.Header.Get("X-Req-Id"); id != "" {
		return id
	}
	if id, ok := strings.CutPrefix(r.URL.Path, "/r/"); ok {
		return id
	}
	return ""
}

// ServeHTTP records the request.
func (s *IDServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Stats.Requests.Add(1)
	id := RequestID(r)
	if s.onReq != nil {
		s.onReq(id, r.RemoteAddr)
	}
	if s.work > 0 {
		time.Sleep(s.work)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", fmt.Sprint(len(id)+1))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(id + "\n"))

	src := netip.Addr{}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		src = ap.Addr().Unmap()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srcs[src]++
	if id == "" {
		s.Stats.NoID.Add(1)
		return
	}
	if _, ok := s.ids[id]; ok {
		s.Stats.Duplicates.Add(1)
		return
	}
	s.ids[id] = struct{}{}
	s.Stats.Unique.Add(1)
}

// Seen reports whether a request with id arrived.
func (s *IDServer) Seen(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

// Count is the number of distinct ids seen.
func (s *IDServer) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// Sources returns the number of requests per client address.
func (s *IDServer) Sources() map[netip.Addr]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.srcs)
}

// CountPrefix is the number of distinct ids seen that start with prefix.
func (s *IDServer) CountPrefix(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.ids {
		if strings.HasPrefix(id, prefix) {
			n++
		}
	}
	return n
}

// IDs returns the distinct ids seen, in no particular order.
func (s *IDServer) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.ids))
	for id := range s.ids {
		ids = append(ids, id)
	}
	return ids
}

// CountSeen returns how many of ids the server saw.
func (s *IDServer) CountSeen(ids []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range ids {
		if _, ok := s.ids[id]; ok {
			n++
		}
	}
	return n
}

// recordLatency appends one response time.
func (s *IDServer) recordLatency(d time.Duration) {
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.mu.Unlock()
}

// Latencies returns the response times of requests from index from on (in
// arrival order) and the index to pass next time.
func (s *IDServer) Latencies(from int) ([]time.Duration, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if from > len(s.lat) {
		from = len(s.lat)
	}
	return append([]time.Duration(nil), s.lat[from:]...), len(s.lat)
}

// Close stops the server and closes its connections.
func (s *IDServer) Close() error {
	err := s.srv.Close()
	<-s.done
	if err != nil {
		return fmt.Errorf("idserver: close: %w", err)
	}
	return nil
}
