package resp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// cutEvent is one End a Cutter reported: the stream offset after the
// value, and what the cutter said about it then.
type cutEvent struct {
	end  int
	name string
	push bool
}

// cut runs a cutter over stream in pieces of size step (0: whole) after a
// first piece of first bytes, and returns its Ends and Starts.
func cut(client, resync bool, stream string, first, step int) (ends []cutEvent, starts int, c *Cutter) {
	c = new(Cutter)
	c.Init(client)
	if resync {
		c.Resync()
	}
	off := 0
	piece := func(p string) {
		for len(p) > 0 {
			n, ev := c.Step([]byte(p))
			if n <= 0 {
				panic("Step consumed nothing")
			}
			off += n
			if ev&Start != 0 {
				starts++
			}
			if ev&End != 0 {
				ends = append(ends, cutEvent{off, string(c.Name()), c.Push()})
			}
			p = p[n:]
		}
	}
	piece(stream[:first])
	rest := stream[first:]
	for len(rest) > 0 {
		n := len(rest)
		if step > 0 {
			n = min(step, n)
		}
		piece(rest[:n])
		rest = rest[n:]
	}
	return ends, starts, c
}

func TestCutterEveryReplyAtEverySplit(t *testing.T) {
	var stream string
	var want []cutEvent
	for _, r := range replies {
		stream += r.wire
		want = append(want, cutEvent{len(stream), "", r.name == "push"})
	}
	extra := []string{"|0\r\n+x\r\n", "|1\r\n+a\r\n+b\r\n>1\r\n+p\r\n", ">?\r\n+m\r\n.\r\n", "*0\r\n", "%0\r\n"}
	for i, w := range extra {
		stream += w
		want = append(want, cutEvent{len(stream), "", i >= 1 && i <= 2})
	}
	for i := 0; i <= len(stream); i++ {
		for _, step := range []int{0, 1} {
			ends, starts, c := cut(false, false, stream, i, step)
			if c.Err() != nil {
				t.Fatalf("split %d step %d: %v", i, step, c.Err())
			}
			if fmt.Sprint(ends) != fmt.Sprint(want) || starts != len(want) {
				t.Fatalf("split %d step %d: ends %v (%d starts), want %v", i, step, ends, starts, want)
			}
		}
	}
}

func TestCutterCommands(t *testing.T) {
	cmds := []struct{ wire, name string }{
		{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "GET"},
		{"PING\r\n", "PING"},
		{"\r\n \r\n*3\r\n$3\r\nset\r\n$1\r\nk\r\n$5\r\nv\r\nv!\r\n", "set"}, // blank lines are no command
		{"  info   server\r\n", "info"},
		{"*1\r\n$40\r\n" + strings.Repeat("X", 40) + "\r\n", strings.Repeat("X", 32)}, // the name is cut to 32 bytes
		{"*1\r\n+QUIT\r\n", "QUIT"},
	}
	var stream string
	var want []cutEvent
	for _, c := range cmds {
		stream += c.wire
		want = append(want, cutEvent{len(stream), c.name, false})
	}
	for i := 0; i <= len(stream); i++ {
		for _, step := range []int{0, 1} {
			ends, starts, c := cut(true, false, stream, i, step)
			if c.Err() != nil || fmt.Sprint(ends) != fmt.Sprint(want) || starts != len(want) {
				t.Fatalf("split %d step %d: ends %v (%d starts), err %v; want %v", i, step, ends, starts, c.Err(), want)
			}
		}
	}
}

func TestCutterResync(t *testing.T) {
	cases := []struct {
		name, stream string
		want         []cutEvent
	}{
		{"inside a blob", "lo\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n", []cutEvent{{25, "PING", false}}},
		{"at a command", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", []cutEvent{{20, "GET", false}}},
		{"a star line that is no command", "*x\r\n*2\r\n+a\r\n*1\r\n$1\r\nA\r\n", []cutEvent{{23, "A", false}}},
		{"nothing", "abc\r\ndef", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ends, _, cu := cut(true, true, c.stream, 0, 0)
			if cu.Err() != nil || fmt.Sprint(ends) != fmt.Sprint(c.want) {
				t.Fatalf("ends %v, err %v; want %v", ends, cu.Err(), c.want)
			}
		})
	}
	// A reply cutter does not resync: it frames from the first byte.
	var c Cutter
	c.Init(false)
	c.Resync()
	if c.Opaque() {
		t.Fatal("reply cutter went into resync")
	}
}

func TestCutterErrors(t *testing.T) {
	cases := []struct {
		name, wire, want string
		at               int
	}{
		{"unknown type", "+OK\r\n?x\r\n", "unknown type byte", 9},
		{"bad length", "$-5\r\n", "bad length", 5},
		{"blob without crlf", "$2\r\nabcd\r\n", "not followed by CRLF", 6},
		{"line without cr", "+OK\n", "without CR", 4},
		{"empty type line", "\r\n", "empty type line", 2},
		{"dot outside", ".\r\n", "outside a streamed", 3},
		{"bad chunk", "$?\r\nx\r\n", "want ';'", 7},
		{"null map", "%-1\r\n", "null length", 5},
		{"too deep", strings.Repeat("*1\r\n", maxDepth+1), "nesting deeper", (maxDepth + 1) * 4},
		{"long line", "+" + strings.Repeat("a", MaxLine+1), "longer than", MaxLine + 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ends, _, cu := cut(false, false, c.wire+"+after\r\n", 0, 3)
			err := cu.Err()
			if err == nil || !errors.Is(err, ErrNotRESP) || !strings.Contains(err.Error(), c.want) ||
				!strings.Contains(err.Error(), fmt.Sprintf("stream offset %d:", c.at)) {
				t.Fatalf("err = %v, want %q at %d", err, c.want, c.at)
			}
			if len(ends) > 1 || !cu.Opaque() {
				t.Fatalf("events after the error: %v", ends)
			}
		})
	}
}

// TestCutterStop: after Stop the bytes go by without events.
func TestCutterStop(t *testing.T) {
	var c Cutter
	c.Init(true)
	c.Stop()
	if n, ev := c.Step([]byte("*1\r\n$4\r\nPING\r\n")); n != 14 || ev != 0 || !c.Opaque() || c.Err() != nil {
		t.Fatalf("n %d ev %d", n, ev)
	}
}
