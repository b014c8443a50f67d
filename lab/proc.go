package lab

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// spawner is a goroutine locked to one OS thread (in the root namespace)
// that forks the lab's children. Children get Pdeathsig = SIGKILL, which
// the kernel ties to the forking thread: forking from a thread that lives
// as long as the lab means children die with the lab or a crashed test, and
// never because some unrelated locked goroutine discarded its thread.
type spawner struct {
	req  chan func()
	done chan struct{}
}

func newSpawner() (*spawner, error) {
	s := &spawner{req: make(chan func()), done: make(chan struct{})}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the lab
		defer close(s.done)
		for fn := range s.req {
			fn()
		}
	}()
	return s, nil
}

// run executes fn on the spawner thread and waits for it.
func (s *spawner) run(fn func()) {
	ran := make(chan struct{})
	s.req <- func() { fn(); close(ran) }
	<-ran
}

func (s *spawner) close() {
	close(s.req)
	<-s.done
}

// Proc is a child process running in a lab namespace.
type Proc struct {
	Host Host
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs args in host's namespace (via `ip netns exec`, which execs the
// program, so the child's pid is the program's). Its stdout and stderr go to
// log (nil discards). The lab stops it on Close.
func (l *Lab) Start(h Host, log io.Writer, args ...string) (*Proc, error) {
	if len(args) == 0 {
		return nil, errors.New("lab: start: no command")
	}
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed || l.spawn == nil {
		return nil, errors.New("lab: start: lab is closed")
	}
	cmd := l.Exec(h, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Own process group: a terminal's Ctrl-C reaches only us, and we stop
	// the children in order (SIGTERM, then SIGKILL).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	var err error
	l.spawn.run(func() { err = cmd.Start() })
	if err != nil {
		return nil, fmt.Errorf("lab: start %s in %s: %w", args[0], h, err)
	}
	p := &Proc{Host: h, Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// Pid is the child's process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the child has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the child's exit error; valid after Done.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Stop sends SIGTERM, waits up to timeout, then SIGKILLs. It returns the
// child's exit error (nil for a clean exit on SIGTERM).
func (p *Proc) Stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("lab: %s in %s killed after %v: %w", p.Cmd.Args[len(p.Cmd.Args)-1], p.Host, timeout, p.err)
}

// CPU is the user and system time of the exited child (zero before it
// has exited).
func (p *Proc) CPU() (user, sys time.Duration) {
	select {
	case <-p.done:
	default:
		return 0, 0
	}
	if st := p.Cmd.ProcessState; st != nil {
		return st.UserTime(), st.SystemTime()
	}
	return 0, 0
}
