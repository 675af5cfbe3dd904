package adminapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestThrottleSpendsOnlyFailures(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	th := NewThrottle(3, 10*time.Second)
	th.now = func() time.Time { return now }

	assert.Zero(t, th.Wait("a"), "an unknown address waits for nothing")
	for range 3 {
		assert.Zero(t, th.Wait("a"))
		th.Fail("a")
	}
	wait := th.Wait("a")
	assert.Equal(t, 10*time.Second, wait, "the burst is spent: one more after the refill interval")
	assert.Equal(t, wait, th.Wait("a"), "asking does not spend")
	assert.Zero(t, th.Wait("b"), "another address keeps its own allowance")

	now = now.Add(10 * time.Second)
	assert.Zero(t, th.Wait("a"))
	th.Fail("a")
	assert.Equal(t, 10*time.Second, th.Wait("a"))
}

func TestThrottleMemoryIsBounded(t *testing.T) {
	t.Parallel()
	th := NewThrottle(2, time.Hour)
	for i := range 3 * maxTracked {
		th.Fail("10.0." + strconv.Itoa(i))
	}
	assert.LessOrEqual(t, len(th.seen), maxTracked)
}

// TestAdminPasswordGuessesAreThrottled is the drill's case: a burst of wrong
// passwords from one address ends in 429 with Retry-After, even for the right
// password, while another address is still served; nothing logged carries
// what was sent.
func TestAdminPasswordGuessesAreThrottled(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	app := New(Deps{Password: "s3cret-admin", Throttle: NewThrottle(5, time.Hour),
		Log: slog.New(slog.NewJSONHandler(&logs, nil))})

	try := func(from, password string) (int, string, string) {
		req := httptest.NewRequest("GET", "/admin/v1/outbox", nil)
		req.Header.Set("Authorization", "Bearer "+password)
		req.Header.Set("X-Forwarded-For", from)
		res, err := app.Test(req, -1)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Retry-After"), string(body)
	}
	for i := range 5 {
		status, _, _ := try("203.0.113.7", "guess-"+strconv.Itoa(i))
		require.Equal(t, 401, status)
	}
	status, retry, body := try("203.0.113.7", "guess-5")
	assert.Equal(t, 429, status)
	assert.JSONEq(t, `{"error":"too many failed admin sign-ins from this address; retry later","code":429}`, body)
	secs, err := strconv.Atoi(retry)
	require.NoError(t, err, "Retry-After %q", retry)
	assert.Greater(t, secs, 0)

	status, _, _ = try("203.0.113.7", "s3cret-admin")
	assert.Equal(t, 429, status, "a throttled address is refused before its password is looked at")
	status, _, _ = try("198.51.100.1", "s3cret-admin")
	assert.Equal(t, 200, status, "another client behind the same peer is served")

	assert.Contains(t, logs.String(), "admin sign-in refused")
	assert.NotContains(t, logs.String(), "guess-")
	assert.NotContains(t, logs.String(), "s3cret")
}
