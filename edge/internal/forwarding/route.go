package forwarding

import (
	"bytes"

	"github.com/madbase/madbase/shared/metrics"
)

var (
	prefixAuth      = []byte("/auth/v1")
	prefixRest      = []byte("/rest/v1")
	prefixStorage   = []byte("/storage/v1")
	prefixRealtime  = []byte("/realtime/v1")
	prefixFunctions = []byte("/functions/v1")
	prefixAdmin     = []byte("/admin")
	prefixDashboard = []byte("/dashboard")
	pathHealth      = []byte("/health")
	pathMetrics     = []byte("/metrics")
)

func hasPrefix(path, prefix []byte) bool {
	return bytes.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

// Route names the route group of a path (see shared/metrics).
func Route(path []byte) string {
	switch {
	case hasPrefix(path, prefixRest):
		return metrics.GroupRest
	case hasPrefix(path, prefixAuth):
		return metrics.GroupAuth
	case hasPrefix(path, prefixStorage):
		return metrics.GroupStorage
	case hasPrefix(path, prefixRealtime):
		return metrics.GroupRealtime
	case hasPrefix(path, prefixFunctions):
		return metrics.GroupFunctions
	case hasPrefix(path, prefixAdmin), hasPrefix(path, prefixDashboard):
		// The dashboard is control's, like the admin API it calls.
		return metrics.GroupAdmin
	case bytes.Equal(path, pathHealth):
		return metrics.GroupHealth
	case bytes.Equal(path, pathMetrics):
		return metrics.GroupMetrics
	}
	return metrics.GroupOther
}

// ToWorkers reports whether a route group's requests go to a worker.
func ToWorkers(group string) bool {
	switch group {
	case metrics.GroupAuth, metrics.GroupRest, metrics.GroupStorage, metrics.GroupRealtime, metrics.GroupFunctions:
		return true
	}
	return false
}

// Plain reports whether a path needs no normalizing: no percent-encoding,
// no backslash, no empty or dot segment. Whatever reads it, the edge, a
// worker's router or control's, names the same resource.
func Plain(path []byte) bool {
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '%', '\\':
			return false
		case '/':
			if i+1 < len(path) && (path[i+1] == '/' || path[i+1] == '.') {
				return false
			}
		}
	}
	return true
}

// CheckPath decides a request's route group on its path as the client sent
// it (before any decoding) and reports whether the edge forwards it. A path
// is refused when a worker's or control's router could read it as another
// resource than the edge routed: an encoded slash or backslash (%2F, %5C),
// a backslash, a dot segment ("." or "..", %2E spelt or not), a malformed
// percent-escape, or a path whose decoding and merging of empty segments
// would name another route group (//admin, /%72est/v1). Anything else,
// storage object keys with their literal characters included, is forwarded
// byte for byte as it came. An empty path is "/".
func CheckPath(path []byte) (group string, ok bool) {
	group = Route(path)
	if len(path) > 0 && path[0] != '/' {
		return group, false // not origin-form: nothing routes it
	}
	if Plain(path) {
		return group, true
	}
	norm := make([]byte, 0, len(path))
	seg := 0 // where the current segment starts in norm
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch c {
		case '\\':
			return group, false
		case '%':
			if i+2 >= len(path) || unhex(path[i+1]) < 0 || unhex(path[i+2]) < 0 {
				return group, false
			}
			c = byte(unhex(path[i+1])<<4 | unhex(path[i+2]))
			if c == '/' || c == '\\' {
				return group, false
			}
			i += 2
		case '/':
			if dotSegment(norm[seg:]) {
				return group, false
			}
			if len(norm) > 0 && norm[len(norm)-1] == '/' {
				continue // an empty segment: routers merge it
			}
			norm = append(norm, '/')
			seg = len(norm)
			continue
		}
		norm = append(norm, c)
	}
	if dotSegment(norm[seg:]) {
		return group, false
	}
	return group, Route(norm) == group
}

func dotSegment(s []byte) bool {
	return (len(s) == 1 && s[0] == '.') || (len(s) == 2 && s[0] == '.' && s[1] == '.')
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
