package dashboard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSessionsLifetime(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	s := NewSessions(time.Hour, 3*time.Hour, func() time.Time { return now })

	token, csrf, expires, err := s.Start()
	require.NoError(t, err)
	assert.Len(t, token, 43, "32 random bytes, base64url")
	assert.NotEqual(t, token, csrf)
	assert.Equal(t, now.Add(time.Hour), expires)

	got, ok := s.CSRF(token)
	assert.True(t, ok)
	assert.Equal(t, csrf, got)
	_, ok = s.CSRF(csrf)
	assert.False(t, ok, "the CSRF token is not a session token")
	_, ok = s.CSRF("")
	assert.False(t, ok)

	// Use extends the idle end, never past the maximum age.
	for range 3 {
		now = now.Add(50 * time.Minute)
		_, ok = s.CSRF(token)
		require.True(t, ok, "used within the idle time at %s", now)
	}
	_, exp, ok := s.Lookup(token)
	require.True(t, ok)
	assert.Equal(t, time.Unix(1_700_000_000, 0).Add(3*time.Hour), exp, "capped at the maximum age")
	now = now.Add(time.Hour)
	_, ok = s.CSRF(token)
	assert.False(t, ok, "past its maximum age")
	assert.Zero(t, s.Len(), "an ended session is forgotten")

	// Idle too long.
	token, _, _, err = s.Start()
	require.NoError(t, err)
	now = now.Add(time.Hour)
	_, ok = s.CSRF(token)
	assert.False(t, ok)

	// Signed out.
	token, _, _, err = s.Start()
	require.NoError(t, err)
	s.End(token)
	_, ok = s.CSRF(token)
	assert.False(t, ok)
}

func TestSessionsBounded(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	s := NewSessions(0, 0, func() time.Time { return now })
	first, _, _, err := s.Start()
	require.NoError(t, err)
	for range MaxSessions + 10 {
		now = now.Add(time.Millisecond)
		_, _, _, err := s.Start()
		require.NoError(t, err)
	}
	assert.Equal(t, MaxSessions, s.Len())
	_, ok := s.CSRF(first)
	assert.False(t, ok, "the session closest to its end went first")
}
