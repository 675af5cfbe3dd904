package proxy

import (
	"crypto/rand"
	"encoding/hex"
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
)

// hopHeaders are meaningful for one connection only and never forwarded
// (RFC 9110 section 7.6.1, as in httputil.ReverseProxy). Expect is answered
// by the edge itself (fasthttp sends 100 Continue), so it is dropped too.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Expect",
}

// stripRequestHop removes hop-by-hop headers, including any header the
// client's Connection header names.
func stripRequestHop(h *fasthttp.RequestHeader) {
	if conn := h.Peek("Connection"); len(conn) > 0 {
		forEachToken(conn, func(tok []byte) { h.DelBytes(tok) })
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	h.ResetConnectionClose()
}

func stripResponseHop(h *fasthttp.ResponseHeader) {
	if conn := h.Peek("Connection"); len(conn) > 0 {
		forEachToken(conn, func(tok []byte) { h.DelBytes(tok) })
	}
	for _, k := range hopHeaders {
		if k != "Transfer-Encoding" {
			h.Del(k)
		}
	}
	h.ResetConnectionClose()
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
// X-Forwarded-Proto and -Host unless a balancer in front already did.
func setForwarded(ctx *fasthttp.RequestCtx, h *fasthttp.RequestHeader) {
	ip := ctx.RemoteIP().String()
	if prior := h.Peek(headerForwardedFor); len(prior) > 0 {
		h.Set(headerForwardedFor, string(prior)+", "+ip)
	} else {
		h.Set(headerForwardedFor, ip)
	}
	if len(h.Peek(headerForwardedProto)) == 0 {
		if ctx.IsTLS() {
			h.Set(headerForwardedProto, "https")
		} else {
			h.Set(headerForwardedProto, "http")
		}
	}
	if len(h.Peek(headerForwardedHost)) == 0 {
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
	return r.prefix + strconv.FormatUint(r.n.Add(1), 36)
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
