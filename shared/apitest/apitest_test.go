package apitest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/jwtauth"
)

// The package checks its own tests for leaked goroutines, fiber listeners
// included.
func TestMain(m *testing.M) { apitest.Main(m) }

const secret = "apitest-test-secret-0123456789abcdef0123456789"

// echo is what the tiny app answers about the request it got.
type echo struct {
	Method      string `json:"method"`
	Path        string `json:"path"` // as sent, percent-encodings included
	Host        string `json:"host"`
	APIKey      string `json:"apikey"`
	Custom      string `json:"custom"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

// store is the tiny app's state, which scenarios' hooks set and read.
type store struct {
	mu    sync.Mutex
	items []string
}

func (s *store) add(item string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = append(s.items, item)
}

func (s *store) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{}, s.items...)
}

// tinyApp is a fiber app shaped like a capability: it checks a bearer
// token with the secret and answers errors as {"error", "code"}.
func tinyApp(s *store) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.All("/echo/*", func(c *fiber.Ctx) error {
		c.Set("X-Seen", "yes")
		return c.JSON(echo{
			Method: c.Method(), Path: string(c.Request().URI().PathOriginal()), Host: c.Hostname(),
			APIKey: c.Get("apikey"), Custom: c.Get("X-Custom"), ContentType: c.Get(fiber.HeaderContentType),
			Body: string(c.Body()),
		})
	})
	app.Get("/whoami", func(c *fiber.Ctx) error {
		claims, err := jwtauth.Verify([]byte(secret), strings.TrimPrefix(c.Get("Authorization"), "Bearer "))
		if err != nil {
			return c.Status(401).JSON(fiber.Map{"error": "invalid token", "code": 401})
		}
		return c.JSON(fiber.Map{"role": claims["role"], "sub": claims["sub"], "aud": claims["aud"], "plan": claims["plan"]})
	})
	app.Get("/items", func(c *fiber.Ctx) error { return c.JSON(s.list()) })
	app.Post("/items", func(c *fiber.Ctx) error {
		var in struct{ Name string }
		if err := json.Unmarshal(c.Body(), &in); err != nil || in.Name == "" {
			return c.Status(400).JSON(fiber.Map{"error": "a name is needed", "code": 400})
		}
		s.add(in.Name)
		return c.Status(201).JSON(fiber.Map{"name": in.Name})
	})
	app.Get("/away", func(c *fiber.Ctx) error { return c.Redirect("/elsewhere", http.StatusSeeOther) })
	return app
}

// tinyHandler is the echo route of tinyApp as a net/http handler.
func tinyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", "yes")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{
			Method: r.Method, Path: r.URL.EscapedPath(), Host: r.Host, APIKey: r.Header.Get("apikey"),
			Custom: r.Header.Get("X-Custom"), ContentType: r.Header.Get("Content-Type"), Body: string(b),
		})
	})
}

// echoRows are rows every kind of Env must pass: they pin how a Request
// becomes the request the API sees.
func echoRows(e *apitest.Env) []apitest.Scenario {
	return []apitest.Scenario{
		{Name: "GET by default, the Env's headers", URL: "/echo/a", WantStatus: 200,
			WantFields:  map[string]any{"method": "GET", "path": "/echo/a", "apikey": e.Anon, "content_type": "", "body": ""},
			WantHeaders: map[string]string{"X-Seen": "yes", "X-Absent": ""}},
		{Name: "the request's headers win, empty removes", URL: "/echo/b",
			Headers:    map[string]string{"apikey": "", "X-Custom": "c1"},
			WantStatus: 200, WantFields: map[string]any{"apikey": "", "custom": "c1"}},
		{Name: "a value goes as JSON with the Env's content type", Method: "POST", URL: "/echo/c",
			Body:       map[string]any{"n": 1},
			WantStatus: 200, WantFields: map[string]any{"method": "POST", "content_type": "application/json", "body": `{"n":1}`}},
		{Name: "a string goes as is, with the Env's content type", Method: "PATCH", URL: "/echo/d", Body: `{"raw":true}`,
			WantStatus: 200, WantFields: map[string]any{"content_type": "application/json", "body": `{"raw":true}`}},
		{Name: "an empty string is no body", Method: "POST", URL: "/echo/h", Body: "",
			WantStatus: 200, WantFields: map[string]any{"content_type": "", "body": ""}},
		{Name: "bytes and readers get no content type", Method: "PUT", URL: "/echo/e", Body: strings.NewReader("bytes!"),
			WantStatus: 200, WantFields: map[string]any{"content_type": "", "body": "bytes!"}},
		{Name: "a content type of the request's own", Method: "POST", URL: "/echo/f", Body: []byte("x"),
			Headers:    map[string]string{"Content-Type": "image/png"},
			WantStatus: 200, WantFields: map[string]any{"content_type": "image/png"}},
		{Name: "percent-encodings are sent as written", URL: "/echo/%2e%2e%2fescape.png?x=%2F", WantStatus: 200,
			WantFields: map[string]any{"path": "/echo/%2e%2e%2fescape.png"}},
		{Name: "Host", URL: "/echo/g", Headers: map[string]string{"Host": "ref1.madbase.test"}, WantStatus: 200,
			WantContains: []string{`"host":"ref1.madbase.test"`}},
	}
}

func TestEveryKindOfEnvSendsTheSameRequests(t *testing.T) {
	t.Parallel()
	for _, kind := range []struct {
		name string
		env  func(t *testing.T) *apitest.Env
	}{
		{"fiber in-process", func(t *testing.T) *apitest.Env { return apitest.NewFiber(t, tinyApp(&store{}), secret) }},
		{"fiber listener", func(t *testing.T) *apitest.Env { return apitest.NewListener(t, tinyApp(&store{}), secret) }},
		{"http handler", func(t *testing.T) *apitest.Env { return apitest.NewHandler(t, tinyHandler(), secret) }},
	} {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			e := kind.env(t)
			e.Headers = map[string]string{"apikey": e.Anon}
			apitest.Run(t, e, echoRows(e))
		})
	}
}

func TestKeysAndTokens(t *testing.T) {
	t.Parallel()
	e := apitest.NewFiber(t, tinyApp(&store{}), secret)
	pub, sec := jwtauth.OpaqueKeys([]byte(secret))
	assert.Equal(t, pub, e.Publishable)
	assert.Equal(t, sec, e.SecretKey)
	for tok, role := range map[string]string{e.Anon: "anon", e.Service: "service_role"} {
		claims, err := jwtauth.Verify([]byte(secret), tok)
		require.NoError(t, err)
		assert.Equal(t, role, claims["role"])
		assert.Equal(t, jwtauth.Issuer, claims["iss"])
	}
	const alice = "00000000-0000-4000-8000-00000000000a"
	apitest.Run(t, e, []apitest.Scenario{
		{Name: "user token", URL: "/whoami", Headers: map[string]string{"Authorization": apitest.Bearer(e.UserToken(t, alice))},
			WantStatus: 200, WantJSON: `{"role":"authenticated","sub":"` + alice + `","aud":"authenticated","plan":null}`},
		{Name: "extra claims", URL: "/whoami",
			Headers:    map[string]string{"Authorization": apitest.Bearer(e.UserToken(t, alice, jwt.MapClaims{"plan": "pro", "aud": "x"}))},
			WantStatus: 200, WantFields: map[string]any{"plan": "pro", "aud": "x", "sub": alice}},
		{Name: "service key", URL: "/whoami", Headers: map[string]string{"Authorization": apitest.Bearer(e.Service)},
			WantStatus: 200, WantFields: map[string]any{"role": "service_role", "sub": nil}},
		{Name: "an expired token of Token's", URL: "/whoami",
			Headers:    map[string]string{"Authorization": apitest.Bearer(e.Token(t, jwt.MapClaims{"role": "anon", "exp": 1}))},
			WantStatus: 401, WantFields: map[string]any{"code": 401}, WantNotContains: []string{"anon"}},
		{Name: "another secret's token", URL: "/whoami",
			Headers:    map[string]string{"Authorization": apitest.Bearer(otherEnv(t).Service)},
			WantStatus: 401, WantFields: map[string]any{"error": "invalid token"}},
	})
}

func otherEnv(t *testing.T) *apitest.Env {
	return apitest.NewFiber(t, fiber.New(), "another-secret-0123456789abcdef0123456789")
}

// Hooks run around their row's request, rows in order, each in a subtest
// named after it.
func TestHooksRunAroundTheirRow(t *testing.T) {
	t.Parallel()
	s := &store{}
	e := apitest.NewFiber(t, tinyApp(s), secret)
	var order []string
	apitest.Run(t, e, []apitest.Scenario{
		{Name: "seeded before", URL: "/items",
			Before: func(t *testing.T, _ *apitest.Env) {
				order = append(order, "before "+t.Name())
				s.add("seed")
			},
			WantStatus: 200, WantJSON: `["seed"]`,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				order = append(order, "after "+t.Name())
				var got []string
				r.JSON(t, &got)
				assert.Equal(t, []string{"seed"}, got)
			}},
		{Name: "a write, checked after", Method: "POST", URL: "/items", Body: map[string]string{"name": "two"},
			WantStatus: 201, WantFields: map[string]any{"name": "two"},
			After: func(t *testing.T, e *apitest.Env, r *apitest.Response) {
				order = append(order, "after "+t.Name())
				assert.Equal(t, []string{"seed", "two"}, s.list())
				next := e.Do(t, apitest.Request{URL: "/items"})
				assert.JSONEq(t, `["seed","two"]`, next.String())
			}},
		{Name: "a refused write stores nothing", Method: "POST", URL: "/items", Body: `{}`,
			WantStatus: 400, WantJSON: `{"error":"a name is needed","code":400}`,
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) {
				assert.Len(t, s.list(), 2)
			}},
	})
	assert.Equal(t, []string{
		"before TestHooksRunAroundTheirRow/seeded_before",
		"after TestHooksRunAroundTheirRow/seeded_before",
		"after TestHooksRunAroundTheirRow/a_write,_checked_after",
	}, order)
}

func TestPrefix(t *testing.T) {
	t.Parallel()
	for _, e := range []*apitest.Env{
		apitest.NewFiber(t, tinyApp(&store{}), secret),
		apitest.NewListener(t, tinyApp(&store{}), secret),
	} {
		e.Prefix = "/echo"
		apitest.Run(t, e, []apitest.Scenario{
			{Name: "prefixed", URL: "/x/y?z=1", WantStatus: 200, WantFields: map[string]any{"path": "/echo/x/y"}},
		})
	}
}

// A listener's answers are the server's own: a redirect is not followed.
func TestRedirectsAreAnswers(t *testing.T) {
	t.Parallel()
	for _, e := range []*apitest.Env{
		apitest.NewFiber(t, tinyApp(&store{}), secret),
		apitest.NewListener(t, tinyApp(&store{}), secret),
	} {
		r := e.Do(t, apitest.Request{URL: "/away"})
		assert.Equal(t, http.StatusSeeOther, r.Status)
		assert.Equal(t, "/elsewhere", r.Header.Get("Location"))
	}
}
