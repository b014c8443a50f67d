package tunnel

import (
	"net/netip"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	pool := []netip.Prefix{netip.MustParsePrefix("10.88.0.0/24")}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" = valid
	}{
		{"defaults", Config{Name: "rgw0", Pools: pool}, ""},
		{"no name", Config{Pools: pool}, "name"},
		{"long name", Config{Name: "a-very-long-tun-name", Pools: pool}, "name"},
		{"no pools", Config{Name: "rgw0"}, "no pools"},
		{"unmasked pool", Config{Name: "rgw0", Pools: []netip.Prefix{netip.MustParsePrefix("10.88.0.1/24")}}, "not a masked prefix"},
		{"bad redirect", Config{Name: "rgw0", Pools: pool, Redirect: "nat"}, "redirect"},
		{"small mtu", Config{Name: "rgw0", Pools: pool, MTU: 100}, "mtu"},
		{"too many queues", Config{Name: "rgw0", Pools: pool, Queues: 1000}, "queues"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			c.setDefaults()
			err := c.validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.setDefaults()
	if c.Queues != 1 || c.MTU != 1500 || c.TxQueueLen != 10000 || c.Redirect != RedirectAuto || c.StateDir != DefaultStateDir || c.Logger == nil {
		t.Fatalf("defaults = %+v", c)
	}
}
