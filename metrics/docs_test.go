package metrics

import (
	"os"
	"strings"
	"testing"

	"github.com/replaygw/replaygw/absorb"
	"github.com/replaygw/replaygw/capture"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/counter"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/ledger"
	"github.com/replaygw/replaygw/protocol/mysql"
)

// every lists the metrics of every component, as the appliance (both roles
// in one process) registers them.
func every() []counter.Metric {
	var ms []counter.Metric
	for _, l := range [][]counter.Metric{
		(&copier.Stats{}).Counters(),
		(&copier.RawSender{}).Counters(),
		(&copier.L2Sender{}).Counters(),
		(&copier.TUNSender{}).Counters(),
		(&copier.GatewayStats{}).Counters(),
		(&capture.Stats{}).Counters(),
		(&ledger.Writer{}).Counters(),
		(&gateway.Stats{}).Counters(),
		(&gateway.CompareStats{}).Counters(),
		(&absorb.Stats{}).Counters(),
		(&mysql.Stats{}).Counters(),
	} {
		ms = append(ms, l...)
	}
	return ms
}

func TestComponentsFollowConventions(t *testing.T) {
	if err := counter.Check(every()); err != nil {
		t.Fatal(err)
	}
	e := New("appliance")
	var logged strings.Builder
	e.SetLogger(slogTo(&logged))
	e.Add(every()...)
	if logged.Len() != 0 {
		t.Fatalf("Add left metrics out: %s", logged.String())
	}
}

// TestDocsListEveryMetric keeps docs/metrics.md complete: every metric has
// a table row "| `replaygw_<name>` | <type> | <labels> | ..." naming its
// type and every label value it is exported with.
func TestDocsListEveryMetric(t *testing.T) {
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| `replaygw_") {
			continue
		}
		// Cells split at " | " (a label value list may hold a bare "|").
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		for len(cells) < 4 {
			cells = append(cells, "")
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(strings.Trim(cells[i], "|"))
		}
		rows[strings.Trim(cells[0], "`")] = cells
	}
	for _, m := range every() {
		full := Namespace + "_" + m.Name
		row, ok := rows[full]
		if !ok {
			t.Errorf("docs/metrics.md has no row for %s", full)
			continue
		}
		if row[1] != m.Kind.String() {
			t.Errorf("docs/metrics.md: %s is a %s, the row says %q", full, m.Kind, row[1])
		}
		for _, l := range m.Labels {
			if !strings.Contains(row[2], "`"+l.Name+"`") {
				t.Errorf("docs/metrics.md: %s row lacks label `%s`", full, l.Name)
			}
			if l.Name != "sender" && !strings.Contains(row[2], "`"+l.Value+"`") {
				t.Errorf("docs/metrics.md: %s row lacks %s value `%s`", full, l.Name, l.Value)
			}
		}
	}
}
