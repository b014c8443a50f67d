package tunnel

import (
	"testing"

	"github.com/replaygw/replaygw/lab/netns"
)

// nsPrefix starts the name of every namespace and link the tunnel tests
// create (see netns.NewPair).
const nsPrefix = "rgT"

// nsStatePath is the state file a gateway in namespace ns uses.
func nsStatePath(t *testing.T, ns, dir, name string) string {
	t.Helper()
	var p string
	netns.InNS(t, ns, func() error { p = statePath(dir, name); return nil })
	return p
}
