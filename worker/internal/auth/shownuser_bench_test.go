package auth

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/madbase/madbase/worker/internal/api"
	authmig "github.com/madbase/madbase/worker/migrations/auth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// benchUser makes a user with n identities and a session, as GET /user reads
// them.
func benchUser(b *testing.B, q querier, n int) (id, sessionID uuid.UUID) {
	b.Helper()
	ctx := context.Background()
	id, sessionID = uuid.New(), uuid.New()
	_, err := q.Exec(ctx, `insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
		email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at, last_sign_in_at, is_anonymous)
		values ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', $2, 'x', now(),
		'{"provider": "email", "providers": ["email"]}', '{"email": "b@example.com", "email_verified": true, "name": "Bench <User>"}',
		now(), now(), now(), false)`, id, id.String()+"@example.com")
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := q.Exec(ctx, `insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
			values ($1, $2, $3, $4, now(), now(), now())`, fmt.Sprintf("%s-%d", id, i), id,
			fmt.Sprintf(`{"sub": "%s", "email": "b@example.com", "email_verified": true, "phone_verified": false}`, id),
			fmt.Sprintf("provider-%d", i)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := q.Exec(ctx, `insert into auth.sessions (id, user_id, created_at, updated_at, aal) values ($1, $2, now(), now(), 'aal1')`,
		sessionID, id); err != nil {
		b.Fatal(err)
	}
	return id, sessionID
}

// BenchmarkShownUser reads GET /user's user (shownUserWithSession) from a
// real PostgreSQL, round trip included; cpu-ns/op is this process's CPU
// time per read, the worker's share of it.
func BenchmarkShownUser(b *testing.B) {
	pool := dbtest.New(b, platform.Source, authmig.Source)
	for _, n := range []int{1, 3} {
		id, sid := benchUser(b, pool, n)
		b.Run(fmt.Sprintf("identities=%d", n), func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			start := processCPU(b)
			for b.Loop() {
				u, ok, err := shownUserWithSession(ctx, pool, id, sid)
				if err != nil || !ok || len(u.Identities) != n {
					b.Fatal(err, ok)
				}
			}
			b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time this process has used, in nanoseconds: the
// worker's share of a round trip, without the wait for PostgreSQL (another
// process), which wall time on a shared machine drowns it in.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkGetUser runs GET /auth/v1/user through the worker's whole HTTP
// handler (middleware, request metrics, apikey and bearer checks, the
// batched read from a real PostgreSQL, the user object), one request at a
// time and without a network in front: allocs/op and cpu-ns/op are the
// worker's share of the route.
func BenchmarkGetUser(b *testing.B) {
	pool := dbtest.New(b, platform.Source, authmig.Source)
	id, sid := benchUser(b, pool, 1)
	var cfg config.Worker
	if err := config.Load(&cfg, config.Map(map[string]string{"JWT_SECRET": testSecret, "SITE_URL": "http://app.test:3000"})); err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a := api.New(api.Options{ID: "w1", Metrics: metrics.NewHTTP(reg, "worker"),
		Deps: api.Deps{DB: pool, Config: cfg, Registry: reg}, Capabilities: []api.Capability{Register}})
	now := time.Now()
	anon, err := jwtauth.AnonKey([]byte(testSecret), now, now.Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	access, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": id.String(), "session_id": sid.String(),
		"role": "authenticated", "aud": "authenticated", "exp": now.Add(time.Hour).Unix()}).SignedString([]byte(testSecret))
	if err != nil {
		b.Fatal(err)
	}
	handler := a.Fiber.Handler()
	var req fasthttp.Request
	req.SetRequestURI("/auth/v1/user")
	req.Header.Set("apikey", anon)
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("X-Request-Id", "bench")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	b.ReportAllocs()
	start := processCPU(b)
	for b.Loop() {
		ctx.Response.Reset()
		handler(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}
