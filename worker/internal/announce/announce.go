// Package announce makes a worker known on the bus: a heartbeat every
// bus.HeartbeatInterval, so edges and control find it without configuration,
// a NATS micro service (bus.WorkerService) that a starting edge and
// operators (`nats micro ls`) can ask, and a leave message on graceful
// shutdown, so edges stop routing to it at once instead of waiting for
// missed beats.
package announce

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Options configure New.
type Options struct {
	Conn    *nats.Conn
	Log     *slog.Logger
	ID      string
	URL     string // advertised URL the edge reaches this worker at
	Version string
	// InFlight and Draining are read at every beat; they must be cheap and
	// safe for concurrent use (atomics).
	InFlight func() int64
	Draining func() bool
	// Projects is read at every beat: what the worker runs of each created
	// project it holds (bus.Heartbeat.Projects) and whether some were left
	// out. Nil for a worker without created projects.
	Projects func() (map[string]bus.ProjectRevision, bool)
	// APIs is read at every beat: the worker's cumulative per-API counters
	// (bus.Heartbeat.APIs; APIsFrom reads them from its metrics). Nil
	// sends none.
	APIs func() map[string]bus.APIStats
	// Interval between beats; default bus.HeartbeatInterval.
	Interval time.Duration
}

// Announcer is the heartbeat actor. Publishing only appends to the NATS
// client's buffer (bus.Connect buffers while disconnected and drops beyond
// that), so it never blocks a request.
type Announcer struct {
	opts    Options
	log     *slog.Logger
	started time.Time
	subject string

	mu   sync.Mutex
	left bool
	svc  micro.Service // nil until Run registers it, and after Leave
}

// New makes an announcer; Run starts beating.
func New(opts Options) *Announcer {
	if opts.Interval <= 0 {
		opts.Interval = bus.HeartbeatInterval
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.InFlight == nil {
		opts.InFlight = func() int64 { return 0 }
	}
	if opts.Draining == nil {
		opts.Draining = func() bool { return false }
	}
	return &Announcer{
		opts:    opts,
		log:     opts.Log.With("component", "announce"),
		started: time.Now().UTC(),
		subject: bus.WorkerHeartbeat(opts.ID),
	}
}

// Run beats at once and then every interval until ctx is done or Leave was
// called. It does not announce leaving: the shutdown sequence calls Leave at
// the right moment.
func (a *Announcer) Run(ctx context.Context) error {
	a.log.Debug("announcing worker", "subject", a.subject, "url", a.opts.URL, "interval", a.opts.Interval.String())
	a.register()
	defer a.unregister()
	a.Beat()
	t := time.NewTicker(a.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			a.Beat()
		}
	}
}

// Beat publishes one heartbeat now. After Leave it does nothing, so a late
// tick cannot bring a leaving worker back into an edge's pool.
func (a *Announcer) Beat() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.left {
		return
	}
	a.beatLocked()
}

// register adds the worker's micro service. Without it the worker is still
// found by its heartbeats, so a failure is only logged.
func (a *Announcer) register() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.left {
		return
	}
	svc, err := micro.AddService(a.opts.Conn, micro.Config{
		Name:        bus.WorkerService,
		Version:     bus.ServiceVersion(a.opts.Version),
		Description: "MadBase API worker (auth, rest, storage, realtime)",
		Metadata: map[string]string{
			bus.ServiceMetaID: a.opts.ID, bus.ServiceMetaURL: a.opts.URL, bus.ServiceMetaVersion: a.opts.Version,
		},
		Endpoint: &micro.EndpointConfig{
			Subject: bus.WorkerInfo(a.opts.ID),
			Handler: micro.HandlerFunc(func(r micro.Request) {
				a.mu.Lock()
				hb := a.heartbeatLocked()
				a.mu.Unlock()
				_ = r.RespondJSON(hb)
			}),
		},
	})
	if err != nil {
		a.log.Warn("register the worker's NATS micro service", "error", err.Error())
		return
	}
	a.svc = svc
}

// unregister stops the micro service, so the worker no longer answers. It
// is stopped outside mu: its handler takes mu.
func (a *Announcer) unregister() {
	a.mu.Lock()
	svc := a.svc
	a.svc = nil
	a.mu.Unlock()
	if svc != nil {
		if err := svc.Stop(); err != nil {
			a.log.Warn("stop the worker's NATS micro service", "error", err.Error())
		}
	}
}

func (a *Announcer) heartbeatLocked() bus.Heartbeat {
	hb := bus.Heartbeat{
		ID:        a.opts.ID,
		URL:       a.opts.URL,
		Version:   a.opts.Version,
		InFlight:  a.opts.InFlight(),
		Draining:  a.opts.Draining(),
		StartedAt: a.started,
		SentAt:    time.Now().UTC(),
	}
	if a.opts.Projects != nil {
		hb.Projects, hb.ProjectsTruncated = a.opts.Projects()
	}
	if a.opts.APIs != nil {
		hb.APIs = a.opts.APIs()
	}
	return hb
}

func (a *Announcer) beatLocked() {
	a.publish(a.subject, a.heartbeatLocked())
}

// Leave publishes one last heartbeat (which carries the draining flag the
// caller has set) and the leave message, then waits up to timeout for the
// server to have them. Later beats are suppressed. It is safe to call more
// than once; only the first call publishes.
func (a *Announcer) Leave(timeout time.Duration) error {
	a.mu.Lock()
	if a.left {
		a.mu.Unlock()
		return nil
	}
	a.beatLocked()
	a.left = true
	a.publish(bus.WorkerLeave(a.opts.ID), bus.Leave{ID: a.opts.ID, URL: a.opts.URL})
	a.mu.Unlock()
	a.unregister()
	if !a.opts.Conn.IsConnected() {
		// NATS is away: nothing can confirm the leave, and edges judge this
		// worker by their probes meanwhile, which its draining answers.
		a.log.Warn("leave not sent: NATS is not connected")
		return nats.ErrDisconnected
	}
	if err := a.opts.Conn.FlushTimeout(timeout); err != nil {
		a.log.Warn("leave not confirmed by NATS", "error", err.Error())
		return err
	}
	a.log.Debug("leave announced", "subject", bus.WorkerLeave(a.opts.ID))
	return nil
}

func (a *Announcer) publish(subject string, msg any) {
	data, err := json.Marshal(msg)
	if err != nil { // cannot happen with these types
		a.log.Error("encode announcement", "subject", subject, "error", err.Error())
		return
	}
	if err := a.opts.Conn.Publish(subject, data); err != nil {
		a.log.Warn("publish announcement", "subject", subject, "error", err.Error())
	}
}
