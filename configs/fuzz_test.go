package configs

import (
	"strings"
	"testing"
)

// FuzzParse: Parse and ParseFor never panic; a role's config has its
// sections; an accepted config has a role and its
// parsed fields; every error line names the file.
func FuzzParse(f *testing.F) {
	f.Add(Example)
	f.Add([]byte(gwOK))
	f.Add([]byte(copyOK))
	f.Add([]byte(gwOK + copyOK + "[log]\nlevel = \"debug\"\n"))
	f.Add([]byte("[gateway]\npools = [\n\"10.0.0.0/24\",\n]\ntoken = '''\nx'''\n"))
	f.Add([]byte("a = \"\"\"\n[b]\n\"\"\"\n[[copy.route]]\nx = {y = [1, {z = 2}]}\n"))
	f.Add([]byte("[copy]\nroute = [{from = \"10.0.0.1:1\", to = \"[::1]:1\"}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		scanPositions(data) // also on text the TOML parser would refuse
		for _, role := range []string{RoleGateway, RoleCopier, RoleAppliance} {
			if c, err := ParseFor(data, "fuzz.toml", role); err == nil && (role != RoleCopier && c.Gateway == nil || role != RoleGateway && c.Copy == nil) {
				t.Fatalf("role %s accepted without its section", role)
			}
		}
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			for _, l := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(l, "fuzz.toml") {
					t.Fatalf("error line without the file name: %q", l)
				}
			}
			return
		}
		if c.Role() == "" {
			t.Fatal("accepted a config with no role")
		}
		if c.Gateway != nil && len(c.Gateway.PoolPrefixes) != len(c.Gateway.Pools) {
			t.Fatalf("pools %q parsed to %v", c.Gateway.Pools, c.Gateway.PoolPrefixes)
		}
		if c.Copy != nil {
			for _, r := range c.Copy.Routes {
				if !r.FromAddr.IsValid() || !r.ToAddr.IsValid() {
					t.Fatalf("route %+v not parsed", r)
				}
			}
		}
	})
}
