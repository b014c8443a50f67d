package configs

import _ "embed"

// Example is the annotated example config (configs/replaygw.toml): every
// key with its default. `replaygw config example` prints it.
//
//go:embed replaygw.toml
var Example []byte
