package realtime

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/db"
	"github.com/nats-io/nats.go"
)

// pgSub is one postgres_changes subscription of a channel.
type pgSub struct {
	id     int64
	event  string // INSERT, UPDATE, DELETE or *
	schema string
	table  string // "" = every table of the schema
	filter string
	f      *filter
	// sel lists the columns asked for with `select` (nil = all); the
	// primary key is always added at delivery.
	sel []string
}

// parsePGSubs reads config.postgres_changes and builds the join reply's
// echo: each entry as received plus its id, in order.
func parsePGSubs(entries []json.RawMessage) ([]pgSub, []any, string) {
	subs := []pgSub{}
	echo := []any{}
	for _, raw := range entries {
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if dec.Decode(&obj) != nil || obj == nil {
			return nil, nil, "InvalidPostgresChanges: each postgres_changes entry must be an object"
		}
		str := func(k string) string { v, _ := obj[k].(string); return v }
		h := fnv.New32a()
		_, _ = h.Write(raw)
		sub := pgSub{id: int64(h.Sum32()), event: strings.ToUpper(str("event")), schema: str("schema"),
			table: str("table"), filter: str("filter")}
		switch sub.event {
		case "INSERT", "UPDATE", "DELETE", "*":
		default:
			sub.event = "*"
		}
		if sub.schema == "" {
			sub.schema = "public"
		}
		if sub.table == "*" {
			sub.table = ""
		}
		if raw, ok := obj["select"].([]any); ok {
			sub.sel = []string{}
			for _, v := range raw {
				if name, ok := v.(string); ok {
					sub.sel = append(sub.sel, name)
				}
			}
		}
		obj["id"] = sub.id
		subs = append(subs, sub)
		echo = append(echo, obj)
	}
	return subs, echo, ""
}

// changeState tracks whether this worker can serve postgres_changes.
type changeState struct {
	s      *Service
	mu     sync.Mutex
	reason string // why postgres_changes are unavailable; "" when fine
}

func newChangeState(s *Service) *changeState { return &changeState{s: s} }

func (c *changeState) unavailable() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

func (c *changeState) setUnavailable(reason string) {
	c.mu.Lock()
	c.reason = reason
	c.mu.Unlock()
}

// startChanges checks that the database can do logical replication,
// subscribes to captured changes and runs the WAL reader election.
func (s *Service) startChanges() {
	if s.pool == nil {
		s.changes.setUnavailable("the worker has no database")
		return
	}
	ctx, cancel := context.WithTimeout(s.base, dbTimeout)
	var level string
	err := s.pool.QueryRow(ctx, "show wal_level").Scan(&level)
	cancel()
	switch {
	case err != nil:
		s.log.Error("realtime: cannot check wal_level; postgres_changes may not work", "error", err)
	case level != "logical":
		reason := "the database runs with wal_level=" + level + "; logical replication needs wal_level=logical"
		s.log.Error("realtime: postgres_changes are disabled: " + reason)
		s.changes.setUnavailable(reason)
		return
	}
	if _, err := s.nc.Subscribe(bus.RealtimeChanges(s.tenant), func(m *nats.Msg) {
		if s.changeMark.admit(m.Header) {
			s.onChange(m.Data)
		}
	}); err != nil {
		s.log.Error("realtime: subscribing to changes", "error", err)
		s.changes.setUnavailable("the worker could not subscribe to captured changes")
		return
	}
	s.bg.Add(1)
	go func() { defer s.bg.Done(); s.runReplication() }()
}

// checkPG validates the channel's subscriptions against the publication
// and the tables' columns; it returns the system message to report
// (docs/api/realtime.md §7). It runs before the join reply, so SUBSCRIBED means live.
func (ch *channel) checkPG(subs []pgSub) (status, message string) {
	svc := ch.sock.svc
	ctx, cancel := context.WithTimeout(svc.base, dbTimeout)
	defer cancel()
	for i := range subs {
		sub := &subs[i]
		f, err := parseFilter(sub.filter)
		if err != nil {
			return "error", "Error parsing `filter` params: " + err.Error()
		}
		sub.f = f
		if sub.sel != nil && (sub.table == "" || sub.schema == "*") {
			return "error", "Unable to subscribe to changes with given parameters: `select` needs a specific schema and table"
		}
		unable := "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [event: " +
			sub.event + ", schema: " + sub.schema + ", table: " + sub.table + ", filters: " + sub.filter + "]"
		var n int
		err = svc.pool.QueryRow(ctx, `select count(*) from pg_publication_tables
			where pubname = 'supabase_realtime' and schemaname = $1 and ($2 = '' or tablename = $2)`,
			sub.schema, sub.table).Scan(&n)
		if err != nil {
			svc.log.Error("realtime: checking the publication", "error", err)
			return "error", unable
		}
		if n == 0 {
			return "error", unable
		}
		if f != nil && sub.table != "" {
			var ok bool
			err = svc.pool.QueryRow(ctx, `select exists(select 1 from pg_attribute a join pg_class c on c.oid = a.attrelid
				join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2 and a.attname = $3
				and a.attnum > 0 and not a.attisdropped)`, sub.schema, sub.table, f.column).Scan(&ok)
			if err != nil || !ok {
				return "error", "Error parsing `filter` params: column " + f.column + " does not exist on " + sub.schema + "." + sub.table
			}
		}
	}
	if err := svc.holdChanges(ctx); err != nil {
		svc.log.Error("realtime: making the replication slot", "error", err)
		return "error", "Unable to subscribe to changes: the database's replication slot could not be made"
	}
	ch.mu.Lock()
	ch.pg = subs
	ch.mu.Unlock()
	return "ok", "Subscribed to PostgreSQL"
}

// onChange delivers a captured change to this worker's subscribers.
func (s *Service) onChange(data []byte) {
	var c bus.RealtimeChange
	if err := json.Unmarshal(data, &c); err != nil {
		s.log.Warn("realtime: undecodable change on the bus", "error", err)
		return
	}
	s.metrics.changes.Inc()
	s.mu.Lock()
	var chans []*channel
	for _, ts := range s.topics {
		for ch := range ts.chans {
			if ch.ready {
				chans = append(chans, ch)
			}
		}
	}
	s.mu.Unlock()
	row := c.Record
	if c.Type == "DELETE" {
		row = c.OldRecord
	}
	visible := map[string]bool{} // claims JSON → row visible
	for _, ch := range chans {
		ch.mu.Lock()
		subs, claims := ch.pg, ch.claims
		ch.mu.Unlock()
		var ids []int64
		var sel map[string]bool // union of the matching subscriptions' select; nil = all
		allCols := false
		for _, sub := range subs {
			if sub.schema == c.Schema && (sub.table == "" || sub.table == c.Table) &&
				(sub.event == "*" || sub.event == c.Type) && sub.f.match(row) {
				ids = append(ids, sub.id)
				if sub.sel == nil {
					allCols = true
				} else {
					if sel == nil {
						sel = map[string]bool{}
					}
					for _, col := range sub.sel {
						sel[col] = true
					}
				}
			}
		}
		if allCols {
			sel = nil
		} else if sel != nil {
			for _, k := range c.PrimaryKey {
				sel[k] = true
			}
		}
		if len(ids) == 0 {
			continue
		}
		if c.RLS && c.Type != "DELETE" && claims.Role() != db.RoleServiceRole {
			key, _ := json.Marshal(claims)
			v, ok := visible[string(key)]
			if !ok {
				v = s.rowVisible(c, claims)
				visible[string(key)] = v
			}
			if !v {
				continue
			}
		}
		allowed, err := s.allowedColumns(claims.Role(), c)
		if err != nil {
			s.log.Warn("realtime: reading column privileges; not delivering", "error", err)
			continue
		}
		if sel != nil {
			narrowed := map[string]bool{}
			for col := range sel {
				if allowed == nil || allowed[col] {
					narrowed[col] = true
				}
			}
			allowed = narrowed
		}
		var errs any
		cols := c.Columns
		if allowed != nil {
			cols = make([]bus.RealtimeColumn, 0, len(c.Columns))
			for _, col := range c.Columns {
				if allowed[col.Name] {
					cols = append(cols, col)
				}
			}
			for _, k := range c.PrimaryKey {
				if !allowed[k] {
					errs = []string{"Error 401: Unauthorized"}
				}
			}
		}
		if len(c.PrimaryKey) == 0 && errs == nil {
			errs = []string{"Error 400: Bad Request, no primary key"}
		}
		d := map[string]any{"schema": c.Schema, "table": c.Table, "commit_timestamp": c.CommitTimestamp,
			"type": c.Type, "columns": cols, "errors": errs}
		if c.Record != nil {
			d["record"] = keepColumns(c.Record, allowed)
		}
		if c.OldRecord != nil {
			old := keepColumns(c.OldRecord, allowed)
			if c.RLS && claims.Role() != db.RoleServiceRole {
				old = map[string]json.RawMessage{}
				for _, k := range c.PrimaryKey {
					old[k] = c.OldRecord[k]
				}
			}
			d["old_record"] = old
		}
		ch.sock.push(nil, nil, ch.topic, "postgres_changes", map[string]any{"ids": ids, "data": d})
	}
}

// rowVisible checks, as the subscriber, that RLS lets it see the row.
func (s *Service) rowVisible(c bus.RealtimeChange, claims db.Claims) bool {
	if len(c.PrimaryKey) == 0 {
		return false
	}
	var where []string
	var args []any
	for i, k := range c.PrimaryKey {
		v, ok := valueText(c.Record[k])
		if !ok {
			return false
		}
		where = append(where, pgx.Identifier{k}.Sanitize()+"::text = $"+itoa(i+1))
		args = append(args, v)
	}
	q := "select exists(select 1 from " + pgx.Identifier{c.Schema, c.Table}.Sanitize() + " where " + strings.Join(where, " and ") + ")"
	ctx, cancel := context.WithTimeout(s.base, dbTimeout)
	defer cancel()
	var ok bool
	err := db.WithClaims(ctx, s.pool, claims, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, q, args...).Scan(&ok)
	})
	if err != nil {
		s.log.Debug("realtime: RLS check failed; not delivering", "error", err)
		return false
	}
	return ok
}
