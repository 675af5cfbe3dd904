// Package realtime serves /realtime/v1, the Phoenix-channel WebSocket that
// realtime-js (inside supabase-js) speaks (docs/api/realtime.md): broadcast,
// presence and postgres_changes, fanned out between workers over NATS.
//
// Every worker keeps its own sockets. Broadcasts go out on
// bus.Realtime(tenant, topic) to every worker subscribed to the topic; the
// sender's worker delivers to its own sockets at once and skips the copy
// the bus brings back, and both keep a sender's order per topic. Presence
// is replicated on bus.RealtimePresence: diffs as they happen, and each
// worker's snapshot once a second, which doubles as its heartbeat (a
// silent worker's presences expire). One worker at a time (PostgreSQL
// advisory lock) reads the WAL and publishes row changes on
// bus.RealtimeChanges; every worker checks filters and RLS for its own
// subscribers.
package realtime

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/madbase/madbase/worker/internal/apikey"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// defaultTenant is the subject token of the default project; a created
// project's is its ref (Options.Tenant).
const defaultTenant = "default"

// Defaults for zero settings.
const (
	defaultMaxChannels     = 100
	defaultMaxMessage      = 3072000
	defaultJoinsPerSecond  = 100
	defaultEventsPerSecond = 1000
	defaultPresenceExpiry  = 3 * time.Second
	presenceBeat           = time.Second
	dbTimeout              = 10 * time.Second
	privateRecheck         = 5 * time.Minute
)

// Service is one worker's realtime state.
type Service struct {
	cfg    config.Realtime
	keys   *apikey.Keys
	pool   *pgxpool.Pool
	nc     *nats.Conn
	log    *slog.Logger
	worker string
	// instance names this service on the bus, apart from another service
	// of the same project on this worker (a project runtime being replaced).
	instance string
	base     context.Context
	// tenant is the project's token in the bus subjects.
	tenant string
	// changesOnce starts postgres_changes (subscription and WAL reader
	// election) once.
	changesOnce sync.Once

	mu     sync.Mutex
	topics map[string]*topicSub // by topic name (without "realtime:")
	// presence sets by topic and privacy: key → phx_ref → entry.
	presence map[topicKey]map[string]map[string]presEntry
	peers    map[string]time.Time  // worker → last presence beat
	pubMu    sync.Mutex            // orders presence diffs and snapshots on the wire
	tracking map[*channel]struct{} // channels tracking a presence; guarded by pubMu

	changes *changeState
	// changeMark drops changes a new WAL reader replays; only the changes
	// subscription's callback touches it.
	changeMark walMark
	cols       columnCache
	metrics    *metrics
	// recheck is how often private channels' read policies are re-run.
	recheck atomic.Int64 // time.Duration
	// leading is true while this worker reads the WAL.
	leading atomic.Bool
	// wal is the WAL reader's demand: whether this worker competes to read
	// (walwant.go).
	wal walDemand
	// bg counts the background goroutines (WAL reader, presence beat,
	// sweeper).
	bg sync.WaitGroup
	// sockets are the open sockets, for the sweeper.
	sockMu  sync.Mutex
	sockets map[*socket]struct{}
}

type topicKey struct {
	name    string
	private bool
}

type topicSub struct {
	sub   *nats.Subscription
	chans map[*channel]struct{}
	// mark drops database broadcasts a new WAL reader replays.
	mark walMark
	// fanout is held while one broadcast of the topic is fanned out.
	fanout sync.Mutex
	// held are the frames of broadcasts fanned out while more messages
	// waited (deliver), by socket, written together once none waits
	// (release); heldMsgs counts those broadcasts. Guarded by fanout.
	held     map[*socket][]*frame
	heldMsgs int
	// holding is heldMsgs > 0, read without the lock by release.
	holding atomic.Bool
}

// Options configure New.
type Options struct {
	Config      config.Realtime
	JWTSecret   string
	Pool        *pgxpool.Pool
	NATS        *nats.Conn
	Log         *slog.Logger
	BaseContext context.Context
	// WorkerID names this worker on the bus; default a random id.
	WorkerID string
	// Registry takes the realtime metrics; nil keeps them unregistered.
	Registry *prometheus.Registry
	// Tenant namespaces the bus subjects: a created project's ref; empty
	// for the default project.
	Tenant string
}

// New starts a worker's realtime service; it runs until BaseContext is done.
func New(o Options) *Service {
	cfg := o.Config
	if cfg.RealtimeMaxChannels == 0 {
		cfg.RealtimeMaxChannels = defaultMaxChannels
	}
	if cfg.RealtimeMaxMessageBytes == 0 {
		cfg.RealtimeMaxMessageBytes = defaultMaxMessage
	}
	if cfg.RealtimeMaxJoinsPerSecond == 0 {
		cfg.RealtimeMaxJoinsPerSecond = defaultJoinsPerSecond
	}
	if cfg.RealtimeMaxEventsPerSecond == 0 {
		cfg.RealtimeMaxEventsPerSecond = defaultEventsPerSecond
	}
	if cfg.RealtimePresenceExpiry == 0 {
		cfg.RealtimePresenceExpiry = defaultPresenceExpiry
	}
	base := o.BaseContext
	if base == nil {
		base = context.Background()
	}
	id := o.WorkerID
	if id == "" {
		id = uuid.NewString()
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Service{
		cfg: cfg, keys: apikey.New(o.JWTSecret), pool: o.Pool, nc: o.NATS,
		log: log.With("component", "realtime"), worker: id, instance: uuid.NewString(), base: base, tenant: o.Tenant,
		topics:   map[string]*topicSub{},
		presence: map[topicKey]map[string]map[string]presEntry{},
		peers:    map[string]time.Time{},
		sockets:  map[*socket]struct{}{},
	}
	if s.tenant == "" {
		s.tenant = defaultTenant
	}
	s.changes = newChangeState(s)
	s.wal.init(s.base, s.tenant == defaultTenant)
	s.metrics = newMetrics(o.Registry)
	s.recheck.Store(int64(privateRecheck))
	s.bg.Add(1)
	go s.sweep()
	if s.nc != nil {
		s.startPresence()
		// A created project's changes start with its first channel join
		// (channel.go), and its WAL reader runs only while this worker has
		// channels (walwant.go), so an idle project holds no replication.
		if s.tenant == defaultTenant {
			s.changesOnce.Do(s.startChanges)
		}
	}
	return s
}

// Wait returns once the background goroutines ended (after BaseContext is
// done), so their database connections are closed.
func (s *Service) Wait() { s.bg.Wait() }

// Register mounts /realtime/v1 on the worker.
func Register(r fiber.Router, deps api.Deps) {
	s := New(Options{
		Config: deps.Config.Realtime, JWTSecret: deps.Config.JWTSecret, Pool: deps.DB, NATS: deps.NATS,
		Log: deps.Log, BaseContext: deps.BaseContext, WorkerID: deps.Config.InstanceID, Registry: deps.Registry,
		Tenant: deps.Project,
	})
	if deps.Background != nil {
		deps.Background.Add(1)
		go func() { defer deps.Background.Done(); s.Wait() }()
	}
	s.Mount(r)
}

// Mount adds the routes.
func (s *Service) Mount(r fiber.Router) {
	g := r.Group("/realtime/v1", errorsMiddleware(s.log))
	g.Get(strings.TrimPrefix(websocketPath, "/realtime/v1"), s.upgrade, s.websocketHandler())
	g.Post("/api/broadcast", s.httpBroadcast)
	g.Post("/api/broadcast/:topic/events/:event", s.httpSend)
}

// subscribeTopic registers ch for the topic's broadcasts, subscribing the
// worker to the topic's subject on first use. Caller holds s.mu.
func (s *Service) subscribeTopic(ch *channel) {
	ts := s.topics[ch.name]
	if ts == nil && s.nc == nil {
		ts = &topicSub{chans: map[*channel]struct{}{}}
		s.topics[ch.name] = ts
	}
	if ts == nil {
		ts = &topicSub{chans: map[*channel]struct{}{}}
		name := ch.name
		sub, err := s.nc.Subscribe(bus.Realtime(s.tenant, name), func(m *nats.Msg) {
			// The message being handled is still counted as pending.
			n, _, _ := m.Sub.Pending()
			more := n > 1
			if ts.mark.admit(m.Header) {
				s.onBroadcast(ts, m.Data, more)
			}
			if !more {
				ts.release()
			}
		})
		if err != nil {
			s.log.Error("realtime: subscribing to a topic", "error", err)
		}
		ts.sub = sub
		s.topics[name] = ts
	}
	if _, ok := ts.chans[ch]; !ok {
		s.metrics.channels.Inc()
		s.wal.join()
	}
	ts.chans[ch] = struct{}{}
}

// unsubscribeTopic removes ch. Caller holds s.mu.
func (s *Service) unsubscribeTopic(ch *channel) {
	ts := s.topics[ch.name]
	if ts == nil {
		return
	}
	if _, ok := ts.chans[ch]; ok {
		s.metrics.channels.Dec()
		s.wal.leave()
	}
	delete(ts.chans, ch)
	if len(ts.chans) == 0 {
		if ts.sub != nil {
			_ = ts.sub.Unsubscribe()
		}
		delete(s.topics, ch.name)
	}
}

// channelsOf lists the ready local channels of a topic. Caller holds s.mu.
func (s *Service) channelsOf(k topicKey) []*channel {
	ts := s.topics[k.name]
	if ts == nil {
		return nil
	}
	return ts.channels(k.private)
}

// channels lists the ready channels of ts with the given privacy. Caller
// holds s.mu.
func (ts *topicSub) channels(private bool) []*channel {
	out := make([]*channel, 0, len(ts.chans))
	for ch := range ts.chans {
		if ch.private == private && ch.ready {
			out = append(out, ch)
		}
	}
	return out
}
