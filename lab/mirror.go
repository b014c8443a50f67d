package lab

import (
	"fmt"
)

// AddMirror gives the lab a mirror port: a veth pair named name (the same
// name on both ends) between host from and host to, and a tc filter on
// from's LAN interface that copies every packet from receives there out of
// its end of the pair, so that to sees, on its end, what a switch's SPAN
// port would show of from's inbound traffic. The pair goes away with the
// namespaces.
func (l *Lab) AddMirror(from, to Host, name string) error {
	script := fmt.Sprintf("link add %s type veth peer name %s netns %s\nlink set %s up\n", name, name, l.NS(to), name)
	if err := ipBatch(l.NS(from), script); err != nil {
		return fmt.Errorf("lab: mirror %s: %w", name, err)
	}
	if err := ipBatch(l.NS(to), fmt.Sprintf("link set %s up\n", name)); err != nil {
		return fmt.Errorf("lab: mirror %s: %w", name, err)
	}
	for _, args := range [][]string{
		{"tc", "qdisc", "add", "dev", Iface, "clsact"},
		// u32 "match anything" rather than matchall: kernels without
		// cls_matchall are common, u32 is what the gateway itself uses.
		{"tc", "filter", "add", "dev", Iface, "ingress", "protocol", "all", "u32", "match", "u32", "0", "0",
			"action", "mirred", "egress", "mirror", "dev", name},
	} {
		if out, err := l.Exec(from, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("lab: mirror %s: %v: %w: %s", name, args, err, out)
		}
	}
	return nil
}
