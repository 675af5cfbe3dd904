// Package forwarding is the edge's forwarding policy, read by both of its
// engines (the fasthttp handler in package proxy and the event loops in
// package eventloop): which headers are hop-by-hop, which ones the edge
// writes itself, how X-Forwarded-* and X-Request-Id are set, which CORS
// headers an answer carries, which route group a path belongs to and which
// paths are refused, and which requests may be sent to a second worker.
// Each engine applies it in its own way; neither keeps its own list.
package forwarding

import "bytes"

// Header names the edge writes itself.
const (
	HeaderRequestID      = "X-Request-Id"
	HeaderWorker         = "X-Madbase-Worker"
	HeaderForwardedFor   = "X-Forwarded-For"
	HeaderForwardedProto = "X-Forwarded-Proto"
	HeaderForwardedHost  = "X-Forwarded-Host"
	HeaderForwarded      = "Forwarded"
)

// Known is a header the policy has a rule for; Unknown is any other.
type Known uint8

// The headers of the table. Their order is the table's.
const (
	Unknown Known = iota
	Connection
	ProxyConnection
	KeepAlive
	TE
	Trailer
	TransferEncoding
	Upgrade
	ProxyAuthenticate
	ProxyAuthorization
	Expect
	Host
	ContentLength
	Origin
	XRequestID
	XForwardedFor
	XForwardedProto
	XForwardedHost
	Forwarded
	XMadbaseWorker
	ACRequestMethod
	ACAllowOrigin
	ACAllowCredentials
	ACExposeHeaders
	Apikey
	numKnown
)

// Action is what becomes of a header on its way through the edge.
type Action uint8

const (
	// Pass forwards the header as it came.
	Pass Action = iota
	// Hop marks a header meaningful for one connection only (RFC 9110
	// section 7.6.1, as in httputil.ReverseProxy): never forwarded. Expect
	// is one too: the edge answers 100-continue itself.
	Hop
	// Framing marks Content-Length and Transfer-Encoding, which frame the
	// body; each engine writes what matches how it sends the body on.
	Framing
	// Own marks a header whose value the edge decides (X-Request-Id,
	// X-Forwarded-*, X-Madbase-Worker): the sender's copy is not passed on
	// as it came.
	Own
	// CORSHeader marks the response headers the edge writes for an allowed
	// origin, replacing a worker's.
	CORSHeader
)

type rule struct {
	name              string // lower case
	request, response Action
}

// rules is the table: what happens to each header in a request (client to
// worker) and in a response (worker to client).
var rules = [numKnown]rule{
	Connection:         {"connection", Hop, Hop},
	ProxyConnection:    {"proxy-connection", Hop, Hop},
	KeepAlive:          {"keep-alive", Hop, Hop},
	TE:                 {"te", Hop, Hop},
	Trailer:            {"trailer", Hop, Hop},
	TransferEncoding:   {"transfer-encoding", Hop, Framing},
	Upgrade:            {"upgrade", Hop, Hop},
	ProxyAuthenticate:  {"proxy-authenticate", Hop, Hop},
	ProxyAuthorization: {"proxy-authorization", Hop, Hop},
	Expect:             {"expect", Hop, Hop},
	Host:               {"host", Pass, Pass},
	ContentLength:      {"content-length", Framing, Framing},
	Origin:             {"origin", Pass, Pass},
	XRequestID:         {"x-request-id", Own, Own},
	XForwardedFor:      {"x-forwarded-for", Own, Pass},
	XForwardedProto:    {"x-forwarded-proto", Own, Pass},
	XForwardedHost:     {"x-forwarded-host", Own, Pass},
	// A client's Forwarded header is kept only with EDGE_TRUST_FORWARDED.
	Forwarded:          {"forwarded", Own, Pass},
	XMadbaseWorker:     {"x-madbase-worker", Pass, Own},
	ACRequestMethod:    {"access-control-request-method", Pass, Pass},
	ACAllowOrigin:      {"access-control-allow-origin", Pass, CORSHeader},
	ACAllowCredentials: {"access-control-allow-credentials", Pass, CORSHeader},
	ACExposeHeaders:    {"access-control-expose-headers", Pass, CORSHeader},
	// A request's key names its project when its Host does not (the
	// project's CORS origins).
	Apikey: {"apikey", Pass, Pass},
}

// maxNameLen is the longest name in the table.
const maxNameLen = 32

// byLen lists the table's headers by the length of their names: most
// names are told apart by their length before a byte is compared.
var byLen = func() (t [maxNameLen + 1][]Known) {
	for k := Known(1); k < numKnown; k++ {
		n := len(rules[k].name)
		t[n] = append(t[n], k)
	}
	return t
}()

// Lookup finds name in the table, whatever its case. It allocates nothing
// and costs about one comparison: the event loops call it for every header
// line they read.
func Lookup(name []byte) Known {
	if len(name) > maxNameLen {
		return Unknown
	}
	for _, k := range byLen[len(name)] {
		if equalLower(name, rules[k].name) {
			return k
		}
	}
	return Unknown
}

// Name is k's name in lower case.
func (k Known) Name() string { return rules[k].name }

// Request is what becomes of header k in a request.
func (k Known) Request() Action { return rules[k].request }

// Response is what becomes of header k in a response.
func (k Known) Response() Action { return rules[k].response }

// Is reports whether name is lower, a lower-case name, whatever name's case.
func Is(name []byte, lower string) bool {
	return len(name) == len(lower) && equalLower(name, lower)
}

// equalLower compares an ASCII name with a lower-case one of the same length.
func equalLower(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// ConnectionOptions reads a Connection header's value: whether it asks to
// close, and whether it names more than close, keep-alive and upgrade (such
// a name is a header that must be dropped too).
func ConnectionOptions(v []byte) (closeConn, upgrade, other bool) {
	ForEachToken(v, func(tok []byte) {
		switch {
		case Is(tok, "close"):
			closeConn = true
		case Is(tok, "keep-alive"):
		case Is(tok, "upgrade"):
			upgrade = true
		default:
			other = true
		}
	})
	return closeConn, upgrade, other
}

// Named reports whether a Connection value names header k.
func Named(conn, k []byte) bool {
	found := false
	ForEachToken(conn, func(tok []byte) { found = found || bytes.EqualFold(tok, k) })
	return found
}

// ForEachToken calls fn for each non-empty element of a comma-separated
// list, blanks trimmed.
func ForEachToken(v []byte, fn func([]byte)) {
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ',' {
			tok := TrimSpace(v[start:i])
			if len(tok) > 0 {
				fn(tok)
			}
			start = i + 1
		}
	}
}

// TrimSpace trims spaces and tabs, as header values are.
func TrimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
