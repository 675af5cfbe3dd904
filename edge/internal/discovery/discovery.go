// Package discovery feeds the edge's pool from worker heartbeats and leave
// messages on NATS, after seeding it by asking every worker's micro service
// at start (bus.DiscoverWorkers), so a starting edge serves at once rather
// than after the next round of beats.
package discovery

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/nats-io/nats.go"
)

// seedWait is how long the start-up question waits for answers; workers
// that answer later are found by their heartbeats.
const seedWait = 300 * time.Millisecond

// Run subscribes to heartbeats and leaves until ctx is done, and drops
// workers that miss bus.MissedBeatsLimit beats while nc is connected: while
// it is not, the pool keeps its workers (see pool.SetBus). The
// subscriptions are plain (fan-out): every edge must see every worker.
func Run(ctx context.Context, nc *nats.Conn, p *pool.Pool, log *slog.Logger) error {
	beats, err := nc.Subscribe(bus.AllHeartbeats, func(m *nats.Msg) {
		var hb bus.Heartbeat
		if err := json.Unmarshal(m.Data, &hb); err != nil || hb.URL == "" {
			log.Warn("bad heartbeat", "component", "discovery", "subject", m.Subject)
			return
		}
		p.Beat(hb.ID, hb.URL, hb.Draining, time.Now())
	})
	if err != nil {
		return err
	}
	defer beats.Unsubscribe()
	leaves, err := nc.Subscribe(bus.AllLeaves, func(m *nats.Msg) {
		var lv bus.Leave
		if err := json.Unmarshal(m.Data, &lv); err != nil {
			log.Warn("bad leave message", "component", "discovery", "subject", m.Subject)
			return
		}
		p.Leave(lv.ID, lv.URL)
	})
	if err != nil {
		return err
	}
	defer leaves.Unsubscribe()

	// Seed after subscribing: a worker that leaves meanwhile is seen leaving.
	bus.DiscoverWorkers(ctx, nc, seedWait, func(w bus.DiscoveredWorker) { p.Beat(w.ID, w.URL, false, time.Now()) })

	maxAge := bus.MissedBeatsLimit * bus.HeartbeatInterval
	t := time.NewTicker(bus.HeartbeatInterval / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			p.SetBus(nc.IsConnected(), now)
			p.Prune(now, maxAge)
		}
	}
}
