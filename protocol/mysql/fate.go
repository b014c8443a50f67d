package mysql

import (
	"fmt"

	"github.com/replaygw/replaygw/protocol"
)

// Fate is why a session cannot be replayed; its Code is the name used in
// metrics and logs (mysql_tls, mysql_no_password, ...).
type Fate = protocol.Fate

// Fate codes.
const (
	FateTLS              = "mysql_tls"               // the client sent an SSLRequest
	FateCompress         = "mysql_compress"          // CLIENT_COMPRESS or CLIENT_ZSTD negotiated
	FateUnknownPlugin    = "mysql_unknown_plugin"    // an auth plugin this package cannot answer
	FateNoPassword       = "mysql_no_password"       // the user is not in the password map
	FateNoLogin          = "mysql_no_login"          // resumed session without a saved login or default user
	FateUnknownStatement = "mysql_unknown_statement" // a statement id whose PREPARE was never seen
	FateLocalInfile      = "mysql_local_infile"      // LOAD DATA LOCAL INFILE request
	FateAuthFailed       = "mysql_auth_failed"       // the target refused the rebuilt login
	FateProtocol         = "mysql_protocol"          // malformed or unexpected packet
	FateOverflow         = "mysql_overflow"          // held bytes beyond the bound
	FateOldProtocol      = "mysql_old_protocol"      // pre-4.1 handshake
	FateCapabilities     = "mysql_capabilities"      // the target would read the client's commands differently
)

func fatef(code, format string, args ...any) *Fate {
	return &Fate{Code: code, Detail: fmt.Sprintf(format, args...)}
}
