package integration

// The lab benchmark's load generator: wrk (Debian's package), driven by a
// Lua script that gives every request a unique id, run in the client's
// namespace as its own process. It keeps its connections busy (closed
// loop), so a step is set by its number of connections, not by a rate;
// every run is bounded by a duration and by a request count per thread.
// The ids answered and the ids replayed are read from the idsrv processes
// on the online host and the target.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// wrkScript numbers the requests "<prefix>t<thread>-<n>" (path and
// X-Req-Id header), asks for Connection: close when args[3] is "close",
// and stops a thread after args[2] responses.
const wrkScript = `
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n, max, prefix, close = 0, 0, "", false
function init(args)
  prefix = args[1] .. "t" .. tid .. "-"
  max = tonumber(args[2])
  close = args[3] == "close"
end

function request()
  n = n + 1
  local id = prefix .. n
  local h = {["X-Req-Id"] = id}
  if close then h["Connection"] = "close" end
  return wrk.format("GET", "/r/" .. id, h)
end

function response(status, headers, body)
  if n >= max then wrk.thread:stop() end
end
`

// wrkRun is one bounded wrk run.
type wrkRun struct {
	addr     string // online server host:port
	prefix   string // id prefix, unique per run and ending in a separator
	conns    int
	short    bool // Connection: close on every request
	duration time.Duration
	max      int // requests per wrk thread at most
}

// wrkResult is what wrk reported about itself.
type wrkResult struct {
	elapsed time.Duration
	cpu     cpuTime
	output  string
}

// needWrk returns wrk's path or fails the benchmark with how to get it.
func needWrk(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatalf("the lab benchmark needs wrk: apt-get install wrk (or `make bench-deps`): %v", err)
	}
	return p
}

// runWrk runs wrk from the client's namespace and waits for it.
func runWrk(t *testing.T, l *lab.Lab, wrk, dir string, w wrkRun) wrkResult {
	t.Helper()
	script := filepath.Join(dir, "ids.lua")
	if _, err := os.Stat(script); err != nil {
		if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	threads := min(2, w.conns)
	mode := "keep-alive"
	if w.short {
		mode = "close"
	}
	var out bytes.Buffer
	start := time.Now()
	p, err := l.Start(lab.Client, &out, wrk, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(w.conns),
		"-d", fmt.Sprintf("%.0fs", w.duration.Seconds()), "--timeout", "5s", "-s", script,
		"http://"+w.addr+"/", "--", w.prefix, strconv.Itoa(w.max), mode)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(w.duration + 15*time.Second):
		_ = p.Stop(time.Second)
		t.Fatalf("wrk did not end: %s", out.String())
	}
	res := wrkResult{elapsed: time.Since(start), output: out.String()}
	if err := p.Err(); err != nil {
		t.Fatalf("wrk: %v\n%s", err, res.output)
	}
	res.cpu.user, res.cpu.sys = p.CPU()
	return res
}

// socketErrors is wrk's "Socket errors" line, or "" when there were none.
func (r wrkResult) socketErrors() string {
	for _, line := range strings.Split(r.output, "\n") {
		if s := strings.TrimSpace(line); strings.HasPrefix(s, "Socket errors") || strings.HasPrefix(s, "Non-2xx") {
			return s
		}
	}
	return ""
}

// idsrvAdmin is where idsrv serves the ids it answered, on each host.
const idsrvAdmin = "127.0.0.1:81"

// answeredIDs asks host's idsrv for the ids it answered with prefix
// (duplicates removed).
func answeredIDs(l *lab.Lab, h lab.Host, prefix string) (map[string]struct{}, error) {
	d, err := l.Dialer(h)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+idsrvAdmin+"/ids?prefix="+prefix, nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.HTTPClient(10 * time.Second).Do(req)
	if err != nil {
		return nil, fmt.Errorf("ids from %s: %w", h, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ids from %s: %s", h, resp.Status)
	}
	ids := make(map[string]struct{})
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		ids[sc.Text()] = struct{}{}
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		return nil, fmt.Errorf("ids from %s: %w", h, err)
	}
	return ids, nil
}

// waitReplayed polls the target until every id of want has arrived, or
// the count has not moved for a second, or limit has passed, and returns
// how many of want it saw.
func waitReplayed(t *testing.T, l *lab.Lab, prefix string, want map[string]struct{}, limit time.Duration) int {
	t.Helper()
	count := func() int {
		got, err := answeredIDs(l, lab.Target, prefix)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for id := range want {
			if _, ok := got[id]; ok {
				n++
			}
		}
		return n
	}
	end := time.Now().Add(limit)
	last, moved := count(), time.Now()
	for last < len(want) && time.Now().Before(end) && time.Since(moved) < time.Second {
		time.Sleep(100 * time.Millisecond)
		if n := count(); n != last {
			last, moved = n, time.Now()
		}
	}
	return last
}
