package rest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Header and cookie values reach PostgreSQL as JSON text: it must parse to
// the same strings encoding/json would have written, whatever the bytes.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range jsonStringSeeds {
		checkJSONString(t, s)
	}
}

var jsonStringSeeds = []string{
	"", "plain", `quote " backslash \ slash /`, "tab\tnewline\ncr\r\x00\x1f\x7f",
	"héllo ✓ 日本 🙂", "<script>&amp;</script>", "bad utf-8 \xff\xfe end", "\xc3", "truncated \xe2\x9c",
	"Mixed-Case-Name", "U+2028 \u2028 U+2029 \u2029", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "ZZ\"Z\\A",
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonStringSeeds {
		f.Add(s)
	}
	f.Fuzz(checkJSONString)
}

func checkJSONString(t *testing.T, s string) {
	got := appendJSONString(nil, []byte(s), false)
	var back string
	require.NoError(t, json.Unmarshal(got, &back), "%q -> %s", s, got)
	want, _ := json.Marshal(s)
	var wantBack string
	require.NoError(t, json.Unmarshal(want, &wantBack))
	assert.Equal(t, wantBack, back, "%q", s)

	lower := appendJSONString(nil, []byte(s), true)
	require.NoError(t, json.Unmarshal(lower, &back), "%q -> %s", s, lower)
	assert.Equal(t, strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, wantBack), back, "%q lower-cased", s)
}
