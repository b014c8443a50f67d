package integration

// The comparison lab for byte streams (issue 13, protocol = "tcp"): a line
// server online and on the target, the target's answer longer on every
// 7th line and shorter on every 11th. One client connection sends its
// lines one at a time through `replaygw copy` with [compare] on; each
// request is a turn of the conversation, and a longer or shorter answer
// must differ by itself without shifting the pairing of the later ones:
// `replaygw report --json` counts exactly those lines.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

const (
	tcpLines      = 120
	tcpLongEvery  = 7
	tcpShortEvery = 11
	tcpPort       = 7000
)

// lineServer answers each line "q<n>" with "r<n>"; alter, when set,
// rewrites the answer to line n.
func lineServer(t *testing.T, ln net.Listener, alter func(n int, answer string) string) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					var n int
					if _, err := fmt.Sscanf(sc.Text(), "q%d", &n); err != nil {
						return
					}
					a := fmt.Sprintf("r%d", n)
					if alter != nil {
						a = alter(n, a)
					}
					if _, err := c.Write([]byte(a + "\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
}

func TestCompareTCP(t *testing.T) {
	bin := needBinary(t, "up", "copy")
	r := newRigLab(t, bin)
	listen := func(h lab.Host) net.Listener {
		ln, err := r.Lab.Listen(h, "tcp", fmt.Sprintf(":%d", tcpPort))
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	lineServer(t, listen(lab.Online), nil)
	lineServer(t, listen(lab.Target), func(n int, a string) string {
		switch {
		case n%tcpLongEvery == 0:
			return a + "-and-some-more"
		case n%tcpShortEvery == 0:
			return "r"
		}
		return a
	})
	online := netip.AddrPortFrom(r.Lab.Addr(lab.Online), tcpPort)
	target := netip.AddrPortFrom(r.Lab.Addr(lab.Target), tcpPort)
	store := filepath.Join(t.TempDir(), "compare")
	section := compareSection(store)
	startGatewayWith(r, section)
	dc := lab.NewDemoConfig(r.Lab)
	r.startCopier(copierConf{
		Routes:     [][2]netip.AddrPort{{dc.From, dc.To}, {online, target}},
		Protocols:  []string{"", "tcp"},
		RouteLines: [][]string{{"compare = false"}}, // the readiness probe's route
		Sections:   []string{section},
	}, true)

	d, err := r.Lab.Dialer(lab.Client)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := d.DialContext(context.Background(), "tcp", online.String())
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(nc)
	w := newCmpWant()
	for n := 1; n <= tcpLines; n++ {
		if _, err := fmt.Fprintf(nc, "q%d\n", n); err != nil {
			t.Fatal(err)
		}
		line, err := br.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != fmt.Sprintf("r%d", n) {
			t.Fatalf("online answered line %d with %q (%v)", n, line, err)
		}
		field := ""
		if n%tcpLongEvery == 0 || n%tcpShortEvery == 0 {
			field = "body"
		}
		w.add("tcp", field, false, false)
	}
	nc.Close()
	sum, met := r.compareReport(store, w.exchanges)
	defer func() {
		if t.Failed() {
			js, _ := json.MarshalIndent(sum, "", " ")
			t.Logf("report: %s", js)
		}
	}()
	w.check(t, sum)
	checkTimed(t, met, w.exchanges, w.exchanges)
}
