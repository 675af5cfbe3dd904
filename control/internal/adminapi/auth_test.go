package adminapi

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCredentials(t *testing.T) {
	t.Parallel()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		header string
		want   string
		ok     bool
	}{
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer pw", "pw", true},
		{"bearer  pw ", "pw", true},
		{"Basic " + b64("admin:pw"), "pw", true},
		{"basic " + b64(":pw:with:colons"), "pw:with:colons", true},
		{"Basic " + b64("nocolon"), "", false},
		{"Basic !!!", "", false},
		{"Digest pw", "", false},
	} {
		got, ok := credentials(tc.header)
		assert.Equal(t, tc.ok, ok, tc.header)
		assert.Equal(t, tc.want, got, tc.header)
	}
}
