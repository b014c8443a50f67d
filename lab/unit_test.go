package lab

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestStalePid(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{"rgL4242-1-client", 4242, true},
		{"rgL4242-12-sw", 4242, true},
		{"rgdemo7-1-online", 0, false}, // other prefix
		{"rgL-1-client", 0, false},
		{"rgLx42-1-client", 0, false},
		{"rgL42-client", 0, false},
		{"rgL42", 0, false},
		{"rgL42-1", 0, false},
	} {
		pid, ok := stalePid("rgL", tc.name)
		if ok != tc.ok || pid != tc.pid && tc.ok {
			t.Errorf("stalePid(%q) = %d, %v; want %d, %v", tc.name, pid, ok, tc.pid, tc.ok)
		}
	}
}

func TestLoadJobs(t *testing.T) {
	for _, tc := range []struct{ short, ka, per int }{
		{10, 0, 0}, {0, 3, 5}, {100, 10, 7}, {1, 4, 2},
	} {
		jobs := loadJobs(LoadOptions{Short: tc.short, KeepAlive: tc.ka, PerConn: tc.per, IDPrefix: "x"})
		seen := map[string]bool{}
		short, ka := 0, 0
		for _, j := range jobs {
			if j.keepAlive {
				ka++
				if len(j.ids) != tc.per {
					t.Errorf("keep-alive job with %d ids, want %d", len(j.ids), tc.per)
				}
			} else {
				short++
			}
			for _, id := range j.ids {
				if seen[id] {
					t.Errorf("duplicate id %s", id)
				}
				seen[id] = true
			}
		}
		if short != tc.short || ka != tc.ka || len(seen) != tc.short+tc.ka*tc.per {
			t.Errorf("%+v: short=%d ka=%d ids=%d", tc, short, ka, len(seen))
		}
	}
	// Keep-alive jobs are spread, not bunched at the start.
	jobs := loadJobs(LoadOptions{Short: 90, KeepAlive: 10, PerConn: 1, IDPrefix: "x"})
	for i := 0; i < 100; i += 10 {
		if !jobs[i].keepAlive {
			t.Errorf("job %d is not keep-alive", i)
		}
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x) * time.Millisecond
		}
		return d
	}
	for _, tc := range []struct {
		d    []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(5), 99, 5 * time.Millisecond},
		{ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{ms(4, 1, 3, 2), 100, 4 * time.Millisecond},
		{ms(4, 1, 3, 2), 0, 1 * time.Millisecond},
		{ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 90, 9 * time.Millisecond},
	} {
		if got := Percentile(tc.d, tc.p); got != tc.want {
			t.Errorf("Percentile(p%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestPacer(t *testing.T) {
	p := newPacer(1000)
	start := time.Now()
	for range 50 {
		if err := p.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 45*time.Millisecond || took > 500*time.Millisecond {
		t.Errorf("50 slots at 1000/s took %v", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := newPacer(1).wait(ctx); err == nil {
		t.Error("wait on a canceled context succeeded")
	}
}

func TestIPDst(t *testing.T) {
	v4 := make([]byte, 20)
	v4[0] = 0x45
	copy(v4[16:], []byte{10, 88, 0, 9})
	v6 := make([]byte, 40)
	v6[0] = 0x60
	a6 := netip.MustParseAddr("fd88::9").As16()
	copy(v6[24:], a6[:])
	for _, tc := range []struct {
		b    []byte
		want string
	}{
		{v4, "10.88.0.9"}, {v6, "fd88::9"}, {v4[:10], ""}, {v6[:30], ""}, {nil, ""}, {[]byte{0x10}, ""},
	} {
		got, ok := ipDst(tc.b)
		if tc.want == "" {
			if ok {
				t.Errorf("ipDst parsed %v from a bad packet", got)
			}
			continue
		}
		if !ok || got.String() != tc.want {
			t.Errorf("ipDst = %v, %v; want %s", got, ok, tc.want)
		}
	}
}
