package gateway

import (
	"net"
	"net/netip"
)

// pendingConns are the connections still in the handshake, bounded so that
// peers that never authenticate (a flood, a slowloris peer that sends a
// byte now and then) cost a bounded number of goroutines and buffers. One
// source address may hold a quarter of the slots; when all are taken the
// oldest pending connection is closed for the newcomer. A copier finishes
// its handshake in one round trip, so it gets through a flood that keeps
// the slots full, while an attacker's connection lives at most until
// HandshakeTimeout or until newer ones push it out. Guarded by Server.mu.
type pendingConns struct {
	m        map[net.Conn]pendingConn
	perIP    map[netip.Addr]int
	max      int
	maxPerIP int
	seq      uint64
}

type pendingConn struct {
	ip  netip.Addr
	seq uint64 // admission order
}

func newPendingConns(slots int) pendingConns {
	return pendingConns{m: map[net.Conn]pendingConn{}, perIP: map[netip.Addr]int{}, max: slots, maxPerIP: max(slots/4, 1)}
}

// admit records nc. It returns false when nc's source already holds its
// share of the slots (close nc), and the oldest connection to close when
// the slots were full.
func (p *pendingConns) admit(nc net.Conn) (evict net.Conn, ok bool) {
	ip := remoteIP(nc)
	if p.perIP[ip] >= p.maxPerIP {
		return nil, false
	}
	if len(p.m) >= p.max {
		var oldest uint64
		for c, pc := range p.m {
			if evict == nil || pc.seq < oldest {
				evict, oldest = c, pc.seq
			}
		}
		p.remove(evict)
	}
	p.seq++
	p.m[nc] = pendingConn{ip: ip, seq: p.seq}
	p.perIP[ip]++
	return evict, true
}

// remove forgets nc (done with its handshake, or evicted). It reports
// whether nc was still pending: false when it was evicted.
func (p *pendingConns) remove(nc net.Conn) bool {
	pc, ok := p.m[nc]
	if !ok {
		return false
	}
	delete(p.m, nc)
	if p.perIP[pc.ip]--; p.perIP[pc.ip] <= 0 {
		delete(p.perIP, pc.ip)
	}
	return true
}

func remoteIP(nc net.Conn) netip.Addr {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
