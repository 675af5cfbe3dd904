package auth

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
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
// same time go to PostgreSQL together, as one batch: shownUserBatched, prepared once
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
// carries the reads that arrived meanwhile. max is one per processor the
// worker has (and no more than the pool's connections): more batches at
// once would not decode faster, only split the same reads into smaller
// batches, each a wake-up of PostgreSQL and of the worker's goroutines (on
// 2 cores, four at once cost PostgreSQL a fifth more CPU per read than two).
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
// is, running at most as many batches at once as the worker has processors
// (GOMAXPROCS) and the pool connections.
func newUserBatcher(pool *pgxpool.Pool, base context.Context) *userBatcher {
	return &userBatcher{pool: pool, base: base, max: max(1, min(int(pool.Config().MaxConns), runtime.GOMAXPROCS(0)))}
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

// shownColumns is how many columns shownUserBatched has.
const shownColumns = 26

// shownRow is what decodeShownUser allocates for one row, in one piece: the
// user, its times (which the user points into) and the texts and JSON it
// copies out of the connection's buffer.
type shownRow struct {
	u     user
	times [13]time.Time
	d     shownDecoder
}

// decodeShownUser decodes shownUserBatched's row, in binary, into the user
// shownUserWithSession reads (the same defaults and order) and whether the
// session exists.
func decodeShownUser(fields []pgconn.FieldDescription, values [][]byte) (*user, bool, error) {
	if len(fields) != shownColumns || len(values) != shownColumns {
		return nil, false, fmt.Errorf("%w: %d columns", errShownColumn, len(values))
	}
	row := new(shownRow)
	u, d, times := &row.u, &row.d, &row.times
	// Texts and JSON are cut from one string and one slice; the arrays'
	// rows hold both (their length is an upper bound).
	var textBytes, jsonBytes int
	for i := range values {
		switch fields[i].DataTypeOID {
		case pgtype.TextOID, pgtype.VarcharOID:
			textBytes += len(values[i])
		case pgtype.JSONOID, pgtype.JSONBOID:
			jsonBytes += len(values[i])
		case pgtype.RecordArrayOID:
			textBytes += len(values[i])
			jsonBytes += len(values[i])
		}
	}
	d.texts.Grow(textBytes)
	d.json = make([]byte, 0, jsonBytes)
	col := func(i int) (uint32, []byte, int) { return fields[i].DataTypeOID, values[i], i }
	u.ID = d.uuid(col(0))
	u.Aud, u.Role, u.Email, u.Phone = d.text(col(1)), d.text(col(2)), d.text(col(3)), d.text(col(4))
	for k, t := range [...]**time.Time{&u.EmailConfirmedAt, &u.PhoneConfirmedAt, &u.InvitedAt,
		&u.ConfirmationSentAt, &u.RecoverySentAt, &u.EmailChangeSentAt, &u.PhoneChangeSentAt,
		&u.ReauthenticationSentAt, &u.LastSignInAt, &u.BannedUntil, &u.DeletedAt} {
		oid, b, i := col(5 + k)
		*t = d.time(oid, b, i, &times[k])
	}
	u.EmailChange, u.PhoneChange = d.text(col(16)), d.text(col(17))
	u.appMetaRaw, u.userMetaRaw = d.jsonText(col(18)), d.jsonText(col(19))
	u.IsAnonymous = d.bool(col(20))
	now := time.Now().Truncate(time.Microsecond) // now() in the statement's precision
	u.CreatedAt, u.UpdatedAt = now, now
	if oid, b, i := col(21); d.time(oid, b, i, &times[11]) != nil {
		u.CreatedAt = times[11]
	}
	if oid, b, i := col(22); d.time(oid, b, i, &times[12]) != nil {
		u.UpdatedAt = times[12]
	}
	if u.appMetaRaw == nil {
		u.appMetaRaw = []byte("{}")
	}
	if u.userMetaRaw == nil {
		u.userMetaRaw = []byte("{}")
	}
	oid, b, i := col(23)
	u.Identities = d.identities(u.ID, now, oid, b, i)
	exists := d.bool(col(24))
	u.Factors = d.factors(col(25))
	if d.err != nil {
		return nil, false, d.err
	}
	return u, exists, nil
}

// identities reads the user's identities, an array of rows, in userColumns'
// order: by created_at, NULLs last (then stamped now), then by id.
func (d *shownDecoder) identities(userID uuid.UUID, now time.Time, oid uint32, b []byte, at int) []identity {
	a := d.rows(oid, b, at)
	if d.err != nil {
		return nil
	}
	ids := make([]identity, a.n)
	var unstamped []bool // whether ids[k] had no created_at; only for several
	if a.n > 1 {
		unstamped = make([]bool, a.n)
	}
	var last, t time.Time
	for k := range ids {
		r := a.next(d, 8)
		id := &ids[k]
		id.IdentityID, id.ID, id.UserID = d.uuid(r.next(d)), d.text(r.next(d)), userID
		id.IdentityData, id.Provider = d.jsonText(r.next(d)), d.text(r.next(d))
		if oid, b, at := r.next(d); d.time(oid, b, at, &last) != nil {
			id.LastSignInAt = new(time.Time)
			*id.LastSignInAt = last
		}
		id.CreatedAt, id.UpdatedAt = now, now
		if oid, b, at := r.next(d); d.time(oid, b, at, &t) != nil {
			id.CreatedAt = t
		} else if unstamped != nil {
			unstamped[k] = true
		}
		if oid, b, at := r.next(d); d.time(oid, b, at, &t) != nil {
			id.UpdatedAt = t
		}
		id.Email = d.text(r.next(d))
		r.end(d)
		if d.err != nil {
			return nil
		}
	}
	a.end(d)
	if unstamped == nil {
		return ids
	}
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
	return sorted
}

// factors reads the user's MFA factors, an array of rows, in factorsColumn's
// order (by created_at, then id); nil when none.
func (d *shownDecoder) factors(oid uint32, b []byte, at int) []factorJSON {
	a := d.rows(oid, b, at)
	if d.err != nil || a.n == 0 {
		return nil
	}
	fs := make([]factorJSON, a.n)
	var t time.Time
	for k := range fs {
		r := a.next(d, 8)
		f := &fs[k]
		f.ID, f.FriendlyName, f.FactorType = d.uuid(r.next(d)), d.text(r.next(d)), d.text(r.next(d))
		f.Status, f.Phone = d.text(r.next(d)), d.text(r.next(d))
		if oid, b, at := r.next(d); d.time(oid, b, at, &t) != nil {
			f.CreatedAt = t
		}
		if oid, b, at := r.next(d); d.time(oid, b, at, &t) != nil {
			f.UpdatedAt = t
		}
		if oid, b, at := r.next(d); d.time(oid, b, at, &t) != nil {
			f.LastChallengedAt = new(time.Time)
			*f.LastChallengedAt = t
		}
		r.end(d)
		if d.err != nil {
			return nil
		}
	}
	a.end(d)
	slices.SortFunc(fs, func(a, b factorJSON) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return fs
}

// shownDecoder reads values in PostgreSQL's binary format, for the few types
// shownUserBatched returns, checking each one's type. A value of another
// type, or malformed, sets err (the first such); NULL reads as the zero value
// (nil for a time or JSON). Texts and JSON are copied out of the
// connection's buffer into texts and json (sized beforehand, so that one
// allocation holds each). at is where a value comes from, for errors: its
// column.
type shownDecoder struct {
	err   error
	texts strings.Builder
	json  []byte
}

func (d *shownDecoder) fail(at int, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: column %d: %s", errShownColumn, at, fmt.Sprintf(format, args...))
	}
}

// is reports whether a value has type want (or one of also), else fails.
func (d *shownDecoder) is(oid uint32, at int, want uint32, also ...uint32) bool {
	if oid == want || slices.Contains(also, oid) {
		return true
	}
	d.fail(at, "type %d, not %d", oid, want)
	return false
}

func (d *shownDecoder) uuid(oid uint32, b []byte, at int) uuid.UUID {
	if !d.is(oid, at, pgtype.UUIDOID) || b == nil {
		return uuid.Nil
	}
	if len(b) != 16 {
		d.fail(at, "a uuid of %d bytes", len(b))
		return uuid.Nil
	}
	return uuid.UUID(b)
}

// text reads text or varchar, whose binary form is the text; "" for NULL.
func (d *shownDecoder) text(oid uint32, b []byte, at int) string {
	if !d.is(oid, at, pgtype.TextOID, pgtype.VarcharOID) || len(b) == 0 {
		return ""
	}
	start := d.texts.Len()
	d.texts.Write(b)
	return d.texts.String()[start:]
}

func (d *shownDecoder) bool(oid uint32, b []byte, at int) bool {
	if !d.is(oid, at, pgtype.BoolOID) {
		return false
	}
	if b != nil && len(b) != 1 {
		d.fail(at, "a bool of %d bytes", len(b))
	}
	return len(b) == 1 && b[0] == 1
}

// jsonText returns a copy of a json or jsonb value's text (jsonb's binary
// form is a version byte, 1, then the text); nil for NULL.
func (d *shownDecoder) jsonText(oid uint32, b []byte, at int) []byte {
	if !d.is(oid, at, pgtype.JSONBOID, pgtype.JSONOID) || b == nil {
		return nil
	}
	if oid == pgtype.JSONBOID {
		if len(b) == 0 || b[0] != 1 {
			d.fail(at, "unknown jsonb version")
			return nil
		}
		b = b[1:]
	}
	start := len(d.json)
	d.json = append(d.json, b...)
	return d.json[start:len(d.json):len(d.json)]
}

// postgresEpoch is 2000-01-01 UTC, which binary timestamps count from, in
// microseconds after the Unix epoch.
const postgresEpoch = 946684800 * 1_000_000

// time reads a timestamptz (microseconds since 2000-01-01 UTC) into *t, in
// UTC as the user object writes it, and returns t; nil for NULL.
func (d *shownDecoder) time(oid uint32, b []byte, at int, t *time.Time) *time.Time {
	if !d.is(oid, at, pgtype.TimestamptzOID) || b == nil {
		return nil
	}
	if len(b) != 8 {
		d.fail(at, "a timestamp of %d bytes", len(b))
		return nil
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us == math.MaxInt64 || us == math.MinInt64 {
		d.fail(at, "an infinite timestamp")
		return nil
	}
	*t = time.UnixMicro(us + postgresEpoch).UTC()
	return t
}

// rowArray reads a one-dimensional array of rows (or an empty one): n rows,
// each read with next.
type rowArray struct {
	p  binReader
	n  int
	at int
}

// rows starts reading an array of rows; n is 0 when it is malformed (err
// set).
func (d *shownDecoder) rows(oid uint32, b []byte, at int) rowArray {
	if !d.is(oid, at, pgtype.RecordArrayOID) {
		return rowArray{}
	}
	if b == nil {
		d.fail(at, "a NULL array")
		return rowArray{}
	}
	a := rowArray{p: binReader{b: b}, at: at}
	ndim, _, elem := a.p.int32(), a.p.int32(), uint32(a.p.int32())
	switch {
	case a.p.bad:
		d.fail(at, "a short array")
		return rowArray{}
	case ndim == 0:
		return a
	case ndim != 1 || elem != recordOID:
		d.fail(at, "an array of %d dimensions of type %d", ndim, elem)
		return rowArray{}
	}
	n := a.p.int32()
	a.p.int32() // the lower bound
	// Each row takes at least 8 bytes (its length and field count).
	if a.p.bad || n < 0 || int(n) > len(a.p.b)/8 {
		d.fail(at, "a malformed array")
		return rowArray{}
	}
	a.n = int(n)
	return a
}

// next starts reading the array's next row, which must have fields fields.
func (a *rowArray) next(d *shownDecoder, fields int) rowFields {
	rec, ok := a.p.value()
	if !ok || rec == nil {
		d.fail(a.at, "a malformed or NULL row")
		return rowFields{at: a.at}
	}
	r := rowFields{p: binReader{b: rec}, at: a.at}
	if n := r.p.int32(); r.p.bad || int(n) != fields {
		d.fail(a.at, "a row of %d fields, not %d", n, fields)
		r.p.bad = true
	}
	return r
}

// end checks that the array had nothing after its rows.
func (a *rowArray) end(d *shownDecoder) {
	if len(a.p.b) != 0 {
		d.fail(a.at, "a malformed array")
	}
}

// rowFields reads the fields of a row (a record in binary: the field count,
// then each field's type, length and bytes).
type rowFields struct {
	p  binReader
	at int
}

// next returns the row's next field: its type, its bytes (nil for NULL) and
// where it comes from.
func (r *rowFields) next(d *shownDecoder) (uint32, []byte, int) {
	if r.p.bad {
		return 0, nil, r.at
	}
	oid := uint32(r.p.int32())
	b, ok := r.p.value()
	if !ok {
		d.fail(r.at, "a malformed row")
		return 0, nil, r.at
	}
	return oid, b, r.at
}

// end checks that the row had no more fields.
func (r *rowFields) end(d *shownDecoder) {
	if !r.p.bad && len(r.p.b) != 0 {
		d.fail(r.at, "a row of more fields")
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
