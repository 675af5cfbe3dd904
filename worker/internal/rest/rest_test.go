package rest

import (
	"context"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/require"
)

// A query runs under its request's context: when the request's context
// ends (a client that went away), the query ends with it instead of
// running to REST_REQUEST_TIMEOUT; and the statement stops in PostgreSQL
// too (pgx closes the connection and sends the server a cancel request).
func TestQueryEndsWithItsRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(r *config.Rest) { r.RestRequestTimeout = time.Hour })
	ctx := testCtx(t)
	_, err := e.pool.Exec(ctx, `create function public.nap() returns void language sql as $$ select pg_sleep(3600) $$`)
	require.NoError(t, err)
	require.NoError(t, e.h.Cache().LoadNow(ctx))
	t.Cleanup(func() {
		// if the test failed, the backend may sleep on
		_, _ = e.pool.Exec(context.Background(),
			`select pg_terminate_backend(pid) from pg_stat_activity where query like '%"nap"()%' and pid <> pg_backend_pid()`)
	})

	reqCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(func(c *fiber.Ctx) error {
		c.SetUserContext(reqCtx)
		return c.Next()
	})
	e.h.Mount(app)
	api := newAPI(t, app)

	done := make(chan *apitest.Response, 1)
	go func() {
		done <- api.Do(t, apitest.Request{Method: "POST", URL: "/rest/v1/rpc/nap",
			Headers: map[string]string{"apikey": api.Service, "Content-Type": "application/json"}})
	}()

	require.Eventually(t, func() bool {
		var n int
		err := e.pool.QueryRow(ctx, `select count(*) from pg_stat_activity
			where state = 'active' and query like '%"nap"()%' and pid <> pg_backend_pid()`).Scan(&n)
		return err == nil && n == 1
	}, 30*time.Second, 10*time.Millisecond, "the call never reached PostgreSQL")
	cancel()

	var r *apitest.Response
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the query outlived its request's context")
	}
	require.Equal(t, statusClientClosed, r.Status, "%s", r.Body)
	require.Equal(t, codeInternal, r.Map(t)["code"])

	require.Eventually(t, func() bool {
		var n int
		err := e.pool.QueryRow(ctx, `select count(*) from pg_stat_activity
			where query like '%"nap"()%' and pid <> pg_backend_pid()`).Scan(&n)
		return err == nil && n == 0
	}, 30*time.Second, 10*time.Millisecond, "the statement ran on after its request ended")
}
