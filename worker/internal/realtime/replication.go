package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
)

// The WAL reader. One worker per database holds walLockKey and streams the
// WAL from a persistent logical replication slot (slotPrefix + the
// database's oid; slots belong to the server, the oid tells its databases
// apart). It confirms a position to PostgreSQL only once NATS holds every
// change before it, so the slot keeps whatever a reader's death could lose
// and the next reader resumes from there: a committed change is published
// at least once. Each message carries its WAL position (walHeader), and
// every subscription drops positions it already delivered, so subscribers
// see it once.
//
// While no worker reads, the slot keeps the WAL. PostgreSQL's
// max_slot_wal_keep_size bounds that: past it the slot is invalidated
// ("lost"), and the next reader makes a new one (the changes in between are
// not delivered). Without MadBase for good, drop it:
// select pg_drop_replication_slot('madbase_realtime_<database oid>').

// walLockKey is the advisory lock whose holder reads the WAL.
const walLockKey int64 = 0x6d6164726c74 // "madrlt"

const (
	slotPrefix  = "madbase_realtime_"
	leaderRetry = time.Second
	// statusInterval is how often the reader confirms what it published; a
	// new reader replays at most about that much.
	statusInterval = time.Second
	// slotWait bounds the wait for the last reader's walsender to let go of
	// the slot (it ends a moment after its connection closed).
	slotWait = 10 * time.Second
	// busFlushTimeout bounds the round trip that makes sure NATS holds what
	// was published before it is confirmed.
	busFlushTimeout = 5 * time.Second
	publications    = "supabase_realtime,madbase_realtime_messages"
)

// runReplication keeps trying to become the WAL reader while the reader is
// wanted on this worker (walwant.go), until shutdown.
func (s *Service) runReplication() {
	for {
		ctx := s.wal.wait()
		if ctx == nil {
			return
		}
		err := s.leadOnce(ctx)
		switch {
		case s.base.Err() != nil:
			return
		case ctx.Err() != nil:
			continue // no channel left here: wait for the next one
		case err != nil:
			s.log.Warn("realtime: WAL reader stopped; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(leaderRetry):
		}
	}
}

// leadOnce becomes the WAL reader if no other worker is, and streams until
// the stream fails or ctx ends (the worker stops, or its last channel
// left). It returns nil when another worker reads. Ending, it closes the
// lock's session and the replication connection, which frees the lock and
// the slot for the next reader.
func (s *Service) leadOnce(ctx context.Context) error {
	lockConn, got, err := s.takeLead(ctx)
	if err != nil || !got {
		return err
	}
	defer lockConn.Close(context.WithoutCancel(ctx))
	s.log.Info("realtime: this worker now reads the WAL for postgres_changes")
	defer func() {
		if ctx.Err() != nil && s.base.Err() == nil {
			s.log.Info("realtime: no channel left on this worker; it stopped reading the WAL")
		}
	}()

	rconn, err := s.replicationConn(ctx)
	if err != nil {
		s.changes.setUnavailable("cannot open a replication connection: " + err.Error())
		return err
	}
	defer rconn.Close(context.WithoutCancel(ctx))
	sys, err := pglogrepl.IdentifySystem(ctx, rconn)
	if err != nil {
		return fmt.Errorf("identify system: %w", err)
	}
	slot, err := s.ensureSlot(ctx, lockConn, rconn)
	if err != nil {
		if !errors.Is(err, errSlotBusy) && ctx.Err() == nil {
			s.changes.setUnavailable("cannot create a logical replication slot: " + err.Error())
		}
		return err
	}
	s.warnUnboundedSlot(ctx, lockConn, slot)
	// From LSN 0 the server starts where the slot's last reader confirmed.
	if err := pglogrepl.StartReplication(ctx, rconn, slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + publications + "'"},
	}); err != nil {
		return fmt.Errorf("start replication: %w", err)
	}
	s.changes.setUnavailable("")
	s.leading.Store(true)
	defer s.leading.Store(false)
	r := &walReader{s: s, conn: rconn, cat: lockConn, origin: sys.SystemID + "-" + strconv.Itoa(int(sys.Timeline)),
		rels: map[uint32]*relInfo{}, nextStatus: time.Now().Add(statusInterval)}
	return r.run(ctx)
}

// takeLead opens the session that holds the advisory lock and takes the
// lock if it is free; got is false (and the session closed) when another
// worker holds it.
func (s *Service) takeLead(ctx context.Context) (conn *pgx.Conn, got bool, err error) {
	conn, err = pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, false, fmt.Errorf("lock connection: %w", err)
	}
	if err := conn.QueryRow(ctx, "select pg_try_advisory_lock($1)", walLockKey).Scan(&got); err != nil || !got {
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, false, fmt.Errorf("advisory lock: %w", err)
		}
		return nil, false, nil
	}
	return conn, true, nil
}

// replicationConn opens a logical replication connection to the database.
func (s *Service) replicationConn(ctx context.Context) (*pgconn.PgConn, error) {
	cfg := s.pool.Config().ConnConfig.Config.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("replication connection: %w", err)
	}
	return conn, nil
}

// errSlotBusy says the last reader's walsender still holds the slot.
var errSlotBusy = errors.New("the replication slot is still in use")

// ensureSlot makes sure the database's slot exists, usable and free, and
// returns its name. A slot PostgreSQL invalidated is dropped and made again.
func (s *Service) ensureSlot(ctx context.Context, cat *pgx.Conn, rconn *pgconn.PgConn) (string, error) {
	var oid uint32
	if err := cat.QueryRow(ctx, "select oid from pg_database where datname = current_database()").Scan(&oid); err != nil {
		return "", fmt.Errorf("database oid: %w", err)
	}
	slot := slotPrefix + strconv.FormatUint(uint64(oid), 10)
	deadline := time.Now().Add(slotWait)
	for {
		var active bool
		var walStatus *string
		err := cat.QueryRow(ctx, "select active, wal_status from pg_replication_slots where slot_name = $1", slot).Scan(&active, &walStatus)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return slot, createSlot(ctx, rconn, slot)
		case err != nil:
			return "", fmt.Errorf("reading the replication slot: %w", err)
		case walStatus != nil && *walStatus == "lost":
			s.log.Warn("realtime: the replication slot lost its WAL (max_slot_wal_keep_size) while no worker read it; "+
				"changes made meanwhile are not delivered", "slot", slot)
			if err := pglogrepl.DropReplicationSlot(ctx, rconn, slot, pglogrepl.DropReplicationSlotOptions{}); err != nil {
				return "", fmt.Errorf("dropping the lost replication slot: %w", err)
			}
			return slot, createSlot(ctx, rconn, slot)
		case !active:
			return slot, nil
		case time.Now().After(deadline):
			return "", fmt.Errorf("%w: %s", errSlotBusy, slot)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// warnUnboundedSlot tells the operator when nothing bounds the WAL the slot
// keeps while no worker reads it.
func (s *Service) warnUnboundedSlot(ctx context.Context, cat *pgx.Conn, slot string) {
	var keep string
	if err := cat.QueryRow(ctx, "show max_slot_wal_keep_size").Scan(&keep); err == nil && keep == "-1" {
		s.log.Warn("realtime: max_slot_wal_keep_size is unlimited: while no worker reads the WAL, the replication slot "+
			"keeps all of it; set a bound in postgresql.conf", "slot", slot)
	}
}

// holdChanges makes sure the database's slot exists before a join is
// answered: a slot keeps every change committed after it was made, so a
// subscriber told SUBSCRIBED misses nothing even while no worker reads yet
// (a created project's reader starts with its first channel and takes a
// moment to make the slot itself). The SQL function waits for the slot's
// consistent point, as the reader's CREATE_REPLICATION_SLOT does.
func (s *Service) holdChanges(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `select pg_catalog.pg_create_logical_replication_slot(d.slot, 'pgoutput')
		from (select $1 || oid::text as slot from pg_catalog.pg_database where datname = current_database()) d
		where not exists (select 1 from pg_catalog.pg_replication_slots r where r.slot_name = d.slot)`, slotPrefix)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42710" { // made meanwhile by the reader
		return nil
	}
	return err
}

// createSlot makes the persistent slot; one that exists already is fine.
func createSlot(ctx context.Context, rconn *pgconn.PgConn, slot string) error {
	_, err := pglogrepl.CreateReplicationSlot(ctx, rconn, slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42710" { // duplicate_object
		return nil
	}
	if err != nil {
		return fmt.Errorf("create slot: %w", err)
	}
	return nil
}

// walReader is the reader's state while it streams: the relations pgoutput
// described, the open transaction, how far the WAL read is published (done)
// and how far that was confirmed to PostgreSQL.
type walReader struct {
	s    *Service
	conn *pgconn.PgConn
	cat  *pgx.Conn // catalog lookups: the lock session
	// origin is "<system id>-<timeline>": positions compare only within it.
	origin     string
	rels       map[uint32]*relInfo
	inTxn      bool
	commitTime time.Time
	changes    []bus.RealtimeChange
	broadcasts []bus.RealtimeBroadcast
	done       pglogrepl.LSN
	confirmed  pglogrepl.LSN
	nextStatus time.Time
}

// run reads messages and confirms progress every statusInterval.
func (r *walReader) run(ctx context.Context) error {
	for {
		if !time.Now().Before(r.nextStatus) {
			if err := r.sendStatus(ctx); err != nil {
				return err
			}
		}
		data, err := r.receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				// Stopping: confirm what was published, so the next reader
				// does not replay it.
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), busFlushTimeout)
				_ = r.sendStatus(sctx)
				cancel()
			}
			return err
		}
		if data != nil {
			if err := r.handle(ctx, data); err != nil {
				return err
			}
		}
	}
}

// receive waits for the next message until a status is due; nil when none
// came in time.
func (r *walReader) receive(ctx context.Context) ([]byte, error) {
	rctx, cancel := context.WithDeadline(ctx, r.nextStatus)
	raw, err := r.conn.ReceiveMessage(rctx)
	cancel()
	if err != nil {
		if pgconn.Timeout(err) && ctx.Err() == nil {
			return nil, nil
		}
		return nil, err
	}
	switch m := raw.(type) {
	case *pgproto3.ErrorResponse:
		return nil, fmt.Errorf("replication error: %s", m.Message)
	case *pgproto3.CopyData:
		if len(m.Data) > 0 {
			return m.Data, nil
		}
	}
	return nil, nil
}

// sendStatus confirms to PostgreSQL what was published, once a flush round
// trip shows NATS holds it; it also answers the server's keepalives.
func (r *walReader) sendStatus(ctx context.Context) error {
	pos := r.confirmed
	if r.done > r.confirmed {
		if err := r.s.nc.FlushTimeout(busFlushTimeout); err != nil {
			r.s.log.Warn("realtime: NATS did not acknowledge published changes; the slot keeps them", "error", err)
		} else {
			pos = r.done
		}
	}
	if err := pglogrepl.SendStandbyStatusUpdate(ctx, r.conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: pos}); err != nil {
		return fmt.Errorf("standby status: %w", err)
	}
	r.confirmed = pos
	r.nextStatus = time.Now().Add(statusInterval)
	return nil
}

// handle takes one message of the stream: a keepalive or WAL data.
func (r *walReader) handle(ctx context.Context, data []byte) error {
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return err
		}
		// Between transactions, everything before the server's position was
		// sent and published (pgoutput skips transactions with nothing to
		// publish), so it may be confirmed: the slot need not keep it.
		if !r.inTxn && pkm.ServerWALEnd > r.done {
			r.done = pkm.ServerWALEnd
		}
		if pkm.ReplyRequested {
			r.nextStatus = time.Time{}
		}
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return err
		}
		lm, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			return fmt.Errorf("decoding pgoutput: %w", err)
		}
		return r.apply(ctx, lm)
	}
	return nil
}

// apply takes one pgoutput message.
func (r *walReader) apply(ctx context.Context, lm pglogrepl.Message) error {
	switch m := lm.(type) {
	case *pglogrepl.RelationMessage:
		ri, err := describeRelation(ctx, r.cat, m)
		if err != nil {
			return err
		}
		r.rels[m.RelationID] = ri
	case *pglogrepl.BeginMessage:
		r.inTxn, r.commitTime = true, m.CommitTime
		r.changes, r.broadcasts = r.changes[:0], r.broadcasts[:0]
	case *pglogrepl.InsertMessage:
		r.insert(m)
	case *pglogrepl.UpdateMessage:
		r.update(m)
	case *pglogrepl.DeleteMessage:
		r.delete(m)
	case *pglogrepl.CommitMessage:
		return r.commit(m)
	}
	return nil
}

// insert queues a row change, or a broadcast for a row of realtime.messages.
func (r *walReader) insert(m *pglogrepl.InsertMessage) {
	ri := r.rels[m.RelationID]
	switch {
	case ri == nil:
	case ri.schema == "realtime" && ri.table == "messages":
		if b, ok := dbBroadcast(ri.row(m.Tuple, false)); ok {
			b.Origin = r.s.worker
			r.broadcasts = append(r.broadcasts, b)
		}
	default:
		c := ri.change("INSERT")
		c.Record = ri.row(m.Tuple, false)
		r.changes = append(r.changes, c)
	}
}

func (r *walReader) update(m *pglogrepl.UpdateMessage) {
	ri := r.rels[m.RelationID]
	if ri == nil {
		return
	}
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
	r.changes = append(r.changes, c)
}

func (r *walReader) delete(m *pglogrepl.DeleteMessage) {
	if ri := r.rels[m.RelationID]; ri != nil {
		c := ri.change("DELETE")
		c.OldRecord = ri.row(m.OldTuple, m.OldTupleType == 'K')
		r.changes = append(r.changes, c)
	}
}

// commit publishes the transaction's changes and broadcasts, each with its
// position, and marks the WAL up to the transaction's end as published. A
// publication NATS refuses ends the stream: the next reader replays it.
func (r *walReader) commit(m *pglogrepl.CommitMessage) error {
	ts := r.commitTime.UTC().Format("2006-01-02T15:04:05.000Z")
	for i, c := range r.changes {
		c.CommitTimestamp = ts
		data, err := json.Marshal(c)
		if err != nil {
			continue
		}
		msg := &nats.Msg{Subject: bus.RealtimeChanges(r.s.tenant), Data: data, Header: nats.Header{}}
		msg.Header.Set(walHeader, r.position(m.CommitLSN, i))
		if err := r.s.nc.PublishMsg(msg); err != nil {
			return fmt.Errorf("publishing a change: %w", err)
		}
	}
	for i, b := range r.broadcasts {
		if err := r.s.publishBroadcastAt(b, r.position(m.CommitLSN, i)); err != nil {
			return fmt.Errorf("publishing a database broadcast: %w", err)
		}
	}
	r.inTxn = false
	r.changes, r.broadcasts = r.changes[:0], r.broadcasts[:0]
	if m.TransactionEndLSN > r.done {
		r.done = m.TransactionEndLSN
	}
	return nil
}

// position is the walHeader value of the i-th message of a transaction.
func (r *walReader) position(commit pglogrepl.LSN, i int) string {
	return r.origin + "/" + strconv.FormatUint(uint64(commit), 16) + "/" + strconv.Itoa(i)
}

// walHeader is the NATS header holding a WAL-read message's position,
// "<origin>/<commit LSN, hex>/<index in the transaction>".
const walHeader = "Madbase-Wal-Position"

type walPos struct {
	origin string
	lsn    uint64
	idx    int
}

func parseWALPos(h string) (walPos, bool) {
	parts := strings.Split(h, "/")
	if len(parts) != 3 {
		return walPos{}, false
	}
	lsn, err1 := strconv.ParseUint(parts[1], 16, 64)
	idx, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return walPos{}, false
	}
	return walPos{parts[0], lsn, idx}, true
}

// walMark is the last WAL position one subscription delivered; messages of
// one subscription arrive in order, so a replayed one is at or before it.
// Only the subscription's callback touches it.
type walMark struct {
	last walPos
	set  bool
}

// admit reports whether a message with header h is new, and records it.
// Messages without a position (not read from the WAL) are always new.
func (m *walMark) admit(h nats.Header) bool {
	p, ok := parseWALPos(h.Get(walHeader))
	if !ok {
		return true
	}
	if m.set && p.origin == m.last.origin && (p.lsn < m.last.lsn || p.lsn == m.last.lsn && p.idx <= m.last.idx) {
		return false
	}
	m.last, m.set = p, true
	return true
}

// relInfo describes a published table as pgoutput announced it.
type relInfo struct {
	schema, table string
	cols          []*pglogrepl.RelationMessageColumn
	typnames      []string
	pk            []string
	rls           bool
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
