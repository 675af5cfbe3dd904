package auth

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/db"
)

// shownUserStatement is the name shownUser is prepared under, once per
// connection (pgx remembers it with the connection).
const shownUserStatement = "madbase_auth_shown_user"

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
	sd, err := conn.Conn().Prepare(ctx, shownUserStatement, shownUser)
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
		got := make([]userIdentityRow, 0, 1) // a row per identity: mostly one
		var derr error
		for rr.NextRow() {
			got = append(got, userIdentityRow{})
			if derr == nil {
				derr = decodeShownRow(&got[len(got)-1], sd.Fields, rr.Values())
			}
		}
		if _, err := rr.Close(); err != nil {
			r.err = err
		} else if derr != nil {
			r.err = derr
		} else {
			r.u, r.ok, r.err = assembleShownUser(got)
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

// errShownColumn is decodeShownRow's error: the statement and this code
// disagree about a column, or a timestamp is infinite (which pgx refuses as
// a time.Time too).
var errShownColumn = errors.New("auth: unexpected column in the user statement")

// decodeShownRow decodes one row of shownUser, in binary, into r: what
// pgx.RowToStructByPos[userIdentityRow] makes of it.
func decodeShownRow(r *userIdentityRow, fields []pgconn.FieldDescription, values [][]byte) error {
	d := rowDecoder{fields: fields, values: values}
	// The row's times point into one array and its texts and JSON are cut
	// from one string and one slice: three allocations, not one per column.
	times := new([16]time.Time)
	var textBytes, jsonBytes int
	for i := range min(len(fields), len(values)) {
		switch fields[i].DataTypeOID {
		case pgtype.TextOID, pgtype.VarcharOID:
			textBytes += len(values[i])
		case pgtype.JSONOID, pgtype.JSONBOID:
			jsonBytes += len(values[i])
		}
	}
	d.texts.Grow(textBytes)
	d.jsonBuf = make([]byte, 0, jsonBytes)
	r.ID = d.uuid(0)
	r.Aud, r.Role, r.Email, r.Phone = d.text(1), d.text(2), d.text(3), d.text(4)
	r.EmailConfirmedAt, r.PhoneConfirmedAt = d.time(5, &times[0]), d.time(6, &times[1])
	r.InvitedAt, r.ConfirmationSentAt = d.time(7, &times[2]), d.time(8, &times[3])
	r.RecoverySentAt, r.EmailChangeSentAt = d.time(9, &times[4]), d.time(10, &times[5])
	r.PhoneChangeSentAt, r.ReauthenticationSentAt = d.time(11, &times[6]), d.time(12, &times[7])
	r.LastSignInAt, r.BannedUntil, r.DeletedAt = d.time(13, &times[8]), d.time(14, &times[9]), d.time(15, &times[10])
	r.EmailChange, r.PhoneChange = d.text(16), d.text(17)
	r.AppMetaData, r.UserMetaData = d.json(18), d.json(19)
	r.IsAnonymous = d.bool(20)
	r.CreatedAt, r.UpdatedAt = d.time(21, &times[11]), d.time(22, &times[12])
	r.IdentityID, r.IdentityProviderID, r.IdentityUserID = d.uuid(23), d.text(24), d.uuid(25)
	r.IdentityData, r.IdentityProvider = d.json(26), d.text(27)
	r.IdentityLastSignInAt, r.IdentityCreatedAt, r.IdentityUpdatedAt = d.time(28, &times[13]), d.time(29, &times[14]), d.time(30, &times[15])
	r.IdentityEmail = d.text(31)
	r.SessionExists = d.bool(32)
	r.Factors = d.json(33)
	if d.err == nil && len(values) != 34 {
		d.fail(fmt.Errorf("%w: %d columns", errShownColumn, len(values)))
	}
	return d.err
}

// rowDecoder reads the columns of one row in PostgreSQL's binary format, for
// the few types shownUser returns. A column of another type sets err; NULL
// reads as the zero value (nil for a time or JSON, invalid for a uuid or a
// text). Texts and JSON are copied out of the connection's buffer, into
// texts and jsonBuf (sized beforehand, so that one allocation holds them all).
type rowDecoder struct {
	fields  []pgconn.FieldDescription
	values  [][]byte
	err     error
	texts   strings.Builder
	jsonBuf []byte
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
	start := d.texts.Len()
	d.texts.Write(b)
	return pgtype.Text{String: d.texts.String()[start:], Valid: true}
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
	start := len(d.jsonBuf)
	d.jsonBuf = append(d.jsonBuf, b...)
	return d.jsonBuf[start:len(d.jsonBuf):len(d.jsonBuf)]
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
