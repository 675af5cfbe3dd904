package realtime

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/db"
)

var errProbe = errors.New("probe rolled back")

// authorize runs the realtime.messages policies for a private topic
// (docs/api/realtime.md §8): read = probe rows inserted with privilege are visible to the role;
// write = the role may insert a probe row. Everything is rolled back.
func (s *Service) authorize(parent context.Context, topic string, claims db.Claims) (perms, error) {
	if claims.Role() == db.RoleServiceRole {
		return allPerms, nil
	}
	if s.pool == nil {
		return perms{}, errors.New("no database")
	}
	ctx, cancel := context.WithTimeout(parent, dbTimeout)
	defer cancel()
	var pr perms
	claimsJSON, _ := json.Marshal(claims)

	// Read: privileged probes, selected as the role.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return pr, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var bID, pID string
	if err := tx.QueryRow(ctx, `insert into realtime.messages (topic, extension, event, private) values ($1, 'broadcast', 'probe', true) returning id::text`, topic).Scan(&bID); err != nil {
		return pr, err
	}
	if err := tx.QueryRow(ctx, `insert into realtime.messages (topic, extension, event, private) values ($1, 'presence', 'probe', true) returning id::text`, topic).Scan(&pID); err != nil {
		return pr, err
	}
	if _, err := tx.Exec(ctx, "set local role "+pgx.Identifier{claims.Role()}.Sanitize()); err != nil {
		return pr, err
	}
	if _, err := tx.Exec(ctx, `select set_config('request.jwt.claims', $1, true), set_config('request.jwt.claim.sub', $2, true),
		set_config('request.jwt.claim.role', $3, true), set_config('realtime.topic', $4, true)`,
		string(claimsJSON), claims.Subject(), claims.Role(), topic); err != nil {
		return pr, err
	}
	rows, err := tx.Query(ctx, `select id::text from realtime.messages where id::text = any($1)`, []string{bID, pID})
	if err != nil {
		return pr, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return pr, err
		}
		switch id {
		case bID:
			pr.readBroadcast = true
		case pID:
			pr.readPresence = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return pr, err
	}
	_ = tx.Rollback(ctx)

	// Write: the role inserts probes.
	err = db.WithClaims(ctx, s.pool, claims, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select set_config('realtime.topic', $1, true)`, topic); err != nil {
			return err
		}
		for _, ext := range []string{"broadcast", "presence"} {
			if _, err := tx.Exec(ctx, "savepoint probe"); err != nil {
				return err
			}
			_, ierr := tx.Exec(ctx, `insert into realtime.messages (topic, extension, event, private) values ($1, $2, 'probe', true)`, topic, ext)
			if _, err := tx.Exec(ctx, "rollback to savepoint probe"); err != nil {
				return err
			}
			if ierr == nil {
				if ext == "broadcast" {
					pr.writeBroadcast = true
				} else {
					pr.writePresence = true
				}
			}
		}
		return errProbe
	})
	if err != nil && !errors.Is(err, errProbe) {
		return pr, err
	}
	return pr, nil
}
