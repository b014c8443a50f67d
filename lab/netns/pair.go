package netns

import (
	"fmt"
	"strings"
	"sync/atomic"
)

var pairSeq atomic.Uint32

// Pair is two namespaces joined by a veth:
//
//	Tgt (VethT, 172.31.X.2/30, fd7a::2/64) ── GW (VethG, 172.31.X.1/30, fd7a::1/64)
//
// Tgt routes the pools given to NewPair via GW.
type Pair struct {
	ID            string // Unique(prefix); every name below starts with it
	GW, Tgt       string // namespace names
	VethG, VethT  string // the veth ends in GW and in Tgt
	GWIP4, TgtIP4 string // the IPv4 addresses of VethG and VethT
}

// NewPair skips the test unless it runs as root, builds a Pair named from
// prefix (at most three bytes, for interface names) and removes it in
// t.Cleanup. IPv6 pools are routed via fd7a::1, the others via GWIP4.
func NewPair(t TB, prefix string, pools ...string) *Pair {
	t.Helper()
	RequireRoot(t)
	id := Unique(prefix)
	p := &Pair{ID: id, GW: id + "-gw", Tgt: id + "-tgt", VethG: id + "g", VethT: id + "t"}
	Add(t, p.GW)
	Add(t, p.Tgt)
	sub := 4 * (int(pairSeq.Add(1)) % 60)
	p.GWIP4 = fmt.Sprintf("172.31.%d.1", sub)
	p.TgtIP4 = fmt.Sprintf("172.31.%d.2", sub)
	Veth(t,
		End{NS: p.GW, Dev: p.VethG, Addrs: []string{p.GWIP4 + "/30", "fd7a::1/64"}},
		End{NS: p.Tgt, Dev: p.VethT, Addrs: []string{p.TgtIP4 + "/30", "fd7a::2/64"}})
	for _, pool := range pools {
		via := p.GWIP4
		if strings.Contains(pool, ":") {
			via = "fd7a::1"
		}
		Sh(t, "ip", "-n", p.Tgt, "route", "add", pool, "via", via)
	}
	return p
}

// Link returns an interface name unique to the pair: ID plus suffix
// (one byte keeps it within 15 bytes), e.g. Link("u") for a TUN.
func (p *Pair) Link(suffix string) string { return p.ID + suffix }
