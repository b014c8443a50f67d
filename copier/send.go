package copier

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// This file holds what the three senders (raw IP, TUN, L2) share: their
// options and counters. The Sender interface itself is in engine.go.

// SenderOptions are the knobs common to every sender.
type SenderOptions struct {
	Logger *slog.Logger
	// SendBuffer is the socket send buffer in bytes (raw and L2 senders);
	// default 4 MiB.
	SendBuffer int
	// SendTimeout bounds how long one Send may block on a full send buffer
	// before it fails with EAGAIN (counted); default 100ms.
	SendTimeout time.Duration
}

func (o *SenderOptions) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SendBuffer <= 0 {
		o.SendBuffer = 4 << 20
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 100 * time.Millisecond
	}
}

// ErrInvalidPacket is returned by Send for bytes that are not an IPv4 or
// IPv6 packet with a complete header.
var ErrInvalidPacket = errors.New("copier: send: not an IPv4/IPv6 packet")

// ErrNoNeighbour is returned by the L2 sender when the next hop's MAC address
// is not in the neighbour table.
var ErrNoNeighbour = errors.New("copier: send: next hop MAC address unknown")

// sendErrorReasons are the errors counted one by one; the last is "other".
var sendErrorReasons = [...]struct {
	errno  unix.Errno
	name   string
	reason string
}{
	{unix.EPERM, "eperm", "operation not permitted (firewall or missing CAP_NET_RAW)"},
	{unix.EACCES, "eacces", "permission denied (e.g. broadcast destination)"},
	{unix.EMSGSIZE, "emsgsize", "packet larger than the path MTU"},
	{unix.ENOBUFS, "enobufs", "no buffer space (device queue full)"},
	{unix.EAGAIN, "eagain", "send buffer full for longer than the send timeout"},
	{unix.ENETUNREACH, "enetunreach", "no route to the target network"},
	{unix.EHOSTUNREACH, "ehostunreach", "target host unreachable"},
	{unix.ENETDOWN, "enetdown", "interface down"},
	{unix.EINVAL, "einval", "invalid argument"},
	{0, "invalid_packet", "Send was given bytes that are not an IP packet"},
	{0, "no_neighbour", "next hop MAC address not in the neighbour table (L2)"},
	{0, "other", "any other error"},
}

const (
	reasonInvalid = len(sendErrorReasons) - 3
	reasonNoNeigh = len(sendErrorReasons) - 2
	reasonOther   = len(sendErrorReasons) - 1
)

// SendStats counts what a sender did. Safe for concurrent use.
type SendStats struct {
	Sent   atomic.Uint64 // packets handed to the kernel
	Bytes  atomic.Uint64 // their bytes (IP packets, without link headers)
	Errors [len(sendErrorReasons)]atomic.Uint64
	logged [len(sendErrorReasons)]atomic.Bool // first of each kind logged
}

// ErrorCount returns the errors counted for a reason name ("emsgsize",
// "enetunreach", "invalid_packet", ...).
func (s *SendStats) ErrorCount(name string) uint64 {
	for i, r := range sendErrorReasons {
		if r.name == name {
			return s.Errors[i].Load()
		}
	}
	return 0
}

// TotalErrors is the sum of all error counters.
func (s *SendStats) TotalErrors() uint64 {
	var n uint64
	for i := range s.Errors {
		n += s.Errors[i].Load()
	}
	return n
}

func (s *SendStats) ok(n int) {
	s.Sent.Add(1)
	s.Bytes.Add(uint64(n))
}

// fail counts err under its reason and logs the first of each kind. It
// returns err unchanged (no allocation on the hot error path).
func (s *SendStats) fail(log *slog.Logger, kind string, err error) error {
	i := reasonOther
	switch {
	case errors.Is(err, ErrInvalidPacket):
		i = reasonInvalid
	case errors.Is(err, ErrNoNeighbour):
		i = reasonNoNeigh
	default:
		var errno unix.Errno
		if errors.As(err, &errno) {
			for j, r := range sendErrorReasons[:reasonInvalid] {
				if r.errno == errno {
					i = j
					break
				}
			}
		}
	}
	s.Errors[i].Add(1)
	if !s.logged[i].Swap(true) {
		log.Warn("send failed (first of its kind; all are counted)", "sender", kind,
			"reason", sendErrorReasons[i].name, "err", err)
	}
	return err
}

// ipVersion returns 4 or 6 for a packet with a complete IP header, else 0.
func ipVersion(pkt []byte) int {
	if len(pkt) >= 20 && pkt[0]>>4 == 4 {
		return 4
	}
	if len(pkt) >= 40 && pkt[0]>>4 == 6 {
		return 6
	}
	return 0
}
