package metrics

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// FetchStatus GETs a /status document. url may be the full URL or just
// host:port (then http://host:port/status is used).
func FetchStatus(url string) (*Status, error) {
	if !strings.Contains(url, "://") {
		url = "http://" + url + "/status"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("metrics: fetch status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: fetch status %s: %s", url, resp.Status)
	}
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("metrics: decode status from %s: %w", url, err)
	}
	return &st, nil
}

// RenderStatus writes a one-screen summary of cur. With prev (an earlier
// fetch from the same process) rates are computed between the two;
// otherwise the server's own rates are shown.
func RenderStatus(w io.Writer, prev, cur *Status) error {
	var b strings.Builder
	rates, window := cur.Rates, cur.RateWindow
	var fateDelta map[string]uint64
	if prev != nil && prev.Started.Equal(cur.Started) && cur.Time.After(prev.Time) {
		dt := cur.Time.Sub(prev.Time).Seconds()
		window = dt
		rates = make(map[string]float64, len(cur.Counters))
		for k, v := range cur.Counters {
			if p, ok := prev.Counters[k]; ok && v >= p {
				rates[k] = float64(v-p) / dt
			}
		}
		fateDelta = make(map[string]uint64, len(cur.Fates))
		for k, v := range cur.Fates {
			if p := prev.Fates[k]; v >= p {
				fateDelta[k] = v - p
			}
		}
	}
	fmt.Fprintf(&b, "replaygw %s   up %s   at %s", cur.Role,
		(time.Duration(cur.Uptime) * time.Second).String(), cur.Time.Format("15:04:05"))
	if window > 0 {
		fmt.Fprintf(&b, "   rates over %.1fs", window)
	}
	b.WriteString("\n\n")

	// Sessions and success.
	total, replayed, sampled := sumFates(cur.Fates)
	fmt.Fprintf(&b, "sessions  %s ended", num(total))
	if total > sampled {
		fmt.Fprintf(&b, "   success %.1f%% (%s replayed of %s not sampled out)",
			pct(replayed, total-sampled), num(replayed), num(total-sampled))
	}
	b.WriteByte('\n')
	if fateDelta != nil {
		t, r, s := sumFates(fateDelta)
		fmt.Fprintf(&b, "  now     %.1f/s ended", float64(t)/window)
		if t > s {
			fmt.Fprintf(&b, "   success %.1f%%", pct(r, t-s))
		}
		b.WriteByte('\n')
	}

	// Top fates.
	if len(cur.Fates) > 0 {
		b.WriteString("\nfates\n")
		for i, kv := range sortedDesc(cur.Fates) {
			if i == 8 || kv.v == 0 {
				break
			}
			fmt.Fprintf(&b, "  %-20s %12s  %5.1f%%\n", kv.k, num(kv.v), pct(kv.v, total))
		}
	}

	// Busiest counters.
	if len(rates) > 0 {
		b.WriteString("\nrates (per second)\n")
		type rk struct {
			k string
			r float64
		}
		var rs []rk
		for k, r := range rates {
			if r > 0 {
				rs = append(rs, rk{k, r})
			}
		}
		slices.SortFunc(rs, func(a, b rk) int { return cmp.Or(cmp.Compare(b.r, a.r), strings.Compare(a.k, b.k)) })
		for i, x := range rs {
			if i == 10 {
				break
			}
			fmt.Fprintf(&b, "  %-52s %12.1f\n", x.k, x.r)
		}
		if len(rs) == 0 {
			b.WriteString("  (idle)\n")
		}
	}

	// Drops by reason: every non-zero counter whose name says drop, lost,
	// error or full.
	var drops []kv
	for k, v := range cur.Counters {
		if v > 0 && isDrop(k) {
			drops = append(drops, kv{k, v})
		}
	}
	if len(drops) > 0 {
		slices.SortFunc(drops, func(a, b kv) int { return cmp.Or(cmp.Compare(b.v, a.v), strings.Compare(a.k, b.k)) })
		b.WriteString("\ndrops and errors\n")
		for i, d := range drops {
			if i == 10 {
				break
			}
			fmt.Fprintf(&b, "  %-52s %12s", d.k, num(d.v))
			if r := rates[d.k]; r > 0 {
				fmt.Fprintf(&b, "  (+%.1f/s)", r)
			}
			b.WriteByte('\n')
		}
	}

	// Latency.
	if len(cur.Latency) > 0 {
		fmt.Fprintf(&b, "\n%-30s %9s %10s %10s %10s\n", "latency", "count", "p50", "p90", "p99")
		names := make([]string, 0, len(cur.Latency))
		for k := range cur.Latency {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			l := cur.Latency[k]
			fmt.Fprintf(&b, "  %-28s %9s %10s %10s %10s\n", k, num(l.Count), secs(l.P50), secs(l.P90), secs(l.P99))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type kv struct {
	k string
	v uint64
}

func sortedDesc(m map[string]uint64) []kv {
	s := make([]kv, 0, len(m))
	for k, v := range m {
		s = append(s, kv{k, v})
	}
	slices.SortFunc(s, func(a, b kv) int { return cmp.Or(cmp.Compare(b.v, a.v), strings.Compare(a.k, b.k)) })
	return s
}

// sumFates returns all ended sessions, the replayed ones and those sampled
// out on purpose (which do not count against success).
func sumFates(f map[string]uint64) (total, replayed, sampled uint64) {
	for k, v := range f {
		total += v
		switch k {
		case "replayed":
			replayed += v
		case "sampled_out":
			sampled += v
		}
	}
	return total, replayed, sampled
}

func isDrop(name string) bool {
	for _, w := range []string{"drop", "lost", "error", "full", "overflow", "backlog", "fail"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

func pct(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// num formats n with thousands separators.
func num(n uint64) string {
	s := fmt.Sprint(n)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

func secs(s float64) string {
	if s == 0 {
		return "-"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond).String()
}
