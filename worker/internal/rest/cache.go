package rest

import (
	"context"
	"log/slog"
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

// LoadNow loads the schema synchronously and swaps it in.
func (c *Cache) LoadNow(ctx context.Context) error {
	s, err := Load(ctx, c.pool, c.schemas)
	if err != nil {
		return err
	}
	c.cur.Store(s)
	c.loaded.Add(1)
	return nil
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
	listenDone := make(chan struct{})
	go func() { defer close(listenDone); c.listen(ctx) }()
	defer func() { <-listenDone }()

	select {
	case <-c.listening:
	case <-time.After(listenWait):
		c.loadedUnheard.Store(true)
	case <-ctx.Done():
		return
	}
	c.Reload()
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
