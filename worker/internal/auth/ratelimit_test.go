package auth

import (
	"context"
	"fmt"
	"github.com/madbase/madbase/shared/apitest"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/madbase/madbase/shared/config"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startRedis runs a throwaway redis-server on a free port; stop ends it
// early (it also ends with the test).
func startRedis(t *testing.T) (url string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is needed for the rate limit tests (apt-get install redis-server): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(),
		"--save", "", "--appendonly", "no", "--protected-mode", "no")
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop = func() {
		select {
		case <-done:
			return
		default:
		}
		_ = cmd.Process.Kill()
		<-done
	}
	t.Cleanup(stop)
	url = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not answer on port %d", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return url, stop
}

func newTestLimiter(t *testing.T, redisURL string, clock *testClock) *limiter {
	t.Helper()
	return newProjectLimiter(t, redisURL, "", clock)
}

func newProjectLimiter(t *testing.T, redisURL, project string, clock *testClock) *limiter {
	t.Helper()
	l, err := newLimiter(redisURL, project, testLogger(t), nil)
	require.NoError(t, err)
	l.now = clock.now
	return l
}

func TestLimiterInProcess(t *testing.T) {
	t.Parallel()
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	l := newTestLimiter(t, "", clock)
	rate := config.Rate{N: 3, Per: time.Minute}
	ctx := context.Background()
	for i := range 3 {
		assert.True(t, l.allow(ctx, "b", "k", rate), "event %d", i)
	}
	assert.False(t, l.allow(ctx, "b", "k", rate))
	assert.True(t, l.allow(ctx, "b", "other", rate), "keys are counted apart")
	assert.True(t, l.allow(ctx, "c", "k", rate), "buckets are counted apart")
	clock.advance(time.Minute)
	assert.True(t, l.allow(ctx, "b", "k", rate), "a new window")
	assert.True(t, l.allow(ctx, "b", "k", config.Rate{}), "an off rate limits nothing")
}

func TestLimiterRedisSharedAndFallback(t *testing.T) {
	t.Parallel()
	url, stop := startRedis(t)
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	a := newTestLimiter(t, url, clock)
	b := newTestLimiter(t, url, clock) // another worker
	rate := config.Rate{N: 4, Per: time.Hour}
	ctx := context.Background()
	for i := range 4 {
		w := a
		if i%2 == 1 {
			w = b
		}
		assert.True(t, w.allow(ctx, "sign_in", "10.0.0.9", rate), "event %d", i)
	}
	assert.False(t, a.allow(ctx, "sign_in", "10.0.0.9", rate), "the workers share the count")
	assert.False(t, b.allow(ctx, "sign_in", "10.0.0.9", rate))
	clock.advance(time.Hour)
	assert.True(t, b.allow(ctx, "sign_in", "10.0.0.9", rate))

	// Redis gone: the in-process count takes over, limits still hold.
	stop()
	for range 4 {
		a.allow(ctx, "otp", "x", rate)
	}
	assert.False(t, a.allow(ctx, "otp", "x", rate))
}

// TestLimiterCountsPerProject: workers share one Redis, and each project
// counts its own events; the default project keeps its keys.
func TestLimiterCountsPerProject(t *testing.T) {
	t.Parallel()
	url, _ := startRedis(t)
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	def := newTestLimiter(t, url, clock)
	shop := newProjectLimiter(t, url, "shop", clock)
	shopElsewhere := newProjectLimiter(t, url, "shop", clock) // on another worker
	blog := newProjectLimiter(t, url, "blog", clock)
	rate := config.Rate{N: 2, Per: time.Hour}
	ctx := context.Background()
	assert.True(t, shop.allow(ctx, "sign_in", "10.0.0.9", rate))
	assert.True(t, shopElsewhere.allow(ctx, "sign_in", "10.0.0.9", rate))
	assert.False(t, shop.allow(ctx, "sign_in", "10.0.0.9", rate), "a project's workers share its count")
	assert.True(t, blog.allow(ctx, "sign_in", "10.0.0.9", rate), "another project counts apart")
	assert.True(t, def.allow(ctx, "sign_in", "10.0.0.9", rate), "the default project counts apart")
	assert.True(t, def.allow(ctx, "sign_in", "10.0.0.9", rate))
	assert.False(t, def.allow(ctx, "sign_in", "10.0.0.9", rate))

	keys, err := def.redis.Keys(ctx, "madbase:auth:rl:*").Result()
	require.NoError(t, err)
	sort.Strings(keys)
	require.Len(t, keys, 3, "%v", keys)
	assert.Regexp(t, `^madbase:auth:rl:project:blog:sign_in:[0-9a-f]{24}:3600000:\d+$`, keys[0])
	assert.Regexp(t, `^madbase:auth:rl:project:shop:sign_in:[0-9a-f]{24}:3600000:\d+$`, keys[1])
	assert.Regexp(t, `^madbase:auth:rl:sign_in:[0-9a-f]{24}:3600000:\d+$`, keys[2], "the default project's keys as before projects")
}

func TestRateLimitsOverHTTP(t *testing.T) {
	t.Parallel()
	url, _ := startRedis(t)
	e := newEnv(t, true, map[string]string{
		"REDIS_URL": url, "AUTH_RATE_LIMIT_SIGN_IN": "3/1h", "AUTH_RATE_LIMIT_EMAIL_SENT": "1/1h",
		"AUTH_RATE_LIMIT_TOKEN_REFRESH": "1/1h", "AUTH_RATE_LIMIT_VERIFY": "1/1h",
	})
	s := e.signUp(t, "rl@example.com", "secret-123")
	e.signIn(t, "rl@example.com", "secret-123")
	e.signIn(t, "rl@example.com", "secret-123")
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "fourth sign-in from one IP", Method: "POST", URL: "/token?grant_type=password",
			Body:       map[string]any{"email": "rl@example.com", "password": "secret-123"},
			WantStatus: 429, WantFields: errCode("over_request_rate_limit"), WantHeaders: errHeader("over_request_rate_limit")},
		{Name: "another IP", Method: "POST", URL: "/token?grant_type=password", Headers: map[string]string{"X-Forwarded-For": "10.0.0.2"},
			Body: map[string]any{"email": "rl@example.com", "password": "secret-123"}, WantStatus: 200},
		{Name: "the edge's entry counts, not the client's claim", Method: "POST", URL: "/token?grant_type=password",
			Headers: map[string]string{"X-Forwarded-For": "1.2.3.4, 10.0.0.1"},
			Body:    map[string]any{"email": "rl@example.com", "password": "secret-123"}, WantStatus: 429},
		{Name: "refresh", Method: "POST", URL: "/token?grant_type=refresh_token",
			Body: map[string]any{"refresh_token": s["refresh_token"]}, WantStatus: 200},
		{Name: "second refresh", Method: "POST", URL: "/token?grant_type=refresh_token", Body: map[string]any{"refresh_token": "x"},
			WantStatus: 429, WantFields: errCode("over_request_rate_limit"), WantHeaders: errHeader("over_request_rate_limit")},
		{Name: "first mail", Method: "POST", URL: "/recover", Body: map[string]any{"email": "rl@example.com"}, WantStatus: 200},
		{Name: "project mail budget spent", Method: "POST", URL: "/otp", Headers: map[string]string{"X-Forwarded-For": "10.0.0.3"},
			Body:       map[string]any{"email": "other@example.com"},
			WantStatus: 429, WantFields: errCode("over_email_send_rate_limit"), WantHeaders: errHeader("over_email_send_rate_limit"),
			WantContains: []string{"email rate limit exceeded"}},
		{Name: "verify", Method: "POST", URL: "/verify", Body: map[string]any{"type": "recovery", "token_hash": "x"}, WantStatus: 403},
		{Name: "second verify", Method: "POST", URL: "/verify", Body: map[string]any{"type": "recovery", "token_hash": "x"},
			WantStatus: 429, WantFields: errCode("over_request_rate_limit"), WantHeaders: errHeader("over_request_rate_limit")},
	})
}

func TestRateLimitPerEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, map[string]string{"AUTH_RATE_LIMIT_SIGN_IN_EMAIL": "2/1h", "AUTH_RATE_LIMIT_SIGN_IN": "0"})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	signIn := func(email, password string) map[string]any {
		return map[string]any{"email": email, "password": password}
	}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "the user", Method: "POST", URL: "/admin/users", Headers: bearer(e.api.Service),
			Body: map[string]any{"email": "pe@example.com", "password": "secret-123", "email_confirm": true}, WantStatus: 200},
		{Name: "first guess", Method: "POST", URL: "/token?grant_type=password", Headers: from("10.1.0.0"),
			Body: signIn("pe@example.com", "guess"), WantStatus: 400},
		{Name: "second guess, another IP", Method: "POST", URL: "/token?grant_type=password", Headers: from("10.1.0.1"),
			Body: signIn("pe@example.com", "guess"), WantStatus: 400},
		{Name: "per address, whatever the IP", Method: "POST", URL: "/token?grant_type=password", Headers: from("10.1.0.9"),
			Body: signIn("PE@example.com", "secret-123"), WantStatus: 429},
		{Name: "another address", Method: "POST", URL: "/token?grant_type=password", Headers: from("10.1.0.9"),
			Body: signIn("pe2@example.com", "secret-123"), WantStatus: 400},
	})
}

func TestResolvedDefaults(t *testing.T) {
	t.Parallel()
	var a config.Auth
	require.NoError(t, config.Load(&a, config.Map(nil)))
	dev, err := resolveSettings(a, true)
	require.NoError(t, err)
	assert.True(t, dev.autoconfirm)
	assert.True(t, dev.anonymous)
	assert.True(t, dev.rateSignIn.Off())
	prod, err := resolveSettings(a, false)
	require.NoError(t, err)
	assert.False(t, prod.autoconfirm)
	assert.False(t, prod.anonymous)
	assert.Equal(t, config.Rate{N: 30, Per: 5 * time.Minute}, prod.rateSignIn)
	assert.Equal(t, config.Rate{N: 150, Per: 5 * time.Minute}, prod.rateRefresh)
	a.RateSignIn = "5/1m"
	prod, err = resolveSettings(a, true)
	require.NoError(t, err)
	assert.Equal(t, config.Rate{N: 5, Per: time.Minute}, prod.rateSignIn, "an explicit value applies in dev too")
	a.RateSignIn = "lots"
	_, err = resolveSettings(a, true)
	assert.ErrorContains(t, err, "AUTH_RATE_LIMIT_SIGN_IN")
}
