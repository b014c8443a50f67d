package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/replaygw/replaygw/wire"
)

func init() {
	c := &command{name: "version", summary: "print the version, Go version and control-protocol version"}
	c.run = func(ctx context.Context, args []string) error {
		if _, err := parse(c, flags(c), args); err != nil {
			return err
		}
		v := version
		if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		fmt.Printf("replaygw %s (%s, %s/%s, control protocol v%d)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH, wire.Version)
		return nil
	}
	register(c)
}
