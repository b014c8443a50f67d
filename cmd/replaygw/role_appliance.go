package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/metrics"
	"github.com/replaygw/replaygw/privdrop"
	"github.com/replaygw/replaygw/wire"
	"github.com/vishvananda/netlink"
)

// localRouter stands in for the gateway client in appliance mode: records
// are handed over in-process, so there are no routes to register.
type localRouter struct{}

func (localRouter) AddRoute(wire.Tuple, time.Duration) bool { return true }
func (localRouter) DelRoute(wire.Tuple)                     {}

// appliance is both roles in one process on the assistant host.
type appliance struct {
	gw  *gateway.Gateway
	cp  *copierRole
	exp *metrics.Exporter
	log *slog.Logger

	promiscOff func() // undoes promiscuous mode on the mirror port
}

// openAppliance brings up the gateway, then the copier whose packets enter
// the kernel through a TUN of their own and whose responses come straight
// from the gateway's netstack. live says whether to capture on
// [copy].interface (a mirror port); otherwise the caller feeds packets.
func openAppliance(cfg *configs.Config, log *slog.Logger, live bool) (a *appliance, err error) {
	a = &appliance{exp: metrics.New("appliance"), log: log}
	a.exp.SetLogger(log)
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.gw, err = gateway.NewGateway(cfg.Gateway, log.With("role", "gateway")); err != nil {
		return nil, err
	}
	gw := a.gw
	a.exp.Add(gw.Counters()...)
	a.cp, err = openCopier(cfg, a.exp, log.With("role", "copier"), copier.Options{Router: localRouter{}, NoCapture: !live})
	if err != nil {
		return nil, err
	}
	a.gw.SetLocal(a.cp.Engine().HandleRecord)
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

// Run serves the control channel and captures until ctx ends.
func (a *appliance) Run(ctx context.Context) error {
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
func (a *appliance) Close() error {
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
	return errors.Join(errs...)
}

func runAppliance(ctx context.Context, cfg *configs.Config, log *slog.Logger) error {
	if cfg.Copy.FromFile() {
		return replayFile(ctx, cfg, log, cfg.Copy.Source, replayFlags{speed: 1, loops: 1, drain: 10 * time.Second})
	}
	a, err := openAppliance(cfg, log, true)
	if err != nil {
		return err
	}
	defer a.Close()
	stop := serveMetrics(ctx, a.exp, cfg.Metrics.Listen, log)
	defer stop()
	log.Info("appliance running", "mirror", cfg.Copy.Interface, "tun", cfg.Gateway.TUN, "sender", cfg.Copy.SendInterface)
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
