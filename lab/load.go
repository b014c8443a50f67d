package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/replaygw/replaygw/lab/netns"
)

// LoadOptions bounds a load run. Requests carry unique ids
// "<IDPrefix>-<n>" in the path and the X-Req-Id header.
type LoadOptions struct {
	Addr        string        // server host:port, e.g. "10.77.0.20:80"
	Short       int           // one-request connections (Connection: close)
	KeepAlive   int           // keep-alive connections ...
	PerConn     int           // ... with this many requests each
	Rate        float64       // requests per second over all connections; 0 = as fast as possible
	Duration    time.Duration // hard limit for the whole run; default 30s
	Concurrency int           // connections in flight at most; default 16
	Timeout     time.Duration // per request (dial included); default 5s
	IDPrefix    string        // default: random
}

// LoadResult is what a load run achieved.
type LoadResult struct {
	OK        []string        // ids answered 200 with their id echoed
	Latencies []time.Duration // client-side time per OK request (dial included for first requests)
	Failed    int             // requests sent or attempted that did not succeed
	NotSent   int             // requests skipped or cut off because the run hit Duration or ctx ended
	Errors    []error         // the first few failures
	Elapsed   time.Duration
}

// maxLoadErrors caps LoadResult.Errors.
const maxLoadErrors = 10

// loadJob is one connection's worth of requests.
type loadJob struct {
	ids       []string
	keepAlive bool
}

// Load runs a bounded HTTP load from host's namespace and returns when all
// requests are done or Duration passes, whichever is first.
func (l *Lab) Load(ctx context.Context, h Host, opts LoadOptions) (*LoadResult, error) {
	hd, err := l.handle(h)
	if err != nil {
		return nil, err
	}
	return runLoad(ctx, hd, opts)
}

func (o *LoadOptions) defaults() error {
	if o.Addr == "" {
		return errors.New("lab: load: no address")
	}
	if o.Short < 0 || o.KeepAlive < 0 || o.PerConn < 0 || (o.KeepAlive > 0 && o.PerConn == 0) {
		return fmt.Errorf("lab: load: bad counts short=%d keepalive=%d per_conn=%d", o.Short, o.KeepAlive, o.PerConn)
	}
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.IDPrefix == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.IDPrefix = hex.EncodeToString(b[:])
	}
	return nil
}

// loadJobs spreads the keep-alive connections evenly among the short ones.
func loadJobs(o LoadOptions) []loadJob {
	jobs := make([]loadJob, 0, o.Short+o.KeepAlive)
	n := 0
	next := func() string {
		n++
		return o.IDPrefix + "-" + strconv.Itoa(n)
	}
	total := o.Short + o.KeepAlive
	ka := 0
	for i := range total {
		// Place keep-alive job k at position about k*total/KeepAlive.
		if ka < o.KeepAlive && i >= ka*total/o.KeepAlive {
			ids := make([]string, o.PerConn)
			for j := range ids {
				ids[j] = next()
			}
			jobs = append(jobs, loadJob{ids: ids, keepAlive: true})
			ka++
			continue
		}
		jobs = append(jobs, loadJob{ids: []string{next()}})
	}
	return jobs
}

func runLoad(parent context.Context, ns netns.Handle, o LoadOptions) (*LoadResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(parent, o.Duration)
	defer cancel()
	jobs := loadJobs(o)
	queue := make(chan loadJob)
	res := &LoadResult{}
	var mu sync.Mutex
	pace := newPacer(o.Rate)
	start := time.Now()

	var wg sync.WaitGroup
	for range min(o.Concurrency, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := loadWorker{o: &o, pace: pace}
			err := netns.Enter(ns) // never unlocked: the thread is discarded on exit
			for j := range queue {
				if err != nil {
					w.fail(err, len(j.ids))
					continue
				}
				w.run(ctx, j)
			}
			mu.Lock()
			res.merge(&w.res)
			mu.Unlock()
		}()
	}
	queued := 0
feed:
	for _, j := range jobs {
		select {
		case queue <- j:
			queued++
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	for _, j := range jobs[queued:] {
		res.NotSent += len(j.ids)
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

func (r *LoadResult) merge(w *LoadResult) {
	r.OK = append(r.OK, w.OK...)
	r.Latencies = append(r.Latencies, w.Latencies...)
	r.Failed += w.Failed
	r.NotSent += w.NotSent
	for _, e := range w.Errors {
		if len(r.Errors) < maxLoadErrors {
			r.Errors = append(r.Errors, e)
		}
	}
}

// loadWorker runs connections on one namespace-locked goroutine.
type loadWorker struct {
	o    *LoadOptions
	pace *pacer
	res  LoadResult
	buf  bytes.Buffer
	body [128]byte
}

func (w *loadWorker) fail(err error, n int) {
	w.res.Failed += n
	w.record(err)
}

// cut accounts requests that the run's end interrupted or skipped.
func (w *loadWorker) cut(n int) { w.res.NotSent += n }

func (w *loadWorker) record(err error) {
	if len(w.res.Errors) < maxLoadErrors {
		w.res.Errors = append(w.res.Errors, err)
	}
}

// run performs one connection's requests.
func (w *loadWorker) run(ctx context.Context, j loadJob) {
	var (
		conn net.Conn
		br   *bufio.Reader
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for i, id := range j.ids {
		if err := w.pace.wait(ctx); err != nil {
			w.res.NotSent += len(j.ids) - i
			return
		}
		t0 := time.Now()
		deadline := t0.Add(w.o.Timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		if conn == nil {
			d := net.Dialer{Deadline: deadline}
			c, err := d.DialContext(ctx, "tcp", w.o.Addr)
			if err != nil && ctx.Err() != nil {
				w.cut(len(j.ids) - i)
				return
			}
			if err != nil {
				w.fail(fmt.Errorf("lab: load: dial %s: %w", w.o.Addr, err), len(j.ids)-i)
				return
			}
			conn, br = c, bufio.NewReaderSize(c, 4096)
		}
		_ = conn.SetDeadline(deadline)
		last := i == len(j.ids)-1
		if err := w.roundTrip(conn, br, id, !j.keepAlive || last); err != nil {
			if ctx.Err() != nil && time.Now().After(deadline) {
				w.cut(len(j.ids) - i)
				return
			}
			w.fail(fmt.Errorf("lab: load: request %s: %w", id, err), len(j.ids)-i)
			return
		}
		w.res.OK = append(w.res.OK, id)
		w.res.Latencies = append(w.res.Latencies, time.Since(t0))
	}
}

// roundTrip writes one GET and reads the answer, which must be 200 with
// the id echoed.
func (w *loadWorker) roundTrip(conn net.Conn, br *bufio.Reader, id string, closeConn bool) error {
	w.buf.Reset()
	w.buf.WriteString("GET /r/")
	w.buf.WriteString(id)
	w.buf.WriteString(" HTTP/1.1\r\nHost: ")
	w.buf.WriteString(w.o.Addr)
	w.buf.WriteString("\r\nX-Req-Id: ")
	w.buf.WriteString(id)
	if closeConn {
		w.buf.WriteString("\r\nConnection: close")
	}
	w.buf.WriteString("\r\n\r\n")
	if _, err := conn.Write(w.buf.Bytes()); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	n, err := io.ReadFull(resp.Body, w.body[:min(len(w.body), len(id)+1)])
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	if err != nil || string(w.body[:n]) != id+"\n" {
		return fmt.Errorf("body %q is not the id (%v)", w.body[:n], err)
	}
	return nil
}
