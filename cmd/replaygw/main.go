// Command replaygw replays live TCP traffic from a production server to a
// test server, session by session, at the packet level.
//
// This file holds only the command table and shared flag handling; each
// command lives in a file of its own and wires a package from the module.
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
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name    string
	summary string
	usage   string // argument synopsis after the name
	run     func(ctx context.Context, args []string) error
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

  online host:     sudo replaygw copy      capture client packets, replay each session to the target
  assistant host:  sudo replaygw up        TUN + netstack black hole that absorbs the target's responses
  one-host lab:    sudo replaygw demo      namespaces, built-in servers, gateway and copier, live table

Both roles read one TOML file (default %s; --config FILE to choose).
`

func usage(w io.Writer) {
	fmt.Fprintf(w, intro, defaultConfig)
	fmt.Fprintf(w, "\nUsage: replaygw <command> [flags]\n\nCommands:\n")
	cs := append([]*command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'replaygw <command> --help' for a command's flags.\n")
}

// flags returns a flag set for command c whose --help prints the command's
// usage and whose errors name the command.
func flags(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: replaygw %s %s\n\n%s\n", c.name, c.usage, c.summary)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintf(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// errUsage marks an error already explained by the flag package.
var errUsage = errors.New("usage")

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return errUsage
	}
	return nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				c.run(context.Background(), []string{"--help"})
				return 0
			}
		}
		usage(os.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
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
