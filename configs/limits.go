package configs

import "time"

// Sane ranges: values beyond them are typing slips (a missing unit, an
// extra zero), not setups anyone runs.
const (
	MaxCopierQueue   = 1 << 24  // records per copier queue (about 1 GiB of records)
	MaxMemoryLimit   = 1 * TiB  // copy.memory_limit
	MaxMaxSessions   = 1 << 24  // copy.max_sessions (about 20 GB of session state)
	MaxRateLimit     = 10000000 // new sessions per second
	MinLedgerMaxSize = 4 * KiB  // copy.ledger_max_size
	MinCaptureRingMB = 4        // copy.capture_ring_mb (the capture keeps at least 4 MiB per socket)
	MaxCaptureRingMB = 4096     // copy.capture_ring_mb
	// MinTokenBytes is the shortest token that does not get a warning.
	MinTokenBytes = 16
)

// exampleTokens are the tokens the example configs have shipped with: a
// deployment that keeps one shares its secret with everyone.
var exampleTokens = []string{"change-me", "replace-with-a-long-random-secret"}

// duration reports d not in (0, max].
func (ch *checker) duration(key string, d Duration, max time.Duration) {
	if d.Duration <= 0 {
		ch.errf(key, "%s must be greater than 0", d)
	} else if d.Duration > max {
		ch.errf(key, "%s is more than %s", d, Duration{max})
	}
}

// tokenStrength warns about a secret that is short or the example's.
func (ch *checker) tokenStrength(section, token, secret string) {
	if secret == "" {
		return
	}
	key := section + ".token"
	if token == "" {
		key = section + ".token_file"
	}
	for _, ex := range exampleTokens {
		if secret == ex {
			ch.warnf(key, "is the example's token, which everyone who has the example knows; generate one (e.g. openssl rand -hex 16)")
			return
		}
	}
	if len(secret) < MinTokenBytes {
		ch.warnf(key, "the token is %d bytes; use at least %d random bytes (e.g. openssl rand -hex 16)", len(secret), MinTokenBytes)
	}
}
