package realtime

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/db"
)

// replayConfig is config.broadcast.replay.
type replayConfig struct {
	Since int64 `json:"since"` // epoch ms
	Limit int   `json:"limit"`
}

const (
	defaultReplayLimit = 25
	maxReplayLimit     = 25
)

// replay pushes the stored broadcasts of a private topic newer than since,
// as the channel's role (realtime.messages policies apply), with
// meta {replayed: true, id} (docs/api/realtime.md §5).
func (ch *channel) replay(rc replayConfig) {
	svc := ch.sock.svc
	if svc.pool == nil {
		return
	}
	limit := rc.Limit
	if limit <= 0 || limit > maxReplayLimit {
		limit = defaultReplayLimit
	}
	ctx, cancel := context.WithTimeout(svc.base, dbTimeout)
	defer cancel()
	type msg struct {
		id, event string
		payload   json.RawMessage
	}
	var msgs []msg
	err := db.WithClaims(ctx, svc.pool, ch.currentClaims(), func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select set_config('realtime.topic', $1, true)`, ch.name); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `select id::text, coalesce(event, ''), coalesce(payload, 'null'::jsonb)
			from realtime.messages where topic = $1 and extension = 'broadcast' and private
			and inserted_at >= $2 order by inserted_at limit $3`,
			ch.name, time.UnixMilli(rc.Since).UTC(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m msg
			if err := rows.Scan(&m.id, &m.event, &m.payload); err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		return rows.Err()
	})
	if err != nil {
		svc.log.Warn("realtime: replaying stored broadcasts", "error", err)
		return
	}
	ch.mu.Lock()
	ch.replayed = map[string]bool{}
	for _, m := range msgs {
		ch.replayed[m.id] = true
	}
	ch.mu.Unlock()
	for _, m := range msgs {
		ch.sock.push(nil, nil, ch.topic, "broadcast", map[string]any{
			"type": "broadcast", "event": m.event, "payload": m.payload,
			"meta": map[string]any{"replayed": true, "id": m.id}})
	}
}
