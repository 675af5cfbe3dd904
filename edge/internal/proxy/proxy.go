// Package proxy is the edge's request path: it routes each request to a
// worker (or to control), streams both bodies without buffering, passes
// WebSocket upgrades through and answers CORS preflights itself.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/valyala/fasthttp"
)

// ErrLoopsUnsupported is NewLoops' answer where the event loops cannot run
// (they need Linux); the fasthttp server then serves every connection.
var ErrLoopsUnsupported = errors.New("the edge's event loops need Linux")

// Config wires a Proxy.
type Config struct {
	Selector  pool.Selector
	Pool      *pool.Pool
	Transport *pool.Transport
	// Control is the client for CONTROL_UPSTREAM_URL; nil answers /admin with 503.
	Control *fasthttp.HostClient
	// ControlIdempotent, when set, carries bodyless GET and HEAD requests to
	// control (see pool.Transport.IdempotentClient).
	ControlIdempotent *fasthttp.HostClient
	ControlAddr       string
	AllowedOrigins    []string
	MaxBodyBytes      int64
	// TrustForwarded keeps a client's X-Forwarded-Proto and -Host.
	TrustForwarded bool
	Log            *slog.Logger
	Metrics        *Metrics
	// Health and Metrics serve the edge's own GET /health and /metrics.
	HealthHandler  fasthttp.RequestHandler
	MetricsHandler fasthttp.RequestHandler
}

// Proxy is the edge's fasthttp handler.
type Proxy struct {
	cfg  Config
	cors cors
	ids  requestIDs
	// maxTries bounds attempts on workers that refused the connection.
	maxTries int

	mu       sync.Mutex
	hijacked map[net.Conn]struct{}
	closing  bool
}

// New makes a proxy.
func New(cfg Config) *Proxy {
	return &Proxy{
		cfg:      cfg,
		cors:     newCORS(cfg.AllowedOrigins),
		ids:      newRequestIDs(),
		maxTries: 3,
		hijacked: map[net.Conn]struct{}{},
	}
}

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

// route names the route group of a path (see shared/metrics).
func route(path []byte) string {
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

// Handler serves one request.
func (p *Proxy) Handler(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	group := route(ctx.Path())
	rid := p.ids.forRequest(ctx)
	origin := ctx.Request.Header.Peek("Origin")

	switch {
	case len(origin) > 0 && ctx.IsOptions() && len(ctx.Request.Header.Peek("Access-Control-Request-Method")) > 0:
		p.cors.preflight(ctx, origin)
	case group == metrics.GroupHealth && p.cfg.HealthHandler != nil:
		p.cfg.HealthHandler(ctx)
	case group == metrics.GroupMetrics && p.cfg.MetricsHandler != nil:
		p.cfg.MetricsHandler(ctx)
	case group == metrics.GroupAdmin:
		p.forward(ctx, rid, nil, true)
	case group == metrics.GroupOther || group == metrics.GroupHealth || group == metrics.GroupMetrics:
		p.fail(ctx, rid, apierr.NotFound("no route for "+string(ctx.Path())))
	default:
		if isWebSocket(ctx) {
			p.websocket(ctx, rid, origin)
		} else {
			p.forward(ctx, rid, origin, false)
		}
	}
	if len(origin) > 0 && !ctx.Hijacked() {
		p.cors.actual(ctx, origin)
	}
	ctx.Response.Header.Set(headerRequestID, rid)
	if m := p.cfg.Metrics; m != nil {
		m.HTTP.Observe(group, ctx.Response.StatusCode(), time.Since(start))
	}
	if p.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
		p.cfg.Log.Debug("request", "component", "proxy", "request_id", rid, "method", string(ctx.Method()),
			"path", string(ctx.Path()), "status", ctx.Response.StatusCode(),
			"worker", string(ctx.Response.Header.Peek(headerWorker)), "duration_ms", float64(time.Since(start).Microseconds())/1000)
	}
}

// fail answers with the default JSON error shape. 5xx carry the request id.
func (p *Proxy) fail(ctx *fasthttp.RequestCtx, rid string, e *apierr.Error) {
	ctx.Response.Reset()
	ctx.SetStatusCode(e.Status)
	ctx.SetContentType("application/json")
	ctx.SetBody(e.JSON(rid))
	if e.Internal != nil || e.Status >= 500 {
		p.cfg.Log.Warn("proxy error", "component", "proxy", "request_id", rid, "status", e.Status,
			"method", string(ctx.Method()), "path", string(ctx.Path()), "cause", e.Cause())
	}
}

// CloseHijacked ends every WebSocket the edge is relaying, at shutdown.
func (p *Proxy) CloseHijacked() {
	p.mu.Lock()
	p.closing = true
	for c := range p.hijacked {
		_ = c.Close()
	}
	p.mu.Unlock()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.hijacked[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.hijacked, c)
	p.mu.Unlock()
}
