package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/madbase/madbase/bus"
)

// walLockKey is the advisory lock whose holder reads the WAL (one worker
// per database).
const walLockKey int64 = 0x6d6164726c74 // "madrlt"

const (
	leaderRetry    = time.Second
	standbyTimeout = 10 * time.Second
)

// runReplication keeps trying to become the WAL reader until shutdown.
func (s *Service) runReplication() {
	for {
		if err := s.leadOnce(); err != nil && s.base.Err() == nil {
			s.log.Warn("realtime: WAL reader stopped; retrying", "error", err)
		}
		select {
		case <-s.base.Done():
			return
		case <-time.After(leaderRetry):
		}
	}
}

// relInfo describes a published table as pgoutput announced it.
type relInfo struct {
	schema, table string
	cols          []*pglogrepl.RelationMessageColumn
	typnames      []string
	pk            []string
	rls           bool
}

// leadOnce takes the advisory lock if free and streams the WAL while it
// holds it. It returns nil when another worker is the reader.
func (s *Service) leadOnce() error {
	ctx := s.base
	connCfg := s.pool.Config().ConnConfig.Copy()
	lockConn, err := pgx.ConnectConfig(ctx, connCfg)
	if err != nil {
		return fmt.Errorf("lock connection: %w", err)
	}
	defer lockConn.Close(context.WithoutCancel(ctx))
	var got bool
	if err := lockConn.QueryRow(ctx, "select pg_try_advisory_lock($1)", walLockKey).Scan(&got); err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	if !got {
		return nil
	}
	s.log.Info("realtime: this worker now reads the WAL for postgres_changes")

	rcfg := connCfg.Config.Copy()
	if rcfg.RuntimeParams == nil {
		rcfg.RuntimeParams = map[string]string{}
	}
	rcfg.RuntimeParams["replication"] = "database"
	rconn, err := pgconn.ConnectConfig(ctx, rcfg)
	if err != nil {
		s.changes.setUnavailable("cannot open a replication connection: " + err.Error())
		return fmt.Errorf("replication connection: %w", err)
	}
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	slot := "madbase_realtime_" + hex.EncodeToString(rb[:])
	defer func() {
		// Close the replication connection and wait until the server ended
		// its walsender, so the temporary slot is really gone on return.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = rconn.Close(wctx)
		for wctx.Err() == nil {
			var n int
			if lockConn.QueryRow(wctx, "select count(*) from pg_replication_slots where slot_name = $1", slot).Scan(&n) != nil || n == 0 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	res, err := pglogrepl.CreateReplicationSlot(ctx, rconn, slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Temporary: true, Mode: pglogrepl.LogicalReplication})
	if err != nil {
		s.changes.setUnavailable("cannot create a logical replication slot: " + err.Error())
		return fmt.Errorf("create slot: %w", err)
	}
	lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return err
	}
	if err := pglogrepl.StartReplication(ctx, rconn, slot, lsn, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names 'supabase_realtime,madbase_realtime_messages'"},
	}); err != nil {
		return fmt.Errorf("start replication: %w", err)
	}
	s.changes.setUnavailable("")
	s.leading.Store(true)
	defer s.leading.Store(false)

	rels := map[uint32]*relInfo{}
	var pending []bus.RealtimeChange
	var pendingB []bus.RealtimeBroadcast
	var commitTime time.Time
	clientLSN := lsn
	deadline := time.Now().Add(standbyTimeout)
	for {
		if time.Now().After(deadline) {
			if err := pglogrepl.SendStandbyStatusUpdate(ctx, rconn, pglogrepl.StandbyStatusUpdate{WALWritePosition: clientLSN}); err != nil {
				return fmt.Errorf("standby status: %w", err)
			}
			deadline = time.Now().Add(standbyTimeout)
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		raw, err := rconn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				continue
			}
			return err
		}
		if e, ok := raw.(*pgproto3.ErrorResponse); ok {
			return fmt.Errorf("replication error: %s", e.Message)
		}
		msg, ok := raw.(*pgproto3.CopyData)
		if !ok || len(msg.Data) == 0 {
			continue
		}
		switch msg.Data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
			if err != nil {
				return err
			}
			if pkm.ServerWALEnd > clientLSN {
				clientLSN = pkm.ServerWALEnd
			}
			if pkm.ReplyRequested {
				deadline = time.Time{}
			}
		case pglogrepl.XLogDataByteID:
			xld, err := pglogrepl.ParseXLogData(msg.Data[1:])
			if err != nil {
				return err
			}
			lm, err := pglogrepl.Parse(xld.WALData)
			if err != nil {
				return fmt.Errorf("decoding pgoutput: %w", err)
			}
			switch m := lm.(type) {
			case *pglogrepl.RelationMessage:
				ri, err := describeRelation(ctx, lockConn, m)
				if err != nil {
					return err
				}
				rels[m.RelationID] = ri
			case *pglogrepl.BeginMessage:
				commitTime, pending, pendingB = m.CommitTime, pending[:0], pendingB[:0]
			case *pglogrepl.InsertMessage:
				if ri := rels[m.RelationID]; ri != nil && ri.schema == "realtime" && ri.table == "messages" {
					if b, ok := dbBroadcast(ri.row(m.Tuple, false)); ok {
						b.Origin = s.worker
						pendingB = append(pendingB, b)
					}
				} else if ri != nil {
					c := ri.change("INSERT")
					c.Record = ri.row(m.Tuple, false)
					pending = append(pending, c)
				}
			case *pglogrepl.UpdateMessage:
				if ri := rels[m.RelationID]; ri != nil {
					c := ri.change("UPDATE")
					c.Record = ri.row(m.NewTuple, false)
					if m.OldTuple != nil {
						c.OldRecord = ri.row(m.OldTuple, m.OldTupleType == 'K')
					} else {
						c.OldRecord = ri.pkOf(c.Record)
					}
					// Unchanged TOASTed values are not sent; take them from the old row when known.
					for k, v := range c.OldRecord {
						if _, ok := c.Record[k]; !ok {
							c.Record[k] = v
						}
					}
					pending = append(pending, c)
				}
			case *pglogrepl.DeleteMessage:
				if ri := rels[m.RelationID]; ri != nil {
					c := ri.change("DELETE")
					c.OldRecord = ri.row(m.OldTuple, m.OldTupleType == 'K')
					pending = append(pending, c)
				}
			case *pglogrepl.CommitMessage:
				ts := commitTime.UTC().Format("2006-01-02T15:04:05.000Z")
				for _, c := range pending {
					c.CommitTimestamp = ts
					data, err := json.Marshal(c)
					if err != nil {
						continue
					}
					if err := s.nc.Publish(bus.RealtimeChanges(tenant), data); err != nil {
						s.log.Warn("realtime: publishing a change", "error", err)
					}
				}
				pending = pending[:0]
				for _, b := range pendingB {
					if err := s.publishBroadcast(b); err != nil {
						s.log.Warn("realtime: publishing a database broadcast", "error", err)
					}
				}
				pendingB = pendingB[:0]
			}
			if end := xld.WALStart + pglogrepl.LSN(len(xld.WALData)); end > clientLSN {
				clientLSN = end
			}
		}
	}
}

func describeRelation(ctx context.Context, conn *pgx.Conn, m *pglogrepl.RelationMessage) (*relInfo, error) {
	ri := &relInfo{schema: m.Namespace, table: m.RelationName, cols: m.Columns}
	oids := make([]uint32, len(m.Columns))
	for i, c := range m.Columns {
		oids[i] = c.DataType
	}
	// The primary key (the replica identity may be FULL, which flags every column).
	pkRows, err := conn.Query(ctx, `select a.attname::text from pg_index i
		join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
		where i.indrelid = $1 and i.indisprimary order by array_position(i.indkey::int2[], a.attnum)`, m.RelationID)
	if err != nil {
		return nil, err
	}
	for pkRows.Next() {
		var name string
		if err := pkRows.Scan(&name); err != nil {
			pkRows.Close()
			return nil, err
		}
		ri.pk = append(ri.pk, name)
	}
	pkRows.Close()
	if err := pkRows.Err(); err != nil {
		return nil, err
	}
	names := map[uint32]string{}
	rows, err := conn.Query(ctx, "select oid, typname::text from pg_type where oid = any($1)", oids)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var oid uint32
		var name string
		if err := rows.Scan(&oid, &name); err != nil {
			rows.Close()
			return nil, err
		}
		names[oid] = name
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, o := range oids {
		ri.typnames = append(ri.typnames, names[o])
	}
	err = conn.QueryRow(ctx, "select relrowsecurity from pg_class where oid = $1", m.RelationID).Scan(&ri.rls)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	return ri, nil
}

func (ri *relInfo) change(typ string) bus.RealtimeChange {
	cols := make([]bus.RealtimeColumn, len(ri.cols))
	for i, c := range ri.cols {
		cols[i] = bus.RealtimeColumn{Name: c.Name, Type: ri.typnames[i]}
	}
	pk := ri.pk
	if pk == nil {
		pk = []string{}
	}
	return bus.RealtimeChange{Schema: ri.schema, Table: ri.table, Type: typ, Columns: cols, PrimaryKey: pk, RLS: ri.rls}
}

// row converts a tuple to JSON values; keyOnly keeps the identity columns.
func (ri *relInfo) row(t *pglogrepl.TupleData, keyOnly bool) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	if t == nil {
		return out
	}
	for i, col := range t.Columns {
		if i >= len(ri.cols) {
			break
		}
		rc := ri.cols[i]
		if keyOnly && rc.Flags&1 == 0 {
			continue
		}
		switch col.DataType {
		case 'n':
			out[rc.Name] = json.RawMessage("null")
		case 't':
			out[rc.Name] = textToJSON(ri.typnames[i], string(col.Data))
		}
	}
	return out
}

func (ri *relInfo) pkOf(rec map[string]json.RawMessage) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, k := range ri.pk {
		if v, ok := rec[k]; ok {
			out[k] = v
		}
	}
	return out
}

// textToJSON converts a PostgreSQL text value to JSON by type: booleans
// and numbers native, json/jsonb as is, everything else a string (the
// client converts arrays and timestamps by column type).
func textToJSON(typ, v string) json.RawMessage {
	switch typ {
	case "bool":
		if v == "t" {
			return json.RawMessage("true")
		}
		return json.RawMessage("false")
	case "int2", "int4", "int8", "oid", "float4", "float8", "numeric":
		if _, err := strconv.ParseFloat(v, 64); err == nil && json.Valid([]byte(v)) {
			return json.RawMessage(v)
		}
	case "json", "jsonb":
		if json.Valid([]byte(v)) {
			return json.RawMessage(v)
		}
	}
	b, _ := json.Marshal(v)
	return b
}

// dbBroadcast turns a row inserted into realtime.messages into a broadcast
// (extension broadcast only); the message id is added to an object payload.
func dbBroadcast(row map[string]json.RawMessage) (bus.RealtimeBroadcast, bool) {
	str := func(k string) string { v, _ := valueText(row[k]); return v }
	if str("extension") != "broadcast" || str("topic") == "" {
		return bus.RealtimeBroadcast{}, false
	}
	b := bus.RealtimeBroadcast{Topic: str("topic"), Event: str("event"), Private: str("private") != "false", ID: str("id")}
	payload := row["payload"]
	var obj map[string]json.RawMessage
	if json.Unmarshal(payload, &obj) == nil && obj != nil {
		if _, ok := obj["id"]; !ok && b.ID != "" {
			obj["id"], _ = json.Marshal(b.ID)
			payload, _ = json.Marshal(obj)
		}
	}
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	b.Payload = payload
	return b, true
}
