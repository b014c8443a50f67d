package absorb

import (
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/replaygw/replaygw/lab/netns"
	"github.com/replaygw/replaygw/tunnel"
	"github.com/replaygw/replaygw/wire"
)

// BenchmarkAbsorb measures the absorb rate through the real TUN path with
// the drain method (docs/benchmarks.md, "Gateway absorb"): a raw-socket
// sendmmsg generator in the target namespace fills the TUN ring (txqueuelen
// 500000, tc redirect, ip_forward=0) while no reader runs, then the Stack
// starts and the drain is timed. Reported: pps and CPU ns per packet (user
// + sys rusage of the process during the drain). Root only; run with
// `-benchtime=3x`.
func BenchmarkAbsorb(b *testing.B) {
	for _, queues := range []int{1, 2} {
		b.Run(fmt.Sprintf("queues=%d", queues), func(b *testing.B) { benchAbsorb(b, queues) })
	}
}

const absorbFill = 250000 // packets generated per iteration

func benchAbsorb(b *testing.B, queues int) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (network namespaces)")
	}
	pool := netip.MustParsePrefix("10.88.4.0/24")
	l := netns.NewPair(b, nsPrefix, pool.String())
	tunName := l.Link("u")
	var tun *tunnel.Tunnel
	netns.InNS(b, l.GW, func() (err error) {
		tun, err = tunnel.Open(tunnel.Config{Name: tunName, Queues: queues, TxQueueLen: 500000,
			Pools: []netip.Prefix{pool}, Ingress: l.VethG, Redirect: tunnel.RedirectTC, StateDir: b.TempDir()})
		return err
	})
	defer netns.InNS(b, l.GW, tun.Close)

	tgt := netip.MustParseAddr(l.TgtIP4)
	pkts := make([][]byte, 4096)
	for i := range pkts {
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 88, 4, byte(1 + i%250)}), uint16(10000+i))
		pkts[i] = tcpPacket(tcpSpec{src: netip.AddrPortFrom(tgt, 80), dst: cli, seq: uint32(i), ack: 1,
			flags: header.TCPFlagSyn | header.TCPFlagAck, window: 65535})
	}

	handler := func(*wire.Record) {}
	var total uint64
	var wall, cpu time.Duration
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		netns.InNS(b, l.Tgt, func() error { return generate(pkts, absorbFill) })
		time.Sleep(300 * time.Millisecond) // let softirqs finish queueing

		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		start := time.Now()
		b.StartTimer()
		s, err := New(Config{Queues: tun.Queues()}, handler)
		if err != nil {
			b.Fatal(err)
		}
		var last uint64
		lastChange := time.Now()
		for time.Since(lastChange) < 100*time.Millisecond && time.Since(start) < 20*time.Second {
			time.Sleep(time.Millisecond)
			if n := s.Stats().PacketsRead.Load(); n != last {
				last, lastChange = n, time.Now()
			}
		}
		b.StopTimer()
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		st := s.Stats()
		if os.Getenv("RGT_DEBUG") != "" {
			for _, r := range s.readers {
				b.Logf("queue %d: %d packets", r.id, r.stats.PacketsRead.Load())
			}
			b.Logf("wall %v cpu %v", lastChange.Sub(start), time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()))
		}
		s.Close()
		// The kernel's own IPv6 router solicitations and MLD reports for the
		// TUN are read too; they are the only non-TCP packets.
		if st.TCPAbsorbed.Load()+16 < st.PacketsRead.Load() || st.WritesAttempted.Load() != 0 {
			b.Fatalf("absorbed %d of %d, writes %d", st.TCPAbsorbed.Load(), st.PacketsRead.Load(), st.WritesAttempted.Load())
		}
		total += last
		wall += lastChange.Sub(start)
		cpu += time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	}
	if total == 0 {
		b.Fatal("nothing reached the TUN")
	}
	b.ReportMetric(float64(total)/wall.Seconds(), "pps")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(total), "cpu-ns/pkt")
	b.ReportMetric(float64(total)/float64(b.N), "pkts/drain")
	b.ReportMetric(0, "ns/op")
}

// generate sends n packets, cycling through pkts, with raw sendmmsg in
// batches of 64, from the calling thread's namespace.
func generate(pkts [][]byte, n int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	const batch = 64
	names := make([]unix.RawSockaddrInet4, len(pkts))
	iovs := make([]unix.Iovec, len(pkts))
	for i, p := range pkts {
		names[i] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte(p[16:20])}
		iovs[i].Base = &p[0]
		iovs[i].SetLen(len(p))
	}
	msgs := make([]unix.Mmsghdr, batch)
	deadline := time.Now().Add(30 * time.Second)
	for sent := 0; sent < n && time.Now().Before(deadline); {
		k := min(batch, n-sent)
		for j := range k {
			i := (sent + j) % len(pkts)
			msgs[j].Hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
			msgs[j].Hdr.Namelen = unix.SizeofSockaddrInet4
			msgs[j].Hdr.Iov = &iovs[i]
			msgs[j].Hdr.SetIovlen(1)
		}
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(k), 0, 0, 0)
		if errno != 0 {
			if errno == unix.ENOBUFS || errno == unix.EAGAIN || errno == unix.EINTR {
				continue
			}
			return fmt.Errorf("sendmmsg: %w", errno)
		}
		sent += int(r)
	}
	return nil
}
