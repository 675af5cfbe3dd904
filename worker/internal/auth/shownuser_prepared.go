package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

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
	pool  *pgxpool.Pool
	base  context.Context
	max   int
	shown *shownCache

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
	remember      *shownEntry // u's answer to keep (shownCache.decode)
	done          chan struct{}
}

// newUserBatcher makes a batcher on pool whose batches are done when base
// is, running at most as many batches at once as the worker has processors
// (GOMAXPROCS) and the pool connections.
func newUserBatcher(pool *pgxpool.Pool, base context.Context) *userBatcher {
	return &userBatcher{pool: pool, base: base, max: max(1, min(int(pool.Config().MaxConns), runtime.GOMAXPROCS(0))),
		shown: newShownCache()}
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
		if r.remember != nil && r.err == nil {
			b.shown.remember(r.remember)
		}
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
	var key []byte
	for i := 0; i < len(batch) && mrr.NextResult(); i++ {
		r := batch[i]
		rr := mrr.ResultReader()
		rows := 0
		var derr error
		for rr.NextRow() {
			if rows++; rows == 1 {
				r.u, r.ok, key, r.remember, derr = b.shown.decode(sd.Fields, rr.Values(), key)
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
			b.shown.clear()
		}
		return err
	}
	return nil
}
