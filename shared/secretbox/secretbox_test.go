package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/madbase/madbase/shared/secretbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	box, err := secretbox.New(secretbox.NewKey())
	require.NoError(t, err)
	secret := "smtp-password-Ünicode"
	a := box.SealString(secret, "project/shop/SMTP_PASS")
	b := box.SealString(secret, "project/shop/SMTP_PASS")
	assert.NotEqual(t, a, b, "a fresh nonce each time: equal secrets do not look equal")
	assert.True(t, strings.HasPrefix(a, "v1:"))
	assert.NotContains(t, a, secret)

	got, err := box.OpenString(a, "project/shop/SMTP_PASS")
	require.NoError(t, err)
	assert.Equal(t, secret, got)

	_, err = box.OpenString(a, "project/other/SMTP_PASS")
	assert.ErrorIs(t, err, secretbox.ErrOpen, "sealed for one context, it does not open in another")

	other, err := secretbox.New(secretbox.NewKey())
	require.NoError(t, err)
	_, err = other.OpenString(a, "project/shop/SMTP_PASS")
	assert.ErrorIs(t, err, secretbox.ErrOpen, "another key cannot open it")

	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(a, "v1:"))
	require.NoError(t, err)
	raw[len(raw)-1] ^= 1
	_, err = box.OpenString("v1:"+base64.RawStdEncoding.EncodeToString(raw), "project/shop/SMTP_PASS")
	assert.ErrorIs(t, err, secretbox.ErrOpen, "an altered value is refused")

	for _, bad := range []string{"", "v1:", "v1:!!!", "v2:" + strings.TrimPrefix(a, "v1:"), "v1:AAAA"} {
		_, err := box.OpenString(bad, "project/shop/SMTP_PASS")
		assert.ErrorIs(t, err, secretbox.ErrOpen, "%q", bad)
	}

	empty := box.SealString("", "c")
	got, err = box.OpenString(empty, "c")
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestNewRefusesShortKeys(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31, 33} {
		_, err := secretbox.New(make([]byte, n))
		assert.Error(t, err, "%d bytes", n)
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	key := secretbox.NewKey()
	for _, s := range []string{
		secretbox.EncodeKey(key),
		base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
		hex.EncodeToString(key),
		"  " + secretbox.EncodeKey(key) + "\n",
	} {
		got, err := secretbox.ParseKey(s)
		require.NoError(t, err, "%q", s)
		assert.True(t, bytes.Equal(key, got), "%q", s)
	}
	short := base64.StdEncoding.EncodeToString(key[:16])
	for _, s := range []string{"", "not a key at all!", short} {
		_, err := secretbox.ParseKey(s)
		require.Error(t, err, "%q", s)
		if s != "" {
			assert.NotContains(t, err.Error(), s, "the error never repeats the value")
		}
	}
}
