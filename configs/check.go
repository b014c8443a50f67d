package configs

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// checker collects the problems of one config, each with its key and line.
type checker struct {
	file    string
	role    string                   // the command's role; "" = every section
	pos     *positions               // nil: lines unknown
	defined func(key ...string) bool // nil: only values are known
	skip    map[string]bool          // keys whose value was refused: no further checks
	errs    []*Error
	warns   []*Error
	// needs lists, for a problem that only exists when several sections
	// run together, those sections (else the key's own section counts).
	needs map[*Error][]string
}

func (ch *checker) errf(key, format string, args ...any) {
	if e := ch.problem(key, format, args...); e != nil {
		ch.errs = append(ch.errs, e)
	}
}

func (ch *checker) warnf(key, format string, args ...any) {
	if e := ch.problem(key, format, args...); e != nil {
		ch.warns = append(ch.warns, e)
	}
}

// errWith is errf for a problem of several sections together.
func (ch *checker) errWith(sections []string, key, format string, args ...any) {
	if e := ch.problem(key, format, args...); e != nil {
		ch.errs = append(ch.errs, e)
		if ch.needs == nil {
			ch.needs = map[*Error][]string{}
		}
		ch.needs[e] = sections
	}
}

func (ch *checker) problem(key, format string, args ...any) *Error {
	if ch.skip[key] {
		return nil
	}
	return &Error{File: ch.file, Line: ch.pos.line(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}

// relevant keeps the problems whose sections are all in used.
func (ch *checker) relevant(list []*Error, used map[string]bool) []*Error {
	var out []*Error
	for _, e := range list {
		secs, ok := ch.needs[e]
		if !ok {
			secs = []string{sectionOf(e.Key)}
		}
		keep := true
		for _, s := range secs {
			keep = keep && (s == "" || used[s])
		}
		if keep {
			out = append(out, e)
		}
	}
	return out
}

// isDefined reports whether the file sets key (dotted); false when unknown.
func (ch *checker) isDefined(key string) bool {
	return ch.defined != nil && ch.defined(strings.Split(key, ".")...)
}

// intRange reports v outside lo..hi.
func (ch *checker) intRange(key string, v, lo, hi int) {
	if v < lo || v > hi {
		ch.errf(key, "%d is out of range %d..%d", v, lo, hi)
	}
}

// positive reports a duration that is not above zero.
func (ch *checker) positive(key string, d Duration) {
	if d.Duration <= 0 {
		ch.errf(key, "%s must be greater than 0", d)
	}
}

// oneOf reports v not among allowed.
func (ch *checker) oneOf(key, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	msg := fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))
	if s := suggest(v, allowed); v != "" && s != "" {
		msg += fmt.Sprintf("; did you mean %q? (values are case-sensitive)", s)
	}
	ch.errf(key, "%s", msg)
}

// ifName reports v that Linux would not accept as an interface name.
func (ch *checker) ifName(key, v string) bool {
	if v == "" {
		ch.errf(key, "missing: an interface name is required")
		return false
	}
	if !validIfName(v) {
		ch.errf(key, "%q is not a valid interface name (1 to 15 characters, no '/', ':' or blanks)", v)
		return false
	}
	return true
}

func validIfName(v string) bool {
	return v != "" && len(v) <= 15 && v != "." && v != ".." && !strings.ContainsAny(v, "/: \t\n\r\x00")
}

// prefix parses a CIDR that must have no host bits set.
func (ch *checker) prefix(key, v string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(strings.TrimSpace(v))
	if err != nil {
		ch.errf(key, "%q is not a CIDR (e.g. \"10.88.0.0/24\" or \"fd00:88::/112\")", v)
		return netip.Prefix{}, false
	}
	if p.Addr().Is4In6() {
		ch.errf(key, "%q is an IPv4-mapped IPv6 prefix; write the IPv4 form", v)
		return netip.Prefix{}, false
	}
	if m := p.Masked(); m != p {
		ch.errf(key, "%q has host bits set; did you mean %q?", v, m.String())
		return netip.Prefix{}, false
	}
	return p, true
}

// addrPort parses an IP:port (no host names: these are packet addresses).
func (ch *checker) addrPort(key, v string) (netip.AddrPort, bool) {
	if v == "" {
		ch.errf(key, "missing: an addr:port is required (e.g. \"10.0.0.1:80\")")
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(v))
	if err != nil || ap.Addr().Zone() != "" {
		ch.errf(key, "%q is not addr:port (e.g. \"10.0.0.1:80\" or \"[2001:db8::1]:80\")", v)
		return netip.AddrPort{}, false
	}
	if ap.Port() == 0 {
		ch.errf(key, "%q: port 0 is not a service port", v)
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// hostPort checks a dial or listen address; the host may be a name, and
// may be empty only when emptyHost is set (listen on all addresses).
func (ch *checker) hostPort(key, v string, emptyHost bool) bool {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		ch.errf(key, "%q is not host:port (e.g. \"10.0.0.40:36524\")", v)
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		ch.errf(key, "%q: port %q is not a number in 1..65535", v, port)
		return false
	}
	switch {
	case host == "":
		if !emptyHost {
			ch.errf(key, "%q has no host", v)
			return false
		}
	case validHostname(host):
	default:
		if _, err := netip.ParseAddr(host); err != nil {
			ch.errf(key, "%q: %q is neither an IP address nor a host name", v, host)
			return false
		}
	}
	return true
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	// All-numeric dotted names are (bad) IP addresses, not host names.
	return strings.ContainsFunc(h, func(r rune) bool { return r < '0' || r > '9' && r != '.' })
}

// secret resolves token / token_file of section; required says a secret
// must be given. dir resolves a relative token_file.
func (ch *checker) secret(section, token, tokenFile, dir string, required bool) string {
	tk, fk := section+".token", section+".token_file"
	switch {
	case token != "" && tokenFile != "":
		ch.errf(fk, "both token and token_file are set; use one")
		return ""
	case tokenFile != "":
		path := tokenFile
		if !filepath.IsAbs(path) && dir != "" {
			path = filepath.Join(dir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			ch.errf(fk, "cannot read token file %q: %v", tokenFile, unwrapPathError(err))
			return ""
		}
		s := strings.TrimSpace(string(data))
		if s == "" {
			ch.errf(fk, "token file %q is empty", tokenFile)
		}
		return s
	case token != "":
		s := strings.TrimSpace(token)
		if s == "" {
			ch.errf(tk, "token is blank")
		}
		return s
	case ch.isDefined(tk):
		ch.errf(tk, "token is empty")
	case ch.isDefined(fk):
		ch.errf(fk, "token_file is empty")
	case required:
		ch.errf(tk, "missing: set token or token_file (the secret shared by gateway and copier)")
	}
	return ""
}

// unwrapPathError drops the operation and path an *os.PathError repeats.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// prefixSize is the number of addresses in p, saturated at limit.
func prefixSize(p netip.Prefix, limit uint64) uint64 {
	host := p.Addr().BitLen() - p.Bits()
	if host >= 63 {
		return limit
	}
	return min(uint64(1)<<host, limit)
}
