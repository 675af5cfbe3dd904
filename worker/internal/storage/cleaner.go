package storage

import (
	"context"

	"github.com/jackc/pgx/v5"
	"strings"
	"time"
)

// cleanInterval is how often the cleaner looks for orphaned bytes.
const cleanInterval = 15 * time.Minute

// RunCleaner deletes, every cleanInterval until ctx is done, the bytes a
// crash or a failed delete left with no row pointing to them (see the
// package comment for why there can be such bytes and never the reverse).
// Every worker runs it; deleting an orphan twice is harmless.
func (h *Handler) RunCleaner(ctx context.Context) {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := h.CleanOrphans(ctx, time.Now().Add(-h.cfg.OrphanAge))
		if err != nil && ctx.Err() == nil {
			h.log.Warn("storage: orphan cleaning failed", "error", err.Error())
		} else if n > 0 {
			h.log.Info("storage: deleted orphaned bytes", "count", n)
		}
		t.Reset(cleanInterval)
	}
}

// CleanOrphans deletes stored bytes last modified before cutoff that no
// object row (or unfinished resumable upload) refers to, and returns how
// many it deleted.
func (h *Handler) CleanOrphans(ctx context.Context, cutoff time.Time) (int, error) {
	var candidates []string
	err := h.backend.Walk(ctx, func(key string, mod time.Time) error {
		if mod.Before(cutoff) {
			candidates = append(candidates, key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	deleted := 0
	for len(candidates) > 0 {
		batch := candidates[:min(len(candidates), 500)]
		candidates = candidates[len(batch):]
		var versions, uploads []string
		for _, k := range batch {
			switch {
			case strings.HasPrefix(k, "objects/"):
				versions = append(versions, versionOf(k))
			case strings.HasPrefix(k, "renders/"):
				versions = append(versions, renderVersion(k))
			case strings.HasPrefix(k, "tus/"):
				id, _, _ := strings.Cut(strings.TrimPrefix(k, "tus/"), "/")
				uploads = append(uploads, id)
			}
		}
		live := map[string]bool{}
		err := h.asService(ctx, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `select version from storage.objects where version = any($1)
union all select id from storage.tus_uploads where id = any($2) and expires_at > now()`, versions, uploads)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					return err
				}
				live[v] = true
			}
			return rows.Err()
		})
		if err != nil {
			return deleted, err
		}
		for _, k := range batch {
			keep := false
			switch {
			case !strings.HasPrefix(k, "objects/") && !strings.HasPrefix(k, "tus/") && !strings.HasPrefix(k, ".tmp/") &&
				!strings.HasPrefix(k, "renders/"):
				keep = true // not ours: an S3 bucket may hold other things
			case strings.HasPrefix(k, "objects/"):
				keep = live[versionOf(k)]
			case strings.HasPrefix(k, "renders/"):
				keep = live[renderVersion(k)]
			case strings.HasPrefix(k, "tus/"):
				id, _, _ := strings.Cut(strings.TrimPrefix(k, "tus/"), "/")
				keep = live[id]
			}
			if keep {
				continue
			}
			if err := h.backend.Delete(ctx, k); err != nil {
				return deleted, err
			}
			deleted++
		}
	}
	if err := h.svcExec(ctx, `delete from storage.tus_uploads where expires_at < $1`, cutoff); err != nil {
		return deleted, err
	}
	return deleted, nil
}
