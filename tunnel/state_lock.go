package tunnel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The gateway that owns a state file holds a write lock on the lock file
// beside it (<tun>.lock next to <tun>.json) for as long as it runs. The
// kernel drops the lock when the process dies, so "is the owner still
// running" never depends on a pid that may be dead or reused by another
// program. The lock is a POSIX record lock: it belongs to the process, so
// a second Open in the same process (after a simulated crash) takes it
// over, just as the state of the calling process's own pid always counted
// as stale. (Closing any descriptor of the lock file drops a POSIX lock, so
// the process holding it never looks at it through another one: only
// `down`, another process, calls lockHolder.)

// stateLock is the held lock; its file stays open while the tunnel is.
type stateLock struct{ f *os.File }

func lockPath(statePath string) string {
	return strings.TrimSuffix(statePath, ".json") + ".lock"
}

// lockHolder returns the pid of another process holding the lock on the
// state at statePath, or 0 when none does.
func lockHolder(statePath string) (int, error) {
	f, err := os.OpenFile(lockPath(statePath), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("tunnel: state lock: %w", err)
	}
	defer f.Close()
	return holder(f)
}

func holder(f *os.File) (int, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		return 0, fmt.Errorf("tunnel: state lock %s: %w", f.Name(), err)
	}
	if lk.Type == unix.F_UNLCK {
		return 0, nil
	}
	return int(lk.Pid), nil
}

// lockState takes the lock for the state at statePath. It fails naming the
// holder when another running process has it.
func lockState(statePath string) (*stateLock, error) {
	if err := os.MkdirAll(filepath.Dir(statePath), 0o755); err != nil {
		return nil, fmt.Errorf("tunnel: state dir: %w", err)
	}
	f, err := os.OpenFile(lockPath(statePath), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tunnel: state lock: %w", err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
		pid, _ := holder(f)
		f.Close()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return nil, &HeldError{PID: pid, State: statePath}
		}
		return nil, fmt.Errorf("tunnel: state lock %s: %w", f.Name(), err)
	}
	return &stateLock{f: f}, nil
}

// release removes the lock file and drops the lock.
func (l *stateLock) release() {
	if l == nil || l.f == nil {
		return
	}
	os.Remove(l.f.Name())
	l.f.Close()
	l.f = nil
}

// HeldError says that a running process holds a tunnel's state.
type HeldError struct {
	PID   int
	State string
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("held by running process %d (state %s)", e.PID, e.State)
}
