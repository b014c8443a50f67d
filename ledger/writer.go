package ledger

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
)

// Options tune a Writer; zero values mean the defaults.
type Options struct {
	MaxSize int64         // rotate when the file would exceed this; <= 0: never
	Keep    int           // rotated files kept (path.1 .. path.Keep); default 5
	Queue   int           // entries buffered between Write and the disk; default 8192
	Flush   time.Duration // longest time a line waits in the file buffer; default 1s
	Logger  *slog.Logger
}

// Writer appends entries to a JSON Lines file from its own goroutine.
type Writer struct {
	path string
	opts Options
	log  *slog.Logger

	mu     sync.RWMutex // guards closed against sends on a closed ch
	closed bool
	ch     chan Entry
	done   chan struct{}
	err    error // first write error, reported by Close

	f    *os.File
	bw   *bufio.Writer
	size int64

	Stats Stats
}

// Open opens (appends to) path with the default options and maxSize.
func Open(path string, maxSize int64) (*Writer, error) {
	return OpenWith(path, Options{MaxSize: maxSize})
}

// OpenWith opens (appends to) path.
func OpenWith(path string, o Options) (*Writer, error) {
	if o.Keep <= 0 {
		o.Keep = 5
	}
	if o.Queue <= 0 {
		o.Queue = 8192
	}
	if o.Flush <= 0 {
		o.Flush = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{path: path, opts: o, log: o.Logger, ch: make(chan Entry, o.Queue), done: make(chan struct{})}
	if err := w.open(); err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("ledger: open %s: %w", w.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("ledger: stat %s: %w", w.path, err)
	}
	w.f, w.size = f, fi.Size()
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(f, 64<<10)
	} else {
		w.bw.Reset(f)
	}
	return nil
}

// Write queues a copy of e. It never blocks: when the queue is full, or
// the writer is closed, the entry is dropped, counted, and false returned.
func (w *Writer) Write(e *Entry) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.Stats.Dropped.Add(1)
		return false
	}
	select {
	case w.ch <- *e:
		return true
	default:
		w.Stats.Dropped.Add(1)
		return false
	}
}

// Close writes every queued entry, flushes and closes the file. It
// returns the first error the writer met.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return w.err
	}
	w.closed = true
	close(w.ch)
	w.mu.Unlock()
	<-w.done
	return w.err
}

func (w *Writer) run() {
	defer close(w.done)
	t := time.NewTicker(w.opts.Flush)
	defer t.Stop()
	var line []byte
	for {
		select {
		case e, ok := <-w.ch:
			if !ok {
				w.fail(w.bw.Flush())
				w.fail(w.f.Close())
				return
			}
			b, err := e.MarshalJSON()
			if err != nil {
				w.fail(fmt.Errorf("ledger: encode: %w", err))
				continue
			}
			line = append(append(line[:0], b...), '\n')
			w.writeLine(line)
		case <-t.C:
			w.fail(w.bw.Flush())
		}
	}
}

func (w *Writer) writeLine(line []byte) {
	if w.opts.MaxSize > 0 && w.size > 0 && w.size+int64(len(line)) > w.opts.MaxSize {
		if err := w.rotate(); err != nil {
			w.fail(err)
		}
	}
	n, err := w.bw.Write(line)
	w.size += int64(n)
	if err != nil {
		w.fail(fmt.Errorf("ledger: write %s: %w", w.path, err))
		return
	}
	w.Stats.Written.Add(1)
}

// rotate shifts path.(Keep-1) -> path.Keep ... path -> path.1 and opens a
// fresh path.
func (w *Writer) rotate() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("ledger: flush before rotate: %w", err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("ledger: close before rotate: %w", err)
	}
	for i := w.opts.Keep - 1; i >= 1; i-- {
		err := os.Rename(w.rotated(i), w.rotated(i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			w.log.Warn("ledger: rotate", "err", err)
		}
	}
	if err := os.Rename(w.path, w.rotated(1)); err != nil {
		w.log.Warn("ledger: rotate", "err", err)
	}
	w.Stats.Rotations.Add(1)
	return w.open()
}

func (w *Writer) rotated(i int) string { return w.path + "." + strconv.Itoa(i) }

func (w *Writer) fail(err error) {
	if err == nil {
		return
	}
	w.Stats.Errors.Add(1)
	if w.err == nil {
		w.err = err
		w.log.Error("ledger: write failed", "path", w.path, "err", err)
	}
}
