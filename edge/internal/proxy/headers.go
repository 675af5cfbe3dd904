package proxy

import (
	"bytes"
	"iter"
	"net/netip"
	"strconv"

	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/valyala/fasthttp"
)

// hopHeader is what stripHop needs of a request or response header.
type hopHeader interface {
	All() iter.Seq2[[]byte, []byte]
	DelBytes(key []byte)
	ResetConnectionClose()
}

// stripRequestHop removes the headers the policy never forwards in a
// request, including any header the client's Connection header names,
// whatever their case.
func stripRequestHop(h *fasthttp.RequestHeader) { stripHop(h, fw.Known.Request) }

// stripResponseHop does the same for a worker's answer. Transfer-Encoding
// is framing there: fasthttp sets it from how it writes the body.
func stripResponseHop(h *fasthttp.ResponseHeader) { stripHop(h, fw.Known.Response) }

// stripHop finds the hop-by-hop headers in one pass over the header and
// deletes only those, by their exact spelling; most messages have none.
func stripHop[H hopHeader](h H, action func(fw.Known) fw.Action) {
	var stack [256]byte
	names := stack[:0] // names to delete, each followed by a 0 byte
	var conn []byte
	for k, v := range h.All() {
		if known := fw.Lookup(k); known != fw.Unknown && action(known) == fw.Hop {
			names = append(append(names, k...), 0)
			if known == fw.Connection {
				conn = append(append(conn, v...), ',')
			}
		}
	}
	if len(conn) > 0 {
		if _, _, other := fw.ConnectionOptions(conn); other {
			for k := range h.All() {
				if fw.Named(conn, k) {
					names = append(append(names, k...), 0)
				}
			}
		}
	}
	for len(names) > 0 {
		i := bytes.IndexByte(names, 0)
		h.DelBytes(names[:i])
		names = names[i+1:]
	}
	h.ResetConnectionClose()
}

// setForwarded sets X-Forwarded-For, -Proto and -Host and Forwarded as the
// policy says.
func setForwarded(ctx *fasthttp.RequestCtx, h *fasthttp.RequestHeader, pol *fw.Policy) {
	if f := pol.Forwarded(h.Peek(fw.HeaderForwarded)); f == nil {
		h.Del(fw.HeaderForwarded)
	}
	var stack, ip [128]byte
	h.SetBytesV(fw.HeaderForwardedFor, fw.AppendForwardedFor(stack[:0], h.Peek(fw.HeaderForwardedFor), appendRemoteIP(ip[:0], ctx)))
	h.SetBytesV(fw.HeaderForwardedProto, pol.ForwardedProto(h.Peek(fw.HeaderForwardedProto), ctx.IsTLS()))
	h.SetBytesV(fw.HeaderForwardedHost, pol.ForwardedHost(h.Peek(fw.HeaderForwardedHost), ctx.Host()))
}

// requestID keeps a sane client-sent X-Request-Id or makes one.
func requestID(ctx *fasthttp.RequestCtx, ids *fw.RequestIDs) string {
	if v := ctx.Request.Header.Peek(fw.HeaderRequestID); fw.ValidRequestID(v) {
		return string(v)
	}
	return string(ids.Append(nil))
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
