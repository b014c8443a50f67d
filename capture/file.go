package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// FileError says where in a capture file something went wrong.
type FileError struct {
	Path   string
	Packet int   // 1-based record number; 0 = the file header
	Offset int64 // byte offset of the record in the (decompressed) file
	Err    error
}

func (e *FileError) Error() string {
	if e.Packet == 0 {
		return fmt.Sprintf("capture: %s: file header at byte %d: %v", e.Path, e.Offset, e.Err)
	}
	return fmt.Sprintf("capture: %s: packet %d at byte %d: %v", e.Path, e.Packet, e.Offset, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// packetReader is what pcapgo's pcap and pcapng readers have in common.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// File reads IP packets from a pcap or pcapng file, gzip-compressed or not.
// It is not safe for concurrent use.
type File struct {
	path  string
	f     *os.File
	gz    *gzip.Reader
	cnt   countingReader
	br    *bufio.Reader
	r     packetReader
	ng    bool
	lt    layers.LinkType
	n     int   // records read so far
	err   error // sticky format error
	stats Stats
}

// countingReader counts the bytes its reader delivered.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// OpenFile opens a capture file. The format is found from the magic
// numbers: gzip (1f 8b) around pcap (both byte orders, µs or ns) or pcapng.
func OpenFile(path string) (*File, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: open %s: %w", path, err)
	}
	f := &File{path: path, f: osf}
	if err := f.open(); err != nil {
		osf.Close()
		return nil, err
	}
	return f, nil
}

func (f *File) open() error {
	var src io.Reader = bufio.NewReaderSize(f.f, 64<<10)
	magic, err := src.(*bufio.Reader).Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if f.gz, err = gzip.NewReader(src); err != nil {
			return &FileError{Path: f.path, Err: fmt.Errorf("gzip: %w", err)}
		}
		src = f.gz
	}
	// Offsets are counted below our own buffer: the pcapgo readers reuse a
	// *bufio.Reader they are given instead of adding one, so the offset of
	// the next record is what was read minus what is still buffered.
	f.cnt = countingReader{r: src}
	f.br = bufio.NewReaderSize(&f.cnt, 64<<10)
	magic, err = f.br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("file shorter than a capture header (%d bytes): %w", len(magic), io.ErrUnexpectedEOF)
		}
		return &FileError{Path: f.path, Err: err}
	}
	switch binary.LittleEndian.Uint32(magic) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		r, err := pcapgo.NewReader(f.br)
		if err != nil {
			return &FileError{Path: f.path, Err: fmt.Errorf("pcap header: %w", err)}
		}
		f.r, f.lt = r, r.LinkType()
	case 0x0a0d0d0a:
		r, err := pcapgo.NewNgReader(f.br, pcapgo.NgReaderOptions{})
		if err != nil {
			return &FileError{Path: f.path, Err: fmt.Errorf("pcapng section header: %w", err)}
		}
		f.r, f.lt, f.ng = r, r.LinkType(), true
	default:
		return &FileError{Path: f.path, Err: fmt.Errorf("unknown magic %x: not a pcap or pcapng file", magic)}
	}
	if !supportedLinkType(f.lt) {
		return &FileError{Path: f.path, Err: fmt.Errorf("link type %d (%v): %w", f.lt, f.lt, errUnsupportedL)}
	}
	return nil
}

func (f *File) offset() int64 { return f.cnt.n - int64(f.br.Buffered()) }

// Next returns the next IP packet and its capture time; io.EOF at the end.
// The packet is valid until the next call. Frames without an IP packet and
// records cut by the snap length are counted and skipped. A record whose IP
// header does not parse gives a *FileError wrapping ErrMalformed; reading may
// go on after it. A damaged file (truncated, bad record) gives a *FileError
// that every later call repeats.
func (f *File) Next() ([]byte, time.Time, error) {
	for {
		if f.err != nil {
			return nil, time.Time{}, f.err
		}
		at := f.offset()
		data, ci, err := f.r.ZeroCopyReadPacketData()
		if err != nil {
			if err == io.EOF {
				f.err = io.EOF
				return nil, time.Time{}, io.EOF
			}
			if err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("truncated record: %w", err)
			}
			f.err = &FileError{Path: f.path, Packet: f.n + 1, Offset: at, Err: err}
			return nil, time.Time{}, f.err
		}
		f.n++
		lt := f.lt
		if ci.CaptureLength < ci.Length {
			f.stats.SnapCut.Add(1)
			continue
		}
		ip, err := StripLinkLayer(lt, data)
		if err != nil {
			if errors.Is(err, ErrNotIP) {
				f.stats.NonIP.Add(1)
				continue
			}
			if errors.Is(err, errUnsupportedL) {
				err = fmt.Errorf("link type %d (%v): %w", lt, lt, err)
			}
			f.stats.Malformed.Add(1)
			return nil, time.Time{}, &FileError{Path: f.path, Packet: f.n, Offset: at, Err: err}
		}
		f.stats.Packets.Add(1)
		f.stats.Bytes.Add(uint64(len(ip)))
		return ip, ci.Timestamp, nil
	}
}

// LinkType is the file's link type. For pcapng it is the first interface's;
// packets of interfaces with another link type are skipped.
func (f *File) LinkType() layers.LinkType { return f.lt }

// Packets is the number of records read so far.
func (f *File) Packets() int { return f.n }

// Stats returns the file's counters (packets, non-IP, snap-cut, malformed).
func (f *File) Stats() *Stats { return &f.stats }

// Close releases the file.
func (f *File) Close() error {
	if f.gz != nil {
		f.gz.Close()
	}
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("capture: close %s: %w", f.path, err)
	}
	return nil
}
