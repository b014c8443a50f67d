package copier

import "github.com/replaygw/replaygw/wire"

// tupleKey is a tuple as a map key without pointers (netip.Addr holds
// one): both addresses in their 16-byte form and both ports, 36 bytes
// instead of wire.Tuple's 64. The maps that hold a tuple per connection
// long after it ended (tombstones, the allocator's TIME_WAIT) use it: they
// are smaller and the garbage collector does not scan them.
type tupleKey struct {
	client, target [16]byte
	cport, tport   uint16
}

func keyOf(t wire.Tuple) tupleKey {
	return tupleKey{client: t.Client.Addr().As16(), target: t.Target.Addr().As16(), cport: t.Client.Port(), tport: t.Target.Port()}
}
