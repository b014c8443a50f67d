package configs

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// UnmarshalText parses a Go duration string such as "2s", "150ms" or
// "1h30m". A bare number is refused because its unit would be a guess.
func (d *Duration) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if s == "" {
		return fmt.Errorf("empty duration; write e.g. \"2s\" or \"150ms\"")
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return fmt.Errorf("duration %q has no unit; write e.g. \"%ss\" or \"%sms\"", s, s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q; write e.g. \"2s\", \"150ms\" or \"5m\"", s)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration in the form UnmarshalText reads, without
// the zero tails time.Duration.String adds ("5m", not "5m0s").
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// String is the short form: "2s", "150ms", "5m", "1h30m".
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Byte multiples accepted by Size.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

// sizeUnits maps a lower-case unit suffix to its multiplier. Binary units
// (KiB) are powers of 1024, decimal ones (KB) powers of 1000.
var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

// UnmarshalText parses "64MiB", "512KiB", "1GiB", "1GB", "1.5GiB", "4096B"
// or a plain integer byte count. Units are case-insensitive; KiB/MiB/GiB/TiB
// are powers of 1024, KB/MB/GB/TB powers of 1000.
func (s *Size) UnmarshalText(text []byte) error {
	str := strings.TrimSpace(string(text))
	if str == "" {
		return fmt.Errorf("empty size; write e.g. \"64MiB\" or a byte count")
	}
	i := 0
	for i < len(str) && (str[i] >= '0' && str[i] <= '9' || str[i] == '.' || str[i] == '_') {
		i++
	}
	num := strings.ReplaceAll(str[:i], "_", "")
	unit := strings.ToLower(strings.TrimSpace(str[i:]))
	mult, ok := sizeUnits[unit]
	if !ok || num == "" {
		if strings.HasPrefix(str, "-") {
			return fmt.Errorf("size %q is negative", str)
		}
		return fmt.Errorf("invalid size %q; write e.g. \"64MiB\", \"512KiB\", \"1GiB\", \"1GB\" or a byte count", str)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/mult {
			return fmt.Errorf("size %q is too large", str)
		}
		*s = Size(n * mult)
		return nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return fmt.Errorf("invalid size %q; write e.g. \"64MiB\" or \"1.5GiB\"", str)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return fmt.Errorf("size %q is too large", str)
	}
	if v != math.Trunc(v) {
		return fmt.Errorf("size %q is not a whole number of bytes", str)
	}
	*s = Size(v)
	return nil
}

// MarshalText writes the size with the largest binary unit that divides it
// exactly ("64MiB"), or as a plain byte count.
func (s Size) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// String is the form MarshalText writes.
func (s Size) String() string {
	if s == 0 {
		return "0"
	}
	for _, u := range []struct {
		n    Size
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if s%u.n == 0 {
			return strconv.FormatInt(int64(s/u.n), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// Bytes is the size as an int64 byte count.
func (s Size) Bytes() int64 { return int64(s) }
