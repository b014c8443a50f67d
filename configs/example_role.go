package configs

import "fmt"

// Parts of the minimal examples (`replaygw config example --role ROLE`):
// only the keys a role requires, with placeholder values to edit. Example
// is the annotated file with every key.
const (
	exampleGatewaySection = `[gateway]
# Client pools the target's responses are routed to (copy.client_pool of
# the copiers lies inside them).
pools = ["10.88.0.0/16"]
# Shared secret of the control channel (or token_file = "/etc/replaygw/token").
token = "change-me"
`
	exampleRemote = `# Gateways (replaygw up) that send the target's responses back.
gateways = ["192.0.2.99:36524"]
# Shared secret, the gateways' token (or token_file = "/etc/replaygw/token").
token = "change-me"
`
	exampleCopySection = `[copy]
# Capture interface of the online host (the mirror port on the appliance).
interface = "eth0"
# Client addresses are rewritten into this pool.
client_pool = "10.88.0.0/24"
%s
# The online service and the test target it is replayed to.
[[copy.route]]
from = "192.0.2.10:80"
to   = "198.51.100.20:80"
`
)

// RoleExample returns the minimal example config for role: RoleGateway,
// RoleCopier or RoleAppliance.
func RoleExample(role string) ([]byte, error) {
	switch role {
	case RoleGateway:
		return []byte("# replaygw gateway: `sudo replaygw up` on the assistant host.\n" + exampleGatewaySection), nil
	case RoleCopier:
		return fmt.Appendf([]byte("# replaygw copier: `sudo replaygw copy` on the online host.\n"), exampleCopySection, exampleRemote), nil
	case RoleAppliance:
		return fmt.Appendf([]byte("# replaygw appliance: `sudo replaygw appliance` on the assistant host, both\n"+
			"# roles in one process (the copier sends through a TUN of its own and gets\n"+
			"# the responses from the gateway in-process: no copy.gateways).\n"+
			exampleGatewaySection+"\n"), exampleCopySection, ""), nil
	}
	return nil, fmt.Errorf("role %q: want %s, %s or %s", role, RoleGateway, RoleCopier, RoleAppliance)
}
