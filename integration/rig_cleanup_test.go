package integration

import (
	"fmt"
	"os"
	"testing"

	"github.com/replaygw/replaygw/lab"
)

// closeRigAtEnd closes the rig d when the test ends; on failure it logs the
// rig's output and the tails of both roles' logs. Then it checks that no
// namespace with prefix is left.
func closeRigAtEnd(t *testing.T, d *lab.Rig, out fmt.Stringer, prefix string) {
	t.Cleanup(func() {
		d.Close()
		if t.Failed() {
			t.Logf("rig output:\n%s", out.String())
			for _, f := range []*os.File{d.GWLog, d.CPLog} {
				if f != nil {
					t.Logf("%s", lab.LogTail(f.Name(), 30))
				}
			}
		}
		assertDemoCleaned(t, prefix, nil)
	})
}
