package forwarding

// MaxAttempts bounds the workers one request is sent to.
const MaxAttempts = 3

// Replayable reports whether a request with this method may be sent to a
// second worker when the first one's connection broke before any byte of
// its answer came (a worker killed mid-request): its method is idempotent
// (RFC 9110 section 9.2.2), so a worker that did act on it before dying
// and the second one leave the same state. The caller adds the other
// condition: the request has no body, or the edge still holds all of it; a
// streamed body is never sent twice. POST and PATCH are never replayed.
func Replayable(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE":
		return true
	}
	return false
}
