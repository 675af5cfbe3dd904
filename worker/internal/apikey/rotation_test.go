package apikey

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/require"
)

func TestRetiringSecret(t *testing.T) {
	current, old := "rotation-current-secret-0123456789abcdef", "rotation-retired-secret-0123456789abcdef"
	now := time.Now()
	oldAnon, err := jwtauth.Sign([]byte(old), jwt.MapClaims{"role": "anon", "exp": now.Add(time.Hour).Unix()})
	require.NoError(t, err)
	oldPub, oldSecret := jwtauth.OpaqueKeys([]byte(old))
	newPub, _ := jwtauth.OpaqueKeys([]byte(current))

	// Without Retire, the old keys are strangers.
	k := New(current)
	_, err = k.KeyRole(oldAnon)
	require.ErrorIs(t, err, ErrBadKey)
	_, err = k.KeyRole(oldPub)
	require.ErrorIs(t, err, ErrBadKey)

	Retire(current, old, now.Add(time.Hour))
	t.Cleanup(func() { Forget(current) })
	k = New(current)
	for key, want := range map[string]string{oldAnon: db.RoleAnon, oldPub: db.RoleAnon, oldSecret: db.RoleServiceRole, newPub: db.RoleAnon} {
		role, err := k.KeyRole(key)
		require.NoError(t, err)
		require.Equal(t, want, role)
	}
	res, err := k.Resolve(newPub, "Bearer "+oldAnon)
	require.NoError(t, err)
	require.Equal(t, db.RoleAnon, res.Role)

	// Retired: refused again.
	Retire(current, old, now.Add(-time.Second))
	k = New(current)
	_, err = k.KeyRole(oldAnon)
	require.ErrorIs(t, err, ErrBadKey)
	_, err = k.KeyRole(oldSecret)
	require.ErrorIs(t, err, ErrBadKey)
	Forget(current)
	_, err = New(current).KeyRole(oldPub)
	require.ErrorIs(t, err, ErrBadKey)
}
