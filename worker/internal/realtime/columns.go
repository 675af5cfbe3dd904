package realtime

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/db"
)

// columnCacheTTL bounds how long a role's column privileges are reused.
const columnCacheTTL = 5 * time.Second

type colKey struct{ role, schema, table string }

type colEntry struct {
	at      time.Time
	allowed map[string]bool // nil = every column
}

// columnCache remembers which columns each role may SELECT per table.
type columnCache struct {
	mu sync.Mutex
	m  map[colKey]colEntry
}

// allowedColumns returns the columns of a change the role may read (nil
// when all of them), from has_column_privilege.
func (s *Service) allowedColumns(role string, c bus.RealtimeChange) (map[string]bool, error) {
	if role == db.RoleServiceRole {
		return nil, nil
	}
	k := colKey{role, c.Schema, c.Table}
	s.cols.mu.Lock()
	if e, ok := s.cols.m[k]; ok && time.Since(e.at) < columnCacheTTL {
		s.cols.mu.Unlock()
		return e.allowed, nil
	}
	s.cols.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.base, dbTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `select a.attname::text, has_column_privilege($1, c.oid, a.attname, 'SELECT')
		from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid
		where n.nspname = $2 and c.relname = $3 and a.attnum > 0 and not a.attisdropped`, role, c.Schema, c.Table)
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	all := true
	for rows.Next() {
		var name string
		var ok bool
		if err := rows.Scan(&name, &ok); err != nil {
			rows.Close()
			return nil, err
		}
		if ok {
			allowed[name] = true
		} else {
			all = false
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if all {
		allowed = nil
	}
	s.cols.mu.Lock()
	if s.cols.m == nil {
		s.cols.m = map[colKey]colEntry{}
	}
	s.cols.m[k] = colEntry{at: time.Now(), allowed: allowed}
	s.cols.mu.Unlock()
	return allowed, nil
}

func keepColumns(rec map[string]json.RawMessage, allowed map[string]bool) map[string]json.RawMessage {
	if rec == nil || allowed == nil {
		return rec
	}
	out := make(map[string]json.RawMessage, len(rec))
	for k, v := range rec {
		if allowed[k] {
			out[k] = v
		}
	}
	return out
}
