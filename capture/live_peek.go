package capture

import (
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/sys/unix"
)

// Peeking at the ring before reading it. gopacket's ZeroCopyReadPacketData
// ends every drain of the ring with a poll(2) on a block that is not ready
// yet (zero timeout, so it returns at once). That ordinary system call,
// made when every goroutine had gone idle, wakes the Go runtime's sysmon
// thread, which then polls in 20 µs steps for a millisecond or more: at
// everyday rates, once per retired block, a fifth of the copier's CPU in a
// profile. ringPeek answers the same question from the shared ring memory
// (the TPACKET_V3 block status the kernel sets, as the poll would) so that
// the reader calls into gopacket only when a packet is there, and
// otherwise parks in the netpoller. It reads gopacket's private position
// fields, found by reflection once; if any is missing the reader calls
// gopacket as before.

// tpFields are the byte offsets of the TPacket fields ringPeek reads.
var tpFields = func() (f struct {
	ring, offset, current, nextNeeded, v3 uintptr
	ok                                    bool
}) {
	t := reflect.TypeOf(afpacket.TPacket{})
	field := func(name string, kind reflect.Kind) (uintptr, bool) {
		sf, ok := t.FieldByName(name)
		return sf.Offset, ok && sf.Type.Kind() == kind
	}
	var ok [5]bool
	f.ring, ok[0] = field("ring", reflect.Slice)
	f.offset, ok[1] = field("offset", reflect.Int)
	f.current, ok[2] = field("current", reflect.Interface)
	f.nextNeeded, ok[3] = field("headerNextNeeded", reflect.Bool)
	f.v3, ok[4] = field("v3", reflect.Struct)
	f.ok = ok == [5]bool{true, true, true, true, true} && v3Layout()
	return f
}()

// v3Layout checks the wrapper gopacket keeps for the current block: the
// block descriptor, its header and the packet (pointers), then the
// packets used so far (uint32).
func v3Layout() bool {
	sf, ok := reflect.TypeOf(afpacket.TPacket{}).FieldByName("v3")
	if !ok || sf.Type.NumField() < 4 {
		return false
	}
	for i, k := range []reflect.Kind{reflect.Pointer, reflect.Pointer, reflect.Pointer, reflect.Uint32} {
		if f := sf.Type.Field(i); f.Type.Kind() != k || (k == reflect.Uint32 && f.Offset != 3*unsafe.Sizeof(uintptr(0))) {
			return false
		}
	}
	return true
}

// TPACKET_V3 block descriptor: version, offset_to_priv, then
// tpacket_hdr_v1 whose first fields are block_status and num_pkts.
const (
	blockStatusOff = 8
	blockPktsOff   = 12
)

// ringPeek tells whether tp's next ZeroCopyReadPacketData has a packet
// without waiting.
type ringPeek struct {
	tp        unsafe.Pointer
	blocks    int
	blockSize int
}

// newRingPeek returns a peek for tp (numBlocks blocks of blockSize), or
// nil when gopacket's fields are not the ones expected.
func newRingPeek(tp *afpacket.TPacket, numBlocks int) *ringPeek {
	if !tpFields.ok || numBlocks <= 0 {
		return nil
	}
	p := &ringPeek{tp: unsafe.Pointer(tp), blocks: numBlocks, blockSize: blockSize}
	if len(p.ring()) != numBlocks*blockSize {
		return nil
	}
	return p
}

func (p *ringPeek) ring() []byte { return *(*[]byte)(unsafe.Add(p.tp, tpFields.ring)) }

// next mirrors gopacket's choice of the next header: more is another
// packet of the current block; otherwise off is the block it reads next.
func (p *ringPeek) next() (off int, more bool) {
	off = *(*int)(unsafe.Add(p.tp, tpFields.offset))
	current := *(*[2]unsafe.Pointer)(unsafe.Add(p.tp, tpFields.current))
	if current[0] != nil && *(*bool)(unsafe.Add(p.tp, tpFields.nextNeeded)) {
		v3 := unsafe.Add(p.tp, tpFields.v3)
		if blockhdr := *(*unsafe.Pointer)(unsafe.Add(v3, unsafe.Sizeof(uintptr(0)))); blockhdr != nil {
			used := *(*uint32)(unsafe.Add(v3, 3*unsafe.Sizeof(uintptr(0))))
			if used+1 < atomic.LoadUint32((*uint32)(unsafe.Add(blockhdr, blockPktsOff-blockStatusOff))) {
				return off, true
			}
		}
		off++ // the current block is done: gopacket releases it and moves on
	}
	if off >= p.blocks {
		off = 0
	}
	return off, false
}

// user reports whether the kernel handed block off to user space.
func (p *ringPeek) user(off int) bool {
	ring := p.ring()
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&ring[off*p.blockSize+blockStatusOff])))&unix.TP_STATUS_USER != 0
}

// ready reports whether a read returns a packet now: another packet of the
// current block, or a next block the kernel retired (TP_STATUS_USER).
func (p *ringPeek) ready() bool {
	off, more := p.next()
	return more || p.user(off)
}

// backlog counts the retired blocks waiting to be read, from the next one
// on, up to limit.
func (p *ringPeek) backlog(limit int) int {
	off, _ := p.next()
	n := 0
	for n < limit && p.user(off) {
		n++
		if off++; off == p.blocks {
			off = 0
		}
	}
	return n
}
