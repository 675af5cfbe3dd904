package dashboard

import (
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/control/internal/adminapi"
	"github.com/madbase/madbase/control/internal/fleet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const password = "a-long-enough-admin-password"

// newApp is control's app as control.Run wires it: the admin API with the
// dashboard mounted and one guard shared by both.
func newApp(t *testing.T) *fiber.App {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	sessions := NewSessions(0, 0, nil)
	guard := adminapi.NewGuard(adminapi.Guard{Password: password, Log: log, Sessions: sessions,
		Clients: adminapi.NewThrottle(3, time.Hour)})
	return adminapi.New(adminapi.Deps{
		Log: log, Fleet: fleet.New(log, nil, fleet.Options{}), Password: password, Guard: guard,
		Mount: func(r fiber.Router) {
			Register(r, Deps{Guard: guard, Sessions: sessions, DefaultProject: "default", Log: log})
		},
	})
}

type reply struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, app *fiber.App, method, path, body string, headers map[string]string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := app.Test(req, -1)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return reply{res.StatusCode, res.Header, string(b)}
}

// signIn answers the session cookie ("name=value") and the CSRF token.
func signIn(t *testing.T, app *fiber.App) (cookie, csrf string) {
	t.Helper()
	r := send(t, app, "POST", "/dashboard/session", `{"password":"`+password+`"}`, nil)
	require.Equal(t, 201, r.status, r.body)
	set := r.header.Get("Set-Cookie")
	require.NotEmpty(t, set)
	cookie, _, _ = strings.Cut(set, ";")
	require.True(t, strings.HasPrefix(cookie, adminapi.SessionCookie+"="))
	i := strings.Index(r.body, `"csrf_token":"`)
	require.GreaterOrEqual(t, i, 0, r.body)
	csrf, _, _ = strings.Cut(r.body[i+len(`"csrf_token":"`):], `"`)
	return cookie, csrf
}

func TestAssets(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	for _, tc := range []struct {
		path, wantType, wantContains string
		wantStatus                   int
	}{
		{"/dashboard/", "text/html", `<script type="module" src="js/main.js">`, 200},
		{"/dashboard/js/main.js", "text/javascript", "import", 200},
		{"/dashboard/app.css", "text/css", "--", 200},
		{"/dashboard/nope.js", "application/json", `"code":404`, 404},
	} {
		r := send(t, app, "GET", tc.path, "", nil)
		assert.Equal(t, tc.wantStatus, r.status, tc.path)
		assert.Contains(t, r.header.Get("Content-Type"), tc.wantType, tc.path)
		assert.Contains(t, r.body, tc.wantContains, tc.path)
		csp := r.header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "script-src 'self'", tc.path)
		assert.Contains(t, csp, "default-src 'self'", tc.path)
		assert.NotContains(t, csp, "unsafe-inline", tc.path)
		assert.NotContains(t, csp, "unsafe-eval", tc.path)
		assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), tc.path)
	}

	r := send(t, app, "GET", "/dashboard", "", nil)
	assert.Equal(t, 301, r.status)
	assert.Equal(t, "/dashboard/", r.header.Get("Location"))

	r = send(t, app, "GET", "/dashboard/js/main.js", "", nil)
	etag := r.header.Get("ETag")
	require.NotEmpty(t, etag)
	assert.Equal(t, "no-cache", r.header.Get("Cache-Control"))
	r = send(t, app, "GET", "/dashboard/js/main.js", "", map[string]string{"If-None-Match": etag})
	assert.Equal(t, 304, r.status)
}

// TestPageHasNoInlineScript keeps the page within its CSP: no inline
// <script>, no on* attribute, no javascript: URL in any embedded file.
func TestPageHasNoInlineScript(t *testing.T) {
	t.Parallel()
	web, err := fs.Sub(files, "web")
	require.NoError(t, err)
	h := &handlers{assets: loadAssets(web)}
	require.NotEmpty(t, h.assets)
	for name, a := range h.assets {
		body := strings.ToLower(string(a.body))
		if strings.HasSuffix(name, ".html") {
			for _, tag := range strings.Split(body, "<script")[1:] {
				assert.Contains(t, strings.SplitN(tag, ">", 2)[0], "src=", "%s: an inline script", name)
			}
		}
		for _, bad := range []string{" onclick=", " onload=", " onerror=", " onsubmit=", "javascript:", "innerhtml", "eval("} {
			assert.NotContains(t, body, bad, name)
		}
	}
}

// TestSessionAuth: the admin API takes the session cookie instead of the
// password; writes need the CSRF token; no cookie, an ended session or a
// wrong password is 401 JSON; wrong passwords are throttled with the admin
// API's own allowance.
func TestSessionAuth(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	cookie, csrf := signIn(t, app)

	r := send(t, app, "POST", "/dashboard/session", `{"password":"`+password+`"}`, nil)
	set := r.header.Get("Set-Cookie")
	assert.Contains(t, set, "HttpOnly")
	assert.Contains(t, strings.ToLower(set), "samesite=strict")
	assert.Contains(t, set, "path=/")
	assert.NotContains(t, strings.ToLower(set), "secure", "plain HTTP")
	r = send(t, app, "POST", "/dashboard/session", `{"password":"`+password+`"}`, map[string]string{"X-Forwarded-Proto": "https"})
	assert.Contains(t, strings.ToLower(r.header.Get("Set-Cookie")), "secure", "reached over HTTPS")

	withCookie := map[string]string{"Cookie": cookie}
	withBoth := map[string]string{"Cookie": cookie, adminapi.CSRFHeader: csrf}
	rows := []struct {
		name, method, path, body string
		headers                  map[string]string
		wantStatus               int
		wantContains             string
	}{
		{"no cookie", "GET", "/admin/v1/workers", "", nil, 401, `"code":401`},
		{"no cookie, a write", "DELETE", "/admin/v1/projects/x", "", nil, 401, "admin credentials required"},
		{"unknown session", "GET", "/admin/v1/workers", "", map[string]string{"Cookie": adminapi.SessionCookie + "=forged"}, 401, "sign in again"},
		{"cookie reads", "GET", "/admin/v1/workers", "", withCookie, 200, `"workers":[]`},
		{"cookie from another site", "GET", "/admin/v1/workers", "", map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-site"}, 403, "own origin"},
		{"write without CSRF", "POST", "/admin/v1/projects", `{"ref":"abc"}`, withCookie, 403, adminapi.CSRFHeader},
		{"write with a wrong CSRF", "POST", "/admin/v1/projects", `{"ref":"abc"}`, map[string]string{"Cookie": cookie, adminapi.CSRFHeader: "x" + csrf}, 403, adminapi.CSRFHeader},
		{"write with CSRF passes the guard", "POST", "/admin/v1/projects", `{"ref":"abc"}`, withBoth, 503, "projects are unavailable"},
		{"session told to the page", "GET", "/dashboard/session", "", withCookie, 200, csrf},
		{"session without cookie", "GET", "/dashboard/session", "", nil, 401, "not signed in"},
		{"sign-out without CSRF", "DELETE", "/dashboard/session", "", withCookie, 403, adminapi.CSRFHeader},
		{"not JSON", "POST", "/dashboard/session", `password=x`, nil, 400, "password"},
		{"no password", "POST", "/dashboard/session", `{}`, nil, 400, "password: required"},
		{"password as bearer still works", "GET", "/admin/v1/workers", "", map[string]string{"Authorization": "Bearer " + password}, 200, "workers"},
	}
	for _, tc := range rows {
		r := send(t, app, tc.method, tc.path, tc.body, tc.headers)
		assert.Equal(t, tc.wantStatus, r.status, "%s: %s", tc.name, r.body)
		assert.Contains(t, r.body, tc.wantContains, tc.name)
		if r.status >= 400 {
			assert.Contains(t, r.header.Get("Content-Type"), "application/json", tc.name)
		}
	}

	// A browser opening an admin URL is asked for the password; the page's
	// own requests are not (the browser would hold them on its prompt).
	r = send(t, app, "GET", "/admin/v1/workers", "", map[string]string{"Sec-Fetch-Mode": "navigate"})
	assert.Equal(t, 401, r.status)
	assert.Equal(t, adminapi.Realm, r.header.Get("WWW-Authenticate"))
	r = send(t, app, "GET", "/admin/v1/workers", "", map[string]string{"Sec-Fetch-Mode": "cors"})
	assert.Equal(t, 401, r.status)
	assert.Empty(t, r.header.Get("WWW-Authenticate"))
	r = send(t, app, "GET", "/admin/v1/workers", "", map[string]string{"Sec-Fetch-Mode": "same-origin", "Cookie": adminapi.SessionCookie + "=ended"})
	assert.Equal(t, 401, r.status)
	assert.Empty(t, r.header.Get("WWW-Authenticate"))

	// Sign-out ends the session on the server: the old cookie is refused.
	r = send(t, app, "DELETE", "/dashboard/session", "", withBoth)
	assert.Equal(t, 204, r.status, r.body)
	assert.Contains(t, r.header.Get("Set-Cookie"), adminapi.SessionCookie+"=;")
	r = send(t, app, "GET", "/admin/v1/workers", "", withCookie)
	assert.Equal(t, 401, r.status)
	assert.Contains(t, r.body, "sign in again")

	// Wrong passwords: told clearly, then slowed down (the throttle allows 3
	// failures per address here), and the right password waits too.
	for i := range 3 {
		r = send(t, app, "POST", "/dashboard/session", `{"password":"wrong"}`, nil)
		assert.Equal(t, 401, r.status, "attempt %d", i)
		assert.Contains(t, r.body, "the admin password is wrong")
		assert.Empty(t, r.header.Get("Set-Cookie"))
	}
	r = send(t, app, "POST", "/dashboard/session", `{"password":"`+password+`"}`, nil)
	assert.Equal(t, 429, r.status, r.body)
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	assert.Empty(t, r.header.Get("Set-Cookie"))
	r = send(t, app, "GET", "/admin/v1/workers", "", map[string]string{"Authorization": "Bearer wrong"})
	assert.Equal(t, 429, r.status, "the admin API shares the allowance")
}
