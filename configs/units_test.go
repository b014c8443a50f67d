package configs

import (
	"strings"
	"testing"
	"time"
)

func TestDurationText(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		err  string // "" = must parse
	}{
		{"2s", 2 * time.Second, ""},
		{"150ms", 150 * time.Millisecond, ""},
		{"5m", 5 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{" 3s ", 3 * time.Second, ""},
		{"0", 0, ""},
		{"-1s", -time.Second, ""}, // parsed; validation rejects it where it matters
		{"2", 0, `duration "2" has no unit; write e.g. "2s" or "2ms"`},
		{"1.5", 0, "has no unit"},
		{"", 0, "empty duration"},
		{"soon", 0, `invalid duration "soon"`},
		{"5 s", 0, "invalid duration"},
		{"2d", 0, "invalid duration"},
	}
	for _, tc := range cases {
		var d Duration
		err := d.UnmarshalText([]byte(tc.in))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && d.Duration != tc.want:
			t.Errorf("%q = %v, want %v", tc.in, d.Duration, tc.want)
		}
	}
}

func TestDurationMarshal(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{2 * time.Second, "2s"},
		{150 * time.Millisecond, "150ms"},
		{5 * time.Minute, "5m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{61 * time.Second, "1m1s"},
		{0, "0s"},
	} {
		b, err := Duration{tc.d}.MarshalText()
		if err != nil || string(b) != tc.want {
			t.Errorf("%v: %q, %v; want %q", tc.d, b, err, tc.want)
			continue
		}
		var back Duration
		if err := back.UnmarshalText(b); err != nil || back.Duration != tc.d {
			t.Errorf("round trip %q = %v, %v", b, back.Duration, err)
		}
	}
}

func TestSizeText(t *testing.T) {
	cases := []struct {
		in   string
		want Size
		err  string
	}{
		{"64MiB", 64 << 20, ""},
		{"512KiB", 512 << 10, ""},
		{"1GiB", 1 << 30, ""},
		{"2TiB", 2 << 40, ""},
		{"1GB", 1e9, ""},
		{"1MB", 1e6, ""},
		{"10kb", 10e3, ""},
		{"64mib", 64 << 20, ""},
		{"64 MiB", 64 << 20, ""},
		{"1.5GiB", 3 << 29, ""},
		{"0.5KiB", 512, ""},
		{"4096", 4096, ""},
		{"4096B", 4096, ""},
		{"1_000", 1000, ""},
		{"0", 0, ""},
		{"", 0, "empty size"},
		{"-1", 0, "negative"},
		{"-1MiB", 0, "negative"},
		{"12XB", 0, `invalid size "12XB"`},
		{"MiB", 0, "invalid size"},
		{"1.2.3KiB", 0, "invalid size"},
		{"1.5", 0, "not a whole number of bytes"},
		{"0.1KiB", 0, "not a whole number of bytes"},
		{"8388608TiB", 0, "too large"},
		{"99999999999999999999", 0, "too large"},
		{"1e9GiB", 0, "invalid size"},
	}
	for _, tc := range cases {
		var s Size
		err := s.UnmarshalText([]byte(tc.in))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && s != tc.want:
			t.Errorf("%q = %d, want %d", tc.in, s, tc.want)
		}
	}
}

func TestSizeMarshal(t *testing.T) {
	for _, tc := range []struct {
		s    Size
		want string
	}{
		{64 * MiB, "64MiB"},
		{512 * KiB, "512KiB"},
		{GiB, "1GiB"},
		{1536 * MiB, "1536MiB"},
		{3 * TiB, "3TiB"},
		{1000, "1000"},
		{0, "0"},
	} {
		b, err := tc.s.MarshalText()
		if err != nil || string(b) != tc.want {
			t.Errorf("%d: %q, %v; want %q", tc.s, b, err, tc.want)
			continue
		}
		var back Size
		if err := back.UnmarshalText(b); err != nil || back != tc.s {
			t.Errorf("round trip %q = %d, %v", b, back, err)
		}
	}
}
