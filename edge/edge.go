// Package edge is the public entry of MadBase: a streaming reverse proxy that
// sends /auth, /rest, /storage, /realtime and /functions to the workers it
// finds over NATS (round-robin among the healthy ones) and /admin to control.
package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/madbase/madbase/edge/internal/discovery"
	"github.com/madbase/madbase/edge/internal/eventloop"
	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/madbase/madbase/edge/internal/heartbeat"
	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/edge/internal/projects"
	"github.com/madbase/madbase/edge/internal/proxy"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/lifecycle"
	"github.com/madbase/madbase/shared/scaffold"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Tier names the edge in logs, metrics and instance ids.
const Tier = "edge"

// Options are what a caller (the madbase binary, a test, madbase dev) may
// provide instead of letting Run make them; the first six are
// scaffold.Options'.
type Options struct {
	Log      *slog.Logger
	LogOut   io.Writer
	Listener net.Listener
	Registry *prometheus.Registry
	Version  string
	// Ready is called with the edge's URL once it accepts connections.
	Ready func(url string)
	// Transport, when set, is used instead of a new one (tests count dials).
	Transport *pool.Transport
}

func (o Options) scaffold() scaffold.Options {
	return scaffold.Options{Log: o.Log, LogOut: o.LogOut, Listener: o.Listener, Registry: o.Registry}
}

// edge is a running edge's parts.
type edge struct {
	cfg     config.Edge
	version string
	base    *scaffold.Base
	log     *slog.Logger
	workers *pool.Pool
	proxy   *proxy.Proxy
	srv     *fasthttp.Server
	// loops serve the listener when set, handing what they do not serve to
	// srv through serveLn.
	loops   *eventloop.Loops
	serveLn net.Listener
	// draining is set once shutdown starts; the heartbeat says it.
	draining atomic.Bool
}

// Run serves the edge until ctx is done, then shuts down gracefully: the
// HTTP server with its grace period, the hijacked connections, then the bus
// (discovery stops, NATS drains).
func Run(ctx context.Context, cfg config.Edge, opts Options) error {
	if err := cfg.Validate(true); err != nil {
		if opts.Listener != nil {
			_ = opts.Listener.Close()
		}
		return fmt.Errorf("edge configuration:\n%w", err)
	}
	base, err := scaffold.Open(scaffold.Config{Tier: Tier, Common: cfg.Common, Host: cfg.Host, Port: cfg.Port}, opts.scaffold())
	if err != nil {
		return err
	}
	defer base.Close()
	cfg.InstanceID = base.ID
	base.Log.Debug("edge configuration", append([]any{"component", Tier}, config.LogAttrs(cfg)...)...)

	e := build(cfg, base, opts)
	if err := e.startLoops(); err != nil {
		_ = base.Listener.Close()
		return err
	}
	e.log.Info("edge listening", "component", Tier, "url", base.URL)
	if opts.Ready != nil {
		opts.Ready(base.URL)
	}
	return e.run(ctx)
}

// build makes the pool, the proxy and the HTTP server.
func build(cfg config.Edge, base *scaffold.Base, opts Options) *edge {
	tr := opts.Transport
	if tr == nil {
		tr = &pool.Transport{}
	}
	tr.ConnectTimeout, tr.ResponseTimeout = cfg.ConnectTimeout, cfg.ResponseTimeout
	workers := pool.New(tr, base.Log)
	for _, u := range cfg.WorkerUpstreamURLs {
		workers.AddStatic(u)
	}
	var control, controlIdem *fasthttp.HostClient
	var controlAddr string
	if cfg.ControlUpstreamURL != "" {
		cu, _ := url.Parse(cfg.ControlUpstreamURL)
		controlAddr = cu.Host
		if cu.Port() == "" {
			controlAddr += ":80"
		}
		control, controlIdem = tr.HostClient(controlAddr), tr.IdempotentClient(controlAddr)
	}
	reg := base.Registry
	p := proxy.New(proxy.Config{
		Selector:          pool.NewRoundRobin(workers),
		Pool:              workers,
		Transport:         tr,
		Control:           control,
		ControlIdempotent: controlIdem,
		ControlAddr:       controlAddr,
		AllowedOrigins:    cfg.AllowedOrigins,
		ProjectDomain:     cfg.ProjectDomain,
		RequestLog:        cfg.RequestLog,
		MaxBodyBytes:      cfg.MaxBodyBytes,
		TrustForwarded:    cfg.TrustForwarded,
		HeaderTimeout:     cfg.HeaderTimeout,
		MaxConnsPerIP:     cfg.MaxConnsPerIP,
		Log:               base.Log,
		Metrics:           proxy.NewMetrics(reg, workers.Counts),
		HealthHandler:     healthHandler(workers, base.NATS, base.ID, opts.Version),
		MetricsHandler:    fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})),
	})
	return &edge{cfg: cfg, version: opts.Version, base: base, log: base.Log, workers: workers, proxy: p, srv: newServer(cfg, p, base.Log), serveLn: p.Listener(base.Listener)}
}

// newServer is the fasthttp server that serves what the event loops do not.
func newServer(cfg config.Edge, p *proxy.Proxy, log *slog.Logger) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               p.Handler,
		Name:                  "",
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		// Header names are normalized on the way in: hop-by-hop stripping and
		// X-Forwarded-For must match "connection" and "x-forwarded-for" as
		// Node's fetch sends them, not only their canonical spelling.
		DisablePreParseMultipartForm: true,
		StreamRequestBody:            true,
		ReadBufferSize:               32 << 10,
		WriteBufferSize:              32 << 10,
		IdleTimeout:                  120 * time.Second,
		ReadTimeout:                  cfg.HeaderTimeout, // lifted for the body by HeaderReceived
		HeaderReceived:               p.HeaderReceived,
		MaxRequestBodySize:           int(min(cfg.MaxBodyBytes, int64(^uint(0)>>1))),
		CloseOnShutdown:              true,
		// A hijacked connection (a WebSocket) is the relay's to close: the
		// server keeps neither it nor its buffers.
		KeepHijackedConns: true,
		Logger:            fasthttpLogger{log},
		// Requests fasthttp cannot parse (bad header lines, oversize headers,
		// bad chunking) get the JSON error shape too, not fasthttp's text.
		ErrorHandler: parseErrorHandler,
	}
}

// startLoops makes the event loops, which take the listener and pass what
// they do not serve to the fasthttp server; without them, it serves the
// listener itself.
func (e *edge) startLoops() error {
	size := EventLoops(e.cfg.EventLoops)
	if size.Loops == 0 {
		return nil
	}
	loops, err := eventloop.New(e.proxy, e.base.Listener, size, e.srv.IdleTimeout)
	switch {
	case errors.Is(err, eventloop.ErrUnsupported):
		e.log.Info("no event loops on this system; a goroutine per connection serves every request", "component", Tier)
		return nil
	case err != nil:
		return fmt.Errorf("edge event loops: %w", err)
	}
	e.loops, e.serveLn = loops, loops.Handoff()
	spareProcessor(size.Loops)
	if reg := e.base.Registry; reg != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "madbase_edge_event_loops_serving",
			Help: "Event loops serving requests now; by default they start and rest as the load asks (EDGE_EVENT_LOOPS)."},
			func() float64 { return float64(loops.Serving()) }))
	}
	return nil
}

// run serves until ctx is done or a part fails. Discovery and the prober
// follow the workers until the HTTP server has shut down, so that requests
// still in flight during the grace period see the pool as it is.
func (e *edge) run(ctx context.Context) error {
	busCtx, stopBus := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBus()
	var g lifecycle.Group
	g.Add(func(ctx context.Context) error {
		defer stopBus()
		return e.serve(ctx)
	})
	g.Add(func(context.Context) error { return discovery.Run(busCtx, e.base.NATS, e.workers, e.log) })
	g.Add(func(context.Context) error { return e.workers.RunProber(busCtx, time.Second, time.Second) })
	g.Add(func(context.Context) error {
		return heartbeat.New(heartbeat.Options{
			Conn: e.base.NATS, Log: e.log, ID: e.base.ID, URL: e.base.URL, Version: e.version,
			Connections: e.connections, Workers: e.workers.Counts, Draining: e.draining.Load,
		}).Run(busCtx)
	})
	g.Add(func(context.Context) error {
		return projects.New(e.base.NATS, e.log, e.cfg.DefaultProjectRef, e.proxy.Policy().SetProjectOrigins).Run(busCtx)
	})
	return g.Run(ctx)
}

// serve is the HTTP actor: it serves until ctx is done, then shuts the
// server and the loops down within the grace period and closes the
// hijacked (WebSocket) connections and the idle upstream ones.
func (e *edge) serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- e.srv.Serve(e.serveLn) }()
	loopsDone := make(chan struct{})
	if e.loops != nil {
		go func() { e.loops.Run(); close(loopsDone) }()
	} else {
		close(loopsDone)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	e.log.Info("edge shutting down", "component", Tier)
	e.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), e.cfg.ShutdownGrace)
	defer cancel()
	if e.loops != nil {
		go e.loops.Shutdown(sctx)
	}
	_ = e.srv.ShutdownWithContext(sctx)
	<-loopsDone
	_ = e.base.Listener.Close() // in case ctx ended before Serve took the listener
	e.proxy.CloseHijacked()
	e.workers.CloseIdle()
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// connections is how many client connections the edge holds: the loops'
// and the fasthttp server's (a handed-off connection counts once, there).
func (e *edge) connections() int64 {
	n := int64(e.srv.GetOpenConnectionsCount())
	if e.loops != nil {
		n += e.loops.Clients()
	}
	return n
}

// spareProcessor gives Go's scheduler one P more than the event loops hold.
// A loop keeps its thread and its P, also while it waits in epoll_wait; with
// no P idle, sysmon takes a waiting loop's P after 20 µs and wakes another
// thread to look for work there is none of: under load, a futex wake-up and a
// sleep for most requests (measured: 0.2 futex calls and 0.8 context switches
// per request with two loops on two Ps, 0.04 and 0.6 with a third P). The
// spare P runs the goroutines: NATS, probes, WebSockets. GOMAXPROCS set in
// the environment is left as it is.
func spareProcessor(loops int) {
	if !procsFixed() && runtime.GOMAXPROCS(0) <= loops {
		runtime.GOMAXPROCS(loops + 1)
	}
}

// procsFixed says GOMAXPROCS is set in the environment, which the edge
// keeps as it is.
func procsFixed() bool { return os.Getenv("GOMAXPROCS") != "" }

// EventLoops is the event loops an EDGE_EVENT_LOOPS setting asks for: none
// for -1, as many as it says, and by default one per CPU, of which as many
// serve as the load needs (eventloop's balance.go). Each busy loop keeps a
// CPU busy, and the kernel's work for its sockets (a write on loopback runs
// the receiver's TCP path, a network card's packets are taken in on some
// CPU) and the processes beside the edge need CPU too: on two cores shared
// with a worker and PostgreSQL (apibench), one loop costs the least per
// request and REST reads by key were about 3 % faster than with two. Beside
// lighter neighbours (edgebench: wrk and a small backend), one loop is the
// bottleneck and two served 1.23× nginx's requests/s against one loop's
// 1.12×. The default finds each case by itself. When GOMAXPROCS is set in
// the environment (the Helm chart sets it from the CPU request),
// spareProcessor cannot add the P the goroutines need beside the loops, so
// there is one loop fewer than CPUs.
func EventLoops(setting int) eventloop.Size {
	if setting == 0 {
		n := runtime.GOMAXPROCS(0)
		if procsFixed() {
			n--
		}
		return eventloop.Size{Loops: max(n, 1), Adaptive: true}
	}
	return eventloop.Size{Loops: max(setting, 0)}
}

// healthHandler answers the edge's /health: its workers and whether its NATS
// connection is up (the edge serves either way).
func healthHandler(p *pool.Pool, nc *nats.Conn, id, version string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		known, healthy := p.Counts()
		bus := "connected"
		if !nc.IsConnected() {
			bus = "disconnected"
		}
		b, _ := json.Marshal(map[string]any{"status": "ok", "id": id, "version": version,
			"workers_known": known, "workers_healthy": healthy, "nats": bus})
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
	}
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "component", "fasthttp")
}

// parseErrorHandler answers requests the server could not parse.
func parseErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	e := apierr.BadRequest("the request could not be parsed")
	var tooBig *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &tooBig):
		e = apierr.New(fasthttp.StatusRequestHeaderFieldsTooLarge, apierr.CodeBadRequest, "the request headers are too large")
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		e = apierr.TooLarge("request body is larger than the limit")
	case errors.Is(err, os.ErrDeadlineExceeded):
		e = apierr.New(fasthttp.StatusRequestTimeout, apierr.CodeBadRequest, fw.HeaderTimeoutMessage)
	}
	ctx.SetStatusCode(e.Status)
	ctx.SetContentType("application/json")
	ctx.SetBody(e.JSON(""))
}
