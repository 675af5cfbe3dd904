package proxy

import (
	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/valyala/fasthttp"
)

func setter(h *fasthttp.ResponseHeader) func(string, []byte, bool) {
	return func(name string, value []byte, add bool) {
		if add {
			h.AddBytesV(name, value)
		} else {
			h.SetBytesV(name, value)
		}
	}
}

// preflight answers an OPTIONS preflight without bothering a worker.
func preflight(c *fw.CORS, ctx *fasthttp.RequestCtx, origin []byte) {
	if !c.Allowed(origin) {
		ctx.SetStatusCode(fasthttp.StatusForbidden)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":"origin not allowed","code":403}`)
		return
	}
	h := &ctx.Response.Header
	c.OriginHeaders(origin, setter(h))
	h.Set("Access-Control-Allow-Methods", fw.AllowedMethods)
	if req := ctx.Request.Header.Peek("Access-Control-Request-Headers"); len(req) > 0 {
		h.SetBytesV("Access-Control-Allow-Headers", req)
	} else {
		h.Set("Access-Control-Allow-Headers", fw.AllowedHeaders)
	}
	h.Set("Access-Control-Max-Age", "86400")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// actualCORS adds CORS headers to a normal response for an allowed origin.
func actualCORS(c *fw.CORS, ctx *fasthttp.RequestCtx, origin []byte) {
	if !c.Allowed(origin) {
		return
	}
	c.ActualHeaders(origin, setter(&ctx.Response.Header))
}
