package tunnel

import (
	"encoding/json"
	"errors"
	"fmt"
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
	Routes   []string       `json:"routes,omitempty"`  // pools routed into the TUN
	Qdiscs   []string       `json:"qdiscs,omitempty"`  // interfaces where we created clsact
	Filters  []filterRef    `json:"filters,omitempty"` // our u32 filters
	Sysctls  []sysctlChange `json:"sysctls,omitempty"` // in the order they were changed
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

func statePath(dir, name string) string { return filepath.Join(dir, name+".json") }

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
