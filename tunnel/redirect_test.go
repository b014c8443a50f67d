package tunnel

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestU32Keys(t *testing.T) {
	tests := []struct {
		pool string
		want []netlink.TcU32Key
	}{
		{"10.88.0.0/24", []netlink.TcU32Key{{Mask: 0xffffff00, Val: 0x0a580000, Off: 16}}},
		{"10.88.0.7/32", []netlink.TcU32Key{{Mask: 0xffffffff, Val: 0x0a580007, Off: 16}}},
		{"10.0.0.0/9", []netlink.TcU32Key{{Mask: 0xff800000, Val: 0x0a000000, Off: 16}}},
		{"0.0.0.0/0", []netlink.TcU32Key{{Off: 16}}},
		{"fd00:88::/32", []netlink.TcU32Key{{Mask: 0xffffffff, Val: 0xfd000088, Off: 24}}},
		{"fd00:88:0:1::/64", []netlink.TcU32Key{
			{Mask: 0xffffffff, Val: 0xfd000088, Off: 24},
			{Mask: 0xffffffff, Val: 0x00000001, Off: 28},
		}},
		{"fd00::aa00/120", []netlink.TcU32Key{
			{Mask: 0xffffffff, Val: 0xfd000000, Off: 24},
			{Mask: 0xffffffff, Val: 0, Off: 28},
			{Mask: 0xffffffff, Val: 0, Off: 32},
			{Mask: 0xffffff00, Val: 0x0000aa00, Off: 36},
		}},
		{"::/0", []netlink.TcU32Key{{Off: 24}}},
	}
	for _, tt := range tests {
		t.Run(tt.pool, func(t *testing.T) {
			got := u32Keys(netip.MustParsePrefix(tt.pool))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("u32Keys(%s) = %+v, want %+v", tt.pool, got, tt.want)
			}
		})
	}
}

func TestForwardingKeys(t *testing.T) {
	old := procSys
	t.Cleanup(func() { procSys = old })
	procSys = t.TempDir() // no force_forwarding here
	v4 := netip.MustParsePrefix("10.88.0.0/24")
	v6 := netip.MustParsePrefix("fd00::/120")
	keys, err := forwardingKeys("eth0", []netip.Prefix{v4})
	if err != nil || !reflect.DeepEqual(keys, []string{"net/ipv4/conf/eth0/forwarding"}) {
		t.Fatalf("v4: keys %v, err %v", keys, err)
	}
	if _, err := forwardingKeys("eth0", []netip.Prefix{v4, v6}); err == nil {
		t.Fatal("v6 without force_forwarding: want error")
	}
}
