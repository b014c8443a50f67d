package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/replaygw/replaygw/lab"
)

// fakeEnv switches the test binary into a stand-in for `replaygw up` /
// `replaygw copy`, so the demo's orchestration (children in namespaces,
// readiness, table, cleanup) is tested without the real product:
// "replay" makes the fake copier re-send every captured request to the
// target at the HTTP level; "silent" replays nothing.
const fakeEnv = "RGL_FAKE_REPLAYGW"

// runFakeRole runs a fake role when the environment asks for one and the
// arguments look like a role invocation; it reports whether it did.
func runFakeRole() bool {
	mode := os.Getenv(fakeEnv)
	if mode == "" || len(os.Args) < 2 || (os.Args[1] != "up" && os.Args[1] != "copy") {
		return false
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", lab.DemoMetricsListen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake:", err)
		os.Exit(1)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "fake_up 1") }))
	fmt.Fprintf(os.Stderr, "fake %s (%s) running\n", os.Args[1], mode)
	if os.Args[1] == "copy" && mode == "replay" {
		if err := fakeCopy(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "fake copy:", err)
			os.Exit(1)
		}
	}
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "fake: stopping")
	return true
}

// fakeCopy captures TCP payloads to online:80 on eth0 and re-sends each
// request id once to target:80 over HTTP.
func fakeCopy(ctx context.Context) error {
	ifi, err := net.InterfaceByName(lab.Iface)
	if err != nil {
		return err
	}
	proto := bits.ReverseBytes16(unix.ETH_P_IP) // network byte order (htons)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(proto))
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		return err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) // the fake must not be the lossy part
	tv := unix.Timeval{Usec: 100000}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	ids := make(chan string, 65536)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				for range 3 {
					if resp, err := client.Get("http://10.77.0.30:80/r/" + id); err == nil {
						resp.Body.Close()
						break
					}
				}
			}
		}()
	}
	seen := map[string]bool{}
	buf := make([]byte, 65536)
	online := net.IPv4(10, 77, 0, 20).To4()
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		p := buf[:n]
		if n < 20 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_TCP || !bytes.Equal(p[16:20], online) {
			continue
		}
		ihl := int(p[0]&0xf) * 4
		if n < ihl+20 || binary.BigEndian.Uint16(p[ihl+2:]) != 80 {
			continue
		}
		payload := p[ihl+int(p[ihl+12]>>4)*4:]
		_, rest, ok := bytes.Cut(payload, []byte("X-Req-Id: "))
		if !ok {
			continue
		}
		id, _, _ := bytes.Cut(rest, []byte("\r\n"))
		if s := string(id); !seen[s] {
			seen[s] = true
			ids <- s
		}
	}
	close(ids)
	wg.Wait()
	return unix.Close(fd)
}
