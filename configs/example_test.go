package configs

import (
	"bytes"
	"strings"
	"testing"
)

var allRoles = []string{"", RoleGateway, RoleCopier, RoleAppliance}

// ownToken puts a token of the operator's own in place of the example's.
func ownToken(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte(`"replace-with-a-long-random-secret"`), []byte(`"0123456789abcdef0123456789abcdef"`))
}

// The full example loads unchanged for every command, and so does each
// role's minimal example for its own; the only warnings are about the
// example's token, and with a token of one's own there are none.
func TestExamplesLoadForEveryRole(t *testing.T) {
	type load struct{ example, role string }
	var cases []load
	for _, r := range allRoles {
		cases = append(cases, load{"", r})
		if r != "" {
			cases = append(cases, load{r, r})
		}
	}
	cases = append(cases, load{RoleAppliance, ""}, load{RoleGateway, ""}, load{RoleCopier, ""})
	for _, tc := range cases {
		t.Run("example "+tc.example+" as "+tc.role, func(t *testing.T) {
			text, err := ExampleFor(tc.example)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParseFor(text, "replaygw.toml", tc.role)
			if err != nil {
				t.Fatalf("does not load:\n%v", err)
			}
			if len(c.Warnings) == 0 {
				t.Error("no warning about the example's token")
			}
			for _, w := range c.Warnings {
				if !strings.Contains(w, "the example's token") {
					t.Errorf("warning: %s", w)
				}
			}
			c, err = ParseFor(ownToken(text), "replaygw.toml", tc.role)
			if err != nil || len(c.Warnings) != 0 {
				t.Fatalf("with its own token: err %v, warnings %q", err, c.Warnings)
			}
			wantGW := tc.role == RoleGateway || tc.role == RoleAppliance || tc.role == "" && tc.example != RoleCopier
			wantCopy := tc.role == RoleCopier || tc.role == RoleAppliance || tc.role == "" && tc.example != RoleGateway
			if (c.Gateway != nil) != wantGW || (c.Copy != nil) != wantCopy {
				t.Errorf("sections: gateway %v, copy %v", c.Gateway != nil, c.Copy != nil)
			}
			if tc.role == RoleCopier && c.Copy.Sender != DefaultSender {
				t.Errorf("copier sender = %q, want the default %q", c.Copy.Sender, DefaultSender)
			}
		})
	}
	if _, err := ExampleFor("router"); err == nil || !strings.Contains(err.Error(), `"router"`) {
		t.Errorf("ExampleFor(router) = %v", err)
	}
	a, _ := ExampleFor("")
	a[0] = 'X'
	if Example[0] == 'X' {
		t.Error("ExampleFor returns the embedded bytes, not a copy")
	}
}

// A command refuses only problems in the sections it uses; config check
// (role "") reports them all.
func TestParseForRole(t *testing.T) {
	badCopy := gwOK + strings.Replace(copyOK, "[[copy.route]]", "copies = 99\n[[copy.route]]", 1)
	badGW := strings.Replace(gwOK, "[gateway]\n", "[gateway]\nmtu = 10\n", 1) + copyOK
	badMetrics := gwOK + copyOK + "[metrics]\nlisten = \"nope\"\n"
	clash := strings.Replace(gwOK, "[gateway]\n", "[gateway]\nlisten = \":9257\"\n", 1) + copyOK + "[metrics]\nlisten = \"127.0.0.1:9257\"\n"
	typeCopy := gwOK + strings.Replace(copyOK, "[[copy.route]]", "copies = \"two\"\n[[copy.route]]", 1)
	unknownTop := gwOK + copyOK + "[gatway]\n"
	outside := gwOK + strings.Replace(copyOK, "[[copy.route]]", "client_pool = \"10.99.0.0/24\"\n[[copy.route]]", 1)
	cases := []struct {
		name, text, role string
		want             string // "" = loads
	}{
		{"copy problem, check", badCopy, "", "copy.copies"},
		{"copy problem, up", badCopy, RoleGateway, ""},
		{"copy problem, copy", badCopy, RoleCopier, "copy.copies"},
		{"copy problem, appliance", badCopy, RoleAppliance, "copy.copies"},
		{"gateway problem, copy", badGW, RoleCopier, ""},
		{"gateway problem, up", badGW, RoleGateway, "gateway.mtu"},
		{"metrics problem, every role", badMetrics, RoleCopier, "metrics.listen"},
		{"metrics problem, up", badMetrics, RoleGateway, "metrics.listen"},
		{"listener clash, up", clash, RoleGateway, "metrics.listen: \"127.0.0.1:9257\" and gateway.listen (\":9257\") are the same address"},
		{"listener clash, copy", clash, RoleCopier, ""},
		{"type error in copy, up", typeCopy, RoleGateway, ""},
		{"type error in copy, copy", typeCopy, RoleCopier, "copy.copies: must be an integer"},
		{"unknown section, every role", unknownTop, RoleCopier, `unknown key "gatway"`},
		{"no copy, copy", gwOK, RoleCopier, "no [copy] section: the copier role needs one"},
		{"no gateway, up", copyOK, RoleGateway, "no [gateway] section: the gateway role needs one"},
		{"no gateway, appliance", copyOK, RoleAppliance, "no [gateway] section: the appliance role needs one"},
		{"gateway only, up", gwOK, RoleGateway, ""},
		{"client_pool outside the file's pools, check", outside, "", "copy.client_pool: 10.99.0.0/24 is not inside gateway.pools"},
		{"client_pool outside the file's pools, copy", outside, RoleCopier, ""},
		{"unknown role", gwOK, "router", `unknown role "router"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseFor([]byte(tc.text), "r.toml", tc.role)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused:\n%v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q (config %+v)", err, tc.want, c)
			}
		})
	}
}

// The copier of a file that also has [gateway] warns, not refuses, when
// client_pool is outside that section's pools.
func TestCopierForeignPools(t *testing.T) {
	text := gwOK + strings.Replace(copyOK, "[[copy.route]]", "client_pool = \"10.99.0.0/24\"\n[[copy.route]]", 1)
	c, err := ParseFor([]byte(text), "f.toml", RoleCopier)
	if err != nil {
		t.Fatal(err)
	}
	want := "f.toml:8: copy.client_pool: 10.99.0.0/24 is not inside the pools of this file's [gateway] (10.88.0.0/24)"
	if len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0], want) {
		t.Errorf("warnings %q, want one starting %q", c.Warnings, want)
	}
	inside := strings.Replace(text, "10.99.0.0/24", "10.88.0.0/25", 1)
	if c, err := ParseFor([]byte(inside), "f.toml", RoleCopier); err != nil || len(c.Warnings) != 0 {
		t.Errorf("inside: err %v, warnings %q", err, c.Warnings)
	}
}

func TestValidateFor(t *testing.T) {
	c, err := Parse([]byte(gwOK+copyOK), "v.toml")
	if err != nil {
		t.Fatal(err)
	}
	c.Copy.Copies = 0
	if err := c.ValidateFor(RoleGateway); err != nil {
		t.Errorf("ValidateFor(gateway) with a copy problem: %v", err)
	}
	if err := c.ValidateFor(RoleCopier); err == nil || !strings.Contains(err.Error(), "copy.copies") {
		t.Errorf("ValidateFor(copier) = %v", err)
	}
	if c.Gateway == nil {
		t.Error("ValidateFor(copier) dropped the [gateway] section")
	}
	// The copier's view has no gateway: its own gateways are required.
	c.Copy.Copies, c.Copy.Gateways = 1, nil
	if err := c.ValidateFor(RoleCopier); err == nil || !strings.Contains(err.Error(), "copy.gateways: missing") {
		t.Errorf("ValidateFor(copier) without gateways = %v", err)
	}
	if err := c.ValidateFor(RoleAppliance); err != nil {
		t.Errorf("ValidateFor(appliance) without gateways = %v", err)
	}
	if err := c.ValidateFor("x"); err == nil {
		t.Error("ValidateFor(x) accepted")
	}
}
