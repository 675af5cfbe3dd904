package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

func TestUnreachable(t *testing.T) {
	require.False(t, Unreachable(nil))
	require.False(t, Unreachable(errors.New("plain")))
	require.False(t, Unreachable(&pgconn.PgError{Code: "23505"}))
	require.False(t, Unreachable(fmt.Errorf("acquire: %w", context.DeadlineExceeded)), "a timeout is not an outage")
	require.False(t, Unreachable(context.Canceled))
	require.True(t, Unreachable(fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "57P03"})))
	require.True(t, Unreachable(fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF)))

	// A real dial to a port nothing listens on.
	cfg, err := pgxpool.ParseConfig("postgres://x@127.0.0.1:1/x?connect_timeout=2")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Exec(ctx, "select 1")
	require.Error(t, err)
	require.True(t, Unreachable(err), "%v", err)
}
