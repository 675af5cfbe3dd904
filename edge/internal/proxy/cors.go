package proxy

import (
	"strings"

	"github.com/valyala/fasthttp"
)

// allowedHeaders are the request headers supabase-js and its storage and TUS
// clients send (see spec/*.md); a preflight that lists its own headers gets
// them reflected, as Supabase does.
const allowedHeaders = "apikey, authorization, x-client-info, content-type, prefer, range, accept-profile, " +
	"content-profile, x-upsert, x-metadata, x-supabase-api-version, cache-control, content-encoding, " +
	"if-none-match, if-match, if-modified-since, x-retry-count, x-request-id, traceparent, tracestate, baggage, " +
	"tus-resumable, tus-version, tus-extension, tus-max-size, upload-length, upload-offset, upload-metadata, " +
	"upload-defer-length, upload-concat"

// exposedHeaders are the response headers browsers may read; without them
// counts, pagination and upload offsets are invisible to the client.
const exposedHeaders = "Content-Range, Content-Location, Location, Range-Unit, Preference-Applied, X-Total-Count, " +
	"Link, X-Supabase-Api-Version, Content-Length, Content-Type, Content-Disposition, ETag, Last-Modified, " +
	"X-Request-Id, X-Madbase-Worker, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Upload-Offset, " +
	"Upload-Length, Upload-Expires, Upload-Metadata"

const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

type cors struct {
	any     bool
	origins map[string]bool
}

func newCORS(origins []string) cors {
	c := cors{origins: map[string]bool{}}
	for _, o := range origins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		if o == "*" {
			c.any = true
		} else if o != "" {
			c.origins[strings.ToLower(o)] = true
		}
	}
	return c
}

func (c cors) allowed(origin []byte) bool {
	return c.any || c.origins[strings.ToLower(string(origin))]
}

// originHeaders calls set for the headers that allow origin; add says the
// header joins the ones already there instead of replacing them. Both
// engines write them through it.
func (c cors) originHeaders(origin []byte, set func(name string, value []byte, add bool)) {
	if c.any {
		set("Access-Control-Allow-Origin", []byte("*"), false)
		return
	}
	set("Access-Control-Allow-Origin", origin, false)
	set("Access-Control-Allow-Credentials", []byte("true"), false)
	set("Vary", []byte("Origin"), true)
}

// actualHeaders calls set for the headers of a normal response to an
// allowed origin.
func (c cors) actualHeaders(origin []byte, set func(name string, value []byte, add bool)) {
	c.originHeaders(origin, set)
	set("Access-Control-Expose-Headers", []byte(exposedHeaders), false)
}

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
func (c cors) preflight(ctx *fasthttp.RequestCtx, origin []byte) {
	if !c.allowed(origin) {
		ctx.SetStatusCode(fasthttp.StatusForbidden)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":"origin not allowed","code":403}`)
		return
	}
	h := &ctx.Response.Header
	c.originHeaders(origin, setter(h))
	h.Set("Access-Control-Allow-Methods", allowedMethods)
	if req := ctx.Request.Header.Peek("Access-Control-Request-Headers"); len(req) > 0 {
		h.SetBytesV("Access-Control-Allow-Headers", req)
	} else {
		h.Set("Access-Control-Allow-Headers", allowedHeaders)
	}
	h.Set("Access-Control-Max-Age", "86400")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// actual adds CORS headers to a normal response for an allowed origin.
func (c cors) actual(ctx *fasthttp.RequestCtx, origin []byte) {
	if !c.allowed(origin) {
		return
	}
	c.actualHeaders(origin, setter(&ctx.Response.Header))
}
