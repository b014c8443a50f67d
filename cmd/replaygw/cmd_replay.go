package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/replay"
	"github.com/replaygw/replaygw/role"
)

type replayFlags struct {
	speed    float64
	loops    int
	from, to time.Duration
	maxGap   time.Duration
	drain    time.Duration
	progress bool
	local    bool // gateway in this process (--local-gateway, the appliance's copy.source)
}

// speedFlag parses --speed: a factor, or "max".
type speedFlag struct{ v *float64 }

func (s speedFlag) String() string {
	if s.v == nil || *s.v == 1 {
		return "1"
	}
	if math.IsInf(*s.v, 1) {
		return "max"
	}
	return strconv.FormatFloat(*s.v, 'g', -1, 64)
}

func (s speedFlag) Set(v string) error {
	if strings.EqualFold(v, "max") {
		*s.v = math.Inf(1)
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || math.IsNaN(f) {
		return fmt.Errorf("want a factor > 0 (2 = twice as fast) or max, not %q", v)
	}
	*s.v = f
	return nil
}

func init() {
	c := &command{name: "replay", args: "FILE.pcap[ng][.gz]", minArgs: 1, maxArgs: 1,
		summary: "replay a capture file (pcap, pcapng, gzip) to the target through the session engine, responses from copy.gateways (root)"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		level := logLevelFlag(fs)
		rf := replayFlags{speed: 1}
		fs.Var(speedFlag{&rf.speed}, "speed", "timing factor: 2 plays twice as fast, max as fast as possible")
		fs.IntVar(&rf.loops, "loops", 1, "play the file this many times")
		fs.DurationVar(&rf.from, "from", 0, "start this far into the capture")
		fs.DurationVar(&rf.to, "to", 0, "stop this far into the capture (0: the end)")
		fs.DurationVar(&rf.maxGap, "max-gap", 0, "shorten idle gaps in the capture to this (0: keep them)")
		fs.DurationVar(&rf.drain, "drain", 10*time.Second, "after the file, wait this long at most for open sessions to finish")
		fs.BoolVar(&rf.local, "local-gateway", false, "run the gateway of [gateway] in this process (the appliance) instead of using copy.gateways")
		noProgress := fs.Bool("no-progress", false, "no progress bar")
		pos, err := parse(c, fs, args)
		if err != nil {
			return err
		}
		if rf.loops < 1 {
			return fmt.Errorf("--loops %d: want at least 1", rf.loops)
		}
		if rf.to != 0 && rf.to <= rf.from {
			return fmt.Errorf("--to %s is not after --from %s", rf.to, rf.from)
		}
		rf.progress = !*noProgress
		roleName := configs.RoleCopier
		if rf.local {
			roleName = configs.RoleAppliance
		}
		cfg, log, err := loadRole(*path, *level, roleName)
		if err != nil {
			return err
		}
		return replayFile(ctx, cfg, log, pos[0], rf)
	}
	register(c)
}

// replayFile plays a capture through role.PlayFile.
func replayFile(ctx context.Context, cfg *configs.Config, log *slog.Logger, file string, rf replayFlags) error {
	opts := replay.Options{Speed: rf.speed, Loops: rf.loops, From: rf.from, To: rf.to, MaxGap: rf.maxGap}
	if math.IsInf(rf.speed, 1) {
		opts.Speed = 0
	}
	if rf.progress {
		opts.Progress = os.Stderr
	}
	return role.PlayFile(ctx, cfg, log, file, opts, role.PlayOptions{Local: rf.local, Drain: rf.drain, Summary: os.Stdout})
}
