package integration

// The comparison lab for Redis (issue 13): Debian's redis-server online
// and on the target, seeded alike except for known keys on the target -
// every 10th value another, three keys missing, a list element, counters
// that start elsewhere, hashes that are strings. One client connection
// runs a fixed list of commands (one pipelined batch among them) through
// `replaygw copy` (protocol = "redis", [compare] on); `replaygw report
// --json` must count exactly the exchanges, differences, kinds, fields
// and endpoints the list implies.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// redisCmd is one command of the client's list and what the report must
// make of it.
type redisCmd struct {
	args  []string
	field string // the differing field ("body", "body [2]", "status"), "" when alike
	onErr bool   // an error reply online
	tgErr bool   // an error reply from the target
	pipe  bool   // sent in the pipelined batch
}

// redisSeed is what both servers hold before the replay (online) and the
// target's differences.
func redisSeed() (online, target [][]string) {
	both := func(args ...string) {
		online, target = append(online, args), append(target, args)
	}
	for i := 1; i <= 100; i++ {
		k, v := fmt.Sprintf("k:%d", i), fmt.Sprintf("v-%d", i)
		online = append(online, []string{"SET", k, v})
		switch {
		case i == 13 || i == 27 || i == 41: // missing on the target
		case i%10 == 0:
			target = append(target, []string{"SET", k, "other-" + v})
		default:
			target = append(target, []string{"SET", k, v})
		}
	}
	for i := 1; i <= 20; i++ {
		k, v := fmt.Sprintf("p:%d", i), fmt.Sprintf("pv-%d", i)
		online = append(online, []string{"SET", k, v})
		if i%5 == 0 {
			v = "other-" + v
		}
		target = append(target, []string{"SET", k, v})
	}
	online = append(online, []string{"RPUSH", "lst", "a", "b", "c"})
	target = append(target, []string{"RPUSH", "lst", "a", "b", "x"})
	for i := 1; i <= 4; i++ {
		online = append(online, []string{"HSET", fmt.Sprintf("h:%d", i), "f", "hv"})
		target = append(target, []string{"SET", fmt.Sprintf("h:%d", i), "hv"}) // WRONGTYPE for HGET
	}
	for j := 1; j <= 3; j++ {
		target = append(target, []string{"SET", fmt.Sprintf("cnt:%d", j), "5"}) // INCR: 1 vs 6
	}
	both("SET", "plain", "x")
	return online, target
}

// redisCommands is the client's list, in order; the SET n:* come last,
// n:20 the very last.
func redisCommands() []redisCmd {
	var l []redisCmd
	for i := 1; i <= 100; i++ {
		c := redisCmd{args: []string{"GET", fmt.Sprintf("k:%d", i)}}
		if i%10 == 0 || i == 13 || i == 27 || i == 41 { // another value, or nil vs a value
			c.field = "body"
		}
		l = append(l, c)
	}
	for j := 1; j <= 3; j++ {
		l = append(l, redisCmd{args: []string{"INCR", fmt.Sprintf("cnt:%d", j)}, field: "body"})
	}
	l = append(l, redisCmd{args: []string{"LRANGE", "lst", "0", "-1"}, field: "body [2]"})
	for i := 1; i <= 4; i++ {
		l = append(l, redisCmd{args: []string{"HGET", fmt.Sprintf("h:%d", i), "f"}, field: "status", tgErr: true})
	}
	for i := 1; i <= 20; i++ {
		c := redisCmd{args: []string{"GET", fmt.Sprintf("p:%d", i)}, pipe: true}
		if i%5 == 0 {
			c.field = "body"
		}
		l = append(l, c)
	}
	l = append(l, redisCmd{args: []string{"HGET", "plain", "f"}, onErr: true, tgErr: true}) // WRONGTYPE on both: alike
	for i := 1; i <= 20; i++ {
		l = append(l, redisCmd{args: []string{"SET", fmt.Sprintf("n:%d", i), "nv"}})
	}
	return l
}

func TestCompareRedis(t *testing.T) {
	bin := needBinary(t, "up", "copy")
	if _, err := os.Stat(redisServer); err != nil {
		t.Skipf("%s is missing (install Debian's redis-server, see .ci/deps): %v", redisServer, err)
	}
	r := newRigLab(t, bin)
	dir := t.TempDir()
	online := startRedis(t, r.Lab, lab.Online, dir)
	target := startRedis(t, r.Lab, lab.Target, dir)
	onSeed, tgSeed := redisSeed()
	seedRedis(t, r.Lab, lab.Online, online, onSeed)
	seedRedis(t, r.Lab, lab.Target, target, tgSeed)

	store := filepath.Join(dir, "compare")
	section := compareSection(store)
	startGatewayWith(r, section)
	dc := lab.NewDemoConfig(r.Lab)
	r.startCopier(copierConf{
		Routes:     [][2]netip.AddrPort{{dc.From, dc.To}, {online, target}},
		Protocols:  []string{"", "redis"},
		RouteLines: [][]string{{"compare = false"}}, // the readiness probe's route
		Sections:   []string{section},
	}, true)

	cmds := redisCommands()
	runRedisCommands(t, r.Lab, online, cmds)
	tgDial, err := r.Lab.Dialer(lab.Target)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]string{"n:20": "nv"}
	lab.WaitFor(t, 8*time.Second, func() bool { return redisDiff(t, tgDial, target, last) == 0 })

	want := int64(len(cmds))
	sum, met := r.compareReport(store, want)
	defer func() {
		if t.Failed() {
			js, _ := json.MarshalIndent(sum, "", " ")
			t.Logf("report: %s", js)
		}
	}()
	w := newCmpWant()
	for _, c := range cmds {
		w.add(c.args[0], c.field, c.onErr, c.tgErr)
	}
	w.check(t, sum)
	checkTimed(t, met, w.exchanges, w.exchanges)
}

// seedRedis runs cmds on the server at addr from inside h (not through
// the copier: it does not capture a host's own loopback traffic, and it
// is not started yet).
func seedRedis(t *testing.T, l *lab.Lab, h lab.Host, addr netip.AddrPort, cmds [][]string) {
	t.Helper()
	d, err := l.Dialer(h)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := d.DialContext(context.Background(), "tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rc := newRESPConn(nc)
	for _, c := range cmds {
		rc.queue(c...)
	}
	vs, err := rc.flush(len(cmds))
	if err != nil {
		t.Fatalf("seeding redis on %s: %v", h, err)
	}
	for i, v := range vs {
		if e, ok := v.(respError); ok {
			t.Fatalf("seeding redis on %s: %v: %v", h, cmds[i], e)
		}
	}
}

// runRedisCommands runs cmds on one connection from the client host to
// the online server, the pipe ones as one batch, checking production's
// replies against the list.
func runRedisCommands(t *testing.T, l *lab.Lab, online netip.AddrPort, cmds []redisCmd) {
	t.Helper()
	d, err := l.Dialer(lab.Client)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := d.DialContext(context.Background(), "tcp", online.String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rc := newRESPConn(nc)
	check := func(c redisCmd, v any) {
		if _, isErr := v.(respError); isErr != c.onErr || v == nil {
			t.Fatalf("online: %v answered %v (want an error: %v)", c.args, v, c.onErr)
		}
	}
	for i := 0; i < len(cmds); {
		j := i + 1
		for cmds[i].pipe && j < len(cmds) && cmds[j].pipe {
			j++
		}
		for _, c := range cmds[i:j] {
			rc.queue(c.args...)
		}
		vs, err := rc.flush(j - i)
		if err != nil {
			t.Fatalf("online: %v: %v", cmds[i].args, err)
		}
		for k, v := range vs {
			check(cmds[i+k], v)
		}
		i = j
	}
}
