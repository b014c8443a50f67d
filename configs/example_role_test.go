package configs

import (
	"strings"
	"testing"
)

// Every minimal example loads cleanly and has exactly its role's sections.
func TestRoleExample(t *testing.T) {
	for _, tc := range []struct {
		role          string
		gateway, copy bool
	}{
		{RoleGateway, true, false},
		{RoleCopier, false, true},
		{RoleAppliance, true, true},
	} {
		t.Run(tc.role, func(t *testing.T) {
			b, err := RoleExample(tc.role)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(b, tc.role+".toml")
			if err != nil {
				t.Fatalf("example does not load: %v\n%s", err, b)
			}
			if (c.Gateway != nil) != tc.gateway || (c.Copy != nil) != tc.copy {
				t.Fatalf("sections gateway %v copy %v, want %v %v", c.Gateway != nil, c.Copy != nil, tc.gateway, tc.copy)
			}
			if strings.Contains(string(b), "%!") {
				t.Fatalf("format residue in\n%s", b)
			}
		})
	}
	if _, err := RoleExample("both"); err == nil || !strings.Contains(err.Error(), `role "both": want gateway, copier or appliance`) {
		t.Fatalf("unknown role: %v", err)
	}
}
