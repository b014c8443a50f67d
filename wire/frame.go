package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Version is the protocol version this build speaks. Peers with another
// version are refused during the handshake. Version 2 added the copier's
// share of the client pool in auth-ok and the lease-refused frame; a
// version 1 peer is refused with a version error naming both versions.
const Version uint16 = 2

// Type is a frame's message type.
type Type uint8

// Message types.
const (
	TypeHello        Type = 1  // both directions, first frame
	TypeAuth         Type = 2  // both directions, second frame: the HMAC proof
	TypeAuthOK       Type = 3  // gateway -> copier: the session is open
	TypeError        Type = 4  // either direction, then the sender closes
	TypeLeaseAdd     Type = 5  // copier -> gateway: batch of (tuple, ttl) leases to take or renew
	TypeLeaseRelease Type = 6  // copier -> gateway: batch of tuples whose lease ends
	TypeRecords      Type = 7  // gateway -> copier: batch of records
	TypePing         Type = 8  // either direction, keeps idle channels alive
	TypePong         Type = 9  //
	TypeLeaseRefused Type = 10 // gateway -> copier: batch of tuples another copier holds
	TypeShare        Type = 11 // gateway -> copier: the copier's new pool share (as in auth-ok)
	TypeExchange     Type = 12 // copier -> gateway: one finished exchange for comparison (CapExchange)
)

var typeNames = [...]string{"", "hello", "auth", "auth-ok", "error", "lease-add", "lease-release", "records", "ping", "pong", "lease-refused", "share", "exchange"}

func (t Type) String() string {
	if int(t) < len(typeNames) && t != 0 {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// MaxFrame is the largest frame body either side accepts.
const MaxFrame = 1 << 20

// MaxBatch is the largest number of entries in one lease or record frame.
const MaxBatch = 4096

// MaxHandshakeFrame is the largest frame accepted before the peer is
// authenticated (a hello is at most 318 bytes, a proof 32): an
// unauthenticated peer cannot make a gateway allocate more than this.
const MaxHandshakeFrame = 1024

// ErrFrameTooLarge is returned for a frame whose length exceeds MaxFrame.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// Conn reads and writes frames on a stream. It is not safe for concurrent
// readers or concurrent writers; one of each may run at a time.
type Conn struct {
	c   net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte // read buffer, reused by ReadFrame
	hdr [5]byte
	max uint32 // largest body accepted now; 0: MaxFrame
}

// NewConn wraps c.
func NewConn(c net.Conn) *Conn {
	return &Conn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.c }

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.c.Close() }

// ReadFrame reads the next frame. The body is valid until the next call.
func (c *Conn) ReadFrame() (Type, []byte, error) {
	if _, err := io.ReadFull(c.r, c.hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(c.hdr[:4])
	if n == 0 {
		return 0, nil, errors.New("wire: zero-length frame")
	}
	limit := uint32(MaxFrame)
	if c.max != 0 {
		limit = c.max
	}
	if n-1 > limit {
		return 0, nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, n-1, limit)
	}
	t := Type(c.hdr[4])
	if cap(c.buf) < int(n-1) {
		c.buf = make([]byte, n-1)
	}
	body := c.buf[:n-1]
	if _, err := io.ReadFull(c.r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("wire: %s frame body: %w", t, err)
	}
	return t, body, nil
}

// WriteFrame buffers one frame; Flush sends it.
func (c *Conn) WriteFrame(t Type, body []byte) error {
	if len(body) > MaxFrame {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(body))
	}
	var h [5]byte
	binary.BigEndian.PutUint32(h[:4], uint32(len(body)+1))
	h[4] = byte(t)
	if _, err := c.w.Write(h[:]); err != nil {
		return err
	}
	_, err := c.w.Write(body)
	return err
}

// Flush sends buffered frames.
func (c *Conn) Flush() error { return c.w.Flush() }

// Buffered returns the number of bytes waiting to be flushed.
func (c *Conn) Buffered() int { return c.w.Buffered() }

// SetDeadline sets the read and write deadline of the underlying connection.
func (c *Conn) SetDeadline(t time.Time) error { return c.c.SetDeadline(t) }

// AppendLeaseAdd appends one lease-add entry (tuple and time to live) to a
// lease-add body that was started with BeginBatch.
func AppendLeaseAdd(b []byte, t Tuple, ttl time.Duration) []byte {
	b = AppendTuple(b, t)
	ms := ttl.Milliseconds()
	if ms < 0 {
		ms = 0
	}
	if ms > 1<<32-1 {
		ms = 1<<32 - 1
	}
	return binary.BigEndian.AppendUint32(b, uint32(ms))
}

// LeaseFlags ask the gateway for more than the default records of a
// lease. They travel in lease-add entries when both sides announced
// CapLeaseFlags.
type LeaseFlags uint8

const (
	// LeasePayload: the lease's records carry the segment's whole payload
	// (up to MaxRecordPayload), not the connection's PayloadCap.
	LeasePayload LeaseFlags = 1 << iota

	knownLeaseFlags = LeasePayload
)

// AppendLeaseAddFlags appends one lease-add entry with its flags byte, the
// encoding of a channel where both sides announced CapLeaseFlags.
func AppendLeaseAddFlags(b []byte, t Tuple, ttl time.Duration, f LeaseFlags) []byte {
	return append(AppendLeaseAdd(b, t, ttl), byte(f))
}

// DecodeLeaseAddFlags reads one lease-add entry with its flags byte.
// Unknown flag bits are an error: a newer peer asked for something this
// build cannot give.
func DecodeLeaseAddFlags(b []byte) (Tuple, time.Duration, LeaseFlags, int, error) {
	t, ttl, n, err := DecodeLeaseAdd(b)
	if err != nil {
		return Tuple{}, 0, 0, 0, err
	}
	if len(b) < n+1 {
		return Tuple{}, 0, 0, 0, fmt.Errorf("lease flags: %w", errShort)
	}
	f := LeaseFlags(b[n])
	if f&^knownLeaseFlags != 0 {
		return Tuple{}, 0, 0, 0, fmt.Errorf("lease flags %#02x: unknown bits %#02x", uint8(f), uint8(f&^knownLeaseFlags))
	}
	return t, ttl, f, n + 1, nil
}

// BeginBatch starts a batch body (lease-add, lease-release, lease-refused, records) in b,
// reserving room for the count that EndBatch fills in.
func BeginBatch(b []byte) []byte { return append(b[:0], 0, 0) }

// EndBatch writes the entry count into a batch body started by BeginBatch.
func EndBatch(b []byte, n int) []byte {
	binary.BigEndian.PutUint16(b[:2], uint16(n))
	return b
}

// Batch iterates the entries of a batch body. Each entry is decoded by the
// callback, which returns how many bytes it consumed.
func Batch(body []byte, each func(i int, entry []byte) (int, error)) error {
	if len(body) < 2 {
		return errors.New("wire: batch: truncated count")
	}
	n := int(binary.BigEndian.Uint16(body))
	if n > MaxBatch {
		return fmt.Errorf("wire: batch: %d entries (limit %d)", n, MaxBatch)
	}
	p := body[2:]
	for i := 0; i < n; i++ {
		used, err := each(i, p)
		if err != nil {
			return fmt.Errorf("wire: batch entry %d of %d: %w", i+1, n, err)
		}
		p = p[used:]
	}
	if len(p) != 0 {
		return fmt.Errorf("wire: batch: %d trailing bytes after %d entries", len(p), n)
	}
	return nil
}

// DecodeLeaseAdd reads one lease-add entry.
func DecodeLeaseAdd(b []byte) (Tuple, time.Duration, int, error) {
	t, err := DecodeTuple(b)
	if err != nil {
		return Tuple{}, 0, 0, err
	}
	if len(b) < tupleSize+4 {
		return Tuple{}, 0, 0, errShort
	}
	ms := binary.BigEndian.Uint32(b[tupleSize:])
	return t, time.Duration(ms) * time.Millisecond, tupleSize + 4, nil
}

// DecodeLeaseRelease reads one lease-release entry.
func DecodeLeaseRelease(b []byte) (Tuple, int, error) {
	t, err := DecodeTuple(b)
	return t, tupleSize, err
}

// DecodeLeaseRefused reads one lease-refused entry (a tuple, like a
// lease-release entry; AppendTuple writes one).
func DecodeLeaseRefused(b []byte) (Tuple, int, error) { return DecodeLeaseRelease(b) }

// AppendError builds an error frame body.
func AppendError(b []byte, code uint16, msg string) []byte {
	b = binary.BigEndian.AppendUint16(b, code)
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	return append(b, msg...)
}

// PeerError is an error frame received from the peer.
type PeerError struct {
	Code uint16
	Msg  string
}

func (e *PeerError) Error() string { return fmt.Sprintf("peer refused: %s (code %d)", e.Msg, e.Code) }

// Error codes carried in error frames.
const (
	CodeVersion  uint16 = 1 // protocol version not supported
	CodeAuth     uint16 = 2 // authentication failed
	CodeProtocol uint16 = 3 // malformed or unexpected frame
	CodeShutdown uint16 = 4 // the peer is stopping
	CodeBusy     uint16 = 5 // the gateway has no room for another copier (pool shares or pending handshakes)
)

// DecodeError parses an error frame body.
func DecodeError(b []byte) *PeerError {
	if len(b) < 2 {
		return &PeerError{Code: CodeProtocol, Msg: "malformed error frame"}
	}
	return &PeerError{Code: binary.BigEndian.Uint16(b), Msg: string(b[2:])}
}
