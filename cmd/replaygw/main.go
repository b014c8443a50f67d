// Command replaygw replays live TCP traffic from a production server to a
// test server, session by session, at the packet level.
//
// This file holds only the command table and shared flag handling; each
// command lives in a file of its own, parses its flags and calls a package
// of the module (the roles are assembled in package role).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/replaygw/replaygw/role"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name    string
	summary string
	args    string // positional synopsis after the flags, e.g. "FILE"
	// minArgs and maxArgs bound the positional arguments (both 0: none).
	minArgs, maxArgs int
	run              func(ctx context.Context, args []string) error
}

var commands []*command

func register(c *command) { commands = append(commands, c) }

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

const intro = `replaygw copies live production TCP traffic to a test server, session by session.

  online host:     sudo replaygw copy       capture client packets, replay each session to the target
  assistant host:  sudo replaygw up         TUN + netstack black hole that absorbs the target's responses
  one host:        sudo replaygw appliance  both roles in one process (mirror port in, responses in-process)
  one-host lab:    sudo replaygw demo       namespaces, built-in servers, gateway and copier, live table

Every command reads one TOML file (default %s; --config FILE to choose)
and only its own sections: up [gateway], copy [copy], appliance both.
`

func usage(w io.Writer) {
	fmt.Fprintf(w, intro, defaultConfig)
	fmt.Fprintf(w, "\nUsage: replaygw <command> [flags]\n\nCommands:\n")
	cs := append([]*command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'replaygw <command> --help' for a command's flags; 'replaygw --version' for the version.\n")
}

// flags returns a flag set for command c whose usage names every flag with
// its default and whose errors name the command.
func flags(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() { commandUsage(fs.Output(), c, fs) }
	return fs
}

// commandUsage prints "Usage: replaygw NAME [--flag=default]... ARGS", the
// summary and the flags' descriptions.
func commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	var line strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			fmt.Fprintf(&line, " [--%s]", f.Name)
			return
		}
		fmt.Fprintf(&line, " [--%s=%s]", f.Name, f.DefValue)
	})
	if c.args != "" {
		line.WriteString(" " + c.args)
	}
	fmt.Fprintf(w, "Usage: replaygw %s%s\n\n%s\n", c.name, line.String(), c.summary)
	var any bool
	fs.VisitAll(func(*flag.Flag) { any = true })
	if any {
		fmt.Fprintf(w, "\nFlags:\n")
		out := fs.Output()
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
}

// errUsage marks an error already explained on stderr.
var errUsage = errors.New("usage")

// parse parses args for c, flags before, between and after the positional
// arguments (up to a "--"), and returns the positional ones. --help prints
// the usage on stdout and returns flag.ErrHelp; a bad flag or a wrong
// number of arguments is explained on stderr (errUsage).
func parse(c *command, fs *flag.FlagSet, args []string) ([]string, error) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			commandUsage(os.Stdout, c, fs)
			return nil, flag.ErrHelp
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...) // after "--" everything is an argument
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	switch {
	case len(pos) > c.maxArgs && c.maxArgs == 0:
		fmt.Fprintf(os.Stderr, "replaygw %s: unexpected argument %q (it takes flags only)\n", c.name, pos[0])
	case len(pos) > c.maxArgs:
		fmt.Fprintf(os.Stderr, "replaygw %s: unexpected argument %q (after %s)\n", c.name, pos[c.maxArgs], c.args)
	case len(pos) < c.minArgs:
		fmt.Fprintf(os.Stderr, "replaygw %s: missing %s\n", c.name, c.args)
	default:
		return pos, nil
	}
	fmt.Fprintf(os.Stderr, "Run 'replaygw %s --help' for its usage.\n", c.name)
	return nil, errUsage
}

func main() {
	role.Version = version
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				c.run(context.Background(), []string{"--help"})
				return 0
			}
		}
		usage(os.Stdout)
		return 0
	case "-v", "-version", "--version":
		args[0] = "version"
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(os.Stderr, "replaygw: unknown command %q\n\n", args[0])
		usage(os.Stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errChecksFailed):
		return 1
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "replaygw") {
		msg = "replaygw " + c.name + ": " + msg
	}
	fmt.Fprintln(os.Stderr, msg)
	return 1
}

var errChecksFailed = errors.New("checks failed")
