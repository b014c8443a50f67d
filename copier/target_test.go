package copier

import (
	"testing"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// fromRecord converts wire's flags by value: the two vocabularies must
// keep the TCP header's bits.
func TestRecordFlagsAreTCPFlags(t *testing.T) {
	for _, tc := range []struct {
		w uint8
		h header.TCPFlags
	}{
		{wire.FlagFIN, header.TCPFlagFin}, {wire.FlagSYN, header.TCPFlagSyn}, {wire.FlagRST, header.TCPFlagRst},
		{wire.FlagPSH, header.TCPFlagPsh}, {wire.FlagACK, header.TCPFlagAck}, {wire.FlagURG, header.TCPFlagUrg},
		{wire.FlagECE, header.TCPFlagEce}, {wire.FlagCWR, header.TCPFlagCwr},
	} {
		if got := fromRecord(&wire.Record{Flags: tc.w}).flags; got != tc.h {
			t.Errorf("wire flag %#x reads as %v, want %v", tc.w, got, tc.h)
		}
	}
}
