package fleet

import (
	"sort"
	"time"

	"github.com/madbase/madbase/bus"
)

// Edge is one live edge as the admin API shows it (admin API contract).
type Edge struct {
	ID             string    `json:"id"`
	URL            string    `json:"url"`
	Version        string    `json:"version"`
	LastBeat       time.Time `json:"last_beat"`
	Connections    int64     `json:"connections"`
	WorkersKnown   int       `json:"workers_known"`
	WorkersHealthy int       `json:"workers_healthy"`
	Draining       bool      `json:"draining"`
	StartedAt      time.Time `json:"started_at"`
}

// DefaultEdgeExpiry is how long an edge stays listed after its last beat.
const DefaultEdgeExpiry = bus.MissedBeatsLimit * bus.EdgeHeartbeatInterval

// EdgeBeat records an edge's heartbeat, stamped with control's clock.
func (f *Fleet) EdgeBeat(h bus.EdgeHeartbeat) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, known := f.edges[h.ID]
	f.edges[h.ID] = Edge{
		ID:             h.ID,
		URL:            h.URL,
		Version:        h.Version,
		LastBeat:       f.now().UTC(),
		Connections:    h.Connections,
		WorkersKnown:   h.WorkersKnown,
		WorkersHealthy: h.WorkersHealthy,
		Draining:       h.Draining,
		StartedAt:      h.StartedAt,
	}
	if !known {
		f.log.Info("edge joined", "edge", h.ID, "url", h.URL, "version", h.Version)
	}
}

// sweepEdgesLocked drops the edges whose last beat is older than their
// expiry.
func (f *Fleet) sweepEdgesLocked(now time.Time) {
	for id, e := range f.edges {
		if now.Sub(e.LastBeat) > f.edgeExpiry {
			delete(f.edges, id)
			f.log.Warn("edge stopped beating", "edge", id, "url", e.URL, "last_beat", e.LastBeat)
		}
	}
}

// Edges returns the live edges sorted by id, leaving out those past their
// expiry even if Sweep has not run yet.
func (f *Fleet) Edges() []Edge {
	now := f.now()
	f.mu.Lock()
	out := make([]Edge, 0, len(f.edges))
	for _, e := range f.edges {
		if now.Sub(e.LastBeat) <= f.edgeExpiry {
			out = append(out, e)
		}
	}
	f.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
