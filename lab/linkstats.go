package lab

import (
	"encoding/json"
	"fmt"
)

// LinkStats returns the kernel's packet counters of dev in host's
// namespace. For a TUN, tx counts packets the kernel handed to the program
// and rx packets the program wrote into the device.
func (l *Lab) LinkStats(h Host, dev string) (rx, tx uint64, err error) {
	out, err := l.Exec(h, "ip", "-j", "-s", "link", "show", "dev", dev).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("lab: link stats of %s in %s: %w", dev, h, err)
	}
	var links []struct {
		Stats struct {
			RX struct{ Packets uint64 } `json:"rx"`
			TX struct{ Packets uint64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		return 0, 0, fmt.Errorf("lab: link stats of %s in %s: parse %q: %v", dev, h, out, err)
	}
	return links[0].Stats.RX.Packets, links[0].Stats.TX.Packets, nil
}
