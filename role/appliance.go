package role

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/metrics"
	"github.com/replaygw/replaygw/privdrop"
	"github.com/replaygw/replaygw/wire"
	"github.com/vishvananda/netlink"
)

// localLeases stands in for the gateway client in the appliance: records
// are handed over in-process, so there are no routes to register.
type localLeases struct{}

func (localLeases) AddLease(wire.Tuple, time.Duration, copier.LeaseFlags) bool { return true }
func (localLeases) ReleaseLease(wire.Tuple)                                    {}

// Appliance is both roles in one process on the assistant host.
type Appliance struct {
	gw  *Gateway
	cp  *Copier
	cmp *CompareSink // nil unless [compare] is enabled
	exp *metrics.Exporter
	log *slog.Logger

	promiscOff func() // undoes promiscuous mode on the mirror port
}

// OpenAppliance opens the copier, whose packets enter the kernel through a
// TUN of their own, then the gateway, whose netstack hands its records
// straight to the copier's engine. live says whether to capture on
// [copy].interface (a mirror port); otherwise the caller feeds packets.
func OpenAppliance(cfg *configs.Config, log *slog.Logger, live bool) (a *Appliance, err error) {
	if cfg.Gateway == nil || cfg.Copy == nil {
		return nil, fmt.Errorf("%s: the appliance needs both [gateway] and [copy]", cfg.Path)
	}
	a = &Appliance{exp: newExporter("appliance", log), log: log}
	built := a // a is nil once an error is returned
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	copts := CopierOptions{Leases: localLeases{}, NoCapture: !live}
	if c := cfg.Compare; c != nil && c.Enabled {
		// The engine's exchanges go straight into the comparison.
		if a.cmp, err = OpenCompareSink(c, a.exp, log.With("role", "compare")); err != nil {
			return nil, err
		}
		a.exp.Add(a.cmp.Stats().Counters()...)
		copts.OnExchange = a.cmp.EngineExchange(routeNames(cfg.Copy))
	}
	a.cp, err = OpenCopier(cfg, a.exp, log.With("role", "copier"), copts)
	if err != nil {
		return nil, err
	}
	if a.gw, err = OpenGateway(cfg.Gateway, log.With("role", "gateway"), a.cp.Engine().HandleRecord); err != nil {
		return nil, err
	}
	a.exp.Add(a.gw.Counters()...)
	if live {
		// A mirror port carries frames addressed to other hosts.
		if a.promiscOff, err = promiscuous(cfg.Copy.Interface); err != nil {
			return nil, err
		}
	}
	// Teardown of the TUNs, routes and filters needs CAP_NET_ADMIN.
	if err := privdrop.Keep(privdrop.NetAdmin); err != nil {
		log.Warn("could not drop capabilities", "err", err)
	}
	return a, nil
}

// Compare returns the compare sink, nil unless [compare] is enabled.
func (a *Appliance) Compare() *CompareSink { return a.cmp }

// Run serves the control channel and captures until ctx ends.
func (a *Appliance) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gwDone := make(chan error, 1)
	go func() { gwDone <- a.gw.Run(ctx) }()
	err := a.cp.Run(ctx)
	cancel()
	return errors.Join(err, <-gwDone)
}

// Close ends the sessions first (their RSTs still reach the target), then
// removes the gateway.
func (a *Appliance) Close() error {
	var errs []error
	if a.cp != nil {
		errs = append(errs, a.cp.Close())
	}
	if a.promiscOff != nil {
		a.promiscOff()
	}
	if a.gw != nil {
		errs = append(errs, a.gw.Close())
	}
	if a.cmp != nil { // last: the sessions' final exchanges are in
		errs = append(errs, a.cmp.Close())
	}
	return errors.Join(errs...)
}

// RunAppliance runs both roles from a file with [gateway] and [copy],
// capturing on the mirror port until ctx ends. A file source is the
// caller's to play (OpenReplay with a local gateway).
func RunAppliance(ctx context.Context, cfg *configs.Config, log *slog.Logger) error {
	if _, err := Check(cfg, CmdAppliance); err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	a, err := OpenAppliance(cfg, log, true)
	if err != nil {
		return err
	}
	defer a.Close()
	stop := ServeMetrics(ctx, a.exp, cfg.Metrics.Listen, log)
	defer stop()
	log.Info("appliance running", "mirror", cfg.Copy.Interface, "tun", cfg.Gateway.TUN, "sender", cfg.Copy.SendInterface)
	ready(log)
	return a.Run(ctx)
}

// promiscuous switches iface into promiscuous mode unless it already is, and
// returns the function that switches it back.
func promiscuous(iface string) (func(), error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("copy.interface %s: %w", iface, err)
	}
	if link.Attrs().Promisc != 0 {
		return func() {}, nil
	}
	if err := netlink.SetPromiscOn(link); err != nil {
		return nil, fmt.Errorf("copy.interface %s: promiscuous mode: %w", iface, err)
	}
	return func() { netlink.SetPromiscOff(link) }, nil
}
