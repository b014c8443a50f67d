// Package store keeps comparison results on disk, bounded, for the report.
//
// Data flow:
//
//	pairing -> Writer.Put(Result) -- counts (atomic, every exchange) --------------> counts.json
//	                 |  bounded channel (full: dropped, counted)
//	                 v
//	           writer goroutine -> results-NNNNNN.jsonl (one line per exchange, until MaxBytes)
//	                            -> examples.jsonl (payloads of a sample of differing exchanges)
//
// Put never blocks. Counts cover every exchange given to Put, even those
// dropped or past the byte cap; result lines (latency, endpoint, diff) stop
// at MaxBytes; payload examples are kept for the first ExamplesPerEndpoint
// differing exchanges of each endpoint, MaxExamples in all. counts.json is
// rewritten at each segment rotation and at Close; readers tolerate a last
// line cut short by a crash.
package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replaygw/replaygw/compare"
)

// Result is one compared exchange.
type Result struct {
	Time        time.Time `json:"t"`
	Session     string    `json:"session,omitempty"`
	Request     int       `json:"req"`
	Protocol    string    `json:"proto"` // "http", "redis", "mysql", "tcp"
	Endpoint    string    `json:"ep"`    // "GET /users/12", a command name; collapsed by compare.EndpointKey
	OnlineMs    float64   `json:"online_ms"`
	TargetMs    float64   `json:"target_ms"`
	OnlineError bool      `json:"online_err,omitempty"` // 5xx, RESP error, MySQL ERR
	TargetError bool      `json:"target_err,omitempty"`
	compare.Diff
	// Example, when set on a differing result, is the two responses as
	// sent; the store keeps it for a sample only. Put takes ownership.
	Example *Payloads `json:"-"`
}

// Payloads are the two responses of an exchange, as bytes on the wire.
type Payloads struct {
	Online []byte `json:"online"`
	Target []byte `json:"target"`
}

// Example is a sampled differing exchange with its payloads, cut to a
// window of ExampleBytes starting a little before the first difference.
type Example struct {
	Result
	Start    int `json:"start"` // offset in the payloads of the window
	Payloads `json:"payloads"`
}

// Counts cover every exchange given to Put.
type Counts struct {
	Exchanges  int64            `json:"exchanges"`
	Differing  int64            `json:"differing"`
	ByKind     map[string]int64 `json:"by_kind"`
	WithNoise  int64            `json:"with_noise"`  // exchanges where differences were classified as noise
	Dropped    int64            `json:"dropped"`     // queue full: counted, not written
	Capped     int64            `json:"capped"`      // byte cap reached: counted, not written
	Examples   int64            `json:"examples"`    // examples written
	Written    int64            `json:"written"`     // result lines written
	Segments   int              `json:"segments"`    // result files
	BytesTotal int64            `json:"bytes_total"` // bytes of result lines
}

// Options bound the store. Zero fields take the defaults.
type Options struct {
	SegmentBytes        int64 // one result file; default 16 MiB
	MaxBytes            int64 // all result files; default 256 MiB
	Queue               int   // results waiting for the writer; default 4096
	MaxExamples         int   // default 200
	ExamplesPerEndpoint int   // default 3
	ExampleBytes        int   // payload window per side; default 16 KiB
}

func (o *Options) defaults() {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 16 << 20
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	if o.MaxExamples <= 0 {
		o.MaxExamples = 200
	}
	if o.ExamplesPerEndpoint <= 0 {
		o.ExamplesPerEndpoint = 3
	}
	if o.ExampleBytes <= 0 {
		o.ExampleBytes = 16 << 10
	}
}

// File names in a store directory.
const (
	CountsFile   = "counts.json"
	ExamplesFile = "examples.jsonl"
	segmentGlob  = "results-*.jsonl"
)

func segmentName(n int) string { return fmt.Sprintf("results-%06d.jsonl", n) }

// counters are updated by Put (any goroutine) and by the writer.
type counters struct {
	exchanges, differing, withNoise, dropped, capped atomic.Int64
	status, headers, body                            atomic.Int64
	examples, written, bytes, segments               atomic.Int64
}

// Writer appends results to a store directory.
type Writer struct {
	dir  string
	opt  Options
	ch   chan Result
	done chan error
	c    counters
	once sync.Once
	err  error

	// Owned by the writer goroutine.
	seg      *os.File
	segBuf   *bufio.Writer
	segN     int
	segBytes int64
	ex       *os.File
	exBuf    *bufio.Writer
	perEP    map[string]int
}

// Open creates dir if needed and starts the writer. An existing store in
// dir is an error: results of two runs are not mixed.
func Open(dir string, o Options) (*Writer, error) { return open(dir, o, nil) }

// open: the writer goroutine waits for gate (tests fill the queue).
func open(dir string, o Options, gate chan struct{}) (*Writer, error) {
	o.defaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if old, _ := filepath.Glob(filepath.Join(dir, segmentGlob)); len(old) > 0 {
		return nil, fmt.Errorf("store: %s already holds results (%s)", dir, filepath.Base(old[0]))
	}
	ex, err := os.OpenFile(filepath.Join(dir, ExamplesFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	w := &Writer{dir: dir, opt: o, ch: make(chan Result, o.Queue), done: make(chan error, 1),
		ex: ex, exBuf: bufio.NewWriter(ex), perEP: map[string]int{}}
	if err := w.rotate(); err != nil {
		ex.Close()
		return nil, err
	}
	go w.run(gate)
	return w, nil
}

// Put records r. It never blocks: when the queue is full the result is
// counted and dropped, and Put returns false.
func (w *Writer) Put(r Result) bool {
	c := &w.c
	c.exchanges.Add(1)
	if !r.Same() {
		c.differing.Add(1)
	}
	if r.Kinds&compare.Status != 0 {
		c.status.Add(1)
	}
	if r.Kinds&compare.Headers != 0 {
		c.headers.Add(1)
	}
	if r.Kinds&compare.Body != 0 {
		c.body.Add(1)
	}
	if len(r.Noise) > 0 {
		c.withNoise.Add(1)
	}
	select {
	case w.ch <- r:
		return true
	default:
		c.dropped.Add(1)
		return false
	}
}

// Counts returns the counts so far.
func (w *Writer) Counts() Counts {
	c := &w.c
	return Counts{
		Exchanges: c.exchanges.Load(), Differing: c.differing.Load(),
		ByKind:    map[string]int64{"status": c.status.Load(), "headers": c.headers.Load(), "body": c.body.Load()},
		WithNoise: c.withNoise.Load(), Dropped: c.dropped.Load(), Capped: c.capped.Load(),
		Examples: c.examples.Load(), Written: c.written.Load(), BytesTotal: c.bytes.Load(), Segments: int(c.segments.Load()),
	}
}

// Close waits for the queued results to be written and writes the counts.
// Put must not be called after Close.
func (w *Writer) Close() error {
	w.once.Do(func() {
		close(w.ch)
		w.err = <-w.done
	})
	return w.err
}

func (w *Writer) run(gate chan struct{}) {
	if gate != nil {
		<-gate
	}
	var first error
	for r := range w.ch {
		if err := w.write(r); err != nil && first == nil {
			first = err
		}
	}
	for _, err := range []error{w.segBuf.Flush(), w.seg.Close(), w.exBuf.Flush(), w.ex.Close(), w.writeCounts()} {
		if err != nil && first == nil {
			first = fmt.Errorf("store: %w", err)
		}
	}
	w.done <- first
}

func (w *Writer) write(r Result) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: result %s/%d: %w", r.Session, r.Request, err)
	}
	line = append(line, '\n')
	n := int64(len(line))
	if w.c.bytes.Load()+n > w.opt.MaxBytes {
		w.c.capped.Add(1)
	} else {
		if w.segBytes > 0 && w.segBytes+n > w.opt.SegmentBytes {
			if err := w.rotate(); err != nil {
				return err
			}
		}
		if _, err := w.segBuf.Write(line); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		w.segBytes += n
		w.c.bytes.Add(n)
		w.c.written.Add(1)
	}
	return w.example(r)
}

func (w *Writer) example(r Result) error {
	if r.Example == nil || r.Same() || w.c.examples.Load() >= int64(w.opt.MaxExamples) {
		return nil
	}
	key := compare.EndpointKey(r.Endpoint)
	if w.perEP[key] >= w.opt.ExamplesPerEndpoint {
		return nil
	}
	w.perEP[key]++
	start := 0
	if r.Offset > 0 {
		start = max(0, r.Offset-w.opt.ExampleBytes/8)
	}
	e := Example{Result: r, Start: start, Payloads: Payloads{
		Online: window(r.Example.Online, start, w.opt.ExampleBytes),
		Target: window(r.Example.Target, start, w.opt.ExampleBytes),
	}}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("store: example %s/%d: %w", r.Session, r.Request, err)
	}
	if _, err := w.exBuf.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	w.c.examples.Add(1)
	return nil
}

func window(b []byte, start, n int) []byte {
	if start >= len(b) {
		return []byte{}
	}
	return b[start:min(len(b), start+n)]
}

// rotate closes the current segment (if any), opens the next and
// rewrites the counts.
func (w *Writer) rotate() error {
	if w.seg != nil {
		if err := w.segBuf.Flush(); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if err := w.seg.Close(); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	w.segN++
	w.c.segments.Store(int64(w.segN))
	f, err := os.OpenFile(filepath.Join(w.dir, segmentName(w.segN)), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	w.seg, w.segBuf, w.segBytes = f, bufio.NewWriterSize(f, 64<<10), 0
	return w.writeCounts()
}

func (w *Writer) writeCounts() error {
	b, err := json.MarshalIndent(w.Counts(), "", "  ")
	if err != nil {
		return fmt.Errorf("store: counts: %w", err)
	}
	tmp := filepath.Join(w.dir, CountsFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("store: counts: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, CountsFile)); err != nil {
		return fmt.Errorf("store: counts: %w", err)
	}
	return nil
}
