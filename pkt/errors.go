package pkt

import (
	"errors"
	"fmt"
)

// Parse's verdicts. ErrNotTCP and ErrFragment describe well-formed packets
// that are not a whole TCP segment; every other error wraps ErrMalformed
// and says which header field is wrong. They are static values, so a bad
// packet costs no allocation; compare with errors.Is.
var (
	// ErrMalformed is wrapped by every header or length error.
	ErrMalformed = errors.New("malformed packet")
	// ErrNotTCP: a well-formed packet whose (first) next header is not
	// TCP: UDP, ICMP, and IPv6 with extension headers (they are not
	// followed).
	ErrNotTCP = errors.New("not TCP")
	// ErrFragment: an IPv4 fragment, first or later.
	ErrFragment = errors.New("IPv4 fragment")

	ErrEmpty       = fmt.Errorf("%w: empty packet", ErrMalformed)
	ErrVersion     = fmt.Errorf("%w: IP version is neither 4 nor 6", ErrMalformed)
	ErrShortIPv4   = fmt.Errorf("%w: IPv4 header shorter than 20 bytes", ErrMalformed)
	ErrIHL         = fmt.Errorf("%w: IPv4 header length field out of range", ErrMalformed)
	ErrTotalLength = fmt.Errorf("%w: IPv4 total length smaller than its header", ErrMalformed)
	ErrLongIPv4    = fmt.Errorf("%w: IPv4 total length exceeds the captured bytes (packet longer than its record)", ErrMalformed)
	ErrShortIPv6   = fmt.Errorf("%w: IPv6 header shorter than 40 bytes", ErrMalformed)
	ErrLongIPv6    = fmt.Errorf("%w: IPv6 payload length exceeds the captured bytes (packet longer than its record)", ErrMalformed)
	ErrShortTCP    = fmt.Errorf("%w: TCP header shorter than 20 bytes", ErrMalformed)
	ErrDataOffset  = fmt.Errorf("%w: TCP data offset out of range", ErrMalformed)
)

// Build's errors: the segment cannot be written as asked.
var (
	ErrBuffer  = errors.New("pkt: buffer too small for the packet")
	ErrFamily  = errors.New("pkt: addresses of different IP families (IPv4 and IPv6)")
	ErrOptions = errors.New("pkt: TCP options longer than 40 bytes or not a multiple of 4")
	ErrTooLong = errors.New("pkt: segment longer than an IP length field holds")
)
