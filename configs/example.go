package configs

import (
	_ "embed"
	"fmt"
)

// Example is the annotated example config (configs/replaygw.toml): every
// key with its default. `replaygw config example` prints it.
//
//go:embed replaygw.toml
var Example []byte

// Minimal examples, one per role: only the keys without a default.
var (
	//go:embed example-gateway.toml
	exampleGateway []byte
	//go:embed example-copier.toml
	exampleCopier []byte
	//go:embed example-appliance.toml
	exampleAppliance []byte
)

// ExampleFor is the example config for role: "" is the full annotated
// Example, RoleGateway, RoleCopier and RoleAppliance a minimal file for
// that command (`replaygw config example --role ROLE`). Each loads
// unchanged with LoadFor(path, role), with warnings only about its token.
// The result is a copy the caller may change.
func ExampleFor(role string) ([]byte, error) {
	var b []byte
	switch role {
	case "":
		b = Example
	case RoleGateway:
		b = exampleGateway
	case RoleCopier:
		b = exampleCopier
	case RoleAppliance:
		b = exampleAppliance
	default:
		return nil, fmt.Errorf("config: no example for role %q (want %s, %s or %s)", role, RoleGateway, RoleCopier, RoleAppliance)
	}
	return append([]byte(nil), b...), nil
}
