package configs

import (
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/replaygw/replaygw/compare"
)

// Compare is the [compare] section: comparing each replayed request's
// target response with production's. The copier sends the exchanges of
// the compared routes to the gateway (or, in the appliance, straight to
// the comparison), which diffs them and keeps the results in Store.
type Compare struct {
	Enabled bool `toml:"enabled"` // default false
	// Store is the directory under which each run writes its results, in
	// a subdirectory named by its start time; default DefaultCompareStore.
	Store string `toml:"store"`
	// MaxDisk bounds the result lines of one run; default "256MiB".
	MaxDisk Size `toml:"max_disk"`
	// Examples is how many differing exchanges keep their payloads (the
	// first few of each endpoint); default 200, 0 = none.
	Examples int `toml:"examples"`
	// IgnoreHeaders are the HTTP headers not compared; default Date,
	// Set-Cookie, ETag, Age, X-Request-Id. Setting it replaces the list.
	IgnoreHeaders []string `toml:"ignore_headers"`
	// IgnoreJSON are JSON paths left out of body comparison: "$.meta.ts",
	// "items[*].id".
	IgnoreJSON []string `toml:"ignore_json"`
	// Queue is how many exchanges wait for the comparison; beyond it they
	// are dropped and counted; default 4096.
	Queue int `toml:"queue"`
	// Keep is the payload kept per side of one exchange; default "64KiB".
	Keep Size `toml:"keep"`
}

// Defaults of [compare].
const (
	DefaultCompareStore    = "/var/lib/replaygw/compare"
	DefaultCompareMaxDisk  = Size(256 << 20)
	DefaultCompareExamples = 200
	DefaultCompareQueue    = 4096
	DefaultCompareKeep     = Size(64 << 10)
	MinCompareMaxDisk      = Size(1 << 20)
	MaxCompareKeep         = Size(256 << 10) // three payloads must fit one exchange frame
	MaxCompareQueue        = 1 << 20
)

// Compares reports whether route i of [copy] is compared: [compare] is
// enabled and the route does not opt out.
func (c *Config) Compares(i int) bool {
	if c.Compare == nil || !c.Compare.Enabled || c.Copy == nil || i < 0 || i >= len(c.Copy.Routes) {
		return false
	}
	r := c.Copy.Routes[i]
	return r.Compare == nil || *r.Compare
}

func (c *Compare) fillDefaults(unset func(zero bool, key ...string) bool) {
	if unset(c.Store == "", "compare", "store") {
		c.Store = DefaultCompareStore
	}
	if unset(c.MaxDisk == 0, "compare", "max_disk") {
		c.MaxDisk = DefaultCompareMaxDisk
	}
	if unset(c.Examples == 0, "compare", "examples") {
		c.Examples = DefaultCompareExamples
	}
	if unset(c.IgnoreHeaders == nil, "compare", "ignore_headers") {
		c.IgnoreHeaders = append([]string(nil), compare.DefaultIgnoreHeaders...)
	}
	if unset(c.Queue == 0, "compare", "queue") {
		c.Queue = DefaultCompareQueue
	}
	if unset(c.Keep == 0, "compare", "keep") {
		c.Keep = DefaultCompareKeep
	}
}

// HTTPRules are the noise rules of the HTTP comparison.
func (c *Compare) HTTPRules() compare.HTTPRules {
	return compare.HTTPRules{IgnoreHeaders: c.IgnoreHeaders, NoDefaultHeaders: true, IgnoreJSON: c.IgnoreJSON}
}

func (c *Compare) check(ch *checker, dir string) {
	switch {
	case c.Store == "":
		ch.errf("compare.store", "empty: name the directory the results go under, e.g. %q", DefaultCompareStore)
	case !filepath.IsAbs(c.Store) && dir != "":
		c.Store = filepath.Join(dir, c.Store)
	}
	if c.MaxDisk < MinCompareMaxDisk {
		ch.errf("compare.max_disk", "%s is less than %s", c.MaxDisk, MinCompareMaxDisk)
	}
	ch.intRange("compare.examples", c.Examples, 0, 1<<20)
	ch.intRange("compare.queue", c.Queue, 1, MaxCompareQueue)
	if c.Keep <= 0 || c.Keep > MaxCompareKeep {
		ch.errf("compare.keep", "%s is outside 1B..%s", c.Keep, MaxCompareKeep)
	}
	for i, h := range c.IgnoreHeaders {
		if !validHeaderName(h) {
			ch.errf(fmt.Sprintf("compare.ignore_headers[%d]", i), "%q is not an HTTP header name", h)
		}
	}
	for i, p := range c.IgnoreJSON {
		if _, err := compare.NewHTTP(compare.HTTPRules{IgnoreJSON: []string{p}}); err != nil {
			_, msg, _ := strings.Cut(err.Error(), ": ignore_json[0]: ")
			ch.errf(fmt.Sprintf("compare.ignore_json[%d]", i), "%q: %s", p, msg)
		}
	}
}

// validHeaderName: an RFC 9110 token.
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r > 0x7e || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return http.CanonicalHeaderKey(h) != ""
}

// checkRouteCompare checks each route's compare and noise_target keys;
// the noise target's address is checked with the route's own (addrs.go).
func (c *Config) checkRouteCompare(ch *checker) {
	p := c.Copy
	on := c.Compare != nil && c.Compare.Enabled
	for i := range p.Routes {
		r := &p.Routes[i]
		key := fmt.Sprintf("copy.route[%d]", i)
		r.Compared = on && (r.Compare == nil || *r.Compare)
		if r.Compared {
			r.CompareKeep = int(c.Compare.Keep)
		}
		r.NoiseAddr = parsedNoise(ch, key, r)
		if r.NoiseAddr.IsValid() {
			p.checkReplayTarget(ch, key+".noise_target", r.NoiseAddr)
			p.checkOutsidePools(ch, c.Gateway, key+".noise_target", r.NoiseAddr)
		}
		if r.Compare != nil && *r.Compare && !on {
			ch.warnf(key+".compare", "true, but [compare] is not enabled: nothing is compared")
		}
		if r.NoiseTarget == "" {
			continue
		}
		switch {
		case !on:
			ch.errf(key+".noise_target", "set, but [compare] is not enabled: a noise target only serves the comparison (set [compare] enabled = true)")
		case r.Compare != nil && !*r.Compare:
			ch.errf(key+".noise_target", "set on a route with compare = false: the noise target would get traffic for nothing")
		}
	}
}

// parsedNoise parses a route's noise target like its to.
func parsedNoise(ch *checker, key string, r *Route) netip.AddrPort {
	if r.NoiseTarget == "" {
		return netip.AddrPort{}
	}
	a, ok := ch.addrPort(key+".noise_target", r.NoiseTarget)
	if !ok {
		return netip.AddrPort{}
	}
	ch.routeAddr(key+".noise_target", a, r.AllowLocal)
	if r.ToAddr.IsValid() && a == r.ToAddr {
		ch.errf(key+".noise_target", "%s is the route's own to: the noise target must be a second server running production's build", a)
	}
	if r.FromAddr.IsValid() && a.Addr().Is4() != r.FromAddr.Addr().Is4() {
		ch.errf(key+".noise_target", "%s is %s but from %s is %s; a route cannot change address family", a, family(a.Addr()), r.FromAddr, family(r.FromAddr.Addr()))
	}
	return a
}
