package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/replaygw/replaygw/pkt"
	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// LiveConfig configures a live capture.
type LiveConfig struct {
	Interface string // capture interface
	Fanout    int    // sockets in one PACKET_FANOUT_HASH group; default 1
	Filter    Filter
	// BlockMB is the ring memory of all sockets together, in MiB (split
	// evenly, at least 4 MiB per socket); default 32. The ring is mapped
	// into the process, so it is resident memory while it exists: a
	// single socket starts with 4 MiB and grows to BlockMB under pressure
	// (live_grow.go). Below
	// about 400 packets per block per retire timeout (200,000 packets/s
	// per socket at 2ms) blocks retire by timeout, not full, so a ring of
	// n blocks holds n*BlockTimeout of traffic whatever the rate: the
	// default 256 blocks of 128 KiB ride out a 512ms stall of the reader
	// (one socket; 256ms each with two), as the former 64 MiB did with
	// a 1ms timeout. Lower it to save memory on a quiet host (4 MiB rode
	// out this lab's 1,000 req/s but dropped on an overloaded machine),
	// raise it for an overloaded one; ring overflows are counted in
	// Stats.KernelDrops, refreshed every second.
	BlockMB int
	// BlockTimeout bounds how long a captured packet may wait in a
	// partially filled TPACKET_V3 block (tp_retire_blk_tov, whole
	// milliseconds); default 2ms. The reader wakes once per retired
	// block and hands the engine everything the block holds, so this is
	// the wake-up rate at everyday traffic (per socket at most
	// 1/BlockTimeout) against the latency it adds (at most BlockTimeout;
	// the engine replays with the client's timing, from the packets'
	// capture timestamps).
	BlockTimeout time.Duration
	Logger       *slog.Logger

	filterOnlyOutgoing bool // tests: leave outgoing frames to the filter alone
	fixedRing          bool // tests: open the whole ring at once
}

// Handler receives one captured IP packet; pkt is valid only during the call.
type Handler func(pkt []byte, ts time.Time)

// Live captures from an interface with AF_PACKET TPACKET_V3 rings.
type Live struct {
	cfg   LiveConfig
	log   *slog.Logger
	lt    layers.LinkType
	match matcher
	socks []*ring
	stats Stats

	mu      sync.Mutex
	running bool
	closed  bool
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when Run has returned
	kstats  []kernelStats // per socket, what was already counted

	prog       []bpf.RawInstruction // the kernel filter
	numBlocks  []int                // ring blocks of each socket now
	maxBlocks  int                  // ring blocks a socket may grow to
	growFailed bool                 // a growth failed: keep the rings as they are
	settled    func()               // OnSettled's function, called once (settle)
	settleOnce sync.Once
	ns         vns.NsHandle    // the network namespace OpenLive ran in (for a growth)
	runCtx     context.Context // the context of Run, for the readers' waits
	ifindex    int             // the interface's index in ns

	kernelSkipsOutgoing bool // the kernel skips frames this host sends (else only the filter drops them)
}

type kernelStats struct {
	kernelCounts
	// retiring: a larger ring replacing this socket is open and captures
	// every packet too, so what this one drops now is not lost.
	retiring bool
}

const (
	blockSize = 128 << 10 // holds a 64 KiB GRO packet; many small blocks keep the ring deep even when the block timeout retires them half empty

	defaultRingMB       = 32
	minSocketRingMB     = 4
	defaultBlockTimeout = 2 * time.Millisecond

	idleWait   = 10 * time.Second // a reader parked in the netpoller wakes at least this often (Close and the end of Run wake it at once)
	statsEvery = time.Second      // how often a reader refreshes the kernel's counters while running
)

// OpenLive opens cfg.Fanout capture sockets on cfg.Interface, each with the
// kernel filter for cfg.Filter and with the host's own outgoing packets
// filtered out.
func OpenLive(cfg LiveConfig) (*Live, error) {
	if cfg.Fanout < 1 {
		cfg.Fanout = 1
	}
	if cfg.BlockMB < 1 {
		cfg.BlockMB = defaultRingMB
	}
	perSocketMB := max(cfg.BlockMB/cfg.Fanout, minSocketRingMB)
	startMB := perSocketMB
	if cfg.Fanout == 1 && !cfg.fixedRing {
		startMB = min(perSocketMB, minSocketRingMB) // grows to perSocketMB under pressure (live_grow.go)
	}
	if cfg.BlockTimeout <= 0 {
		cfg.BlockTimeout = defaultBlockTimeout
	}
	cfg.BlockTimeout = max(cfg.BlockTimeout, time.Millisecond) // the kernel counts whole milliseconds
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lt, ifindex, err := interfaceLinkType(cfg.Interface)
	if err != nil {
		return nil, err
	}
	prog, err := liveFilter(cfg.Filter, lt)
	if err != nil {
		return nil, err
	}
	l := &Live{
		cfg: cfg, log: log, lt: lt, match: newMatcher(cfg.Filter), prog: prog, ns: vns.None(),
		stop: make(chan struct{}), done: make(chan struct{}),
		kstats: make([]kernelStats, cfg.Fanout), ifindex: ifindex,
		numBlocks: make([]int, cfg.Fanout), maxBlocks: perSocketMB << 20 / blockSize,
	}
	if l.cfg.Fanout == 1 && startMB < perSocketMB {
		if l.ns, err = vns.Get(); err != nil {
			l.ns = vns.None() // growth then opens in the reader's namespace, or fails and is logged
		}
	}
	group := uint16(rand.Uint32())
	for i := 0; i < cfg.Fanout; i++ {
		l.numBlocks[i] = startMB << 20 / blockSize
		tp, err := l.openSocket(l.numBlocks[i])
		if err != nil {
			l.closeSockets()
			return nil, fmt.Errorf("capture: %s socket %d: %w", cfg.Interface, i, err)
		}
		l.socks = append(l.socks, tp)
		if cfg.Fanout > 1 {
			if err := l.joinFanout(tp, &group, i); err != nil {
				l.closeSockets()
				return nil, fmt.Errorf("capture: fanout on %s: %w", cfg.Interface, err)
			}
		} else if !l.filterOnlyOutgoing() {
			l.kernelSkipsOutgoing = tp.ignoreOutgoing() == nil
		}
	}
	log.Info("capture open", "interface", cfg.Interface, "link", lt.String(),
		"sockets", cfg.Fanout, "ring_mb_per_socket", startMB, "ring_max_mb_per_socket", perSocketMB, "block_timeout", cfg.BlockTimeout, "services", len(cfg.Filter.Dst), "answers_of", len(cfg.Filter.Src),
		"kernel_skips_outgoing", l.kernelSkipsOutgoing)
	return l, nil
}

// filterOnlyOutgoing: the kernel must not skip the frames this host sends,
// because the online service's answers are among them (Filter.Src), or a
// test asks.
func (l *Live) filterOnlyOutgoing() bool {
	return l.cfg.filterOnlyOutgoing || len(l.cfg.Filter.Src) > 0
}

// openSocket opens one ring of blocks blocks on the interface with the
// kernel filter attached (not yet in a fanout group).
func (l *Live) openSocket(blocks int) (*ring, error) {
	return openRing(l.ifindex, blocks, l.cfg.BlockTimeout, l.prog)
}

// joinFanout puts tp in the fanout group; the first socket picks a free
// group id (ids are per network namespace and may be taken by others) and
// whether the kernel can skip outgoing frames for the group (every member
// must join with the same flags).
func (l *Live) joinFanout(tp *ring, group *uint16, i int) error {
	if i == 0 {
		l.kernelSkipsOutgoing = !l.filterOnlyOutgoing()
	}
	var err error
	for try := 0; try < 8; try++ {
		typ := unix.PACKET_FANOUT_HASH
		if l.kernelSkipsOutgoing {
			// PACKET_FANOUT_FLAG_IGNORE_OUTGOING (Linux 6.9): the group's
			// hook is skipped for frames this host sends, before the
			// kernel clones them, hashes them and runs the filter.
			typ |= unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING
		}
		err = tp.joinFanout(typ, *group)
		if i == 0 && l.kernelSkipsOutgoing && errors.Is(err, unix.EINVAL) {
			// An older kernel: the filter's first test drops them instead.
			l.kernelSkipsOutgoing = false
			try--
			continue
		}
		if err == nil || i > 0 {
			return err
		}
		*group = uint16(rand.Uint32())
	}
	return err
}

// interfaceLinkType maps the interface's hardware type to the frames
// AF_PACKET SOCK_RAW delivers: Ethernet (also loopback) or bare IP (TUN and
// other devices without a link-layer header). It asks netlink, which answers
// for the calling thread's network namespace (sysfs might not).
func interfaceLinkType(name string) (layers.LinkType, int, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return 0, 0, fmt.Errorf("capture: interface %q: %w", name, err)
	}
	a := link.Attrs()
	switch {
	case a.EncapType == "ether" || a.EncapType == "loopback":
		return layers.LinkTypeEthernet, a.Index, nil
	case len(a.HardwareAddr) == 0:
		return layers.LinkTypeRaw, a.Index, nil
	}
	return 0, 0, fmt.Errorf("capture: interface %q: hardware type %q not supported (want Ethernet, loopback or TUN)", name, a.EncapType)
}

// LinkType is the frame type read from the interface.
func (l *Live) LinkType() layers.LinkType { return l.lt }

// Run reads every socket in its own goroutine and calls h for each captured
// IP packet (h is called concurrently from those goroutines; packets of one
// flow always come from the same one). It returns when ctx ends or Close is
// called (nil), or when a socket fails.
func (l *Live) Run(ctx context.Context, h Handler) error { return l.RunFlush(ctx, h, nil) }

// RunFlush is Run for a batching handler: after the last packet of each
// ring block (before the socket's goroutine would wait for the kernel
// again) it calls flush on that goroutine, so the handler may hold on to
// work (wake no one) until then. flush may be nil.
func (l *Live) RunFlush(ctx context.Context, h Handler, flush func()) error {
	l.mu.Lock()
	if l.closed || l.running {
		l.mu.Unlock()
		return errors.New("capture: Run on a closed or running capture")
	}
	l.running = true
	l.mu.Unlock()
	defer close(l.done)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.mu.Lock()
	l.runCtx = ctx
	l.mu.Unlock()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
		l.wakeReaders()
	}()
	errs := make(chan error, len(l.socks))
	var wg sync.WaitGroup
	for i := range l.socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.readSocket(ctx, i, h, flush); err != nil {
				errs <- fmt.Errorf("capture: %s socket %d: %w", l.cfg.Interface, i, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	l.updateKernelStats()
	close(errs)
	return <-errs
}

// readSocket reads socket i until ctx ends. When no ring block is ready it
// calls flush (the handler's batch is complete) and waits for the next
// block. It refreshes the kernel's packet and drop counters at most once
// a second while it reads and once more when it goes idle, so that ring
// overflows show while the capture runs, not only at Close. A ring that may grow is replaced by a larger one at the first
// sign of pressure (live_grow.go).
func (l *Live) readSocket(ctx context.Context, i int, h Handler, flush func()) error {
	l.mu.Lock()
	r := l.newReader(l.socks[i], l.numBlocks[i])
	l.mu.Unlock()
	defer func() { r.abandonGrowth() }()
	ps := pressure{next: time.Now().Add(statsEvery), drops: l.stats.KernelDrops.Load() + l.stats.KernelFreezes.Load()}
	frames := 0
	for {
		if r.grown() {
			var err error
			if r, err = l.grow(i, r, h, flush); err != nil {
				return err
			}
		}
		data, ts, wire, ok := r.read()
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			if flush != nil {
				flush()
			}
			if r.growing == nil && l.growNow(i, r, &ps, true) {
				l.prepareGrowth(r)
			}
			if r.growing != nil {
				// The larger ring is coming: look again soon rather
				// than wait for the next block.
				if err := r.waitFor(l.cfg.BlockTimeout); err != nil {
					return err
				}
				continue
			}
			// Frames read since the counters' last refresh: wake for the
			// next refresh at the latest, so that they show what that
			// traffic cost within statsEvery even if none follows.
			wait := idleWait
			if ps.unread {
				wait = max(time.Until(ps.next), time.Millisecond)
			}
			if err := r.waitFor(wait); err != nil {
				return err
			}
			continue
		}
		if r.duplicate(data) {
			continue
		}
		l.handle(data, ts, wire, h)
		ps.unread = true
		// A reader that stays behind never finds the ring empty: look
		// for pressure while reading too, at each block that starts with
		// a backlog and every pressureFrames frames.
		if frames++; r.growing == nil && (r.hot || frames%pressureFrames == 0) && l.growNow(i, r, &ps, false) {
			l.prepareGrowth(r)
		}
	}
}

// pressureFrames is how often, in frames, a busy reader refreshes the
// kernel's counters (at most once per statsEvery) to see drops.
const pressureFrames = 1024

// pressure is a reader's view of the kernel's drop counters.
type pressure struct {
	next   time.Time // next refresh of the counters
	drops  uint64    // drops and freezes at the last refresh
	unread bool      // frames were read since the last refresh
}

// pressed reports whether r was found behind (behind) and whether, as
// seen once per statsEvery when the counters are refreshed, the kernel
// dropped or froze the ring since the last look (dropped). A reader that
// goes idle after reading wakes for the next refresh (readSocket) before
// it sleeps for idleWait: at a thousand blocks a second, refreshing at
// every idle turn cost a system call per block.
func (l *Live) pressed(r *ringReader, ps *pressure) (behind, dropped bool) {
	if now := time.Now(); now.After(ps.next) {
		ps.unread = false
		l.updateKernelStats()
		ps.next = now.Add(statsEvery)
		d := l.stats.KernelDrops.Load() + l.stats.KernelFreezes.Load()
		dropped, ps.drops = d > ps.drops, d
	}
	return r.pressed(), dropped
}

// growNow decides whether socket i grows now (and refreshes the kernel's
// counters when they are due). An idle reader (its ring is empty) grows
// under any pressure. A busy one grows when the kernel drops or the ring
// is full (growing loses nothing more then), or when it is behind while
// the ring still has room for what arrives during the growth; one far
// behind grows once it has emptied the ring.
func (l *Live) growNow(i int, r *ringReader, ps *pressure, idle bool) bool {
	behind, dropped := l.pressed(r, ps) // refreshes the counters when due, grown or not
	return l.mayGrow(i) && (dropped || r.full || behind && (idle || r.roomy))
}

// handle checks one captured frame and passes its IP packet to h.
func (l *Live) handle(data []byte, ts time.Time, wire int, h Handler) {
	if len(data) < wire { // larger than a ring block
		l.stats.SnapCut.Add(1)
		return
	}
	var hdr pkt.IP
	ip, err := stripLinkLayer(l.lt, data, &hdr)
	if err != nil {
		if errors.Is(err, ErrNotIP) {
			l.stats.NonIP.Add(1)
		} else {
			l.stats.Malformed.Add(1)
		}
		return
	}
	// The kernel filter is attached after the socket is bound, so a few
	// packets may have entered the ring unfiltered.
	if !l.match.ok(ip, &hdr) {
		l.stats.Filtered.Add(1)
		return
	}
	l.stats.Packets.Add(1)
	l.stats.Bytes.Add(uint64(len(ip)))
	h(ip, ts)
}

// updateKernelStats adds the sockets' PACKET_STATISTICS to the counters.
func (l *Live) updateKernelStats() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.updateKernelStatsLocked()
}

// setRetiring marks socket i as being replaced by a larger ring (on) or
// as kept after all, counting its drops up to now either way.
func (l *Live) setRetiring(i int, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.updateKernelStatsLocked()
	l.kstats[i].retiring = on
}

func (l *Live) updateKernelStatsLocked() {
	for i, tp := range l.socks {
		c, err := tp.kernelCounts()
		if err != nil {
			continue
		}
		k := &l.kstats[i]
		l.stats.KernelPackets.Add(c.packets - k.packets)
		if !k.retiring {
			l.stats.KernelDrops.Add(c.drops - k.drops)
		}
		l.stats.KernelFreezes.Add(c.freezes - k.freezes)
		k.kernelCounts = c
	}
}

// Stats returns the capture counters, with the kernel's packet and drop
// counts read now.
func (l *Live) Stats() *Stats {
	l.updateKernelStats()
	return &l.stats
}

// Close stops Run (waiting for its goroutines) and closes the sockets.
func (l *Live) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true // from now on Run refuses to start
	running := l.running
	close(l.stop)
	l.mu.Unlock()
	if running {
		<-l.done
	}
	l.updateKernelStats()
	l.mu.Lock()
	l.closeSockets()
	l.mu.Unlock()
	return nil
}

func (l *Live) closeSockets() {
	for _, tp := range l.socks {
		tp.close()
	}
	l.socks = nil
	if l.ns.IsOpen() {
		l.ns.Close()
		l.ns = vns.None()
	}
}
