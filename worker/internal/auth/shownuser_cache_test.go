package auth

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShownCache holds what a shownCache hands out to what decoding the row
// gives: the same user, written the same, for the same bytes; the session's
// column read afresh every time; another user for any other byte or column
// type; nothing remembered for a user stamped with the clock; and no more
// than shownCacheBytes held.
func TestShownCache(t *testing.T) {
	fields, values := shownRowFixture(t)
	c := newShownCache()
	first, exists, key, err := decodeRemembering(c, fields, values, nil)
	require.NoError(t, err)
	assert.True(t, exists)
	fresh, _, err := decodeShownUser(fields, values)
	require.NoError(t, err)
	want, err := fresh.wire().appendJSON(nil)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(first.shown), "the remembered answer is the user's JSON")

	again, exists, key, err := decodeRemembering(c, fields, clone(values), key)
	require.NoError(t, err)
	assert.True(t, exists)
	assert.Same(t, first, again, "the same bytes: the remembered user")

	noSession := clone(values)
	noSession[sessionColumn] = []byte{0}
	u, exists, key, err := decodeRemembering(c, fields, noSession, key)
	require.NoError(t, err)
	assert.Same(t, first, u)
	assert.False(t, exists, "the session's check is never remembered")

	renamed := clone(values)
	renamed[3] = []byte("z@b.c")
	u, _, key, err = decodeRemembering(c, fields, renamed, key)
	require.NoError(t, err)
	assert.NotSame(t, first, u)
	assert.Equal(t, "z@b.c", u.Email)
	assert.Contains(t, string(u.shown), `"email":"z@b.c"`)

	nulled := clone(values)
	nulled[4] = []byte{} // an empty phone is not a NULL one
	u, _, key, err = decodeRemembering(c, fields, nulled, key)
	require.NoError(t, err)
	assert.NotSame(t, first, u)

	retyped := append(fields[:0:0], fields...)
	retyped[3].DataTypeOID = pgtype.TextOID
	u, _, key, err = decodeRemembering(c, retyped, clone(values), key)
	require.NoError(t, err)
	assert.NotSame(t, first, u, "another column type: another key")

	stamped := clone(values)
	stamped[21] = nil // created_at NULL: stamped with the time of the read
	a, _, key, err := decodeRemembering(c, fields, stamped, key)
	require.NoError(t, err)
	b, _, _, err := decodeRemembering(c, fields, stamped, key)
	require.NoError(t, err)
	assert.NotSame(t, a, b, "a user stamped with the clock is not remembered")
	assert.Nil(t, a.shown)

	broken := clone(values)
	broken[23] = []byte{1, 2, 3}
	_, _, _, err = decodeRemembering(c, fields, broken, nil)
	assert.ErrorIs(t, err, errShownColumn, "a row that cannot be decoded is refused, as without the cache")

	// Bounded: the oldest entries give way, whichever they are.
	for i := range 4 * shownCacheBytes / 4096 {
		row := clone(values)
		row[3] = fmt.Appendf(nil, "user-%d@example.com", i)
		row[19] = append([]byte{1}, bytes.Repeat([]byte(" "), 1500)...) // jsonb metadata
		row[19] = append(row[19], "{}"...)
		_, _, _, err := decodeRemembering(c, fields, row, nil)
		require.NoError(t, err)
	}
	c.mu.Lock()
	size, n := c.size, len(c.entries)
	c.mu.Unlock()
	assert.LessOrEqual(t, size, shownCacheBytes)
	assert.Greater(t, n, 100)

	c.clear()
	u, _, _, err = decodeRemembering(c, fields, values, nil)
	require.NoError(t, err)
	assert.NotSame(t, first, u, "cleared")
}

func clone(values [][]byte) [][]byte {
	out := make([][]byte, len(values))
	for i, v := range values {
		if v != nil {
			out[i] = bytes.Clone(v)
		}
	}
	return out
}

// TestGetUserAfterChanges reads GET /user through the batcher and its cache
// before and after each change a user's answer must show at once: new
// metadata, a new identity, the session signed out.
func TestGetUserAfterChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s := e.signUp(t, "cached@example.com", "secret-123")
	tok := s["access_token"].(string)
	get := apitest.Scenario{URL: "/user", Headers: bearer(tok), WantStatus: 200}
	apitest.Run(t, e.api, []apitest.Scenario{
		with(get, "first read", []string{`"email":"cached@example.com"`}, []string{`"color"`}),
		with(get, "again, the same", []string{`"email":"cached@example.com"`}, []string{`"color"`}),
		{Name: "new metadata", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body: map[string]any{"data": map[string]any{"color": "blue"}}, WantStatus: 200},
		with(get, "shows the metadata", []string{`"color":"blue"`}, nil),
		{Name: "changed again", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body: map[string]any{"data": map[string]any{"color": "red"}}, WantStatus: 200},
		with(get, "shows the change", []string{`"color":"red"`}, []string{`"color":"blue"`}),
	})
	_, err := e.pool.Exec(t.Context(), `insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
		select 'gh-1', id, '{"sub": "gh-1"}', 'github', now(), now() from auth.users where email = 'cached@example.com'`)
	require.NoError(t, err)
	apitest.Run(t, e.api, []apitest.Scenario{
		with(get, "shows the new identity", []string{`"provider":"github"`}, nil),
		{Name: "sign out", Method: "POST", URL: "/logout", Headers: bearer(tok), WantStatus: 204},
		{Name: "the signed-out token", URL: "/user", Headers: bearer(tok),
			WantStatus: 403, WantFields: errCode("session_not_found")},
	})
}

// with is scenario s named name, wanting and not wanting these texts.
func with(s apitest.Scenario, name string, want, not []string) apitest.Scenario {
	s.Name, s.WantContains, s.WantNotContains = name, want, not
	return s
}

// decodeRemembering does with a row what the batcher and its reader do:
// decode it, then remember what decode offers.
func decodeRemembering(c *shownCache, fields []pgconn.FieldDescription, values [][]byte, key []byte) (*user, bool, []byte, error) {
	u, ok, key, e, err := c.decode(fields, values, key)
	if e != nil {
		c.remember(e)
	}
	return u, ok, key, err
}
