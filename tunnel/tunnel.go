package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
)

// Tunnel is an open TUN device with its routes and ingress redirect.
type Tunnel struct {
	cfg     Config
	log     *slog.Logger
	queues  []*os.File
	index   int
	ingress []string
	mode    string

	mu     sync.Mutex // guards st and closed
	st     *state
	closed bool
	lock   *stateLock // held until Close has undone the state
}

// Open creates the TUN and the kernel state around it (see the package
// comment). A state file left by a crashed gateway of the same name is
// undone first. On error, everything done so far is undone.
func Open(cfg Config) (*Tunnel, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("tun", cfg.Name)
	path := statePath(cfg.StateDir, cfg.Name)
	// Whoever held the lock before us is gone: its state is stale.
	lock, err := lockState(path)
	if err != nil {
		return nil, fmt.Errorf("tunnel: %s is %w; stop it (`replaygw down` refuses while it runs)", cfg.Name, err)
	}
	if old, err := loadState(cfg.StateDir, cfg.Name); err != nil {
		lock.release()
		return nil, err
	} else if old != nil {
		log.Warn("tunnel: undoing state left by a previous gateway", "pid", old.PID, "state", old.path)
		if err := old.undo(); err != nil {
			lock.release()
			return nil, fmt.Errorf("tunnel: clean stale state: %w", err)
		}
	}
	if _, err := netlink.LinkByName(cfg.Name); err == nil {
		lock.release()
		return nil, fmt.Errorf("tunnel: interface %s already exists (another gateway?)", cfg.Name)
	}

	t := &Tunnel{
		cfg:  cfg,
		log:  log,
		lock: lock,
		st:   &state{TUN: cfg.Name, PID: os.Getpid(), path: path},
	}
	if err := t.st.save(); err != nil {
		lock.release()
		return nil, err
	}
	if err := t.setup(); err != nil {
		return nil, errors.Join(err, t.Close())
	}
	log.Info("tunnel: open", "index", t.index, "queues", len(t.queues), "mtu", cfg.MTU,
		"txqueuelen", cfg.TxQueueLen, "pools", cfg.Pools, "ingress", t.ingress, "redirect", t.mode)
	return t, nil
}

func (t *Tunnel) setup() error {
	var err error
	if t.queues, err = openQueues(t.cfg.Name, t.cfg.Queues); err != nil {
		return err
	}
	link, err := configureLink(t.cfg.Name, t.cfg.MTU, t.cfg.TxQueueLen)
	if err != nil {
		return err
	}
	t.index = link.Attrs().Index
	displaced, err := addRoutes(t.st, t.index, t.cfg.Pools)
	for _, r := range displaced {
		t.log.Warn("tunnel: a route of this host to a client pool is replaced while the gateway runs; it is restored at shutdown",
			"route", r.String(), "fix", "choose a client_pool this host does not use")
	}
	if err != nil {
		return err
	}
	if t.cfg.AnswerPing {
		if err := t.forwardFromTUN(); err != nil {
			return err
		}
	}
	if t.ingress, err = ingressLinks(t.cfg.Ingress, t.cfg.Name); err != nil {
		return err
	}
	return t.installRedirect()
}

// forwardFromTUN lets the kernel forward what the gateway writes into the
// TUN (echo replies) back out. Replies come from pool addresses, which route
// into the TUN, so strict rp_filter accepts them and is left alone.
func (t *Tunnel) forwardFromTUN() error {
	if err := setSysctl(t.st, "net/ipv4/conf/"+t.cfg.Name+"/forwarding", "1"); err != nil {
		return err
	}
	if hasV6(t.cfg.Pools) {
		k := "net/ipv6/conf/" + t.cfg.Name + "/force_forwarding"
		if !sysctlExists(k) {
			t.log.Warn("tunnel: IPv6 echo replies cannot be forwarded without " + k)
			return nil
		}
		return setSysctl(t.st, k, "1")
	}
	return nil
}

func hasV6(pools []netip.Prefix) bool {
	for _, p := range pools {
		if p.Addr().Is6() {
			return true
		}
	}
	return false
}

func (t *Tunnel) installRedirect() error {
	switch t.cfg.Redirect {
	case RedirectForwarding:
		t.mode = RedirectForwarding
		return t.withMode(enableForwarding(t.st, t.ingress, t.cfg.Pools))
	case RedirectTC:
		t.mode = RedirectTC
		return t.withMode(installFilters(t.st, t.ingress, t.index, t.cfg.Pools))
	}
	t.mode = RedirectTC
	err := t.withMode(installFilters(t.st, t.ingress, t.index, t.cfg.Pools))
	if err == nil {
		return nil
	}
	t.log.Warn("tunnel: tc redirect failed, falling back to per-interface forwarding", "err", err)
	if rerr := removeFilters(t.st.Filters, t.st.Qdiscs); rerr != nil {
		return errors.Join(err, rerr)
	}
	t.st.Filters, t.st.Qdiscs = nil, nil
	t.mode = RedirectForwarding
	return t.withMode(enableForwarding(t.st, t.ingress, t.cfg.Pools))
}

func (t *Tunnel) withMode(err error) error {
	t.st.Redirect = t.mode
	if serr := t.st.save(); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// Queues returns one *os.File per IFF_MULTI_QUEUE queue, each O_NONBLOCK
// and not watched by the Go netpoller: a read of an empty queue returns
// EAGAIN at once and deadlines are not supported (package absorb waits for
// a queue itself). The Tunnel owns the files and closes them in Close.
func (t *Tunnel) Queues() []*os.File { return t.queues }

// Name is the TUN device name.
func (t *Tunnel) Name() string { return t.cfg.Name }

// Index is the TUN's interface index.
func (t *Tunnel) Index() int { return t.index }

// Ingress lists the interfaces the redirect is installed on.
func (t *Tunnel) Ingress() []string { return t.ingress }

// RedirectMode is "tc" or "forwarding": how responses reach the TUN.
func (t *Tunnel) RedirectMode() string { return t.mode }

// Reinstall re-creates the tc redirect filters bound to the TUN's current
// ifindex; call it after the TUN was recreated (mirred binds to an ifindex).
// It does nothing in forwarding mode.
func (t *Tunnel) Reinstall() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errors.New("tunnel: reinstall: closed")
	}
	if t.mode != RedirectTC {
		return nil
	}
	link, err := netlink.LinkByName(t.cfg.Name)
	if err != nil {
		return fmt.Errorf("tunnel: reinstall: %w", err)
	}
	if err := removeFilters(t.st.Filters, nil); err != nil {
		return fmt.Errorf("tunnel: reinstall: %w", err)
	}
	t.st.Filters = nil
	t.index = link.Attrs().Index
	if err := installFilters(t.st, t.ingress, t.index, t.cfg.Pools); err != nil {
		return fmt.Errorf("tunnel: reinstall: %w", err)
	}
	t.log.Info("tunnel: redirect reinstalled", "index", t.index)
	return nil
}

// Close removes the filters, routes and TUN and restores every sysctl it
// changed, then removes the state file. It is safe to call more than once.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	err := closeFiles(t.queues)
	if err != nil {
		err = fmt.Errorf("tunnel: close queues: %w", err)
	}
	if uerr := t.st.undo(); uerr != nil {
		err = errors.Join(err, uerr)
	} else {
		t.lock.release()
	}
	if err != nil {
		t.log.Error("tunnel: close", "err", err)
		return err
	}
	t.log.Info("tunnel: closed")
	return nil
}

// undo reverts everything the state records, newest first, and removes the
// state file when all of it succeeded.
func (s *state) undo() error {
	errs := []error{
		removeFilters(s.Filters, s.Qdiscs),
		delRoutes(s.TUN, s.Routes),
		deleteLink(s.TUN),
		restoreRoutes(s.Displace),
	}
	for i := len(s.Sysctls) - 1; i >= 0; i-- {
		errs = append(errs, restoreSysctl(s.Sysctls[i]))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.remove()
}

// Down undoes what a gateway named name recorded in stateDir ("" means
// DefaultStateDir): tc filters and qdiscs, routes, the TUN and sysctls. No
// state file is not an error; a gateway of another process that still runs
// (it holds the state's lock) is.
func Down(stateDir, name string) error {
	_, err := Undo(stateDir, name)
	return err
}

// Undo is Down that also reports whether there was any state to undo.
func Undo(stateDir, name string) (found bool, err error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	st, err := loadState(stateDir, name)
	if err != nil || st == nil {
		return false, err
	}
	if pid, err := lockHolder(st.path); err != nil {
		return true, err
	} else if pid != 0 && pid != os.Getpid() {
		return true, fmt.Errorf("tunnel: down %s: %w; stop it first", name, &HeldError{PID: pid, State: st.path})
	}
	if err := st.undo(); err != nil {
		return true, fmt.Errorf("tunnel: down %s: %w", name, err)
	}
	os.Remove(lockPath(st.path))
	return true, nil
}

// String describes the tunnel for logs.
func (t *Tunnel) String() string {
	return fmt.Sprintf("%s(index %d, %d queues, %s via %s)", t.cfg.Name, t.index, len(t.queues), t.mode, strings.Join(t.ingress, ","))
}
