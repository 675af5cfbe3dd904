package rest

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
)

// notifyChannel is the LISTEN channel PostgREST users send reloads on:
// `NOTIFY pgrst, 'reload schema'`.
const notifyChannel = "pgrst"

// Cache holds the current Schema and reloads it in the background. A reload
// builds a complete new Schema and swaps the pointer; requests keep using
// the one they loaded. Reload requests that arrive during a reload cause one
// more reload afterwards, so the last change is never missed.
type Cache struct {
	pool    *pgxpool.Pool
	schemas []string
	log     *slog.Logger
	cur     atomic.Pointer[Schema]
	trigger chan struct{}
	// loaded counts completed loads (tests wait on it).
	loaded atomic.Int64
	// listening is closed once the LISTEN connection first listens; Run
	// loads after that (or after listenWait), so no change made between
	// the load and the LISTEN goes unnoticed. loadedUnheard tells that Run
	// loaded before anything listened: the first LISTEN must reload then.
	listening     chan struct{}
	loadedUnheard atomic.Bool
	// loadedHeard tells that a load that began once the LISTEN connection
	// listened has completed: Run need not load again at its start.
	loadedHeard atomic.Bool
	listenOnce  sync.Once
	listenDone  chan struct{}
	// seed is a schema an earlier cache of the same project loaded: the
	// next load takes it if the catalog's fingerprint is still its own.
	seed atomic.Pointer[Schema]
	// onLoad, when set, receives every schema swapped in.
	onLoad func(*Schema)
}

// listenWait is how long Run waits for the LISTEN connection before the
// first load.
const listenWait = 5 * time.Second

// NewCache makes a cache for the exposed schemas; nothing is loaded until
// Run starts.
func NewCache(pool *pgxpool.Pool, schemas []string, log *slog.Logger) *Cache {
	return &Cache{pool: pool, schemas: schemas, log: log, trigger: make(chan struct{}, 1), listening: make(chan struct{})}
}

// Get returns the current schema, or nil before the first load completed.
func (c *Cache) Get() *Schema { return c.cur.Load() }

// Loads is how many loads have completed.
func (c *Cache) Loads() int64 { return c.loaded.Load() }

// Reload asks for a reload without waiting for it.
func (c *Cache) Reload() {
	select {
	case c.trigger <- struct{}{}:
	default: // one is pending already and will see the latest catalog
	}
}

// Seed gives the cache a schema an earlier cache of the same database
// loaded; the next load takes it instead of reading the catalog if the
// catalog's fingerprint has not changed since, and the exposed schemas are
// the same.
func (c *Cache) Seed(s *Schema) { c.seed.Store(s) }

// LoadNow loads the schema synchronously and swaps it in.
func (c *Cache) LoadNow(ctx context.Context) error {
	heard := c.Listening()
	s, err := c.seeded(ctx)
	if s == nil && err == nil {
		s, err = Load(ctx, c.pool, c.schemas)
	}
	if err != nil {
		return err
	}
	c.cur.Store(s)
	c.loaded.Add(1)
	if heard {
		c.loadedHeard.Store(true)
	}
	if c.onLoad != nil {
		c.onLoad(s)
	}
	return nil
}

// seeded returns the seed, once, if the catalog still has its fingerprint.
func (c *Cache) seeded(ctx context.Context) (*Schema, error) {
	seed := c.seed.Swap(nil)
	if seed == nil || seed.fingerprint == "" || !slices.Equal(seed.Schemas, c.schemas) {
		return nil, nil
	}
	fp, err := Fingerprint(ctx, c.pool)
	if err != nil {
		return nil, err
	}
	if fp != seed.fingerprint {
		return nil, nil
	}
	c.log.Debug("schema cache: catalog unchanged since the last load; its schema is taken")
	return seed, nil
}

// Listen starts the LISTEN connection, once, for as long as ctx lasts; Run
// starts it too. Listening tells when it listens.
func (c *Cache) Listen(ctx context.Context) {
	c.listenOnce.Do(func() {
		c.listenDone = make(chan struct{})
		go func() { defer close(c.listenDone); c.listen(ctx) }()
	})
}

// Listening reports whether the LISTEN connection has listened.
func (c *Cache) Listening() bool {
	select {
	case <-c.listening:
		return true
	default:
		return false
	}
}

// WaitListening waits until the LISTEN connection listens, ctx is done or
// listenWait passed.
func (c *Cache) WaitListening(ctx context.Context) {
	select {
	case <-c.listening:
	case <-ctx.Done():
	case <-time.After(listenWait):
	}
}

// Run loads the schema, then reloads on request, on NOTIFY pgrst (through a
// LISTEN connection of its own that reconnects) and on bus.SchemaReload
// messages, until ctx is done.
func (c *Cache) Run(ctx context.Context, nc *nats.Conn) {
	if nc != nil {
		sub, err := nc.Subscribe(bus.SchemaReload, func(*nats.Msg) {
			c.log.Info("schema reload requested over NATS")
			c.Reload()
		})
		if err != nil {
			c.log.Error("cannot subscribe to schema reloads", "subject", bus.SchemaReload, "error", err.Error())
		} else {
			defer func() { _ = sub.Unsubscribe() }()
		}
	}
	c.Listen(ctx)
	defer func() { <-c.listenDone }()

	select {
	case <-c.listening:
	case <-time.After(listenWait):
		c.loadedUnheard.Store(true)
	case <-ctx.Done():
		return
	}
	if !c.loadedHeard.Load() {
		// No load since the LISTEN began: changes made before it may
		// be unheard.
		c.Reload()
	}
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.trigger:
		}
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := c.LoadNow(lctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Error("schema cache load failed; retrying", "error", err.Error(), "retry_in", backoff.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			c.Reload()
			continue
		}
		backoff = 100 * time.Millisecond
		c.log.Debug("schema cache loaded", "loads", c.loaded.Load())
	}
}

// listen keeps a LISTEN pgrst connection open; each notification (bare, or
// 'reload schema') triggers a reload, and so does every reconnection, since
// notifications may have been missed meanwhile.
func (c *Cache) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, c.pool.Config().ConnConfig.Copy())
		if err == nil {
			_, err = conn.Exec(ctx, "listen "+quoteIdent(notifyChannel))
		}
		if err == nil {
			// Notifications sent while nothing listened are lost: reload
			// on every new LISTEN but the first, which Run's first load
			// follows (unless Run gave up waiting for it).
			if first {
				close(c.listening)
				if c.loadedUnheard.Load() {
					c.Reload()
				}
			} else {
				c.Reload()
			}
			first = false
			backoff = 100 * time.Millisecond
			for {
				var n *pgconn.Notification
				n, err = conn.WaitForNotification(ctx)
				if err != nil {
					break
				}
				switch n.Payload {
				case "", "reload schema":
					c.log.Info("schema reload requested by NOTIFY", "channel", n.Channel)
					c.Reload()
				}
			}
		}
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = conn.Close(cctx)
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("schema reload listener lost its connection; reconnecting", "error", errString(err), "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
