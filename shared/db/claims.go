package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The roles a request may run as. They are PostgreSQL roles created by the platform
// migrations, named as in Supabase so that its policies work unchanged.
const (
	RoleAnon          = "anon"
	RoleAuthenticated = "authenticated"
	RoleServiceRole   = "service_role"
)

// ErrBadRole is returned, before anything is sent to the server, when the claims' role is
// missing or is not one of the three request roles. A token is signed by us, but its role
// claim must still never become `SET ROLE postgres`.
var ErrBadRole = errors.New("db: the token's role must be anon, authenticated or service_role")

// Claims are a request's verified JWT claims (a jwt.MapClaims converts directly).
type Claims map[string]any

// Role is the "role" claim, or "" if it is missing or not a string.
func (c Claims) Role() string { s, _ := c["role"].(string); return s }

// Subject is the "sub" claim (the user's id), or "" if it is missing or not a string.
func (c Claims) Subject() string { s, _ := c["sub"].(string); return s }

// JSON is the claims as request.jwt.claims holds them.
func (c Claims) JSON() (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}

// ClaimSet is what the RLS helpers read of a request's claims: Claims, or
// Encoded when their JSON is already known.
type ClaimSet interface {
	Role() string
	Subject() string
	JSON() (string, error)
}

// Encoded is claims with their JSON (Text, as Claims.JSON writes it),
// encoded once for a token that comes back with every request: encoding a
// user's claims costs more than the rest of setting them.
type Encoded struct {
	Claims
	Text string
}

// JSON returns Text.
func (e Encoded) JSON() (string, error) { return e.Text, nil }

var (
	_ ClaimSet = Claims(nil)
	_ ClaimSet = Encoded{}
)

// TxStarter begins transactions: *pgxpool.Pool, *pgx.Conn and pgx.Tx (a savepoint) all do.
type TxStarter interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// setClaimsSQL makes the claims visible to auth.uid(), auth.role() and auth.jwt() for the
// rest of the transaction only (is_local = true), so nothing leaks to the next user of the
// pooled connection.
// The role is set in the same statement: set_config('role', r, true) is what SET LOCAL
// ROLE does (with the same membership check), and takes a bind parameter.
const setClaimsSQL = `select set_config('role', $3, true), set_config('request.jwt.claims', $1, true), ` +
	`set_config('request.jwt.claim.sub', $2, true), set_config('request.jwt.claim.role', $3, true)`

// WithClaims runs fn in a transaction as the claims' role, with the claims set where RLS
// policies read them, and commits if fn returns nil. It rolls back if fn returns an error
// (which it returns) or panics (which it re-panics). Every data access on behalf of a
// request goes through here; handlers never open transactions themselves. Pass a context
// with a deadline.
//
// On a pool or a connection, BEGIN and the role and claims travel in the same round trip
// as fn's first statement (see claimsTx); within a transaction (a pgx.Tx, for a savepoint)
// they are sent first, each on its own.
func WithClaims(ctx context.Context, db TxStarter, claims ClaimSet, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return WithClaimsSettings(ctx, db, claims, nil, fn)
}

// WithClaimsSettings is WithClaims with settings (search_path, request.*)
// set in the same statement as the role and claims.
func WithClaimsSettings(ctx context.Context, db TxStarter, claims ClaimSet, settings []Setting, fn func(ctx context.Context, tx pgx.Tx) error) error {
	args, err := claimsArgs(claims, len(settings))
	if err != nil {
		return err
	}
	sql, args := claimsStatement(args, settings)
	return inTx(ctx, db, sql, args, fn)
}

// InTx runs fn in a transaction as the connection's own role, with no
// claims (for the platform's own tables, such as auth's), and commits if fn
// returns nil; it rolls back as WithClaims does. BEGIN travels with fn's
// first statement, as in WithClaims.
func InTx(ctx context.Context, db TxStarter, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return inTx(ctx, db, "", nil, fn)
}

// inTx runs fn in a transaction that first runs sql (when not "") with args.
func inTx(ctx context.Context, db TxStarter, sql string, args []any, fn func(ctx context.Context, tx pgx.Tx) error) error {
	var conn *pgx.Conn
	switch d := db.(type) {
	case *pgxpool.Pool:
		c, err := d.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("db: begin: %w", err)
		}
		defer c.Release() // a connection left inside a transaction is closed, not reused
		conn = c.Conn()
	case *pgxpool.Conn:
		conn = d.Conn()
	case *pgx.Conn:
		conn = d
	default:
		tx, err := db.Begin(ctx)
		if err != nil {
			return fmt.Errorf("db: begin: %w", err)
		}
		return runInTx(ctx, tx, fn, func() error {
			if sql == "" {
				return nil
			}
			if _, err := tx.Exec(ctx, sql, args...); err != nil {
				return fmt.Errorf("db: setting role and claims: %w", err)
			}
			return nil
		})
	}
	return runInTx(ctx, &claimsTx{conn: conn, sql: sql, args: args}, fn, nil)
}

// runInTx runs before (when set) and fn in tx, then commits, or rolls back
// when either fails or panics.
func runInTx(ctx context.Context, tx pgx.Tx, fn func(ctx context.Context, tx pgx.Tx) error, before func() error) error {
	defer func() {
		if p := recover(); p != nil {
			rollback(ctx, tx)
			panic(p)
		}
	}()
	if before != nil {
		if err := before(); err != nil {
			rollback(ctx, tx)
			return err
		}
	}
	if err := fn(ctx, tx); err != nil {
		rollback(ctx, tx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// Setting is a transaction-local configuration parameter a request sets
// besides its role and claims (search_path, request.headers, ...).
type Setting struct{ Name, Value string }

// claimsStatement returns setClaimsSQL (whose arguments are args, $1 to
// $3) with the set_config calls of settings appended, names and values both
// parameters, and the arguments of all. The arguments point into settings,
// so settings must not change until the statement has been sent.
func claimsStatement(args []any, settings []Setting) (string, []any) {
	for i := range settings {
		args = append(args, textArg{&settings[i].Name}, textArg{&settings[i].Value})
	}
	if len(settings) < len(claimsStatements) {
		return claimsStatements[len(settings)], args
	}
	return buildClaimsStatement(len(settings)), args
}

// claimsStatements holds claimsStatement's text for up to 32 settings,
// built at start: every request of a kind sends the same.
var claimsStatements = func() (s [33]string) {
	for n := range s {
		s[n] = buildClaimsStatement(n)
	}
	return s
}()

func buildClaimsStatement(n int) string {
	b := append(make([]byte, 0, len(setClaimsSQL)+n*32), setClaimsSQL...)
	for i := range n {
		b = append(b, ", set_config($"...)
		b = strconv.AppendInt(b, int64(4+2*i), 10)
		b = append(b, ", $"...)
		b = strconv.AppendInt(b, int64(5+2*i), 10)
		b = append(b, ", true)"...)
	}
	return string(b)
}

// claimsArgs checks the claims' role and returns setClaimsSQL's arguments.
func claimsArgs(claims ClaimSet, settings int) ([]any, error) {
	role, claimsJSON, sub, err := claimValues(claims)
	if err != nil {
		return nil, err
	}
	// One allocation for the three strings, pointed to from the arguments,
	// and room for the settings' two arguments each.
	vals := &[3]string{claimsJSON, sub, role}
	args := make([]any, 3, 3+2*settings)
	args[0], args[1], args[2] = textArg{&vals[0]}, textArg{&vals[1]}, textArg{&vals[2]}
	return args, nil
}

// textArg is a text parameter that goes into an interface without a copy:
// a string put in an interface is copied to the heap (two allocations per
// setting, on every request), a struct of one pointer is not, and pgx
// encodes it through pgtype.TextValuer without reflection.
type textArg struct{ s *string }

func (a textArg) TextValue() (pgtype.Text, error) { return pgtype.Text{String: *a.s, Valid: true}, nil }

// rollback ends tx even when ctx is already done (a client that went away), so that the
// connection returns to the pool clean rather than being closed.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx)
}
