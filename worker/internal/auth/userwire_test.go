package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The user object PostgreSQL builds for GET /user must be the object
// (*user).MarshalJSON writes everywhere else, for users in every state:
// the same keys present and absent, the same values, times in the same
// format.
func TestUserWireSQLMatchesGo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	plain := uuid.MustParse(e.signUp("plain@example.com", "secret-123")["user"].(map[string]any)["id"].(string))
	full := uuid.MustParse(e.signUp("full@example.com", "secret-123")["user"].(map[string]any)["id"].(string))
	_, err := e.pool.Exec(ctx, `update auth.users set
		phone = '15550001111', phone_confirmed_at = '2020-01-02 03:04:05.1+00',
		invited_at = '2020-01-02 03:04:05+00', confirmation_sent_at = '2020-01-02 03:04:05.000001+00',
		recovery_sent_at = '2021-06-07 08:09:10.123456+02', email_change = 'new@example.com',
		email_change_sent_at = now(), phone_change = '15559998888', phone_change_sent_at = now(),
		reauthentication_sent_at = now(), banned_until = '2999-01-01 00:00:00+00', deleted_at = now(),
		raw_user_meta_data = '{"n": 12345678901234567890, "f": 1.50, "neg": -0.25e3, "nested": {"x": null, "y": [1, null, "s"]},
			"html": "<a href=\"x\">&amp;</a>", "uni": "héllo ✓ \u0001", "empty": {}, "list": []}',
		raw_app_meta_data = '{"provider": "email", "providers": ["email", "phone"], "claims_admin": true}'
		where id = $1`, full)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
		values ('15550001111', $1, '{"sub": "x", "phone": "15550001111"}', 'phone', '2022-02-02 02:02:02.5+00', '2022-02-02 02:02:03+00')`, full)
	require.NoError(t, err)

	anon := uuid.New()
	_, err = e.pool.Exec(ctx, `insert into auth.users (instance_id, id, aud, role, is_anonymous, created_at, updated_at,
		raw_app_meta_data, raw_user_meta_data) values ('00000000-0000-0000-0000-000000000000', $1, 'authenticated',
		'authenticated', true, '2023-03-03 03:03:03+00', '2023-03-03 03:03:03.3+00', null, null)`, anon)
	require.NoError(t, err)

	for name, id := range map[string]uuid.UUID{"signed up": plain, "every field set": full, "anonymous, no metadata": anon} {
		u, ok, err := userWithSession(ctx, e.pool, id, uuid.Nil)
		require.NoError(t, err, name)
		assert.False(t, ok, name)
		goJSON, err := json.Marshal(u)
		require.NoError(t, err, name)
		sqlJSON, ok, err := userWireWithSession(ctx, e.pool, id, uuid.Nil)
		require.NoError(t, err, name)
		assert.False(t, ok, name)
		assert.Equal(t, decodeAny(t, goJSON), decodeAny(t, sqlJSON), "%s:\n go: %s\nsql: %s", name, goJSON, sqlJSON)
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, sqlJSON))
		assert.Equal(t, compact.String(), string(sqlJSON), "%s: compact", name)
	}

	// The session check and the missing user.
	_, _, err = userWireWithSession(ctx, e.pool, uuid.New(), uuid.Nil)
	require.ErrorIs(t, err, errNoUser)
	var sid uuid.UUID
	require.NoError(t, e.pool.QueryRow(ctx, `select id from auth.sessions where user_id = $1 limit 1`, plain).Scan(&sid))
	_, ok, err := userWireWithSession(ctx, e.pool, plain, sid)
	require.NoError(t, err)
	assert.True(t, ok)
	_, ok, err = userWireWithSession(ctx, e.pool, full, sid)
	require.NoError(t, err)
	assert.False(t, ok, "another user's session")
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "%s", b)
	return v
}
