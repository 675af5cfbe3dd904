// Package scaffold opens what every tier stands on — its logger and log
// shipper, its NATS connection, its metrics registry and its listener — and
// closes them in the order of the house's graceful shutdown, so that edge,
// worker and control start and stop the same way.
//
// A tier's Run opens a Base, builds its own parts on it, runs them in a
// lifecycle.Group, and calls Close at the end: the tier first stops serving
// (mark draining, shut the HTTP server down, end the streams), then Close
// stops the log shipper and drains NATS, and the tier closes its database
// pool last.
package scaffold

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/lifecycle"
	"github.com/madbase/madbase/shared/logging"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// DrainTimeout bounds the NATS drain at shutdown.
const DrainTimeout = 5 * time.Second

// Options are what a caller of a tier's Run may provide instead of letting
// the tier make them. Every field is optional; each tier's Options carry the
// same fields and pass them on.
type Options struct {
	// Log is used as is when set, and its records are not published on
	// NATS; when nil, Open builds a logger with logging.New whose records
	// go to LogOut (default stderr) and to NATS.
	Log    *slog.Logger
	LogOut io.Writer
	// Listener to serve on; nil listens on the configured host and port.
	// The tier closes it.
	Listener net.Listener
	// Registry takes the tier's metrics and is served on /metrics; nil
	// makes one with the Go and process collectors.
	Registry *prometheus.Registry
}

// Config is what Open reads from a tier's configuration.
type Config struct {
	Tier   string // edge, worker, control: names logs, metrics, connections
	Common config.Common
	Host   string
	Port   int
}

// Base is what Open opened for a tier.
type Base struct {
	Tier string
	// ID is the instance id: INSTANCE_ID, or a generated one.
	ID       string
	Log      *slog.Logger
	NATS     *nats.Conn
	Registry *prometheus.Registry
	Listener net.Listener
	// URL is where the listener is reached (see URL).
	URL string

	shipper  *logging.Shipper
	stopShip context.CancelFunc
	shipDone chan struct{}
}

// Open opens, in order, the metrics registry, the logger (and starts its
// shipper), the listener and the NATS connection. It never waits for NATS:
// bus.Connect returns at once and reconnects in the background, so a tier
// serves while NATS is away. On error, what was opened is closed again.
func Open(cfg Config, opts Options) (*Base, error) {
	b := &Base{Tier: cfg.Tier, ID: cfg.Common.InstanceID, Registry: opts.Registry, Log: opts.Log}
	if b.ID == "" {
		b.ID = lifecycle.InstanceID(cfg.Tier)
	}
	if b.Registry == nil {
		b.Registry = metrics.NewRegistry()
	}
	if b.Log == nil {
		b.Log, b.shipper = logging.New(logging.Options{
			Level: cfg.Common.LogLevel, Format: cfg.Common.LogFormat, Tier: cfg.Tier, Instance: b.ID,
			Out: opts.LogOut, Registerer: b.Registry, RepeatInterval: RepeatInterval(cfg.Common),
		})
	}
	b.startShipper()

	b.Listener = opts.Listener
	if b.Listener == nil {
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			b.stopShipper()
			return nil, fmt.Errorf("%s listen on %s: %w", cfg.Tier, addr, err)
		}
		b.Listener = ln
	}
	b.URL = URL(b.Listener.Addr())

	nc, err := bus.Connect(cfg.Common.NATSURL, "madbase-"+cfg.Tier+"-"+b.ID, b.Log)
	if err != nil {
		_ = b.Listener.Close()
		b.stopShipper()
		return nil, fmt.Errorf("%s nats: %w", cfg.Tier, err)
	}
	b.NATS = nc
	if b.shipper != nil {
		b.shipper.Attach(nc)
	}
	return b, nil
}

// startShipper runs the log shipper beside the tier's group, not inside
// it: it must outlive the tier's parts so that their shutdown is logged
// over NATS too.
func (b *Base) startShipper() {
	b.shipDone = make(chan struct{})
	if b.shipper == nil {
		b.stopShip = func() {}
		close(b.shipDone)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.stopShip = cancel
	go func() { defer close(b.shipDone); _ = b.shipper.Run(ctx) }()
}

func (b *Base) stopShipper() {
	b.stopShip()
	<-b.shipDone
}

// Close is the bus step of the shutdown, after the tier stopped serving:
// it stops the log shipper (which publishes what it still holds) and drains
// the NATS connection, bounded by DrainTimeout. The tier closes its
// database pool after it.
func (b *Base) Close() {
	b.stopShipper()
	if err := bus.Drain(b.NATS, DrainTimeout); err != nil {
		b.Log.Warn("shutdown: NATS drain", "component", b.Tier, "error", err.Error())
	}
}

// URL is the http URL a listener is reached at; a wildcard address
// (0.0.0.0, ::) becomes loopback.
func URL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// RepeatInterval is the logging.Options.RepeatInterval for a tier's
// LOG_REPEAT_INTERVAL, where 0 turns summaries off.
func RepeatInterval(c config.Common) time.Duration {
	if c.LogRepeatInterval == 0 {
		return -1
	}
	return c.LogRepeatInterval
}
