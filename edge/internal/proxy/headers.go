package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"iter"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

const (
	headerRequestID      = "X-Request-Id"
	headerWorker         = "X-Madbase-Worker"
	headerForwardedFor   = "X-Forwarded-For"
	headerForwardedProto = "X-Forwarded-Proto"
	headerForwardedHost  = "X-Forwarded-Host"
	headerForwarded      = "Forwarded"
)

// hopHeaders are meaningful for one connection only and never forwarded
// (RFC 9110 section 7.6.1, as in httputil.ReverseProxy). Expect is answered
// by the edge itself (fasthttp sends 100 Continue), so it is dropped too.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Expect",
}

// hopHeader is what stripHop needs of a request or response header.
type hopHeader interface {
	All() iter.Seq2[[]byte, []byte]
	DelBytes(key []byte)
	ResetConnectionClose()
}

// stripRequestHop removes hop-by-hop headers, including any header the
// client's Connection header names, whatever their case.
func stripRequestHop(h *fasthttp.RequestHeader) { stripHop(h, true) }

// stripResponseHop does the same for a worker's answer, except for
// Transfer-Encoding, which fasthttp sets from how it writes the body.
func stripResponseHop(h *fasthttp.ResponseHeader) { stripHop(h, false) }

// stripHop finds the hop-by-hop headers in one pass over the header and
// deletes only those, by their exact spelling; most messages have none.
// te says whether Transfer-Encoding goes too.
func stripHop[H hopHeader](h H, te bool) {
	var stack [256]byte
	names := stack[:0] // names to delete, each followed by a 0 byte
	var conn []byte
	for k, v := range h.All() {
		names, conn = collectHop(names, conn, k, v, te)
	}
	if len(conn) > 0 && hasOtherTokens(conn) {
		for k := range h.All() {
			names = collectNamed(names, conn, k)
		}
	}
	for len(names) > 0 {
		i := bytes.IndexByte(names, 0)
		h.DelBytes(names[:i])
		names = names[i+1:]
	}
	h.ResetConnectionClose()
}

// collectHop appends k to names if it is a hop-by-hop header, and the
// value of a Connection header to conn.
func collectHop(names, conn, k, v []byte, te bool) ([]byte, []byte) {
	if i := hopIndex(k); i >= 0 && (te || i != hopTransferEncoding) {
		names = append(append(names, k...), 0)
		if i == hopConnection {
			conn = append(append(conn, v...), ',')
		}
	}
	return names, conn
}

// collectNamed appends k to names if the Connection value conn names it.
func collectNamed(names, conn, k []byte) []byte {
	found := false
	forEachToken(conn, func(tok []byte) { found = found || bytes.EqualFold(tok, k) })
	if found {
		names = append(append(names, k...), 0)
	}
	return names
}

// hasOtherTokens reports whether a Connection value names more than the
// usual close, keep-alive and upgrade options.
func hasOtherTokens(v []byte) bool {
	other := false
	forEachToken(v, func(tok []byte) {
		if !bytes.EqualFold(tok, []byte("close")) && !bytes.EqualFold(tok, []byte("keep-alive")) && !bytes.EqualFold(tok, []byte("upgrade")) {
			other = true
		}
	})
	return other
}

const (
	hopConnection       = 0
	hopTransferEncoding = 7
)

// hopIndex returns the index of k in hopHeaders, compared without case, or
// -1. Lengths tell most names apart before any byte is compared.
func hopIndex(k []byte) int {
	switch len(k) {
	case 2, 6, 7, 10, 16, 17, 18, 19:
	default:
		return -1
	}
	for i, name := range hopHeaders {
		if len(name) == len(k) && bytes.EqualFold(k, []byte(name)) {
			return i
		}
	}
	return -1
}

func forEachToken(v []byte, fn func([]byte)) {
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ',' {
			tok := trimSpace(v[start:i])
			if len(tok) > 0 {
				fn(tok)
			}
			start = i + 1
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// setForwarded appends the client address to X-Forwarded-For and sets
// X-Forwarded-Proto and -Host to what the edge saw. A client's own values for
// those two, and an RFC 7239 Forwarded header, are kept only when
// trustForwarded says a balancer the operator runs sits in front
// (EDGE_TRUST_FORWARDED): otherwise anyone could make the workers build
// links to a host of their choosing.
func setForwarded(ctx *fasthttp.RequestCtx, h *fasthttp.RequestHeader, trustForwarded bool) {
	if !trustForwarded {
		h.Del(headerForwarded)
	}
	var stack [128]byte
	v := stack[:0]
	if prior := h.Peek(headerForwardedFor); len(prior) > 0 {
		v = append(append(v, prior...), ", "...)
	}
	v = appendRemoteIP(v, ctx)
	h.SetBytesV(headerForwardedFor, v)
	if !trustForwarded || len(h.Peek(headerForwardedProto)) == 0 {
		if ctx.IsTLS() {
			h.Set(headerForwardedProto, "https")
		} else {
			h.Set(headerForwardedProto, "http")
		}
	}
	if !trustForwarded || len(h.Peek(headerForwardedHost)) == 0 {
		h.SetBytesV(headerForwardedHost, ctx.Host())
	}
}

// requestIDs makes request ids: a random per-process prefix and a counter,
// unique without a random read per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() requestIDs {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

// forRequest keeps a sane client-sent X-Request-Id or makes one.
func (r *requestIDs) forRequest(ctx *fasthttp.RequestCtx) string {
	if v := ctx.Request.Header.Peek(headerRequestID); validRequestID(v) {
		return string(v)
	}
	return string(r.append(nil))
}

// append appends a new request id to b.
func (r *requestIDs) append(b []byte) []byte {
	return strconv.AppendUint(append(b, r.prefix...), r.n.Add(1), 36)
}

func validRequestID(v []byte) bool {
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

// appendRemoteIP appends the client's address as net.IP.String writes it,
// without allocating.
func appendRemoteIP(b []byte, ctx *fasthttp.RequestCtx) []byte {
	ip := ctx.RemoteIP()
	if ip4 := ip.To4(); ip4 != nil {
		for i, x := range ip4 {
			if i > 0 {
				b = append(b, '.')
			}
			b = strconv.AppendUint(b, uint64(x), 10)
		}
		return b
	}
	if a, ok := netip.AddrFromSlice(ip); ok {
		return a.AppendTo(b)
	}
	return append(b, ip.String()...)
}
