// Package dashboard serves MadBase's web dashboard at /dashboard/: a page
// of plain ES modules and CSS embedded in the binary (no build step; see
// docs/dashboard.md), and its sign-in. The page talks only to the admin API
// and the public APIs; the session cookie it signs in with is accepted by
// the admin API's guard (adminapi.Guard.Sessions).
package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"log/slog"
	"mime"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/control/internal/adminapi"
	"github.com/madbase/madbase/shared/apierr"
)

// Prefix is where the dashboard is served, on control and through the edge.
const Prefix = "/dashboard"

// ContentSecurityPolicy is sent with every dashboard response: scripts and
// styles only from the page's own origin (no inline script, no on*
// attribute, no eval), connections only to it (fetch, EventSource and the
// realtime WebSocket), no frames of it elsewhere.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

//go:embed web
var files embed.FS

// Deps is what the dashboard serves from.
type Deps struct {
	// Guard checks the admin password at sign-in, with the admin API's
	// throttle.
	Guard *adminapi.Guard
	// Sessions holds the signed-in sessions; the Guard's Sessions must be
	// the same table.
	Sessions *Sessions
	// DefaultProject is the default project's ref (DEFAULT_PROJECT_REF),
	// which the page lists beside the stored projects.
	DefaultProject string
	Log            *slog.Logger
}

// Register adds the dashboard's routes to r.
func Register(r fiber.Router, d Deps) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	web, err := fs.Sub(files, "web")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	h := &handlers{d: d, assets: loadAssets(web)}
	g := r.Group(Prefix, securityHeaders)
	g.Get("", h.redirect)
	g.Post("/session", h.signIn)
	g.Get("/session", h.session)
	g.Delete("/session", h.signOut)
	g.Get("/*", h.asset)
}

type handlers struct {
	d      Deps
	assets map[string]asset
}

// asset is one embedded file, with what its responses carry.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// loadAssets reads the embedded tree once, at start.
func loadAssets(web fs.FS) map[string]asset {
	out := map[string]asset{}
	_ = fs.WalkDir(web, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web, p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".html":
			ct = "text/html; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		out[p] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return out
}

// securityHeaders go on every dashboard response, errors included.
func securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", ContentSecurityPolicy)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	return c.Next()
}

// redirect sends /dashboard to /dashboard/, so the page's relative URLs
// resolve; fiber's routing hands it /dashboard/ too, which is the page.
func (h *handlers) redirect(c *fiber.Ctx) error {
	if strings.HasSuffix(c.Path(), "/") {
		return h.asset(c)
	}
	return c.Redirect(Prefix+"/", fiber.StatusMovedPermanently)
}

// asset serves an embedded file; the folder itself is index.html. Every
// answer is revalidated (no-cache with an ETag), so a new binary's page is
// never mixed with an old one's modules.
func (h *handlers) asset(c *fiber.Ctx) error {
	name := c.Params("*")
	if name == "" {
		name = "index.html"
	}
	a, ok := h.assets[name]
	if !ok {
		return apierr.NotFound("no dashboard file " + Prefix + "/" + name)
	}
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderETag, a.etag)
	if c.Get(fiber.HeaderIfNoneMatch) == a.etag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, a.contentType)
	return c.Send(a.body)
}

// signInRequest is the body of POST /dashboard/session.
type signInRequest struct {
	Password string `json:"password"`
}

// sessionBody answers sign-in and GET /dashboard/session (dashboard
// contract): the CSRF token writes must carry in adminapi.CSRFHeader.
type sessionBody struct {
	CSRFToken      string    `json:"csrf_token"`
	ExpiresAt      time.Time `json:"expires_at"`
	DefaultProject string    `json:"default_project"`
}

// signIn checks the admin password (throttled with the admin API's
// failures) and opens a session: an HttpOnly, SameSite=Strict cookie,
// Secure when the page was reached over HTTPS.
func (h *handlers) signIn(c *fiber.Ctx) error {
	var req signInRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		return apierr.BadRequest(`send {"password": "<ADMIN_PASSWORD>"} as JSON`)
	}
	if req.Password == "" {
		return apierr.BadRequest("password: required")
	}
	if err := h.d.Guard.CheckPassword(c, req.Password); err != nil {
		return err
	}
	token, csrf, expires, err := h.d.Sessions.Start()
	if err != nil {
		return apierr.Internal(err)
	}
	c.Cookie(h.cookie(c, token, time.Time{}))
	h.d.Log.Info("dashboard sign-in", "component", "dashboard")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(sessionBody{CSRFToken: csrf, ExpiresAt: expires.UTC(), DefaultProject: h.d.DefaultProject})
}

// session answers the signed-in session's CSRF token, so a reloaded page
// can write again; 401 when there is none.
func (h *handlers) session(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if site := c.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return apierr.Forbidden("the dashboard session is only told to the dashboard's own origin")
	}
	csrf, expires, ok := h.d.Sessions.Lookup(c.Cookies(adminapi.SessionCookie))
	if !ok {
		return apierr.Unauthorized("not signed in")
	}
	return c.JSON(sessionBody{CSRFToken: csrf, ExpiresAt: expires.UTC(), DefaultProject: h.d.DefaultProject})
}

// signOut deletes the session (it needs the CSRF token, so another site
// cannot sign the operator out) and clears the cookie.
func (h *handlers) signOut(c *fiber.Ctx) error {
	token := c.Cookies(adminapi.SessionCookie)
	csrf, _, ok := h.d.Sessions.Lookup(token)
	if ok && !adminapi.SameToken(c.Get(adminapi.CSRFHeader), csrf) {
		return apierr.Forbidden("missing or wrong " + adminapi.CSRFHeader + " header")
	}
	if ok {
		h.d.Sessions.End(token)
	}
	c.Cookie(h.cookie(c, "", time.Unix(1, 0)))
	return c.SendStatus(fiber.StatusNoContent)
}

// cookie is the session cookie carrying token; a past expires deletes it.
// Without expires it lasts as long as the browser (the server ends it
// sooner).
func (h *handlers) cookie(c *fiber.Ctx, token string, expires time.Time) *fiber.Cookie {
	return &fiber.Cookie{
		Name:     adminapi.SessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		HTTPOnly: true,
		Secure:   strings.EqualFold(c.Protocol(), "https"),
		SameSite: fiber.CookieSameSiteStrictMode,
	}
}
