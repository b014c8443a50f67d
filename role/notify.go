package role

import (
	"fmt"
	"net"
	"os"
)

// Notify sends state (e.g. "READY=1") to the service manager over the
// unix datagram socket named by $NOTIFY_SOCKET (sd_notify; a leading '@'
// is the abstract namespace). Without the variable it does nothing.
func Notify(state string) error {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	return nil
}
