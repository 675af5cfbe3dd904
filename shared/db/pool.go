// Package db is how every tier reaches PostgreSQL: NewPool makes the connection pool (with
// its metrics), and WithClaims runs a request's queries as the request's role with its JWT
// claims set, which is what makes row-level security apply. Subpackages: migrate (the
// migration runner), pgcluster (a local server from the machine's binaries) and dbtest (a
// real database per test).
package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolOption adjusts NewPool.
type PoolOption func(*poolOptions)

type poolOptions struct {
	tier     string
	maxConns int32
}

// WithTier sets the metrics' const label tier (edge, worker, control, ...), which keeps apart
// the pools of several tiers sharing one registry in `madbase dev`.
func WithTier(tier string) PoolOption { return func(o *poolOptions) { o.tier = tier } }

// WithMaxConns caps the pool's connections, unless the URL's pool_max_conns already does.
func WithMaxConns(n int32) PoolOption { return func(o *poolOptions) { o.maxConns = n } }

// NewPool connects to rawURL and returns a pool that has proved it can reach the server.
// Settings the URL gives (pool_max_conns, pool_max_conn_lifetime, ...) win over the defaults
// here, which suit a request-serving tier: two connections per CPU, at least four (requests
// wait on the network, so more than pgx's one per CPU; but each busy connection is a busy
// server process, and on a 2-core machine 4 connections served GET /auth/v1/user at 10-20%
// more requests per second than 10, with a third less PostgreSQL CPU per request), and
// connections recycled hourly with jitter so that a fleet does not reconnect all at once.
// If reg is not nil, the pool's statistics are registered on it (see PoolCollector).
func NewPool(ctx context.Context, rawURL string, reg prometheus.Registerer, log *slog.Logger, opts ...PoolOption) (*pgxpool.Pool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var o poolOptions
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx's parse errors can quote the URL, password and all: never pass them on.
		return nil, errors.New("db: the database URL is not valid (expected postgres://user:password@host:port/dbname?sslmode=...)")
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = "madbase"
	}
	if !hasParam(rawURL, "pool_max_conns") {
		cfg.MaxConns = max(4, 2*int32(runtime.GOMAXPROCS(0)))
		if o.maxConns > 0 {
			cfg.MaxConns = o.maxConns
		}
	}
	if !hasParam(rawURL, "pool_max_conn_lifetime_jitter") {
		cfg.MaxConnLifetimeJitter = 5 * time.Minute
	}
	if !hasParam(rawURL, "pool_max_conn_idle_time") {
		cfg.MaxConnIdleTime = 5 * time.Minute
	}

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: creating the pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: connecting to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	if reg != nil {
		var labels prometheus.Labels
		if o.tier != "" {
			labels = prometheus.Labels{"tier": o.tier}
		}
		if err := reg.Register(NewPoolCollector(pool, labels)); err != nil {
			pool.Close()
			return nil, fmt.Errorf("db: registering pool metrics (give each pool of a registry its own tier): %w", err)
		}
	}
	log.Info("database pool ready", "host", cfg.ConnConfig.Host, "port", cfg.ConnConfig.Port,
		"database", cfg.ConnConfig.Database, "max_conns", cfg.MaxConns)
	return pool, nil
}

// hasParam reports whether a URL or keyword/value connection string sets key; pgxpool does
// not say whether a setting came from the string or from its defaults.
func hasParam(conn, key string) bool {
	for i := 0; i < len(conn); {
		j := strings.Index(conn[i:], key)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(key)
		before := j == 0 || strings.ContainsRune("?& ", rune(conn[j-1]))
		after := end < len(conn) && strings.ContainsRune("= ", rune(conn[end]))
		if before && after {
			return true
		}
		i = end
	}
	return false
}
