package forwarding

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
)

// Policy is the per-edge part of the policy, made once at start-up and
// shared by both engines.
type Policy struct {
	// TrustForwarded keeps a client's X-Forwarded-Proto, -Host and
	// Forwarded headers (EDGE_TRUST_FORWARDED: a balancer the operator runs
	// sits in front). Otherwise anyone could make the workers build links
	// to a host of their choosing.
	TrustForwarded bool
	// CORS is the edge's ALLOWED_ORIGINS: the default project's, and any
	// project's that sets none (see CORSFor).
	CORS CORS
	IDs  RequestIDs
	// domain is "." + PROJECT_DOMAIN, "" when unset.
	domain string
	// projects is the CORS of the created projects that set
	// ALLOWED_ORIGINS; nil when none does.
	projects atomic.Pointer[projectCORS]
}

// NewPolicy makes the policy for these settings; projectDomain is
// PROJECT_DOMAIN.
func NewPolicy(trustForwarded bool, allowedOrigins []string, projectDomain string) *Policy {
	p := &Policy{TrustForwarded: trustForwarded, CORS: NewCORS(allowedOrigins), domain: domainSuffix(projectDomain)}
	var b [6]byte
	_, _ = rand.Read(b[:])
	p.IDs.prefix = hex.EncodeToString(b[:]) + "-"
	return p
}

var (
	protoHTTP  = []byte("http")
	protoHTTPS = []byte("https")
)

// AppendForwardedFor appends the X-Forwarded-For value a worker gets: the
// client's list, if it sent one, then the address the connection came from.
func AppendForwardedFor(b, sent, remote []byte) []byte {
	if len(sent) > 0 {
		b = append(append(b, sent...), ", "...)
	}
	return append(b, remote...)
}

// ForwardedProto is the X-Forwarded-Proto value a worker gets.
func (p *Policy) ForwardedProto(sent []byte, tls bool) []byte {
	switch {
	case p.TrustForwarded && len(sent) > 0:
		return sent
	case tls:
		return protoHTTPS
	}
	return protoHTTP
}

// ForwardedHost is the X-Forwarded-Host value a worker gets; host is the
// request's Host.
func (p *Policy) ForwardedHost(sent, host []byte) []byte {
	if p.TrustForwarded && len(sent) > 0 {
		return sent
	}
	return host
}

// Forwarded is the RFC 7239 Forwarded value a worker gets: the client's,
// when trusted, else none.
func (p *Policy) Forwarded(sent []byte) []byte {
	if p.TrustForwarded {
		return sent
	}
	return nil
}

// RequestIDs makes request ids: a random per-process prefix and a counter,
// unique without a random read per request.
type RequestIDs struct {
	prefix string
	n      atomic.Uint64
	locals atomic.Uint64 // generators Local made
}

// Append appends a new request id to b.
func (r *RequestIDs) Append(b []byte) []byte {
	return strconv.AppendUint(append(b, r.prefix...), r.n.Add(1), 36)
}

// LocalRequestIDs makes request ids for one thread (an event loop), from a
// counter no other thread writes: threads on different CPUs sharing one
// counter move its cache line between them at every request. Not safe for
// concurrent use.
type LocalRequestIDs struct {
	prefix []byte
	n      uint64
}

// Local returns a generator of its own. Its ids are the shared prefix, the
// generator's number, a dash and its counter: the second dash sets them
// apart from Append's, the number from every other generator's.
func (r *RequestIDs) Local() *LocalRequestIDs {
	p := strconv.AppendUint([]byte(r.prefix), r.locals.Add(1), 36)
	return &LocalRequestIDs{prefix: append(p, '-')}
}

// Append appends a new request id to b.
func (l *LocalRequestIDs) Append(b []byte) []byte {
	l.n++
	return strconv.AppendUint(append(b, l.prefix...), l.n, 36)
}

// ValidRequestID tells whether a client's X-Request-Id is kept: printable
// ASCII without blanks, at most 200 bytes.
func ValidRequestID(v []byte) bool {
	if len(v) == 0 || len(v) > 200 {
		return false
	}
	for _, c := range v {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// AllowedHeaders are the request headers supabase-js and its storage and TUS
// clients send (docs/api/README.md); a preflight that lists its own headers gets
// them reflected, as Supabase does.
const AllowedHeaders = "apikey, authorization, x-client-info, content-type, prefer, range, accept-profile, " +
	"content-profile, x-upsert, x-metadata, x-supabase-api-version, cache-control, content-encoding, " +
	"if-none-match, if-match, if-modified-since, x-retry-count, x-request-id, traceparent, tracestate, baggage, " +
	"tus-resumable, tus-version, tus-extension, tus-max-size, upload-length, upload-offset, upload-metadata, " +
	"upload-defer-length, upload-concat"

// ExposedHeaders are the response headers browsers may read; without them
// counts, pagination and upload offsets are invisible to the client.
const ExposedHeaders = "Content-Range, Content-Location, Location, Range-Unit, Preference-Applied, X-Total-Count, " +
	"Link, X-Supabase-Api-Version, Content-Length, Content-Type, Content-Disposition, ETag, Last-Modified, " +
	"X-Request-Id, X-Madbase-Worker, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Upload-Offset, " +
	"Upload-Length, Upload-Expires, Upload-Metadata"

// AllowedMethods is a preflight's Access-Control-Allow-Methods.
const AllowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// CORS holds ALLOWED_ORIGINS.
type CORS struct {
	// Any says every origin is allowed (ALLOWED_ORIGINS=*).
	Any     bool
	origins map[string]bool
}

// NewCORS reads ALLOWED_ORIGINS.
func NewCORS(origins []string) CORS {
	c := CORS{origins: map[string]bool{}}
	for _, o := range origins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		if o == "*" {
			c.Any = true
		} else if o != "" {
			c.origins[strings.ToLower(o)] = true
		}
	}
	return c
}

// maxOrigin is the longest origin Allowed lowers without allocating.
const maxOrigin = 256

// Allowed reports whether an answer to origin carries CORS headers.
func (c *CORS) Allowed(origin []byte) bool {
	if c.Any {
		return true
	}
	if len(origin) > maxOrigin {
		return c.origins[strings.ToLower(string(origin))]
	}
	var buf [maxOrigin]byte
	lower := buf[:len(origin)]
	for i, b := range origin {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		lower[i] = b
	}
	return c.origins[string(lower)]
}

// OriginHeaders calls set for the headers that allow origin; add says the
// header joins the ones already there instead of replacing them.
func (c *CORS) OriginHeaders(origin []byte, set func(name string, value []byte, add bool)) {
	if c.Any {
		set("Access-Control-Allow-Origin", []byte("*"), false)
		return
	}
	set("Access-Control-Allow-Origin", origin, false)
	set("Access-Control-Allow-Credentials", []byte("true"), false)
	set("Vary", []byte("Origin"), true)
}

// ActualHeaders calls set for the headers of a normal response to an
// allowed origin.
func (c *CORS) ActualHeaders(origin []byte, set func(name string, value []byte, add bool)) {
	c.OriginHeaders(origin, set)
	set("Access-Control-Expose-Headers", []byte(ExposedHeaders), false)
}

// HeaderTimeoutMessage is the error both engines answer (408) a client that
// took longer than EDGE_HEADER_TIMEOUT to send a request's head.
const HeaderTimeoutMessage = "the request head took too long to arrive"
