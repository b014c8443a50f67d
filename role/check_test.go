package role

import (
	"strings"
	"testing"

	"github.com/replaygw/replaygw/configs"
)

const (
	gwTOML     = "[gateway]\npools = [\"10.88.0.0/24\"]\ntoken = \"x\"\n"
	routeTOML  = "[[copy.route]]\nfrom = \"192.0.2.10:80\"\nto = \"198.51.100.20:80\"\n"
	copyTOML   = "[copy]\ninterface = \"lo\"\ngateways = [\"192.0.2.99:36524\"]\ntoken = \"x\"\n" + routeTOML
	mirrorTOML = "[copy]\ninterface = \"lo\"\nclient_pool = \"10.88.0.0/26\"\n" + routeTOML
)

// Each command runs its own sections and says why it cannot.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, toml, cmd string
		want            string // substring of what it runs, or of the error
		ok              bool
	}{
		{"up gateway", gwTOML, CmdUp, "gateway with TUN rgw0, pools 10.88.0.0/24, control channel :36524", true},
		{"up ignores [copy]", gwTOML + copyTOML, CmdUp, "gateway with TUN rgw0", true},
		{"up without [gateway]", copyTOML, CmdUp, "no [gateway] section", false},
		{"copy copier", copyTOML, CmdCopy, "copier with capture on lo, 1 route(s), gateways 192.0.2.99:36524, sender raw", true},
		{"copy ignores [gateway], sender default too", gwTOML + copyTOML, CmdCopy, "sender raw", true},
		{"copy keeps an explicit sender", gwTOML + strings.Replace(copyTOML, "[copy]\n", "[copy]\nsender = \"tun\"\nsend_interface = \"snd0\"\n", 1), CmdCopy, "sender tun", true},
		{"copy without gateways", gwTOML + mirrorTOML, CmdCopy, "copy.gateways", false},
		{"copy without [copy]", gwTOML, CmdCopy, "no [copy] section", false},
		{"appliance", gwTOML + mirrorTOML, CmdAppliance, "appliance: copier from mirror port lo, 1 route(s), sender tun rgw0s; gateway with TUN rgw0", true},
		{"appliance needs both", copyTOML, CmdAppliance, "no [gateway] section", false},
		{"unknown", gwTOML, "frob", `unknown command "frob"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// As the command reads the file; its refusals count too.
			cfg, err := configs.ParseFor([]byte(tc.toml), "t.toml", ConfigRole(tc.cmd))
			what := ""
			if err == nil {
				what, err = Check(cfg, tc.cmd)
			}
			got := what
			if err != nil {
				got = err.Error()
			}
			if (err == nil) != tc.ok || !strings.Contains(got, tc.want) {
				t.Fatalf("Check(%s) = %q, %v; want ok=%v and %q", tc.cmd, what, err, tc.ok, tc.want)
			}
		})
	}
}

// A file with both sections read whole (as `config check` does) gets the
// appliance's sender default; `copy` on it sends the plain way.
func TestCheckCopyUndoesTheApplianceSender(t *testing.T) {
	cfg, err := configs.Parse([]byte(gwTOML+strings.Replace(copyTOML, "[copy]\n", "[copy]\nclient_pool = \"10.88.0.0/26\"\n", 1)), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Copy.Sender != "tun" {
		t.Fatalf("whole-file sender %q, want the appliance's tun", cfg.Copy.Sender)
	}
	what, err := Check(cfg, CmdCopy)
	if err != nil || !strings.HasSuffix(what, "sender raw") {
		t.Fatalf("Check(copy) = %q, %v; want sender raw", what, err)
	}
}
