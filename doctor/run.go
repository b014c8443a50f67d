package doctor

import (
	"context"

	"github.com/replaygw/replaygw/configs"
)

// Run runs the checks of every role cfg configures: the gateway checks for
// [gateway], the copier checks for [copy], both in appliance mode.
func Run(ctx context.Context, cfg *configs.Config) []Check {
	var checks []Check
	if cfg != nil && cfg.Gateway != nil {
		checks = append(checks, RunGateway(ctx, cfg)...)
	}
	if cfg != nil && cfg.Copy != nil {
		checks = append(checks, RunCopier(ctx, cfg)...)
	}
	if len(checks) == 0 {
		checks = append(checks, fail("config", "add a [gateway] or [copy] section", "the config configures no role"))
	}
	return checks
}
