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
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
)

// SettingAllowedOrigins is the project setting the edge applies.
const SettingAllowedOrigins = "ALLOWED_ORIGINS"

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
	return bus.WatchProjects(ctx, w.nc, w.log, bus.ProjectEvents{Put: w.put, Delete: w.delete, Synced: w.synced})
}

// synced forgets the projects deleted while the watch was away, then
// applies the projects at once. Without JetStream there are none; without
// a bucket what the edge holds stays.
func (w *Watcher) synced(present map[string]bool, noJetStream bool) {
	switch {
	case noJetStream:
		if len(w.known) == 0 {
			return
		}
		w.known = map[string]project{}
	case present == nil:
		return
	default:
		for ref := range w.known {
			if !present[ref] {
				delete(w.known, ref)
				w.log.Info("projects: project deleted", "project", ref)
			}
		}
	}
	w.publish()
}

func (w *Watcher) delete(ref string, initial bool) {
	if _, ok := w.known[ref]; !ok {
		return
	}
	delete(w.known, ref)
	w.log.Info("projects: project deleted", "project", ref)
	if !initial {
		w.publish()
	}
}

// put records one published configuration and applies the change, if it
// changed what the edge holds, unless the bucket's first read is on.
func (w *Watcher) put(pc bus.ProjectConfig, initial bool) {
	ref := pc.Ref
	if ref == w.defaultRef {
		w.log.Error("projects: a project may not take the default project's ref; ignored", "project", ref)
		return
	}
	old, had := w.known[ref]
	if had && old.id == pc.ID && pc.Revision <= old.revision {
		return // stale or known
	}
	p := project{id: pc.ID, revision: pc.Revision, origins: Origins(pc.Settings)}
	w.known[ref] = p
	w.log.Debug("projects: configuration taken", "project", ref, "revision", pc.Revision)
	if (!had || !slices.Equal(old.origins, p.origins)) && !initial {
		w.publish()
	}
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
