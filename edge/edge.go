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
	"strconv"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/edge/internal/discovery"
	"github.com/madbase/madbase/edge/internal/eventloop"
	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/edge/internal/proxy"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/lifecycle"
	"github.com/madbase/madbase/shared/logging"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Options are what a caller (the madbase binary, a test, madbase dev) may
// provide instead of letting Run make them.
type Options struct {
	Log      *slog.Logger
	Shipper  *logging.Shipper
	LogOut   io.Writer
	Listener net.Listener
	Registry *prometheus.Registry
	Version  string
	// Ready is called with the edge's URL once it accepts connections.
	Ready func(url string)
	// Transport, when set, is used instead of a new one (tests count dials).
	Transport *pool.Transport
}

// Run serves the edge until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, cfg config.Edge, opts Options) error {
	if err := cfg.Validate(true); err != nil {
		return fmt.Errorf("edge configuration:\n%w", err)
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = lifecycle.InstanceID("edge")
	}
	log, shipper := opts.Log, opts.Shipper
	if log == nil {
		log, shipper = logging.New(logging.Options{Level: cfg.LogLevel, Format: cfg.LogFormat, Tier: "edge", Instance: cfg.InstanceID, Out: opts.LogOut})
	}
	log.Debug("edge configuration", append([]any{"component", "edge"}, config.LogAttrs(cfg)...)...)

	nc, err := bus.Connect(cfg.NATSURL, "edge "+cfg.InstanceID, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	if shipper != nil {
		shipper.Attach(nc)
	}

	reg := opts.Registry
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	tr := opts.Transport
	if tr == nil {
		tr = &pool.Transport{}
	}
	tr.ConnectTimeout, tr.ResponseTimeout = cfg.ConnectTimeout, cfg.ResponseTimeout
	workers := pool.New(tr, log)
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
	m := proxy.NewMetrics(reg, workers.Counts)
	metricsHandler := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	p := proxy.New(proxy.Config{
		Selector:          pool.NewRoundRobin(workers),
		Pool:              workers,
		Transport:         tr,
		Control:           control,
		ControlIdempotent: controlIdem,
		ControlAddr:       controlAddr,
		AllowedOrigins:    cfg.AllowedOrigins,
		MaxBodyBytes:      cfg.MaxBodyBytes,
		TrustForwarded:    cfg.TrustForwarded,
		HeaderTimeout:     cfg.HeaderTimeout,
		MaxConnsPerIP:     cfg.MaxConnsPerIP,
		Log:               log,
		Metrics:           m,
		HealthHandler:     healthHandler(workers, cfg.InstanceID, opts.Version),
		MetricsHandler:    metricsHandler,
	})
	srv := &fasthttp.Server{
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
		Logger:                       fasthttpLogger{log},
		// Requests fasthttp cannot parse (bad header lines, oversize headers,
		// bad chunking) get the JSON error shape too, not fasthttp's text.
		ErrorHandler: parseErrorHandler,
	}

	ln := opts.Listener
	if ln == nil {
		ln, err = net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
		if err != nil {
			return fmt.Errorf("edge listen: %w", err)
		}
	}
	edgeURL := "http://" + ln.Addr().String()
	log.Info("edge listening", "component", "edge", "url", edgeURL)
	if opts.Ready != nil {
		opts.Ready(edgeURL)
	}

	// The event loops take the listener and pass what they do not serve to
	// the fasthttp server; without them, it serves the listener itself.
	serveLn := p.Listener(ln)
	var loops *eventloop.Loops
	if n := EventLoops(cfg.EventLoops); n > 0 {
		loops, err = eventloop.New(p, ln, n, srv.IdleTimeout)
		switch {
		case errors.Is(err, eventloop.ErrUnsupported):
			log.Info("no event loops on this system; a goroutine per connection serves every request", "component", "edge")
			loops = nil
		case err != nil:
			return fmt.Errorf("edge event loops: %w", err)
		default:
			serveLn = loops.Handoff()
			spareProcessor(n)
		}
	}

	var g lifecycle.Group
	g.Add(func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(serveLn) }()
		loopsDone := make(chan struct{})
		if loops != nil {
			go func() { loops.Run(); close(loopsDone) }()
		} else {
			close(loopsDone)
		}
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		log.Info("edge shutting down", "component", "edge")
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
		defer cancel()
		if loops != nil {
			go loops.Shutdown(sctx)
		}
		_ = srv.ShutdownWithContext(sctx)
		<-loopsDone
		_ = ln.Close() // in case ctx ended before Serve took the listener
		p.CloseHijacked()
		workers.CloseIdle()
		if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
	g.Add(func(ctx context.Context) error { return discovery.Run(ctx, nc, workers, log) })
	g.Add(func(ctx context.Context) error { return workers.RunProber(ctx, time.Second, time.Second) })
	if shipper != nil {
		g.Add(shipper.Run)
	}
	err = g.Run(ctx)
	_ = nc.Drain()
	return err
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
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) <= loops {
		runtime.GOMAXPROCS(loops + 1)
	}
}

// EventLoops is how many event loops an EDGE_EVENT_LOOPS setting asks for:
// none for -1, and by default half the CPUs, at least one. Each busy loop
// keeps a CPU busy, and the kernel's work for its sockets (a write on
// loopback runs the receiver's TCP path, a network card's packets are taken
// in on some CPU) and the processes beside the edge need the rest: on two
// cores shared with a worker, one loop served 1.06–1.31× nginx's requests/s
// at 18.7–19.3 µs of CPU each, two loops 0.96–1.13× at 21.5–22.1 µs. An edge
// on a machine of its own serves the most with one loop per CPU.
func EventLoops(setting int) int {
	if setting == 0 {
		return max(1, runtime.GOMAXPROCS(0)/2)
	}
	return max(setting, 0)
}

func healthHandler(p *pool.Pool, id, version string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		known, healthy := p.Counts()
		b, _ := json.Marshal(map[string]any{"status": "ok", "id": id, "version": version,
			"workers_known": known, "workers_healthy": healthy})
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
