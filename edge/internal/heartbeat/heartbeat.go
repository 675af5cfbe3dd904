// Package heartbeat makes an edge known to control: a bus.EdgeHeartbeat
// every bus.EdgeHeartbeatInterval on the existing NATS connection. Nothing
// routes by it (edges find workers, not each other); control lists the edges
// from it for operators.
package heartbeat

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
)

// Options configure New.
type Options struct {
	Conn    *nats.Conn
	Log     *slog.Logger
	ID      string
	URL     string // the edge's own URL
	Version string
	// Connections, Workers and Draining are read at every beat, off the
	// request path; they must be cheap and safe for concurrent use. Nil
	// reads as zero (false).
	Connections func() int64
	Workers     func() (known, healthy int)
	Draining    func() bool
	// Interval between beats; default bus.EdgeHeartbeatInterval.
	Interval time.Duration
}

// Publisher is the edge's heartbeat actor. Publishing only appends to the
// NATS client's buffer (bus.Connect buffers while disconnected and drops
// beyond that), so NATS being away never holds it, nor a request.
type Publisher struct {
	opts    Options
	log     *slog.Logger
	subject string
	started time.Time
}

// New makes a publisher; Run starts beating.
func New(opts Options) *Publisher {
	if opts.Interval <= 0 {
		opts.Interval = bus.EdgeHeartbeatInterval
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{
		opts:    opts,
		log:     opts.Log.With("component", "heartbeat"),
		subject: bus.EdgeHeartbeatSubject(opts.ID),
		started: time.Now().UTC(),
	}
}

// Run beats at once and then every interval until ctx is done, and once
// more then: the edge stops its heartbeat after its HTTP server, so that
// last beat says it is draining.
func (p *Publisher) Run(ctx context.Context) error {
	p.Beat()
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.Beat()
			return nil
		case <-t.C:
			p.Beat()
		}
	}
}

// Heartbeat is the beat Beat would publish now.
func (p *Publisher) Heartbeat() bus.EdgeHeartbeat {
	hb := bus.EdgeHeartbeat{
		ID: p.opts.ID, URL: p.opts.URL, Version: p.opts.Version,
		StartedAt: p.started, SentAt: time.Now().UTC(),
	}
	if p.opts.Connections != nil {
		hb.Connections = p.opts.Connections()
	}
	if p.opts.Workers != nil {
		hb.WorkersKnown, hb.WorkersHealthy = p.opts.Workers()
	}
	if p.opts.Draining != nil {
		hb.Draining = p.opts.Draining()
	}
	return hb
}

// Beat publishes one heartbeat now.
func (p *Publisher) Beat() {
	data, err := json.Marshal(p.Heartbeat())
	if err != nil { // cannot happen with this type
		p.log.Error("encode edge heartbeat", "error", err.Error())
		return
	}
	if err := p.opts.Conn.Publish(p.subject, data); err != nil {
		p.log.Debug("publish edge heartbeat", "subject", p.subject, "error", err.Error())
	}
}
