// Package projects follows the projects control publishes in the
// bus.ProjectsBucket key-value bucket for what the edge needs of them: each
// project's ALLOWED_ORIGINS setting, which the edge answers CORS with for
// the project's requests (forwarding.Policy.SetProjectOrigins).
//
// Run watches the whole bucket: its current values first, then every
// change NATS pushes. A holder keeps the highest revision of a project's
// id; another id under the same ref is a new project; a deleted key is a
// deleted project; the default project's ref is never taken. After NATS was
// away the bucket is read again, and meanwhile the edge keeps what it had.
// A NATS server without JetStream holds no projects. The edge needs no
// secret of a project, so nothing is unsealed here.
package projects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SettingAllowedOrigins is the project setting the edge applies.
const SettingAllowedOrigins = "ALLOWED_ORIGINS"

// rewatchDelay is the pause before the bucket is watched again after the
// watch failed (NATS away, bucket not created yet).
const rewatchDelay = time.Second

// Watcher keeps the projects' origins and hands every new set to Apply.
type Watcher struct {
	nc         *nats.Conn
	log        *slog.Logger
	defaultRef string
	// apply receives ref -> ALLOWED_ORIGINS (split at commas) of the
	// projects that set it, after every change; it may keep the map.
	apply func(map[string][]string)

	// known is what the watch took, touched by Run's goroutine only.
	known map[string]project
}

// project is what the edge holds of one project.
type project struct {
	id       string
	revision int64
	// origins is its ALLOWED_ORIGINS, nil when it sets none.
	origins []string
}

// New makes a watcher on nc; apply receives each new set of origins.
func New(nc *nats.Conn, log *slog.Logger, defaultRef string, apply func(map[string][]string)) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{nc: nc, log: log.With("component", "projects"), defaultRef: defaultRef, apply: apply,
		known: map[string]project{}}
}

// Run watches the bucket until ctx is done.
func (w *Watcher) Run(ctx context.Context) error {
	js, err := jetstream.New(w.nc)
	if err != nil {
		return fmt.Errorf("projects: %w", err)
	}
	for {
		err := w.watch(ctx, js)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, errReconnected) {
			w.log.Debug("projects: watching the bucket again", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(rewatchDelay):
		}
	}
}

var errReconnected = errors.New("NATS reconnected")

// watch reads the bucket's current values, then follows its changes until
// the watch fails or NATS reconnects.
func (w *Watcher) watch(ctx context.Context, js jetstream.JetStream) error {
	reconnects := w.nc.Stats().Reconnects
	kv, err := js.KeyValue(ctx, bus.ProjectsBucket)
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, nats.ErrNoResponders):
		// Control cannot publish projects without JetStream: there are
		// none.
		if len(w.known) > 0 {
			w.known = map[string]project{}
			w.publish()
		}
		return err
	case err != nil:
		// No bucket yet (control makes it with the first project), or NATS
		// away: what the edge holds stays.
		return err
	}
	watcher, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = watcher.Stop() }()
	seen := map[string]bool{}
	initial := true
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if w.nc.Stats().Reconnects != reconnects {
				return errReconnected
			}
		case e, ok := <-watcher.Updates():
			if !ok {
				return errors.New("the watch ended")
			}
			switch {
			case e == nil:
				// The current values are in: forget the projects deleted
				// meanwhile, then apply them at once.
				if initial {
					initial = false
					for ref := range w.known {
						if !seen[ref] {
							delete(w.known, ref)
							w.log.Info("projects: project deleted", "project", ref)
						}
					}
					w.publish()
				}
			case e.Operation() != jetstream.KeyValuePut:
				if _, ok := w.known[e.Key()]; ok {
					delete(w.known, e.Key())
					w.log.Info("projects: project deleted", "project", e.Key())
					if !initial {
						w.publish()
					}
				}
			default:
				if initial {
					seen[e.Key()] = true
				}
				if w.take(e.Key(), e.Value()) && !initial {
					w.publish()
				}
			}
		}
	}
}

// take records one published configuration and reports whether it changed
// what the edge holds.
func (w *Watcher) take(ref string, value []byte) bool {
	var pc bus.ProjectConfig
	if err := json.Unmarshal(value, &pc); err != nil || pc.Ref != ref {
		w.log.Error("projects: undecodable configuration ignored", "project", ref, "error", fmt.Sprint(err))
		return false
	}
	if ref == w.defaultRef {
		w.log.Error("projects: a project may not take the default project's ref; ignored", "project", ref)
		return false
	}
	old, had := w.known[ref]
	if had && old.id == pc.ID && pc.Revision <= old.revision {
		return false // stale or known
	}
	p := project{id: pc.ID, revision: pc.Revision, origins: Origins(pc.Settings)}
	w.known[ref] = p
	w.log.Debug("projects: configuration taken", "project", ref, "revision", pc.Revision)
	return !had || !slices.Equal(old.origins, p.origins)
}

// publish hands the projects' origins to apply.
func (w *Watcher) publish() {
	out := make(map[string][]string, len(w.known))
	for ref, p := range w.known {
		if p.origins != nil {
			out[ref] = p.origins
		}
	}
	w.apply(out)
	w.log.Debug("projects: origins applied", "projects", slices.Sorted(maps.Keys(out)))
}

// Origins is a project's ALLOWED_ORIGINS setting split at commas, or nil
// when it sets none (an absent or blank value leaves the edge's).
func Origins(settings map[string]string) []string {
	v, ok := settings[SettingAllowedOrigins]
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	var out []string
	for _, o := range strings.Split(v, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}
