// Package apitest is the one harness for API tests: an Env (the API under
// test, its JWT secret, and keys and tokens made with the repository's own
// jwtauth helpers), Request and Response, a Scenario table run as one
// subtest per row, and a TestMain that checks for leaked goroutines.
//
// A capability's test builds its handler on its own database, wraps it in an
// Env, and writes rows:
//
//	e := apitest.NewFiber(t, app, testSecret)
//	e.Headers = map[string]string{"apikey": e.Anon}
//	apitest.Run(t, e, []apitest.Scenario{
//		{Name: "unknown table", URL: "/rest/v1/nope", WantStatus: 404,
//			WantFields: map[string]any{"code": "PGRST205"}},
//	})
//
// It imports no tier: what a capability needs beyond requests (a database,
// a mailer, a clock) stays in that capability's tests and reaches the rows
// through Before and After.
package apitest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/jwtauth"
)

// Env is one API under test and the credentials its requests carry.
type Env struct {
	// Secret signs Anon, Service and the tokens of UserToken and Token.
	Secret []byte
	// Anon and Service are the JWT API keys (jwtauth.AnonKey,
	// jwtauth.ServiceRoleKey), valid for an hour.
	Anon, Service string
	// Publishable and SecretKey are the opaque keys derived from Secret
	// (jwtauth.OpaqueKeys).
	Publishable, SecretKey string

	// Headers go with every request; a request's own Headers win, and a
	// request header set to "" removes one of these.
	Headers map[string]string
	// ContentType is sent with string and JSON-encoded bodies when neither
	// Headers nor the request name one: "application/json" unless set.
	ContentType string
	// Timeout bounds one request (one minute unless set).
	Timeout time.Duration
	// Prefix goes before every request's URL: "/auth/v1" lets rows say
	// "/token?grant_type=password".
	Prefix string

	base string // prepended to each request's URL
	send func(*http.Request) (*http.Response, error)
}

// NewFiber tests app in-process, through fiber's App.Test: no listener, no
// port. Bodies are read whole, so a streamed answer is seen only once it
// ends; use NewListener to watch one arrive.
func NewFiber(t testing.TB, app *fiber.App, secret string) *Env {
	t.Helper()
	e := newEnv(t, secret)
	e.base = "http://madbase.test"
	e.send = func(r *http.Request) (*http.Response, error) { return app.Test(r, int(e.Timeout.Milliseconds())) }
	return e
}

// NewListener serves app on a free loopback port for the test's duration,
// for tests that need a real connection (streamed bodies, uploads larger
// than fiber's in-process test reads, several requests at once).
func NewListener(t testing.TB, app *fiber.App, secret string) *Env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("apitest: listening: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	t.Cleanup(func() {
		if err := app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("apitest: stopping the app: %v", err)
		}
		if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("apitest: serving the app: %v", err)
		}
	})
	return NewURL(t, "http://"+ln.Addr().String(), secret)
}

// NewHandler serves h on a free loopback port for the test's duration.
func NewHandler(t testing.TB, h http.Handler, secret string) *Env {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return NewURL(t, srv.URL, secret)
}

// NewURL sends requests to a server already running at base (scheme, host
// and an optional path prefix, no trailing slash), over a transport of its
// own whose connections close when the test ends.
func NewURL(t testing.TB, base, secret string) *Env {
	t.Helper()
	e := newEnv(t, secret)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{
		Transport: tr,
		// A redirect is an answer to check, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	e.base = base
	e.send = client.Do
	return e
}

func newEnv(t testing.TB, secret string) *Env {
	t.Helper()
	if secret == "" {
		t.Fatal("apitest: the JWT secret is empty")
	}
	e := &Env{Secret: []byte(secret), ContentType: "application/json", Timeout: time.Minute}
	now := time.Now()
	var err error
	if e.Anon, err = jwtauth.AnonKey(e.Secret, now, now.Add(time.Hour)); err != nil {
		t.Fatalf("apitest: %v", err)
	}
	if e.Service, err = jwtauth.ServiceRoleKey(e.Secret, now, now.Add(time.Hour)); err != nil {
		t.Fatalf("apitest: %v", err)
	}
	e.Publishable, e.SecretKey = jwtauth.OpaqueKeys(e.Secret)
	return e
}

// UserToken is an access token of the signed-in user sub, as the auth API
// issues them (role and aud "authenticated", an hour left); extra claims
// are added or replace those.
func (e *Env) UserToken(t testing.TB, sub string, extra ...jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"sub": sub, "role": "authenticated", "aud": "authenticated",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for _, x := range extra {
		for k, v := range x {
			claims[k] = v
		}
	}
	return e.Token(t, claims)
}

// Token signs claims as they are, for tokens UserToken does not make
// (expired, another role, no sub).
func (e *Env) Token(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwtauth.Sign(e.Secret, claims)
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	return tok
}

// Bearer is the Authorization value for token.
func Bearer(token string) string { return "Bearer " + token }

// context bounds one request by the Env's timeout and the test's life.
func (e *Env) context(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), e.Timeout)
}
