package capture

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Recorder writes captured IP packets to a pcapng file (link type raw IP,
// nanosecond timestamps) that OpenFile, tcpdump and tshark read. It is safe
// for concurrent use.
type Recorder struct {
	path string
	mu   sync.Mutex
	f    *os.File
	w    *pcapgo.NgWriter
	err  error // first write error, sticky
}

// NewRecorder creates (or truncates) path and writes the pcapng header.
func NewRecorder(path string) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("capture: record: %w", err)
	}
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{
		Name:                "replaygw",
		LinkType:            layers.LinkTypeRaw,
		SnapLength:          Snaplen,
		TimestampResolution: 9,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "replaygw"}})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("capture: record %s: %w", path, err)
	}
	return &Recorder{path: path, f: f, w: w}, nil
}

// Write appends one IP packet. After the first failure (disk full…) every
// call returns that error.
func (r *Recorder) Write(pkt []byte, ts time.Time) error {
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(pkt), Length: len(pkt)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if r.w == nil {
		return errors.New("capture: record: recorder closed")
	}
	if err := r.w.WritePacket(ci, pkt); err != nil {
		r.err = fmt.Errorf("capture: record %s: %w", r.path, err)
		return r.err
	}
	return nil
}

// Flush pushes buffered packets to the file.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return nil
	}
	if err := r.w.Flush(); err != nil {
		return fmt.Errorf("capture: record %s: %w", r.path, err)
	}
	return nil
}

// Close flushes and closes the file.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return nil
	}
	err := r.w.Flush()
	r.w = nil
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("capture: record %s: %w", r.path, err)
	}
	return nil
}
