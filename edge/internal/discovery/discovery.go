// Package discovery feeds the edge's pool from worker heartbeats and leave
// messages on NATS.
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

// Run subscribes to heartbeats and leaves until ctx is done, and drops
// workers that miss bus.MissedBeatsLimit beats. The subscriptions are plain
// (fan-out): every edge must see every worker.
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

	maxAge := bus.MissedBeatsLimit * bus.HeartbeatInterval
	t := time.NewTicker(bus.HeartbeatInterval / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			p.Prune(now, maxAge)
		}
	}
}
