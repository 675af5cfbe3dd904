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
	case hasPrefix(path, prefixAdmin):
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
