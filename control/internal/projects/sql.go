package projects

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// MaxSQLRows bounds the rows the SQL endpoint answers; the rest are read and
// dropped, and the answer says it was truncated.
const MaxSQLRows = 10000

// SQLResult is the answer of a SQL run: the last statement's command tag,
// columns and rows (each row an object by column name).
type SQLResult struct {
	Command   string           `json:"command"`
	Columns   []string         `json:"columns"`
	Rows      []map[string]any `json:"rows"`
	Truncated bool             `json:"truncated,omitempty"`
}

// SQLError is PostgreSQL's refusal of the SQL: shown to the admin as
// PostgreSQL gave it, with the position (1-based, in characters) when it
// names one.
type SQLError struct {
	Message  string `json:"message"`
	SQLState string `json:"sqlstate"`
	Position int32  `json:"position,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Hint     string `json:"hint,omitempty"`
}

func (e *SQLError) Error() string { return e.Message + " (SQLSTATE " + e.SQLState + ")" }

// RunSQL runs query on a project's database as the database's owner, in one
// session of its own that ends with the call, under a statement timeout
// (timeout, at most the store's SQLTimeout; 0 takes SQLTimeout). Several
// statements separated by ';' run in one implicit transaction (unless they
// manage their own); the answer is the last statement's.
func (s *Store) RunSQL(ctx context.Context, ref, query string, timeout time.Duration) (*SQLResult, error) {
	if timeout <= 0 || timeout > s.opts.SQLTimeout {
		timeout = s.opts.SQLTimeout
	}
	p, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	dbURL, err := s.databaseURL(p)
	if err != nil {
		return nil, err
	}
	cc, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return nil, &DatabaseError{Message: "the project's database URL is not valid", Cause: errors.New("unparsable URL")}
	}
	if cc.ConnectTimeout == 0 || cc.ConnectTimeout > connectTimeout {
		cc.ConnectTimeout = connectTimeout
	}
	cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(timeout.Milliseconds(), 10)
	cc.RuntimeParams["application_name"] = "madbase-control-sql"
	// The server's timeout cancels the statement with its own error; this
	// context only guards against a server that stops answering.
	rctx, cancel := context.WithTimeout(ctx, timeout+connectTimeout+5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(rctx, cc)
	if err != nil {
		return nil, &DatabaseError{Message: "cannot connect to the project's database", Cause: err}
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer ccancel()
		_ = conn.Close(cctx)
	}()
	if err := becomeOwner(rctx, conn); err != nil {
		return nil, err
	}
	res, err := runStatements(rctx, conn, query)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			return nil, &SQLError{Message: pe.Message, SQLState: pe.Code, Position: pe.Position, Detail: pe.Detail, Hint: pe.Hint}
		}
		return nil, &DatabaseError{Message: "the project's database did not answer", Cause: err}
	}
	s.log.Info("admin SQL ran", "ref", ref, "command", res.Command, "rows", len(res.Rows))
	return res, nil
}

// becomeOwner sets the session's role to the database's owner when the
// connecting user is someone else (the platform's superuser, for a database
// control created), so what the SQL creates belongs to the owner.
func becomeOwner(ctx context.Context, conn *pgx.Conn) error {
	var owner string
	var same bool
	err := conn.QueryRow(ctx, `SELECT pg_get_userbyid(datdba), pg_get_userbyid(datdba) = current_user
		FROM pg_database WHERE datname = current_database()`).Scan(&owner, &same)
	if err != nil {
		return &DatabaseError{Message: "cannot read the owner of the project's database", Cause: err}
	}
	if same {
		return nil
	}
	if _, err := conn.Exec(ctx, "SET ROLE "+pgx.Identifier{owner}.Sanitize()); err != nil {
		return &DatabaseError{Message: "cannot act as the owner of the project's database", Cause: err}
	}
	return nil
}

// runStatements sends query with the simple protocol (so it may hold several
// statements) and keeps the last result.
func runStatements(ctx context.Context, conn *pgx.Conn, query string) (*SQLResult, error) {
	mrr := conn.PgConn().Exec(ctx, query)
	var last *SQLResult
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		fields := rr.FieldDescriptions()
		res := &SQLResult{Columns: make([]string, len(fields)), Rows: []map[string]any{}}
		for i, f := range fields {
			res.Columns[i] = f.Name
		}
		for rr.NextRow() {
			if len(res.Rows) >= MaxSQLRows {
				res.Truncated = true
				continue
			}
			vals := rr.Values()
			row := make(map[string]any, len(fields))
			for i, f := range fields {
				row[f.Name] = jsonValue(f, vals[i])
			}
			res.Rows = append(res.Rows, row)
		}
		tag, err := rr.Close()
		if err != nil {
			_ = mrr.Close()
			return nil, err
		}
		res.Command = tag.String()
		last = res
	}
	if err := mrr.Close(); err != nil {
		return nil, err
	}
	if last == nil {
		last = &SQLResult{Columns: []string{}, Rows: []map[string]any{}}
	}
	return last, nil
}

// jsonValue turns one value (the simple protocol sends text) into JSON: numbers and booleans as
// such, json and jsonb as themselves, NULL as null, anything else as text.
func jsonValue(f pgconn.FieldDescription, raw []byte) any {
	if raw == nil {
		return nil
	}
	switch f.DataTypeOID {
	case pgtype.BoolOID:
		return string(raw) == "t"
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID:
		return json.Number(raw)
	case pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID:
		if json.Valid(raw) { // NaN and Infinity are not JSON numbers
			return json.Number(raw)
		}
		return string(raw)
	case pgtype.JSONOID, pgtype.JSONBOID:
		if json.Valid(raw) {
			return json.RawMessage(append([]byte(nil), raw...))
		}
	}
	return string(raw)
}
