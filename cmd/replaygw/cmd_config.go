package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/role"
)

func init() {
	c := &command{name: "config", args: "check [FILE] | example", minArgs: 1, maxArgs: 2,
		summary: "validate a config without touching the system and say what each command would run from it, or print an example (--role for a role's minimal one)"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		exampleRole := fs.String("role", "", "example: print the minimal example for `role` gateway, copier or appliance (default: the annotated file with every key)")
		pos, err := parse(c, fs, args)
		if err != nil {
			return err
		}
		switch sub := pos[0]; {
		case sub == "check":
			p := *path
			if len(pos) > 1 {
				p = pos[1]
			}
			return configCheck(p)
		case sub == "example" && len(pos) == 1:
			b, err := configs.ExampleFor(*exampleRole)
			if err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			os.Stdout.Write(b)
			return nil
		case sub == "example":
			return fmt.Errorf("example takes no file (unexpected %q)", pos[1])
		}
		return fmt.Errorf("unknown subcommand %q (want check or example)", pos[0])
	}
	register(c)
}

// configCheck validates every section of the file at p and says what each
// role command would run from it (reading it as that command does), or why
// it cannot.
func configCheck(p string) error {
	cfg, err := configs.Load(p)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(os.Stderr, "warning: %s\n", w)
	}
	fmt.Printf("%s: OK\n", p)
	for _, name := range role.Commands {
		what, err := "", error(nil)
		if cfg, err = configs.LoadFor(p, role.ConfigRole(name)); err == nil {
			what, err = role.Check(cfg, name)
		}
		if err != nil {
			what = "not runnable: " + strings.ReplaceAll(err.Error(), "\n", "; ")
		}
		fmt.Printf("  %-10s %s\n", name+":", what)
	}
	return nil
}
