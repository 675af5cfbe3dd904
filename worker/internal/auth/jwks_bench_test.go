package auth

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/madbase/madbase/worker/internal/apikey"
	authmig "github.com/madbase/madbase/worker/migrations/auth"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// BenchmarkUserBySigningAlg serves GET /auth/v1/user with an apikey and an
// access token signed HS256 (JWT_SECRET), RS256 and ES256 (JWT_KEYS), in
// one run: the tokens are verified on first sight and remembered after
// (jwtauth.Verifier), so the three should cost the same per request.
// cpu-ns/op is this process's CPU time per request.
func BenchmarkUserBySigningAlg(b *testing.B) {
	pool := dbtest.New(b, platform.Source, authmig.Source)
	for _, alg := range []string{"HS256", "RS256", "ES256"} {
		secret := "bench-" + alg + "-secret-0123456789abcdef0123456789"
		ks, err := jwtauth.SecretKeySet([]byte(secret))
		if err != nil {
			b.Fatal(err)
		}
		if alg != "HS256" {
			k, err := jwtauth.NewSigningKey(alg)
			if err != nil {
				b.Fatal(err)
			}
			raw, _ := json.Marshal([]any{k})
			keys, err := jwtauth.ParseKeys(raw)
			if err != nil {
				b.Fatal(err)
			}
			if err := apikey.UseKeys(secret, keys); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = apikey.UseKeys(secret, nil) })
			if ks, err = jwtauth.NewKeySet([]byte(secret), keys); err != nil {
				b.Fatal(err)
			}
		}
		var cfg config.Worker
		if err := config.Load(&cfg, config.Map(map[string]string{"JWT_SECRET": secret, "AUTH_AUTOCONFIRM": "true"})); err != nil {
			b.Fatal(err)
		}
		a := api.New(api.Options{ID: "w1", Deps: api.Deps{
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), DB: pool, Config: cfg, Registry: prometheus.NewRegistry(), Dev: true,
		}, Capabilities: []api.Capability{func(r fiber.Router, d api.Deps) {
			RegisterWith(r, d, Options{bcryptCost: bcrypt.MinCost})
		}}})
		anon, err := ks.APIKey("anon", time.Now(), time.Now().Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		api := apitest.NewFiber(b, a.Fiber, secret)
		api.Prefix = "/auth/v1"
		api.Headers = map[string]string{"apikey": anon, "Authorization": apitest.Bearer(anon), APIVersionHeader: "2024-01-01"}
		r := api.Do(b, apitest.Request{Method: "POST", URL: "/signup",
			Body: map[string]any{"email": alg + "@example.com", "password": "secret-123"}})
		var s struct {
			AccessToken string `json:"access_token"`
		}
		r.JSON(b, &s)
		if r.Status != 200 || jwtHeaderAlg(s.AccessToken) != alg {
			b.Fatalf("signup: %d %s", r.Status, r.Body)
		}
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			start := processCPU(b)
			for b.Loop() {
				req := httptest.NewRequest("GET", "/auth/v1/user", nil)
				req.Header.Set("apikey", anon)
				req.Header.Set("Authorization", "Bearer "+s.AccessToken)
				resp, err := a.Fiber.Test(req, -1)
				if err != nil || resp.StatusCode != 200 {
					b.Fatal(err, resp)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

func jwtHeaderAlg(tok string) string {
	t, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		return ""
	}
	return t.Method.Alg()
}
