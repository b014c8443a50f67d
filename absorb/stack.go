package absorb

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/replaygw/replaygw/wire"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Handler receives each absorbed TCP segment, on the reader goroutine of
// the queue it arrived on (several run at once with several queues). It
// must not block; r and r.Payload are valid only during the call.
type Handler func(r *wire.Record)

// Config configures a Stack.
type Config struct {
	// Queues are the TUN queue files (tunnel.Tunnel.Queues), best not
	// watched by the Go netpoller (reader.go). The Stack sets O_NONBLOCK
	// and reads them but does not own them: Close stops the readers and
	// leaves closing to the tunnel.
	Queues []*os.File
	// Flush, if set, is called on a reader's goroutine after each drain
	// that read packets (at most once per tick per queue), for the
	// Handler's side to send on what the drain handed it.
	Flush func()
	MTU   int // default 1500; the netstack's MTU
	// AnswerPing answers ICMP/ICMPv6 echo requests to pool addresses by
	// writing replies into the TUN, the only writes ever made.
	AnswerPing bool
	// Pools, if set, limits AnswerPing to these destinations.
	Pools []netip.Prefix
	// PayloadCap is how many payload bytes a Record carries at most.
	PayloadCap int
	Logger     *slog.Logger
}

// Stack reads the TUN queues and absorbs everything (see the package
// comment).
type Stack struct {
	cfg     Config
	h       Handler
	log     *slog.Logger
	ns      *gstack.Stack
	ep      *silentEndpoint
	readers []*reader
	shared  Stats // counters written by several goroutines (netstack handlers, endpoint)
	closing atomic.Bool
	wg      sync.WaitGroup
	once    sync.Once
}

// New builds the netstack and starts one reader per queue.
func New(cfg Config, h Handler) (*Stack, error) {
	if h == nil {
		return nil, errors.New("absorb: nil handler")
	}
	if len(cfg.Queues) == 0 {
		return nil, errors.New("absorb: no queues")
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.PayloadCap < 0 || cfg.PayloadCap > 65535 {
		return nil, fmt.Errorf("absorb: payload cap %d out of range", cfg.PayloadCap)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stack{cfg: cfg, h: h, log: cfg.Logger}
	s.ep = newSilentEndpoint(cfg.MTU, &s.shared.WritesAttempted)
	ns, err := s.newNetstack(s.ep)
	if err != nil {
		return nil, err
	}
	s.ns = ns
	for i, f := range cfg.Queues {
		r, err := newReader(s, i, f)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.readers = append(s.readers, r)
	}
	for _, r := range s.readers {
		s.wg.Go(r.run)
	}
	s.log.Info("absorb: started", "queues", len(s.readers), "mtu", cfg.MTU,
		"answer_ping", cfg.AnswerPing, "payload_cap", cfg.PayloadCap)
	return s, nil
}

// Close stops the readers (a ticking reader within a tick; a waiting one is
// woken) and destroys the netstack. It does not close the queue files:
// close the Stack first, then the tunnel. It is safe to call more than once.
func (s *Stack) Close() error {
	var err error
	s.once.Do(func() {
		s.closing.Store(true)
		var errs []error
		for _, r := range s.readers {
			r.stop()
		}
		s.wg.Wait()
		s.ns.Close()
		s.ns.Wait()
		s.ns.Destroy()
		err = errors.Join(errs...)
		st := s.Stats()
		s.log.Info("absorb: closed", "packets_read", st.PacketsRead.Load(), "tcp_absorbed", st.TCPAbsorbed.Load(),
			"to_stack", st.ToStack.Load(), "malformed", st.Malformed.Load(), "writes_attempted", st.WritesAttempted.Load())
	})
	return err
}

// Stats returns a snapshot: the sum of every queue's counters and the
// shared ones.
func (s *Stack) Stats() *Stats {
	var sum Stats
	sum.add(&s.shared)
	for _, r := range s.readers {
		sum.add(&r.stats)
	}
	return &sum
}
