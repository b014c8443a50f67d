package tunnel

import (
	"encoding/json"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"io/fs"
	"os"
	"path/filepath"
)

// state is what Open changed, written to <StateDir>/<tun>.json after every
// step so that Down can undo a crashed gateway.
type state struct {
	TUN      string         `json:"tun"`
	PID      int            `json:"pid"`
	Redirect string         `json:"redirect,omitempty"`
	Routes   []string       `json:"routes,omitempty"`    // pools routed into the TUN
	Displace []savedRoute   `json:"displaced,omitempty"` // other routes to a pool that ours replaced
	Qdiscs   []string       `json:"qdiscs,omitempty"`    // interfaces where we created clsact
	Filters  []filterRef    `json:"filters,omitempty"`   // our u32 filters
	Sysctls  []sysctlChange `json:"sysctls,omitempty"`   // in the order they were changed
	path     string
}

// filterRef names one tc filter (one priority band) we installed.
type filterRef struct {
	Link     string `json:"link"`
	Parent   uint32 `json:"parent"`
	Priority uint16 `json:"priority"`
	Protocol uint16 `json:"protocol"`
	Pool     string `json:"pool"`
}

// sysctlChange is one sysctl we wrote and the value it had before.
type sysctlChange struct {
	Key string `json:"key"`
	Old string `json:"old"`
	New string `json:"new"`
}

// statePath names the state file of TUN name in the calling thread's network
// namespace. Device names are per namespace, so the namespace's inode is
// part of the name: gateways in two namespaces never share (or undo) each
// other's state. The host's own namespace keeps the plain "<name>.json".
func statePath(dir, name string) string {
	if ns := netnsID(); ns != "" {
		return filepath.Join(dir, name+"."+ns+".json")
	}
	return filepath.Join(dir, name+".json")
}

// StatePath is where a gateway with TUN name, started in the calling
// thread's network namespace, keeps its state in dir; its lock file is
// beside it, with the extension .lock.
func StatePath(dir, name string) string { return statePath(dir, name) }

// netnsID is "net<inode>" for a network namespace other than init's, "" for
// init's own (or when it cannot be told).
func netnsID() string {
	var self, init unix.Stat_t
	if unix.Stat("/proc/thread-self/ns/net", &self) != nil {
		return ""
	}
	if unix.Stat("/proc/1/ns/net", &init) == nil && init.Ino == self.Ino && init.Dev == self.Dev {
		return ""
	}
	return fmt.Sprintf("net%d", self.Ino)
}

// save writes the state atomically (temp file + rename).
func (s *state) save() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("tunnel: state dir: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("tunnel: encode state: %w", err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("tunnel: write state: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("tunnel: write state: %w", err)
	}
	return nil
}

func (s *state) remove() error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tunnel: remove state: %w", err)
	}
	return nil
}

// loadState reads a state file; it returns (nil, nil) when there is none.
func loadState(dir, name string) (*state, error) {
	p := statePath(dir, name)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tunnel: read state: %w", err)
	}
	s := &state{path: p}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("tunnel: decode state %s: %w", p, err)
	}
	if s.TUN != name {
		return nil, fmt.Errorf("tunnel: state %s names TUN %q, not %q", p, s.TUN, name)
	}
	return s, nil
}
