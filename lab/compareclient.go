package lab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// CompareLoadOptions bounds the comparison lab's client: requests 1..N,
// request n on keep-alive connection (n-1)%Conns, one at a time per
// connection, GET /item/<n>?id=<IDPrefix>-<n>, or CompareSlowPath<n> when
// n%SlowEvery == SlowAt.
type CompareLoadOptions struct {
	Addr      string
	N         int
	Conns     int           // default 8
	Rate      float64       // requests per second over all connections; 0 = as fast as possible
	SlowEvery int           // 0: no slow requests
	SlowAt    int           // remainder of the slow requests
	Duration  time.Duration // hard limit of the run; default 30 s
	IDPrefix  string        // default "c"
}

// CompareRequestPath is the path and query of request n.
func (o *CompareLoadOptions) CompareRequestPath(n int) string {
	ep := "/item/"
	if o.SlowEvery > 0 && n%o.SlowEvery == o.SlowAt {
		ep = CompareSlowPath
	}
	return ep + strconv.Itoa(n) + "?id=" + o.IDPrefix + "-" + strconv.Itoa(n)
}

// CompareLoadResult is what the client got: responses by status (any
// complete response counts as answered) and the first few failures.
type CompareLoadResult struct {
	Answered int
	Status   map[int]int
	Failed   int
	Errors   []error
}

// CompareLoad runs the comparison client from host's namespace.
func (l *Lab) CompareLoad(ctx context.Context, h Host, o CompareLoadOptions) (*CompareLoadResult, error) {
	if o.Addr == "" || o.N <= 0 {
		return nil, fmt.Errorf("lab: compare load: need an address and N > 0 (have %q, %d)", o.Addr, o.N)
	}
	if o.Conns <= 0 {
		o.Conns = 8
	}
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	if o.IDPrefix == "" {
		o.IDPrefix = "c"
	}
	d, err := l.Dialer(h)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	pace := newPacer(o.Rate)
	res := &CompareLoadResult{Status: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := range min(o.Conns, o.N) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, err := compareConn(ctx, d, &o, pace, c)
			mu.Lock()
			defer mu.Unlock()
			for k, v := range status {
				res.Status[k] += v
				res.Answered += v
			}
			if err != nil {
				res.Failed++
				if len(res.Errors) < maxLoadErrors {
					res.Errors = append(res.Errors, err)
				}
			}
		}()
	}
	wg.Wait()
	return res, nil
}

// compareConn sends connection c's requests one after the other.
func compareConn(ctx context.Context, d *Dialer, o *CompareLoadOptions, pace *pacer, c int) (map[int]int, error) {
	status := map[int]int{}
	conn, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return status, fmt.Errorf("lab: compare load: dial %s: %w", o.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	br := bufio.NewReader(conn)
	for n := c + 1; n <= o.N; n += o.Conns {
		if err := pace.wait(ctx); err != nil {
			return status, fmt.Errorf("lab: compare load: request %d: %w", n, err)
		}
		req := "GET " + o.CompareRequestPath(n) + " HTTP/1.1\r\nHost: " + o.Addr + "\r\n\r\n"
		if _, err := io.WriteString(conn, req); err != nil {
			return status, fmt.Errorf("lab: compare load: request %d: %w", n, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return status, fmt.Errorf("lab: compare load: response %d: %w", n, err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return status, fmt.Errorf("lab: compare load: response %d: %w", n, err)
		}
		status[resp.StatusCode]++
	}
	return status, nil
}
