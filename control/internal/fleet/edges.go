package fleet

import (
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

// Edges returns the live edges sorted by id, leaving out those past their
// expiry even if Sweep has not run yet.
func (f *Fleet) Edges() []Edge {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	return live(f.edges, now, f.edgeExpiry, func(e Edge) time.Time { return e.LastBeat })
}
