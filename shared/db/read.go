package db

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Reader runs reads with the role, claims and settings pipelined with the
// statements: one round trip instead of four (BEGIN, claims, statements,
// COMMIT), in PostgreSQL's implicit transaction, which lasts until the
// pipeline's end, so nothing of the claims outlives the read. It works at
// the level of the wire protocol: arguments go out in
// PostgreSQL's text format and rows come back as the bytes the server sent,
// without pgx's batch, type map and scanning, which cost a REST read by key
// more CPU than the rest of its work in the worker. Statements are prepared
// once per connection, as pgx's statement cache does, unless the pool's
// default_query_exec_mode says not to prepare (a server behind a pooler
// that does not keep them): then each is parsed with every read, as pgx
// would.
type Reader struct {
	pool    *pgxpool.Pool
	tracer  pgx.BatchTracer // the pool's, so that reads are traced like batches
	prepare bool
}

// NewReader makes a Reader on pool.
func NewReader(pool *pgxpool.Pool) *Reader {
	cfg := pool.Config().ConnConfig
	r := &Reader{pool: pool, prepare: KeepsPreparedStatements(pool)}
	if t, ok := cfg.Tracer.(pgx.BatchTracer); ok {
		r.tracer = t
	}
	return r
}

// Query is one statement of a read. Its arguments are strings (sent as
// text, for the server to parse as the parameter's type, as pgx does with a
// string), []byte (sent in binary: a bytea's bytes), int32 or int64 (text),
// or nil (NULL).
type Query struct {
	SQL  string
	Args []any
}

// Read runs qs as the claims' role with the claims and settings set, in one
// round trip, in PostgreSQL's implicit transaction: committed when every
// statement succeeded, rolled back when one failed (the ones after it do not
// run); use it only for what would need no undoing (reads, in a transaction
// the settings make read-only). fn is called with every row of every
// statement, i its index in qs and values its columns in PostgreSQL's text
// format (nil for NULL): they are valid only until fn returns. An error of
// fn is returned once the connection has read the rest of the answer; a
// statement's error is returned as pgx returns it (a *pgconn.PgError).
//
// A prepared statement the server can no longer run as prepared (a
// function it calls now returns another type) is prepared again and the
// read sent once more, if fn has not been called yet.
func (r *Reader) Read(ctx context.Context, claims ClaimSet, settings []Setting, qs []Query, fn func(i int, values [][]byte) error) error {
	role, claimsJSON, sub, err := claimValues(claims)
	if err != nil {
		return err
	}
	called, err := r.read(ctx, [3]string{claimsJSON, sub, role}, settings, qs, fn)
	if err != nil && !called && StaleStatement(err) {
		_, err = r.read(ctx, [3]string{claimsJSON, sub, role}, settings, qs, fn)
	}
	return err
}

// read is one attempt of Read, with claims' JSON, subject and role; called
// says whether fn was.
func (r *Reader) read(ctx context.Context, claims [3]string, settings []Setting, qs []Query, fn func(i int, values [][]byte) error) (called bool, err error) {
	c, err := r.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("db: setting role and claims: %w", err)
	}
	defer c.Release() // a connection left busy or in a transaction is closed, not reused
	conn := c.Conn()
	pc := conn.PgConn()
	stmts := readStmtsOf(pc)

	s := scratchPool.Get().(*readScratch)
	defer s.release()
	var b pgconn.Batch
	claimsSQL := claimsStatementText(len(settings))
	if r.prepare {
		sd, err := stmts.prepare(ctx, pc, claimsSQL)
		if err != nil {
			return false, fmt.Errorf("db: setting role and claims: %w", err)
		}
		s.sds = append(s.sds, sd)
		for _, q := range qs {
			sd, err := stmts.prepare(ctx, pc, q.SQL)
			if err != nil {
				return false, err
			}
			s.sds = append(s.sds, sd)
		}
	}
	queue := func(i int, sql string, formats []int16) {
		if r.prepare {
			b.ExecStatement(s.sds[i], s.params, formats, nil)
		} else {
			b.ExecParams(sql, s.params, nil, formats, nil)
		}
	}

	s.lendBuffer(&b)
	defer s.takeBuffer(&b)
	for _, v := range claims {
		s.params = append(s.params, textBytes(v))
	}
	for i := range settings {
		s.params = append(s.params, textBytes(settings[i].Name), textBytes(settings[i].Value))
	}
	queue(0, claimsSQL, nil)
	for i, q := range qs {
		formats, err := s.encode(q.Args)
		if err != nil {
			return false, fmt.Errorf("db: statement %d: %w", i, err)
		}
		queue(i+1, q.SQL, formats)
	}

	if r.tracer != nil {
		ctx = r.tracer.TraceBatchStart(ctx, conn, pgx.TraceBatchStartData{Batch: traceBatch(claimsSQL, claims, settings, qs)})
		defer func() { r.tracer.TraceBatchEnd(ctx, conn, pgx.TraceBatchEndData{Err: err}) }()
	}

	mrr := pc.ExecBatch(ctx, &b)
	var fnErr, failed error
	n := 0 // results read, the claims statement's first
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		for rr.NextRow() {
			if n > 0 && fnErr == nil {
				called = true
				fnErr = fn(n-1, rr.Values())
			}
		}
		tag, qerr := rr.Close()
		if r.tracer != nil {
			r.traceQuery(ctx, conn, n, claimsSQL, qs, tag, qerr)
		}
		if qerr != nil {
			failed = qerr
			break
		}
		n++
	}
	err = mrr.Close()
	if err != nil && failed == nil && r.tracer != nil && n <= len(qs) {
		r.traceQuery(ctx, conn, n, claimsSQL, qs, pgconn.CommandTag{}, err) // refused before it ran (at Bind)
	}
	if err != nil && n < len(s.sds) && StaleStatement(err) {
		stmts.forget(ctx, pc, s.sds[n])
	}
	switch {
	case fnErr != nil:
		return called, fnErr
	case err != nil && n == 0:
		return called, fmt.Errorf("db: setting role and claims: %w", err)
	}
	return called, err
}

// KeepsPreparedStatements reports whether pool's connections keep named
// prepared statements: pgx's default query mode does; the others (chosen
// for a connection pooler that does not keep them) prepare nothing by name.
func KeepsPreparedStatements(pool *pgxpool.Pool) bool {
	return pool.Config().ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement
}

// StaleStatement reports whether err says a prepared statement can no
// longer run as it was prepared: a function or table it reads now has
// another type, or the server no longer has it. Prepare it again.
func StaleStatement(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "26000" || pe.Code == "0A000" && pe.Message == "cached plan must not change result type"
}

// claimValues checks the claims' role and returns it with the claims' JSON
// and subject.
func claimValues(claims ClaimSet) (role, claimsJSON, sub string, err error) {
	role = claims.Role()
	switch role {
	case RoleAnon, RoleAuthenticated, RoleServiceRole:
	default:
		got := strconv.Quote(role)
		if len(got) > 64 { // it comes from a token: keep logs short
			got = got[:64] + "..."
		}
		return "", "", "", fmt.Errorf("%w (got %s)", ErrBadRole, got)
	}
	claimsJSON, err = claims.JSON()
	if err != nil {
		return "", "", "", fmt.Errorf("db: encoding claims: %w", err)
	}
	return role, claimsJSON, claims.Subject(), nil
}

// claimsStatementText is claimsStatement's text for n settings.
func claimsStatementText(n int) string {
	if n < len(claimsStatements) {
		return claimsStatements[n]
	}
	return buildClaimsStatement(n)
}

// textBytes is s's bytes without a copy: pgconn copies a parameter into the
// message it encodes before Read returns, and never writes to it.
func textBytes(s string) []byte {
	if s == "" {
		return []byte{} // empty, not NULL
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// readScratch is what one Read needs, reused.
type readScratch struct {
	sds     []*pgconn.StatementDescription
	params  [][]byte
	formats []int16
	digits  []byte
	// buf is the batch's encoding buffer: pgconn.Batch grows its own from
	// nothing on every read (a REST read's first message, with the
	// request's headers, is over a kilobyte), which cost a read by key 3 %
	// of the worker's CPU.
	buf []byte
}

// batchBuf is whether pgconn.Batch begins with its encoding buffer, as in
// the pgx this was written against; if a later one does not, Read lets the
// batch grow its own (TestBatchBuffer says so).
var batchBuf = func() bool {
	f, ok := reflect.TypeFor[pgconn.Batch]().FieldByName("buf")
	return ok && f.Offset == 0 && f.Type == reflect.TypeFor[[]byte]()
}()

// readBufMax is the largest buffer kept for the next read.
const readBufMax = 64 << 10

// lendBuffer makes s.buf the (empty) encoding buffer of b.
func (s *readScratch) lendBuffer(b *pgconn.Batch) {
	if batchBuf {
		*(*[]byte)(unsafe.Pointer(b)) = s.buf[:0]
	}
}

// takeBuffer keeps b's encoding buffer, which pgconn no longer uses once
// ExecBatch has written it, for the next read.
func (s *readScratch) takeBuffer(b *pgconn.Batch) {
	if batchBuf {
		if buf := *(*[]byte)(unsafe.Pointer(b)); cap(buf) <= readBufMax {
			s.buf = buf[:0]
		}
	}
}

var scratchPool = sync.Pool{New: func() any { return new(readScratch) }}

func (s *readScratch) release() {
	clear(s.sds)
	clear(s.params) // drop references to the request's strings
	s.sds, s.params, s.formats, s.digits = s.sds[:0], s.params[:0], s.formats[:0], s.digits[:0]
	scratchPool.Put(s)
}

// encode sets s.params to args in the wire's formats and returns their
// format codes (nil: all text).
func (s *readScratch) encode(args []any) ([]int16, error) {
	clear(s.params)
	s.params, s.formats, s.digits = s.params[:0], s.formats[:0], s.digits[:0]
	binary := false
	for _, a := range args {
		switch v := a.(type) {
		case int32:
			s.digits = strconv.AppendInt(s.digits, int64(v), 10)
		case int64:
			s.digits = strconv.AppendInt(s.digits, v, 10)
		case []byte:
			binary = true
		case string, nil:
		default:
			return nil, fmt.Errorf("an argument of type %T (Read sends strings, []byte, int32, int64 and nil)", a)
		}
	}
	// The integers' digits are all written first, so that the parameters
	// point into a buffer that no longer grows.
	digits := s.digits
	for _, a := range args {
		var p []byte
		switch v := a.(type) {
		case string:
			p = textBytes(v)
		case []byte:
			p = v // nil is NULL, as pgx sends it
		case int32:
			w := digitsLen(int64(v))
			p, digits = digits[:w:w], digits[w:]
		case int64:
			w := digitsLen(v)
			p, digits = digits[:w:w], digits[w:]
		}
		s.params = append(s.params, p)
		if binary {
			f := int16(0)
			if _, ok := a.([]byte); ok {
				f = 1
			}
			s.formats = append(s.formats, f)
		}
	}
	if !binary {
		return nil, nil
	}
	return s.formats, nil
}

// digitsLen is the length of n in decimal, its sign included.
func digitsLen(n int64) int {
	w := 1
	if n < 0 {
		w++
	}
	for n >= 10 || n <= -10 {
		n /= 10
		w++
	}
	return w
}

// traceBatch is the batch a tracer is told about: what Read sends.
func traceBatch(claimsSQL string, claims [3]string, settings []Setting, qs []Query) *pgx.Batch {
	b := &pgx.Batch{}
	args := []any{claims[0], claims[1], claims[2]}
	for _, st := range settings {
		args = append(args, st.Name, st.Value)
	}
	b.Queue(claimsSQL, args...)
	for _, q := range qs {
		b.Queue(q.SQL, q.Args...)
	}
	return b
}

// traceQuery tells the tracer about the n-th statement of a read (0 the
// claims statement).
func (r *Reader) traceQuery(ctx context.Context, conn *pgx.Conn, n int, claimsSQL string, qs []Query, tag pgconn.CommandTag, err error) {
	d := pgx.TraceBatchQueryData{SQL: claimsSQL, CommandTag: tag, Err: err}
	if n > 0 {
		d.SQL, d.Args = qs[n-1].SQL, qs[n-1].Args
	}
	r.tracer.TraceBatchQuery(ctx, conn, d)
}

// readStmtsKey is the key of a connection's readStmts in pgconn's
// CustomData, which lives and dies with the connection.
const readStmtsKey = "madbase.db.read"

// readStmtsMax bounds the statements Read keeps prepared on a connection:
// REST's statements differ by the shape of each query string, which
// clients choose.
var readStmtsMax = 256

// readStmts are the statements Read prepared on one connection, by SQL.
// Only the goroutine holding the connection uses them.
type readStmts struct {
	bySQL map[string]*readStmt
	clock uint64 // counts uses, for least-recently-used eviction
	seq   uint64 // names statements: madbase_read_<seq>
}

type readStmt struct {
	sd   *pgconn.StatementDescription
	used uint64
}

func readStmtsOf(pc *pgconn.PgConn) *readStmts {
	data := pc.CustomData()
	if s, ok := data[readStmtsKey].(*readStmts); ok {
		return s
	}
	s := &readStmts{bySQL: map[string]*readStmt{}}
	data[readStmtsKey] = s
	return s
}

// prepare returns sql's statement on pc, preparing it (one round trip,
// before the request's own, as pgx's cache does) the first time, and
// closing the least recently used one when the connection holds
// readStmtsMax.
func (s *readStmts) prepare(ctx context.Context, pc *pgconn.PgConn, sql string) (*pgconn.StatementDescription, error) {
	s.clock++
	if st := s.bySQL[sql]; st != nil {
		st.used = s.clock
		return st.sd, nil
	}
	if len(s.bySQL) >= readStmtsMax {
		var oldest *readStmt
		for _, st := range s.bySQL {
			if oldest == nil || st.used < oldest.used {
				oldest = st
			}
		}
		if err := pc.Deallocate(ctx, oldest.sd.Name); err != nil {
			return nil, err
		}
		delete(s.bySQL, oldest.sd.SQL)
	}
	s.seq++
	name := "madbase_read_" + strconv.FormatUint(s.seq, 10)
	sd, err := pc.Prepare(ctx, name, sql, nil)
	if err != nil {
		if pe := (*pgconn.PrepareError)(nil); errors.As(err, &pe) && pe.ParseComplete {
			_ = pc.Deallocate(ctx, name) // the statement exists, its description failed
		}
		return nil, err
	}
	s.bySQL[sql] = &readStmt{sd: sd, used: s.clock}
	return sd, nil
}

// forget drops sd, which can no longer run as prepared (see stale), so
// that the next read prepares it again.
func (s *readStmts) forget(ctx context.Context, pc *pgconn.PgConn, sd *pgconn.StatementDescription) {
	if st := s.bySQL[sd.SQL]; st != nil && st.sd == sd {
		delete(s.bySQL, sd.SQL)
		if !pc.IsClosed() && !pc.IsBusy() {
			_ = pc.Deallocate(ctx, sd.Name) // nothing to close when the server had lost it
		}
	}
}
