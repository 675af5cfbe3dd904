// Package httpserver builds the fiber apps of the worker and control tiers
// with the middleware every MadBase HTTP API shares: request ids, panic
// recovery, metrics, a debug access log and one error renderer.
package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HeaderRequestID carries the request id through edge, worker and logs.
const HeaderRequestID = "X-Request-Id"

// Options configure New.
type Options struct {
	Log     *slog.Logger
	Metrics *metrics.HTTP // nil: not measured
	Render  apierr.Renderer
	// BodyLimit caps buffered bodies; with StreamBody set, handlers read the
	// body as a stream and enforce their own limits.
	BodyLimit  int
	StreamBody bool
}

// New returns a fiber app with the shared middleware installed.
func New(opts Options) *fiber.App {
	if opts.BodyLimit == 0 {
		opts.BodyLimit = 8 << 20
	}
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ErrorHandler:          apierr.FiberHandler(opts.Log, opts.Render),
		BodyLimit:             opts.BodyLimit,
		StreamRequestBody:     opts.StreamBody,
		// Multipart bodies are the handlers' to read (storage streams them);
		// fasthttp would otherwise parse and buffer them before any handler.
		DisablePreParseMultipartForm: true,
		ReadBufferSize:               32 << 10,
		WriteBufferSize:              32 << 10,
		IdleTimeout:                  120 * time.Second,
		// Streaming bodies must not be cut by whole-request timeouts.
		ReadTimeout:  0,
		WriteTimeout: 0,
	})
	// A hijacked connection (a WebSocket) is its handler's to close: the
	// handler may return and keep it (Detach), without the server's buffers.
	app.Server().KeepHijackedConns = true
	app.Use(middleware(opts))
	return app
}

// middleware sets the request id, recovers panics into 500s, measures and
// logs every request at debug level.
func middleware(opts Options) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		start := time.Now()
		rid := strings.Clone(c.Get(HeaderRequestID))
		if rid == "" || len(rid) > 200 {
			rid = NewRequestID()
		}
		c.Locals(apierr.RequestIDLocal, rid)
		c.Set(HeaderRequestID, rid)
		if opts.Metrics != nil {
			opts.Metrics.InFlight.Inc()
			defer opts.Metrics.InFlight.Dec()
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = apierr.Internal(fmt.Errorf("panic: %v", r))
				}
			}()
			err = c.Next()
		}()
		if err != nil {
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				opts.Log.Error("error handler failed", "request_id", rid, "error", herr.Error())
			}
			err = nil
		}
		status := c.Response().StatusCode()
		path := c.Path()
		if opts.Metrics != nil {
			opts.Metrics.Observe(metrics.RouteGroup(path), status, time.Since(start))
		}
		if opts.Log.Enabled(c.UserContext(), slog.LevelDebug) {
			opts.Log.Debug("request", "request_id", rid, "method", c.Method(), "path", path,
				"status", status, "duration_ms", float64(time.Since(start).Microseconds())/1000)
		}
		return nil
	}
}

// RequestID returns the id the middleware gave this request.
func RequestID(c *fiber.Ctx) string {
	rid, _ := c.Locals(apierr.RequestIDLocal).(string)
	return rid
}

// NewRequestID makes a random request id.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// MetricsHandler serves the Prometheus exposition of g.
func MetricsHandler(g prometheus.Gatherer) fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
}

// Serve runs app on ln until ctx is done, then shuts down, letting in-flight
// requests finish for up to grace.
func Serve(ctx context.Context, app *fiber.App, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownErr := app.ShutdownWithTimeout(grace)
	// When ctx ended before fasthttp took the listener, Shutdown found no
	// server to stop and the listener would be served forever: close it.
	_ = ln.Close()
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	if shutdownErr != nil && !errors.Is(shutdownErr, context.DeadlineExceeded) {
		return shutdownErr
	}
	return nil
}
