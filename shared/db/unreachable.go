package db

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unreachable reports whether err means PostgreSQL could not be reached (a refused or
// broken connection, a failed dial), as opposed to an error the server answered with.
// Every API surface answers such errors with 503 and Retry-After, so a client retries
// instead of reading a database outage as its own mistake. A connection the pool had
// already handed out when the server went away fails with the read's EOF, which counts
// too: callers pass it errors of database calls, not of reading a request's body.
func Unreachable(err error) bool {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// A request that ran out of time or was given up is not an outage
		// (context.DeadlineExceeded even passes for a net.Error).
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// The server answered; only its "cannot connect now" family means unavailable.
		return pe.Code == "57P03" || pe.Code == "53300"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
