package auth

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/db"
)

// shownUserStatement is the name shownUserBatched is prepared under, once
// per connection (pgx remembers it with the connection).
const shownUserStatement = "madbase_auth_shown_user"

// shownUserBatched is shownUser for the batcher, which decodes it itself:
// one row per user, its identities and factors as arrays of rows and the
// session's existence, each from one scan run once (a subquery on $1, not
// on the user's row), and no join. It costs PostgreSQL a quarter fewer
// instructions than shownUser's join, correlated subqueries and factors
// aggregated as JSON, whose plan took longer to start than to run. The
// columns are decodeShownUser's, in order; identities and factors come
// unordered (decodeShownUser orders them as userColumns does), and a
// factor's enums as text.
const shownUserBatched = `select u.id, u.aud, u.role, u.email, u.phone,
	u.email_confirmed_at, u.phone_confirmed_at, u.invited_at, u.confirmation_sent_at, u.recovery_sent_at,
	u.email_change_sent_at, u.phone_change_sent_at, u.reauthentication_sent_at, u.last_sign_in_at,
	u.banned_until, u.deleted_at, u.email_change, u.phone_change,
	u.raw_app_meta_data, u.raw_user_meta_data, u.is_anonymous, u.created_at, u.updated_at,
	x.identities, x.session_exists, x.factors
	from auth.users u, (select
		array(select row(i.id, i.provider_id, i.identity_data, i.provider, i.last_sign_in_at, i.created_at,
			i.updated_at, i.email) from auth.identities i where i.user_id = $1) as identities,
		exists(select 1 from auth.sessions s where s.id = $2 and s.user_id = $1) as session_exists,
		array(select row(f.id, f.friendly_name, f.factor_type::text, f.status::text, f.phone, f.created_at,
			f.updated_at, f.last_challenged_at) from auth.mfa_factors f where f.user_id = $1) as factors) x
	where u.id = $1`

// binaryFormat asks for every parameter and column in binary.
var binaryFormat = []int16{pgtype.BinaryFormatCode}

// maxUserBatch bounds how many reads one batch sends: larger batches saved
// PostgreSQL little more CPU and let one descheduled server process hold
// back more requests at once.
const maxUserBatch = 16

// userBatcher reads GET /user's user for a pool whose connections keep
// prepared statements (see db.KeepsPreparedStatements). The reads that wait at the
// same time go to PostgreSQL together, as one batch: shownUser, prepared once
// per connection, bound once per read, and one Sync, all in one write; the
// rows come back in binary and are decoded here. One round trip and one
// wake-up of the server for the whole batch instead of one per read: for
// the busiest auth route, the system calls and the scheduling around each
// round trip cost the worker and PostgreSQL as much as the statement
// itself. pgx.Rows would also plan the scan of every column again on every
// query.
//
// A batch runs the statements in one implicit transaction; each takes its
// own snapshot (under READ COMMITTED), so a read sees what was committed
// before it was sent, as alone. At most max batches run at once, each
// holding a connection (see read); under load, when all run, the next batch
// carries the reads that arrived meanwhile.
type userBatcher struct {
	pool *pgxpool.Pool
	base context.Context
	max  int

	mu      sync.Mutex
	queue   []*userRead
	running int
}

// userRead is one read waiting in a userBatcher, and its outcome.
type userRead struct {
	id, sessionID uuid.UUID
	u             *user
	ok            bool
	err           error
	done          chan struct{}
}

// newUserBatcher makes a batcher on pool whose batches are done when base
// is, running at most as many batches at once as the pool has connections.
func newUserBatcher(pool *pgxpool.Pool, base context.Context) *userBatcher {
	return &userBatcher{pool: pool, base: base, max: max(1, int(pool.Config().MaxConns))}
}

// read is shownUserWithSession through the batcher. A read that finds
// fewer than max batches running runs one itself, its own read and those
// waiting with it, on its own goroutine: reads that come one at a time cost
// no more hand-offs between goroutines than a plain query, which matters
// when the worker's processors are busy (a sign-in burst), and none waits
// behind another while a connection is free (a descheduled PostgreSQL
// process then holds back only its own batch). Reads still waiting after its
// batch go to a goroutine of their own.
func (b *userBatcher) read(ctx context.Context, id, sessionID uuid.UUID) (*user, bool, error) {
	r := &userRead{id: id, sessionID: sessionID, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	lead := b.running < b.max
	if lead {
		b.running++
	}
	b.mu.Unlock()
	if lead {
		b.lead(r)
	}
	select {
	case <-r.done:
		return r.u, r.ok, r.err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// lead runs batches, holding one of the running slots, until r's has run;
// then it hands the slot to a new goroutine if reads wait, else gives it
// back.
func (b *userBatcher) lead(r *userRead) {
	batch := make([]*userRead, 0, maxUserBatch)
	for {
		if batch = b.next(batch); len(batch) == 0 {
			return
		}
		b.runBatch(batch)
		select {
		case <-r.done:
		default:
			continue // more than a batch waited before r
		}
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		go b.drain()
		return
	}
}

// drain runs batches until no read waits.
func (b *userBatcher) drain() {
	batch := make([]*userRead, 0, maxUserBatch)
	for {
		if batch = b.next(batch); len(batch) == 0 {
			return
		}
		b.runBatch(batch)
	}
}

// next moves the next batch from the queue into batch; an empty batch
// gives the running slot back.
func (b *userBatcher) next(batch []*userRead) []*userRead {
	clear(batch)
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.queue), maxUserBatch)
	if n == 0 {
		b.running--
		return batch[:0]
	}
	batch = append(batch[:0], b.queue[:n]...)
	left := copy(b.queue, b.queue[n:])
	clear(b.queue[left:])
	b.queue = b.queue[:left]
	return batch
}

// runBatch runs batch and tells each of its reads that it is done.
func (b *userBatcher) runBatch(batch []*userRead) {
	err := b.runSafely(batch)
	for _, r := range batch {
		if r.u == nil && r.err == nil {
			r.err = err
			if r.err == nil {
				r.err = errors.New("auth: the user batch ended early")
			}
		}
		close(r.done)
	}
}

// runSafely is run within requestTimeout, with a panic turned into the
// batch's error: the reads left the handler's goroutine, whose recovery
// answered a panic with a 500, and must not take the worker down instead.
func (b *userBatcher) runSafely(batch []*userRead) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("auth: reading users: panic: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(b.base, requestTimeout)
	defer cancel()
	return b.run(ctx, batch)
}

// run sends one batch and fills in each read's outcome; the error is the
// batch's, for the reads it left without one.
func (b *userBatcher) run(ctx context.Context, batch []*userRead) error {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	sd, err := conn.Conn().Prepare(ctx, shownUserStatement, shownUserBatched)
	if err != nil {
		return err
	}
	var pb pgconn.Batch
	for _, r := range batch {
		pb.ExecStatement(sd, [][]byte{r.id[:], r.sessionID[:]}, binaryFormat, binaryFormat)
	}
	mrr := conn.Conn().PgConn().ExecBatch(ctx, &pb)
	for i := 0; i < len(batch) && mrr.NextResult(); i++ {
		r := batch[i]
		rr := mrr.ResultReader()
		rows := 0
		var derr error
		for rr.NextRow() {
			if rows++; rows == 1 {
				r.u, r.ok, derr = decodeShownUser(sd.Fields, rr.Values())
			}
		}
		_, err := rr.Close()
		switch {
		case err != nil:
			r.u, r.err = nil, err
		case derr != nil:
			r.u, r.err = nil, derr
		case rows == 0:
			r.err = errNoUser
		case rows > 1:
			r.u, r.err = nil, fmt.Errorf("%w: %d rows for one user", errShownColumn, rows)
		}
	}
	if err := mrr.Close(); err != nil {
		if db.StaleStatement(err) {
			// The statement no longer fits the tables: prepare it again
			// for the next batch.
			_ = conn.Conn().Deallocate(ctx, shownUserStatement)
		}
		return err
	}
	return nil
}

// errShownColumn is decodeShownUser's error: the statement and this code
// disagree about a column, or a timestamp is infinite (which pgx refuses as
// a time.Time too).
var errShownColumn = errors.New("auth: unexpected column in the user statement")

// recordOID is the type of an anonymous row (row(...)), the element of
// shownUserBatched's arrays.
const recordOID = 2249

// The types of the fields of shownUserBatched's identity and factor rows.
var (
	identityFields = []uint32{pgtype.UUIDOID, pgtype.TextOID, pgtype.JSONBOID, pgtype.TextOID,
		pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.TextOID}
	factorFields = []uint32{pgtype.UUIDOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID,
		pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID}
)

// decodeShownUser decodes shownUserBatched's row, in binary, into the user
// shownUserWithSession reads (the same defaults and order) and whether the
// session exists.
func decodeShownUser(fields []pgconn.FieldDescription, values [][]byte) (*user, bool, error) {
	if len(fields) != 26 || len(values) != 26 {
		return nil, false, fmt.Errorf("%w: %d columns", errShownColumn, len(values))
	}
	d := rowDecoder{fields: fields, values: values, buf: new(decodeBuffers)}
	// The row's times point into one array and its texts and JSON are cut
	// from one string and one slice: a few allocations, not one per column.
	times := new([13]time.Time)
	var textBytes, jsonBytes int
	for i := range values {
		switch fields[i].DataTypeOID {
		case pgtype.TextOID, pgtype.VarcharOID:
			textBytes += len(values[i])
		case pgtype.JSONOID, pgtype.JSONBOID:
			jsonBytes += len(values[i])
		case pgtype.RecordArrayOID:
			// Rows hold both (an upper bound).
			textBytes += len(values[i])
			jsonBytes += len(values[i])
		}
	}
	d.buf.texts.Grow(textBytes)
	d.buf.json = make([]byte, 0, jsonBytes)
	u := &user{}
	u.ID = d.uuid(0).Bytes
	u.Aud, u.Role, u.Email, u.Phone = d.text(1).String, d.text(2).String, d.text(3).String, d.text(4).String
	u.EmailConfirmedAt, u.PhoneConfirmedAt = d.time(5, &times[0]), d.time(6, &times[1])
	u.InvitedAt, u.ConfirmationSentAt = d.time(7, &times[2]), d.time(8, &times[3])
	u.RecoverySentAt, u.EmailChangeSentAt = d.time(9, &times[4]), d.time(10, &times[5])
	u.PhoneChangeSentAt, u.ReauthenticationSentAt = d.time(11, &times[6]), d.time(12, &times[7])
	u.LastSignInAt, u.BannedUntil, u.DeletedAt = d.time(13, &times[8]), d.time(14, &times[9]), d.time(15, &times[10])
	u.EmailChange, u.PhoneChange = d.text(16).String, d.text(17).String
	u.appMetaRaw, u.userMetaRaw = d.json(18), d.json(19)
	u.IsAnonymous = d.bool(20)
	now := time.Now().Truncate(time.Microsecond) // now() in the statement's precision
	orNow := func(t *time.Time) time.Time {
		if t != nil {
			return *t
		}
		return now
	}
	u.CreatedAt, u.UpdatedAt = orNow(d.time(21, &times[11])), orNow(d.time(22, &times[12]))
	if u.appMetaRaw == nil {
		u.appMetaRaw = []byte("{}")
	}
	if u.userMetaRaw == nil {
		u.userMetaRaw = []byte("{}")
	}
	u.Identities = d.identities(23, u.ID, now)
	exists := d.bool(24)
	u.Factors = d.factors(25)
	if d.err != nil {
		return nil, false, d.err
	}
	return u, exists, nil
}

// identities reads column i, the user's identities as an array of rows, in
// userColumns' order: by created_at, NULLs last (then stamped now), then by
// id.
func (d *rowDecoder) identities(i int, userID uuid.UUID, now time.Time) []identity {
	var ids []identity
	var unstamped []bool // whether ids[k] had no created_at; only for several
	d.rows(i, identityFields, func(n int) {
		ids = make([]identity, 0, n)
		if n > 1 {
			unstamped = make([]bool, 0, n)
		}
	}, func(r *rowDecoder) {
		var created, updated, last time.Time
		id := identity{IdentityID: r.uuid(0).Bytes, ID: r.text(1).String, UserID: userID, IdentityData: r.json(2),
			Provider: r.text(3).String, Email: r.text(7).String}
		if t := r.time(4, &last); t != nil {
			id.LastSignInAt = new(time.Time)
			*id.LastSignInAt = last
		}
		c := r.time(5, &created)
		id.CreatedAt, id.UpdatedAt = now, now
		if c != nil {
			id.CreatedAt = created
		}
		if r.time(6, &updated) != nil {
			id.UpdatedAt = updated
		}
		ids = append(ids, id)
		if unstamped != nil {
			unstamped = append(unstamped, c == nil)
		}
	})
	if d.err != nil {
		return nil
	}
	if ids == nil {
		return []identity{}
	}
	if len(ids) > 1 && len(unstamped) == len(ids) {
		order := make([]int, len(ids))
		for k := range order {
			order[k] = k
		}
		slices.SortFunc(order, func(a, b int) int {
			switch {
			case unstamped[a] && !unstamped[b]:
				return 1
			case !unstamped[a] && unstamped[b]:
				return -1
			case !unstamped[a]:
				if c := ids[a].CreatedAt.Compare(ids[b].CreatedAt); c != 0 {
					return c
				}
			}
			return bytes.Compare(ids[a].IdentityID[:], ids[b].IdentityID[:])
		})
		sorted := make([]identity, len(ids))
		for k, o := range order {
			sorted[k] = ids[o]
		}
		ids = sorted
	}
	return ids
}

// factors reads column i, the user's MFA factors as an array of rows, in
// factorsColumn's order (by created_at, then id); nil when none.
func (d *rowDecoder) factors(i int) []factorJSON {
	var fs []factorJSON
	d.rows(i, factorFields, func(n int) {
		if n > 0 {
			fs = make([]factorJSON, 0, n)
		}
	}, func(r *rowDecoder) {
		var created, updated, last time.Time
		f := factorJSON{ID: r.uuid(0).Bytes, FriendlyName: r.text(1).String, FactorType: r.text(2).String,
			Status: r.text(3).String, Phone: r.text(4).String}
		if r.time(5, &created) != nil {
			f.CreatedAt = created
		}
		if r.time(6, &updated) != nil {
			f.UpdatedAt = updated
		}
		if r.time(7, &last) != nil {
			f.LastChallengedAt = new(time.Time)
			*f.LastChallengedAt = last
		}
		fs = append(fs, f)
	})
	if d.err != nil || len(fs) == 0 {
		return nil
	}
	slices.SortFunc(fs, func(a, b factorJSON) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return fs
}

// rows reads column i, a one-dimensional array of rows (or an empty one)
// whose fields have the types want: start is told how many rows there are,
// then each is handed to row as a decoder of its fields, which shares d's
// buffers.
func (d *rowDecoder) rows(i int, want []uint32, start func(n int), row func(r *rowDecoder)) {
	b := d.col(i, pgtype.RecordArrayOID)
	if d.err != nil {
		return
	}
	bad := func(what string) {
		d.fail(fmt.Errorf("%w: column %d: %s", errShownColumn, i, what))
	}
	if b == nil {
		bad("a NULL array")
		return
	}
	p := binReader{b: b}
	ndim, _, elem := p.int32(), p.int32(), uint32(p.int32())
	n := 0
	switch {
	case p.bad:
		bad("a short array")
		return
	case ndim == 0:
	case ndim != 1 || elem != recordOID:
		bad("not an array of rows")
		return
	default:
		n = int(p.int32())
		p.int32() // the lower bound
		if p.bad || n < 0 || n > len(b)/4 {
			bad("a malformed array")
			return
		}
	}
	start(n)
	r := rowDecoder{fields: make([]pgconn.FieldDescription, len(want)), values: make([][]byte, len(want)), buf: d.buf}
	for k := range n {
		rec, ok := p.value()
		if !ok || rec == nil {
			bad("a malformed or NULL row")
			return
		}
		q := binReader{b: rec}
		if cols := q.int32(); q.bad || int(cols) != len(want) {
			bad("a row of other fields")
			return
		}
		for c := range want {
			r.fields[c].DataTypeOID = uint32(q.int32())
			v, ok := q.value()
			if !ok {
				bad("a malformed row")
				return
			}
			r.values[c] = v
		}
		if len(q.b) != 0 {
			bad("a malformed row")
			return
		}
		for c, oid := range want {
			if r.fields[c].DataTypeOID != oid {
				bad(fmt.Sprintf("row %d field %d has type %d", k, c, r.fields[c].DataTypeOID))
				return
			}
		}
		row(&r)
		if r.err != nil {
			d.fail(fmt.Errorf("column %d: %w", i, r.err))
			return
		}
	}
	if len(p.b) != 0 {
		bad("a malformed array")
	}
}

// binReader reads the big-endian integers and length-prefixed values of
// PostgreSQL's binary array and row formats; bad is set when b runs short.
type binReader struct {
	b   []byte
	bad bool
}

func (p *binReader) int32() int32 {
	if len(p.b) < 4 {
		p.bad, p.b = true, nil
		return 0
	}
	v := int32(binary.BigEndian.Uint32(p.b))
	p.b = p.b[4:]
	return v
}

// value reads a length-prefixed value: nil for NULL (length -1).
func (p *binReader) value() ([]byte, bool) {
	n := p.int32()
	switch {
	case p.bad:
		return nil, false
	case n == -1:
		return nil, true
	case n < 0 || int(n) > len(p.b):
		p.bad, p.b = true, nil
		return nil, false
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v, true
}

// rowDecoder reads the columns of one row in PostgreSQL's binary format, for
// the few types shownUserBatched returns (the fields of its arrays' rows
// too). A column of another type sets err; NULL reads as the zero value (nil
// for a time or JSON, invalid for a uuid or a text). Texts and JSON are
// copied out of the connection's buffer, into buf.
type rowDecoder struct {
	fields []pgconn.FieldDescription
	values [][]byte
	err    error
	buf    *decodeBuffers
}

// decodeBuffers hold the texts and JSON of a row (its arrays' included),
// sized beforehand so that one allocation holds them all.
type decodeBuffers struct {
	texts strings.Builder
	json  []byte
}

func (d *rowDecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// col returns column i's bytes (nil for NULL) when its type is one of oids.
func (d *rowDecoder) col(i int, oids ...uint32) []byte {
	if i >= len(d.values) || i >= len(d.fields) {
		d.fail(fmt.Errorf("%w: no column %d", errShownColumn, i))
		return nil
	}
	f := &d.fields[i]
	for _, oid := range oids {
		if f.DataTypeOID == oid {
			return d.values[i]
		}
	}
	d.fail(fmt.Errorf("%w: column %d (%s) has type %d", errShownColumn, i, f.Name, f.DataTypeOID))
	return nil
}
func (d *rowDecoder) uuid(i int) pgtype.UUID {
	b := d.col(i, pgtype.UUIDOID)
	if b == nil {
		return pgtype.UUID{}
	}
	if len(b) != 16 {
		d.fail(fmt.Errorf("%w: column %d: uuid of %d bytes", errShownColumn, i, len(b)))
		return pgtype.UUID{}
	}
	return pgtype.UUID{Bytes: [16]byte(b), Valid: true}
}

// text reads text or varchar, whose binary form is the text.
func (d *rowDecoder) text(i int) pgtype.Text {
	b := d.col(i, pgtype.TextOID, pgtype.VarcharOID)
	if b == nil {
		return pgtype.Text{}
	}
	start := d.buf.texts.Len()
	d.buf.texts.Write(b)
	return pgtype.Text{String: d.buf.texts.String()[start:], Valid: true}
}

func (d *rowDecoder) bool(i int) bool {
	b := d.col(i, pgtype.BoolOID)
	if b != nil && len(b) != 1 {
		d.fail(fmt.Errorf("%w: column %d: bool of %d bytes", errShownColumn, i, len(b)))
	}
	return len(b) == 1 && b[0] == 1
}

// json returns a copy of a json or jsonb column's text (jsonb's binary form
// is a version byte, 1, then the text).
func (d *rowDecoder) json(i int) []byte {
	b := d.col(i, pgtype.JSONOID, pgtype.JSONBOID)
	if b == nil {
		return nil
	}
	if d.fields[i].DataTypeOID == pgtype.JSONBOID {
		if len(b) == 0 || b[0] != 1 {
			d.fail(fmt.Errorf("%w: column %d: unknown jsonb version", errShownColumn, i))
			return nil
		}
		b = b[1:]
	}
	start := len(d.buf.json)
	d.buf.json = append(d.buf.json, b...)
	return d.buf.json[start:len(d.buf.json):len(d.buf.json)]
}

// postgresEpoch is 2000-01-01 UTC, which binary timestamps count from, in
// microseconds after the Unix epoch.
const postgresEpoch = 946684800 * 1_000_000

// time reads a timestamptz (microseconds since 2000-01-01 UTC) into *t, in
// UTC as the user object writes it, and returns t; nil for NULL.
func (d *rowDecoder) time(i int, t *time.Time) *time.Time {
	b := d.col(i, pgtype.TimestamptzOID)
	if b == nil {
		return nil
	}
	if len(b) != 8 {
		d.fail(fmt.Errorf("%w: column %d: timestamp of %d bytes", errShownColumn, i, len(b)))
		return nil
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us == math.MaxInt64 || us == math.MinInt64 {
		d.fail(fmt.Errorf("%w: column %d: an infinite timestamp", errShownColumn, i))
		return nil
	}
	*t = time.UnixMicro(us + postgresEpoch).UTC()
	return t
}
