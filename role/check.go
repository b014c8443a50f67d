package role

import (
	"errors"
	"fmt"
	"strings"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
)

// Commands that run a role, in the order `config check` reports them.
const (
	CmdUp        = "up"
	CmdCopy      = "copy"
	CmdAppliance = "appliance"
)

// Commands lists the role commands.
var Commands = []string{CmdUp, CmdCopy, CmdAppliance}

// ConfigRole is the role whose sections command cmd reads
// (configs.LoadFor).
func ConfigRole(cmd string) string {
	switch cmd {
	case CmdUp:
		return configs.RoleGateway
	case CmdCopy:
		return configs.RoleCopier
	case CmdAppliance:
		return configs.RoleAppliance
	}
	return ""
}

// Check says what command cmd would run from cfg, or why it cannot.
func Check(cfg *configs.Config, cmd string) (string, error) {
	switch cmd {
	case CmdUp:
		if cfg.Gateway == nil {
			return "", errors.New("no [gateway] section (`up` runs the gateway only; the online host runs `replaygw copy`)")
		}
		return "gateway with " + gatewayWhat(cfg.Gateway), nil
	case CmdCopy:
		p, err := copierOnly(cfg)
		if err != nil {
			return "", err
		}
		return "copier with " + copierWhat(p), nil
	case CmdAppliance:
		if cfg.Gateway == nil || cfg.Copy == nil {
			return "", errors.New("needs both [gateway] and [copy] (one process runs both roles)")
		}
		src := "mirror port " + cfg.Copy.Interface
		if cfg.Copy.FromFile() {
			src = "the file " + cfg.Copy.Source + " once at 1x"
		}
		return fmt.Sprintf("appliance: copier from %s, %d route(s), sender %s %s; gateway with %s",
			src, len(cfg.Copy.Routes), cfg.Copy.Sender, cfg.Copy.SendInterface, gatewayWhat(cfg.Gateway)), nil
	}
	return "", fmt.Errorf("unknown command %q (want %s)", cmd, strings.Join(Commands, ", "))
}

func gatewayWhat(g *configs.Gateway) string {
	return fmt.Sprintf("TUN %s, pools %s, control channel %s", g.TUN, strings.Join(g.Pools, " "), g.Listen)
}

func copierWhat(p *configs.Copy) string {
	return fmt.Sprintf("capture on %s, %d route(s), gateways %s, sender %s", p.Interface, len(p.Routes),
		strings.Join(p.Gateways, " "), p.Sender)
}

// copierOnly is cfg's [copy] as `copy` runs it (standalone, live, with
// gateways), or why it cannot run.
func copierOnly(cfg *configs.Config) (*configs.Copy, error) {
	if cfg.Copy == nil {
		return nil, errors.New("no [copy] section (`copy` runs the copier only; the assistant host runs `replaygw up`)")
	}
	p := standalone(cfg)
	if p.FromFile() {
		return nil, fmt.Errorf("copy.source is a file (%s): `copy` captures live; use `replaygw replay FILE` (or `replaygw appliance`)", p.Source)
	}
	if len(p.Gateways) == 0 {
		return nil, errors.New("copy.gateways is empty: `copy` gets the responses from remote gateways (for both roles in one process run `replaygw appliance`)")
	}
	if p.Workers == 0 {
		p.Workers = configs.DefaultCopyWorkers
	}
	return p, nil
}

// standalone is a copy of cfg's [copy] for a copier without the gateway in
// its process: the appliance's sender default (a TUN of its own next to
// the gateway's, which Load fills when the file has [gateway] too) becomes
// the plain default again.
func standalone(cfg *configs.Config) *configs.Copy {
	p := *cfg.Copy
	if g := cfg.Gateway; g != nil && p.Sender == copier.SenderTUN && p.SendInterface == configs.SenderTUN(g.TUN) {
		p.Sender, p.SendInterface = configs.DefaultSender, ""
	}
	return &p
}
