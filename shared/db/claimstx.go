package db

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// claimsTx is the pgx.Tx WithClaims hands to fn on a connection of its own.
// BEGIN and the role and claims statement travel in the same round trip as
// fn's first statement or batch (pgx's Batch.BeginTx), instead of one round
// trip each before it: a request's transaction costs its statements plus
// COMMIT. Until then every method starts the transaction first, so nothing
// can run before the role is set; afterwards each goes to pgx's transaction.
type claimsTx struct {
	conn   *pgx.Conn
	sql    string // the role, claims and settings statement; "" for none (InTx)
	args   []any  // its arguments
	tx     pgx.Tx // the transaction, once begun
	closed bool   // committed or rolled back before anything was begun
}

var _ pgx.Tx = (*claimsTx)(nil)

// send sends BEGIN, the claims statement and b's statements as one batch,
// and reads the first two results.
func (t *claimsTx) send(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	all := &pgx.Batch{}
	all.BeginTx(pgx.TxOptions{})
	if t.sql != "" {
		all.Queue(t.sql, t.args...)
	}
	all.QueuedQueries = append(all.QueuedQueries, b.QueuedQueries...)
	br := t.conn.SendBatch(ctx, all)
	t.tx = br.Tx()
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return pgx.FailedBatchResults(b, fmt.Errorf("db: begin: %w", err))
	}
	if t.sql == "" {
		return br
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return pgx.FailedBatchResults(b, fmt.Errorf("db: setting role and claims: %w", err))
	}
	return br
}

// begin starts the transaction on its own, for the methods that cannot
// carry it along, and returns it.
func (t *claimsTx) begin(ctx context.Context) (pgx.Tx, error) {
	if t.tx != nil {
		return t.tx, nil
	}
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	if err := t.send(ctx, &pgx.Batch{}).Close(); err != nil {
		return nil, err
	}
	return t.tx, nil
}

// pipelined reports whether a statement can travel in the batch with BEGIN:
// not begun yet, no pgx query options among its arguments, and for Exec
// some arguments (pgx sends an argument-less Exec with the simple
// protocol, which allows several statements in one string).
func (t *claimsTx) pipelined(exec bool, args []any) bool {
	if t.tx != nil || t.closed || (exec && len(args) == 0) {
		return false
	}
	if len(args) == 0 {
		return true
	}
	switch args[0].(type) {
	case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID, pgx.QueryRewriter:
		return false
	}
	return true
}

func (t *claimsTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	switch {
	case t.tx != nil:
		return t.tx.SendBatch(ctx, b)
	case t.closed:
		return pgx.FailedBatchResults(b, pgx.ErrTxClosed)
	}
	return t.send(ctx, b)
}

func (t *claimsTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if !t.pipelined(true, args) {
		tx, err := t.begin(ctx)
		if err != nil {
			return pgconn.CommandTag{}, err
		}
		return tx.Exec(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := t.send(ctx, b)
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *claimsTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if !t.pipelined(false, args) {
		tx, err := t.begin(ctx)
		if err != nil {
			return nil, err
		}
		return tx.Query(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := t.send(ctx, b)
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *claimsTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	return &row{rows: rows, err: err}
}

func (t *claimsTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Begin(ctx)
}

func (t *claimsTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	return tx.CopyFrom(ctx, table, columns, src)
}

func (t *claimsTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Prepare(ctx, name, sql)
}

// LargeObjects and Conn take no context to begin with: they hand out the
// transaction's only when it has begun.
func (t *claimsTx) LargeObjects() pgx.LargeObjects {
	if t.tx == nil {
		panic("db: LargeObjects before the first statement of a WithClaims transaction")
	}
	return t.tx.LargeObjects()
}

func (t *claimsTx) Conn() *pgx.Conn {
	if t.tx == nil {
		panic("db: Conn before the first statement of a WithClaims transaction")
	}
	return t.tx.Conn()
}

// Commit ends the transaction; when no statement ran, nothing was begun
// and nothing is sent.
func (t *claimsTx) Commit(ctx context.Context) error { return t.end(ctx, pgx.Tx.Commit) }

func (t *claimsTx) Rollback(ctx context.Context) error { return t.end(ctx, pgx.Tx.Rollback) }

// end ends the begun transaction with finish (Commit or Rollback), or, when
// none was begun, marks t closed: ending it twice is pgx.ErrTxClosed.
func (t *claimsTx) end(ctx context.Context, finish func(pgx.Tx, context.Context) error) error {
	if t.tx != nil {
		return finish(t.tx, ctx)
	}
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	return nil
}

// batchRows closes the batch its rows came from along with them.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	_ = r.br.Close()
}

// row is pgx's QueryRow over Query.
type row struct {
	rows pgx.Rows
	err  error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
