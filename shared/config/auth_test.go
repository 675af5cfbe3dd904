package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Rate
		wantErr bool
	}{
		{"30/5m", Rate{30, 5 * time.Minute}, false},
		{" 150 / 300s ", Rate{150, 300 * time.Second}, false},
		{"0", Rate{}, false},
		{"off", Rate{}, false},
		{"30", Rate{}, true},
		{"-1/5m", Rate{}, true},
		{"5/0s", Rate{}, true},
		{"x/5m", Rate{}, true},
		{"5/soon", Rate{}, true},
	} {
		got, err := ParseRate(tc.in)
		if tc.wantErr {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestAuthValidate(t *testing.T) {
	var a Auth
	require.NoError(t, Load(&a, Map(nil)))
	assert.NoError(t, a.Validate(false))
	assert.Equal(t, 3600, a.JWTExp)
	assert.Equal(t, 6, a.PasswordMinLength)

	require.NoError(t, Load(&a, Map(map[string]string{
		"JWT_EXP": "60", "AUTH_AUTOCONFIRM": "maybe", "AUTH_RATE_LIMIT_OTP": "many", "SITE_URL": "ftp://x",
		"AUTH_OTP_LENGTH": "4", "SMTP_HOST": "mail", "SMTP_ADMIN_EMAIL": "nobody",
	})))
	err := a.Validate(false)
	require.Error(t, err)
	for _, want := range []string{"JWT_EXP", "AUTH_AUTOCONFIRM", "AUTH_RATE_LIMIT_OTP", "SITE_URL", "AUTH_OTP_LENGTH", "SMTP_ADMIN_EMAIL", "API_EXTERNAL_URL"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestAuthSMTPNeedsExternalURLOutsideDev(t *testing.T) {
	var a Auth
	require.NoError(t, Load(&a, Map(map[string]string{"SMTP_HOST": "mail.example.com"})))
	assert.ErrorContains(t, a.Validate(false), "API_EXTERNAL_URL")
	assert.NoError(t, a.Validate(true))
	a.APIExternalURL = "https://api.example.com"
	assert.NoError(t, a.Validate(false))
}
