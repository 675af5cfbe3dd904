package projects

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/madbase/madbase/worker/internal/apikey"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// spec is a project's configuration opened and checked: what a runtime is
// built from.
type spec struct {
	revision int64
	// cfg is the worker's configuration with the project's database URL,
	// JWT secret and settings.
	cfg config.Worker
	// retiring is the rotated-out JWT secret that verifies until
	// retiresAt; empty when none.
	retiring  string
	retiresAt time.Time
	// opaque are the sb_ keys that name the project.
	opaque []string
	// signingKeys are the project's JWT_KEYS, nil when it sets none.
	signingKeys []*jwtauth.Key
}

// open unseals and checks a published configuration, as a worker checks
// its environment at start.
func (m *Manager) open(pc bus.ProjectConfig) (*spec, error) {
	ref := pc.Ref
	if len(pc.JWTSecrets) == 0 {
		return nil, errors.New("no JWT secret")
	}
	dbURL, err := m.box.OpenString(pc.DatabaseURL, bus.SecretContext(ref, bus.SecretDatabaseURL))
	if err != nil {
		return nil, fmt.Errorf("database_url: %w", err)
	}
	current, err := m.box.OpenString(pc.JWTSecrets[0].Secret, bus.SecretContext(ref, bus.SecretJWT))
	if err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	sp := &spec{revision: pc.Revision}
	pub, sec := jwtauth.OpaqueKeys([]byte(current))
	sp.opaque = append(sp.opaque, pub, sec)
	for _, s := range pc.JWTSecrets[1:] {
		if s.RetiresAt == nil || !time.Now().Before(*s.RetiresAt) {
			continue
		}
		old, err := m.box.OpenString(s.Secret, bus.SecretContext(ref, bus.SecretJWT))
		if err != nil {
			return nil, fmt.Errorf("retiring jwt secret: %w", err)
		}
		sp.retiring, sp.retiresAt = old, *s.RetiresAt
		pub, sec := jwtauth.OpaqueKeys([]byte(old))
		sp.opaque = append(sp.opaque, pub, sec)
	}
	settings := make(map[string]string, len(pc.Settings)+len(pc.Secrets))
	for k, v := range pc.Settings {
		settings[k] = v
	}
	for k, v := range pc.Secrets {
		plain, err := m.box.OpenString(v, bus.SecretContext(ref, k))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		settings[k] = plain
	}
	cfg := m.o.Config
	// The platform's signing keys are the default project's: a project
	// signs with its own JWT_KEYS, or its secret alone.
	cfg.JWTKeys = ""
	if err := config.Overlay(&cfg, settings); err != nil {
		return nil, err
	}
	cfg.DatabaseURL, cfg.JWTSecret = dbURL, current
	if err := cfg.Validate(m.o.Dev); err != nil {
		return nil, err
	}
	if sp.signingKeys, err = jwtauth.LoadKeys(cfg.JWTKeys); err != nil {
		return nil, fmt.Errorf("JWT_KEYS: %w", err)
	}
	sp.cfg = cfg
	return sp, nil
}

// conns is what a runtime is expected to hold: its pool's most and the
// REST schema listener's connection.
func (m *Manager) conns() int { return int(m.maxConns) + 1 }

// build opens a runtime for sp: the project's pool (PROJECT_DB_MAX_CONNS
// connections unless its URL says pool_max_conns), a NATS connection of its
// own (its realtime subscriptions end with it) and the capabilities' app.
// reserved connections were taken from the budget for it; the runtime gives
// back what its pool really holds, once closed.
func (m *Manager) build(ref string, sp *spec, reserved int, carry *sync.Map) (*runtime, error) {
	ctx, cancel := context.WithTimeout(m.o.BaseContext, buildTimeout)
	defer cancel()
	log := m.o.Log.With("project", ref)
	pool, err := db.NewPool(ctx, sp.cfg.DatabaseURL, nil, log.With("component", "db"), db.WithTier("worker"), db.WithMaxConns(m.maxConns))
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	var nc *nats.Conn
	if m.o.NATS != nil {
		nc, err = bus.Connect(m.o.Config.NATSURL, "madbase-worker-"+m.o.Config.InstanceID+"-"+ref, log)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("nats: %w", err)
		}
	}
	if sp.retiring != "" {
		apikey.Retire(sp.cfg.JWTSecret, sp.retiring, sp.retiresAt)
	} else {
		apikey.Forget(sp.cfg.JWTSecret)
	}
	if err := apikey.UseKeys(sp.cfg.JWTSecret, sp.signingKeys); err != nil {
		// Checked by open: a set that does not go with the secret.
		if nc != nil {
			nc.Close()
		}
		pool.Close()
		return nil, fmt.Errorf("JWT_KEYS: %w", err)
	}
	base, cancelBase := context.WithCancel(m.o.BaseContext)
	reg := prometheus.NewRegistry()
	rt := &runtime{spec: sp, pool: pool, nc: nc, reg: reg, cancel: cancelBase, closed: make(chan struct{}),
		budget: m.budget, conns: reserved}
	if held := int(pool.Config().MaxConns) + 1; held > reserved {
		// The database URL's pool_max_conns asked for more.
		m.budget.force(held - reserved)
		rt.conns = held
	}
	f := api.NewProject(api.Deps{
		Log: log, DB: pool, Config: sp.cfg, NATS: nc, Registry: reg, BaseContext: base, Dev: m.o.Dev, Project: ref,
		Background: &rt.background, Carry: carry,
	}, m.o.Capabilities)
	rt.handler = f.Handler()
	rt.lastUsed.Store(time.Now().UnixNano())
	return rt, nil
}
