package adminapi

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/madbase/madbase/control/internal/fleet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnknownRoute: control's 404 has the edge's shape and words, with and
// without the admin prefix (behind the admin password).
func TestUnknownRoute(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	app := New(Deps{Log: log, Fleet: fleet.New(log, nil, fleet.Options{}), Password: "a-long-enough-admin-password"})
	for path, want := range map[string]string{
		"/nope":              `{"error":"no route for /nope","code":404}`,
		"/admin/v1/nope/x?y": `{"error":"no route for /admin/v1/nope/x","code":404}`,
	} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer a-long-enough-admin-password")
		res, err := app.Test(req, -1)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		assert.Equal(t, 404, res.StatusCode, path)
		assert.Contains(t, res.Header.Get("Content-Type"), "application/json", path)
		assert.JSONEq(t, want, string(body), path)
	}
}
