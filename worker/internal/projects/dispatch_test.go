package projects

import (
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/madbase/madbase/worker/internal/app"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// TestQuietDispatchAllocatesNothing: without projects and PROJECT_DOMAIN, a
// worker with the manager answers the default project's requests with no
// allocation more than one without it.
func TestQuietDispatchAllocatesNothing(t *testing.T) {
	var cfg config.Worker
	require.NoError(t, config.Load(&cfg, config.Map(map[string]string{
		"JWT_SECRET": "quiet-secret-0123456789abcdef0123456789", "MADBASE_ENCRYPTION_KEY": secretbox.EncodeKey(secretbox.NewKey()),
	})))
	m, err := New(Options{Config: cfg})
	require.NoError(t, err)
	m.markSynced(map[string]bool{})

	hello := func(r fiber.Router, _ app.Deps) {
		r.Get("/rest/v1/items", func(c *fiber.Ctx) error { return c.SendString("ok") })
	}
	allocs := func(dispatch fiber.Handler) float64 {
		a := app.New(app.Options{Capabilities: []app.Capability{hello}, Dispatch: dispatch})
		h := a.Fiber.Handler()
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/rest/v1/items")
		ctx.Request.Header.Set("apikey", "eyJhbGciOiJIUzI1NiJ9.eyJyZWYiOiJtYWRiYXNlIn0.x")
		n := testing.AllocsPerRun(200, func() {
			ctx.Response.Reset()
			h(&ctx)
		})
		require.Equal(t, "ok", string(ctx.Response.Body()))
		return n
	}
	require.Equal(t, allocs(nil), allocs(m.Dispatch))
}
