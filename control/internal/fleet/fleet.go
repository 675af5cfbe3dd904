// Package fleet keeps the list of live workers that control shows operators,
// built from the heartbeats and leave messages workers publish on NATS.
package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Worker is one live worker as the admin API shows it. Its JSON is part of
// the admin API contract.
type Worker struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Version   string    `json:"version"`
	LastBeat  time.Time `json:"last_beat"`
	InFlight  int64     `json:"in_flight"`
	Draining  bool      `json:"draining"`
	StartedAt time.Time `json:"started_at"`
	// Projects is what the worker runs of each created project, from its
	// last beat (nil: it serves none); ProjectWorkers shows it per project.
	Projects          map[string]bus.ProjectRevision `json:"-"`
	ProjectsTruncated bool                           `json:"-"`
	// APIs is the worker's cumulative per-API counters from its last beat
	// (nil: it sends none); control's rates history reads them.
	APIs map[string]bus.APIStats `json:"-"`
}

// Statuses of a worker for one project (ProjectWorker.Status).
const (
	// StatusCurrent: the worker serves the project's current revision.
	StatusCurrent = "current"
	// StatusBehind: it serves an older revision (0: it has not heard of
	// the project yet), or another incarnation's under the same ref.
	StatusBehind = "behind"
	// StatusRefused: it could not apply the current revision and serves
	// the one it had (Revision), for the reason given.
	StatusRefused = "refused"
	// StatusUnknown: its beats do not say (a worker without created
	// projects, or one holding more than bus.MaxHeartbeatProjects).
	StatusUnknown = "unknown"
)

// ProjectWorker is one live worker's view of a project, as GET
// /admin/v1/projects/{ref} shows it (admin API contract).
type ProjectWorker struct {
	ID       string `json:"id"`
	URL      string `json:"url"`
	Revision int64  `json:"revision"`
	Status   string `json:"status"`
	// RefusedRevision and Reason say which newer revision the worker
	// could not apply and why (never a secret).
	RefusedRevision int64  `json:"refused_revision,omitempty"`
	Reason          string `json:"reason,omitempty"`
}

// DefaultExpiry is how long a worker stays listed after its last beat.
const DefaultExpiry = bus.MissedBeatsLimit * bus.HeartbeatInterval

// Fleet is the set of live workers. A worker joins with its first heartbeat
// and leaves with a Leave message or after Expiry without a beat. Last beats
// are stamped with control's own clock, so skewed worker clocks don't matter.
type Fleet struct {
	log    *slog.Logger
	expiry time.Duration
	// edgeExpiry is Expiry scaled to the edges' slower beat.
	edgeExpiry time.Duration
	now        func() time.Time
	live       prometheus.GaugeFunc

	mu      sync.Mutex
	workers map[string]Worker
	edges   map[string]Edge
	subs    []*nats.Subscription
}

// Options configure New.
type Options struct {
	// Expiry overrides DefaultExpiry (tests).
	Expiry time.Duration
	// Now overrides time.Now (tests).
	Now func() time.Time
}

// New makes an empty fleet and registers madbase_control_workers_live on reg
// (when reg is not nil).
func New(log *slog.Logger, reg prometheus.Registerer, opts Options) *Fleet {
	if opts.Expiry <= 0 {
		opts.Expiry = DefaultExpiry
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fleet{
		log:        log.With("component", "fleet"),
		expiry:     opts.Expiry,
		edgeExpiry: opts.Expiry * (bus.EdgeHeartbeatInterval / bus.HeartbeatInterval),
		now:        opts.Now,
		workers:    map[string]Worker{},
		edges:      map[string]Edge{},
	}
	// Counted at scrape time, so the gauge always agrees with Workers.
	f.live = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "madbase_control_workers_live",
		Help: "Workers that sent a heartbeat recently.",
	}, func() float64 { return float64(len(f.Workers())) })
	if reg != nil {
		reg.MustRegister(f.live)
	}
	return f
}

// Subscribe starts following the workers' heartbeats and leaves and the
// edges' heartbeats on nc. All are plain fan-out subscriptions, not queue groups: every control instance must see
// every worker.
func (f *Fleet) Subscribe(nc *nats.Conn) error {
	hb, err := nc.Subscribe(bus.AllHeartbeats, func(m *nats.Msg) {
		var h bus.Heartbeat
		if err := json.Unmarshal(m.Data, &h); err != nil || h.ID == "" {
			f.log.Debug("ignoring malformed heartbeat", "subject", m.Subject)
			return
		}
		f.Beat(h)
	})
	if err != nil {
		return err
	}
	lv, err := nc.Subscribe(bus.AllLeaves, func(m *nats.Msg) {
		var l bus.Leave
		if err := json.Unmarshal(m.Data, &l); err != nil || l.ID == "" {
			f.log.Debug("ignoring malformed leave", "subject", m.Subject)
			return
		}
		f.Leave(l.ID)
	})
	if err != nil {
		_ = hb.Unsubscribe()
		return err
	}
	eb, err := nc.Subscribe(bus.AllEdgeHeartbeats, func(m *nats.Msg) {
		var h bus.EdgeHeartbeat
		if err := json.Unmarshal(m.Data, &h); err != nil || h.ID == "" {
			f.log.Debug("ignoring malformed edge heartbeat", "subject", m.Subject)
			return
		}
		f.EdgeBeat(h)
	})
	if err != nil {
		_ = hb.Unsubscribe()
		_ = lv.Unsubscribe()
		return err
	}
	f.mu.Lock()
	f.subs = append(f.subs, hb, lv, eb)
	f.mu.Unlock()
	return nil
}

// Run drops workers whose beats stopped until ctx is done, then ends the
// subscriptions.
func (f *Fleet) Run(ctx context.Context) error {
	t := time.NewTicker(bus.HeartbeatInterval / 4)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f.Sweep()
		case <-ctx.Done():
			f.mu.Lock()
			var errs []error
			for _, s := range f.subs {
				if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
					errs = append(errs, err)
				}
			}
			f.subs = nil
			f.mu.Unlock()
			return errors.Join(errs...)
		}
	}
}

// Beat records a heartbeat.
func (f *Fleet) Beat(h bus.Heartbeat) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, known := f.workers[h.ID]
	f.workers[h.ID] = Worker{
		ID:                h.ID,
		URL:               h.URL,
		Version:           h.Version,
		LastBeat:          f.now().UTC(),
		InFlight:          h.InFlight,
		Draining:          h.Draining,
		StartedAt:         h.StartedAt,
		Projects:          h.Projects,
		ProjectsTruncated: h.ProjectsTruncated,
		APIs:              h.APIs,
	}
	if !known {
		f.log.Info("worker joined", "worker", h.ID, "url", h.URL, "version", h.Version)
	}
}

// Leave removes a worker at once.
func (f *Fleet) Leave(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.workers[id]; !ok {
		return
	}
	delete(f.workers, id)
	f.log.Info("worker left", "worker", id)
}

// Sweep drops the workers and edges whose last beat is older than their
// expiry.
func (f *Fleet) Sweep() {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	sweep(f.workers, now, f.expiry, func(w Worker) time.Time { return w.LastBeat }, func(id string, w Worker) {
		f.log.Warn("worker stopped beating", "worker", id, "url", w.URL, "last_beat", w.LastBeat)
	})
	sweep(f.edges, now, f.edgeExpiry, func(e Edge) time.Time { return e.LastBeat }, func(id string, e Edge) {
		f.log.Warn("edge stopped beating", "edge", id, "url", e.URL, "last_beat", e.LastBeat)
	})
}

// sweep deletes from m the members whose last beat is older than expiry,
// telling gone of each.
func sweep[T any](m map[string]T, now time.Time, expiry time.Duration, last func(T) time.Time, gone func(string, T)) {
	for id, v := range m {
		if now.Sub(last(v)) > expiry {
			delete(m, id)
			gone(id, v)
		}
	}
}

// live returns the members of m within expiry of their last beat, sorted
// by id. Caller holds the fleet's lock.
func live[T any](m map[string]T, now time.Time, expiry time.Duration, last func(T) time.Time) []T {
	ids := make([]string, 0, len(m))
	for id, v := range m {
		if now.Sub(last(v)) <= expiry {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = m[id]
	}
	return out
}

// Workers returns the live workers sorted by id. Workers past their expiry
// are left out even if Sweep has not run yet.
func (f *Fleet) Workers() []Worker {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	return live(f.workers, now, f.expiry, func(w Worker) time.Time { return w.LastBeat })
}

// ProjectWorkers is what each live worker runs of project ref, whose
// current revision is revision, sorted by worker id.
func (f *Fleet) ProjectWorkers(ref string, revision int64) []ProjectWorker {
	workers := f.Workers()
	out := make([]ProjectWorker, 0, len(workers))
	for _, w := range workers {
		pw := ProjectWorker{ID: w.ID, URL: w.URL}
		held, ok := w.Projects[ref]
		switch {
		case ok:
			pw.Revision = held.Revision
			if held.Refused > held.Revision {
				pw.RefusedRevision, pw.Reason = held.Refused, held.Reason
			}
			switch {
			case held.Revision == revision:
				pw.Status = StatusCurrent
			case held.Refused >= revision:
				pw.Status = StatusRefused
			default:
				pw.Status = StatusBehind
			}
		case w.Projects == nil || w.ProjectsTruncated:
			pw.Status = StatusUnknown
		default:
			pw.Status = StatusBehind
		}
		out = append(out, pw)
	}
	return out
}
