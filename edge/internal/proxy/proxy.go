// Package proxy is the edge's goroutine engine: a fasthttp handler that
// routes each request to a worker (or to control), streams both bodies
// without buffering, passes WebSocket upgrades through and answers CORS
// preflights itself. It serves the connections the event loops (package
// eventloop) hand on, and every connection when they are off. Both engines
// apply the policy of package forwarding.
package proxy

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/madbase/madbase/edge/internal/connlimit"
	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/valyala/fasthttp"
)

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
	// ProjectDomain is PROJECT_DOMAIN: a Host <ref>.<ProjectDomain> names
	// the project whose ALLOWED_ORIGINS apply (Policy.SetProjectOrigins).
	ProjectDomain string
	MaxBodyBytes  int64
	// TrustForwarded keeps a client's X-Forwarded-Proto and -Host.
	TrustForwarded bool
	// HeaderTimeout bounds the time a client takes to send a request's
	// head (0: no bound); the fasthttp server gets it as its ReadTimeout,
	// lifted by HeaderReceived once the head is in.
	HeaderTimeout time.Duration
	// MaxConnsPerIP bounds the connections open from one client address
	// (0: no bound), across both engines.
	MaxConnsPerIP int
	// RequestLog logs a line per request at info level (EDGE_REQUEST_LOG);
	// otherwise the line is written at debug level.
	RequestLog bool
	Log        *slog.Logger
	Metrics    *Metrics
	// Health and Metrics serve the edge's own GET /health and /metrics.
	HealthHandler  fasthttp.RequestHandler
	MetricsHandler fasthttp.RequestHandler
}

// Proxy is the edge's fasthttp handler.
type Proxy struct {
	cfg   Config
	pol   *fw.Policy
	limit *connlimit.PerAddr
	// maxTries bounds attempts on workers that refused the connection.
	maxTries int

	mu       sync.Mutex
	hijacked map[net.Conn]struct{}
	closing  bool

	// tunnel, when set (the event loops run), takes upgraded connections
	// over; see SetTunnel.
	tunnel func(client, worker net.Conn, early, late []byte) bool
}

// SetTunnel makes f relay the WebSockets the proxy upgrades from now on
// (client and worker connections, with the bytes for each side already
// read); f reports false to leave them to the proxy's own relay. Set it
// before serving.
func (p *Proxy) SetTunnel(f func(client, worker net.Conn, early, late []byte) bool) { p.tunnel = f }

// New makes a proxy.
func New(cfg Config) *Proxy {
	return &Proxy{
		cfg:      cfg,
		pol:      fw.NewPolicy(cfg.TrustForwarded, cfg.AllowedOrigins, cfg.ProjectDomain),
		limit:    connlimit.New(cfg.MaxConnsPerIP),
		maxTries: 3,
		hijacked: map[net.Conn]struct{}{},
	}
}

// Handler serves one request.
func (p *Proxy) Handler(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	// The route group is decided on the path as the client sent it, not on
	// fasthttp's decoded and cleaned view of it: that is what the worker or
	// control reads.
	group, pathOK := fw.CheckPath(ctx.URI().PathOriginal())
	rid := requestID(ctx, &p.pol.IDs)
	origin := ctx.Request.Header.Peek("Origin")

	switch {
	case !pathOK:
		p.fail(ctx, rid, apierr.BadRequest("the request path has an encoded slash, a backslash, a dot segment or a bad escape"))
	case len(origin) > 0 && ctx.IsOptions() && len(ctx.Request.Header.Peek("Access-Control-Request-Method")) > 0:
		preflight(p.corsOf(ctx), ctx, origin)
	case group == metrics.GroupHealth && p.cfg.HealthHandler != nil:
		p.cfg.HealthHandler(ctx)
	case group == metrics.GroupMetrics && p.cfg.MetricsHandler != nil:
		p.cfg.MetricsHandler(ctx)
	case group == metrics.GroupAdmin:
		p.forward(ctx, rid, nil, true)
	case group == metrics.GroupOther || group == metrics.GroupHealth || group == metrics.GroupMetrics:
		p.fail(ctx, rid, apierr.NotFound(NoRouteMessage(ctx.URI().PathOriginal())))
	default:
		if isWebSocket(ctx) {
			p.websocket(ctx, rid, origin)
		} else {
			p.forward(ctx, rid, origin, false)
		}
	}
	if len(origin) > 0 && !ctx.Hijacked() {
		actualCORS(p.corsOf(ctx), ctx, origin)
	}
	ctx.Response.Header.Set(fw.HeaderRequestID, rid)
	if m := p.cfg.Metrics; m != nil {
		m.HTTP.Observe(group, ctx.Response.StatusCode(), time.Since(start))
	}
	level := p.RequestLogLevel()
	if group == metrics.GroupHealth || group == metrics.GroupMetrics {
		level = slog.LevelDebug // probes and scrapes would drown the requests
	}
	if p.cfg.Log.Enabled(context.Background(), level) {
		LogRequest(p.cfg.Log, level, rid, ctx.Method(), ctx.URI().PathOriginal(), ctx.Response.StatusCode(),
			ctx.Response.Header.Peek(fw.HeaderWorker), time.Since(start))
	}
}

// corsOf is the CORS of the request's project (fw.Policy.CORSFor): its
// Host as the worker gets it, and its apikey header.
func (p *Proxy) corsOf(ctx *fasthttp.RequestCtx) *fw.CORS {
	host := p.pol.ForwardedHost(ctx.Request.Header.Peek(fw.HeaderForwardedHost), ctx.Host())
	return p.pol.CORSFor(host, ctx.Request.Header.Peek("apikey"))
}

// RequestLogLevel is the level of the line logged per request: info with
// EDGE_REQUEST_LOG, else debug.
func (p *Proxy) RequestLogLevel() slog.Level {
	if p.cfg.RequestLog {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// LogRequest writes the line both engines log per request, once it is
// answered: the path without its query string (which may carry an apikey
// or a token) and no header.
func LogRequest(log *slog.Logger, level slog.Level, rid string, method, path []byte, status int, worker []byte, d time.Duration) {
	log.Log(context.Background(), level, "request", "component", "proxy", "method", string(method),
		"path", string(path), "status", status, "duration_ms", float64(d.Microseconds())/1000,
		"worker", string(worker), "request_id", rid)
}

// NoRouteMessage is the message of the edge's 404 for a path it routes
// nowhere: the path as the client sent it, without its query string.
// Control's own 404 says the same, so a client reads one shape and one
// wording whichever tier answered.
func NoRouteMessage(path []byte) string {
	return "no route for " + string(path)
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

// Config is the proxy's configuration, which the event loops read too.
func (p *Proxy) Config() *Config { return &p.cfg }

// Policy is the forwarding policy both engines apply.
func (p *Proxy) Policy() *fw.Policy { return p.pol }

// ConnLimit is the per-address connection limit both engines count in
// (nil: none).
func (p *Proxy) ConnLimit() *connlimit.PerAddr { return p.limit }

// Listener wraps ln, which the fasthttp server serves when no event loops
// run, in the per-address connection limit.
func (p *Proxy) Listener(ln net.Listener) net.Listener { return p.limit.Listener(ln) }

// noBodyDeadline stands for no read deadline: fasthttp can only move one.
const noBodyDeadline = 100 * 365 * 24 * time.Hour

// HeaderReceived is the fasthttp server's hook once a request's head is in:
// the header timeout (the server's ReadTimeout) is over, and a body may
// take as long as it needs, like a response.
func (p *Proxy) HeaderReceived(*fasthttp.RequestHeader) fasthttp.RequestConfig {
	return fasthttp.RequestConfig{ReadTimeout: noBodyDeadline}
}

// CountError counts a failed attempt to reach a worker or control, by kind.
func (p *Proxy) CountError(kind string) {
	if p.cfg.Metrics != nil {
		p.cfg.Metrics.upstreamError(kind)
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
