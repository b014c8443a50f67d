package compare

import "strings"

// EndpointKey groups requests by endpoint: "GET /users/12/orders?x=1"
// becomes "GET /users/{id}/orders". A path segment is collapsed to {id}
// when it is a decimal number, a UUID, or a hex string of 8 or more digits
// with at least one decimal digit. The query is dropped. A key without a
// path (a Redis command, a MySQL command) is returned as it is.
func EndpointKey(ep string) string {
	method, path, ok := strings.Cut(ep, " ")
	if !ok || !strings.HasPrefix(path, "/") {
		return ep
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if isID(s) {
			segs[i] = "{id}"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

func isID(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := 0, true
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			hex = false
		}
	}
	if digits == len(s) {
		return true
	}
	if isUUID(s) {
		return true
	}
	return hex && len(s) >= 8 && digits > 0
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
