package integration_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/madbase/madbase/worker"
	"github.com/madbase/madbase/worker/migrations"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// TestWorkerServesProjects: with MADBASE_ENCRYPTION_KEY, worker.Run serves
// a project published in the bucket before it started, from the project's
// database, and the default project from DATABASE_URL.
func TestWorkerServesProjects(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	nc := bustest.Connect(t, s)
	def := dbtest.NewDB(t, append([]migrate.Source{platform.Source}, migrations.All()...)...)
	proj := dbtest.NewDB(t, append([]migrate.Source{platform.Source}, migrations.All()...)...)
	for d, owner := range map[*dbtest.DB]string{def: "default", proj: "shop"} {
		_, err := d.Pool.Exec(context.Background(), `create table public.items (owner text); grant select on public.items to anon;
			insert into public.items values ('`+owner+`')`)
		require.NoError(t, err)
	}

	key := secretbox.NewKey()
	box, err := secretbox.New(key)
	require.NoError(t, err)
	projSecret := "shop-secret-0123456789abcdef0123456789abcdef"
	pc, err := json.Marshal(bus.ProjectConfig{
		ID: "shop-1", Ref: "shop", Revision: 1,
		DatabaseURL: box.SealString(proj.URL, bus.SecretContext("shop", bus.SecretDatabaseURL)),
		JWTSecrets:  []bus.ProjectJWTSecret{{Secret: box.SealString(projSecret, bus.SecretContext("shop", bus.SecretJWT))}},
	})
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bus.ProjectsBucket, History: 1})
	require.NoError(t, err)
	_, err = kv.Put(ctx, "shop", pc)
	require.NoError(t, err)

	cfg := workerConfig(t, s.URL(), def.URL)
	cfg.EncryptionKey = secretbox.EncodeKey(key)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, cfg, worker.Options{Listener: ln, LogOut: io.Discard, Ready: func(u string) { ready <- u }})
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}

	get := func(apiKey string) (int, string) {
		req, err := http.NewRequest("GET", url+"/rest/v1/items?select=owner", nil)
		require.NoError(t, err)
		req.Header.Set("apikey", apiKey)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	sign := func(secret, ref string) string {
		k, err := jwtauth.Sign([]byte(secret), jwt.MapClaims{"iss": "supabase", "ref": ref, "role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
		require.NoError(t, err)
		return k
	}
	status, body := get(sign(projSecret, "shop"))
	require.Equal(t, 200, status, body)
	require.JSONEq(t, `[{"owner":"shop"}]`, body)
	status, body = get(sign(cfg.JWTSecret, jwtauth.Ref))
	require.Equal(t, 200, status, body)
	require.JSONEq(t, `[{"owner":"default"}]`, body)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}
