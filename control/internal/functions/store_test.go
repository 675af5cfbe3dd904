package functions

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/httpserver"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/nats-io/nats.go/jetstream"
)

func newTestStore(t *testing.T) (*Store, jetstream.JetStream, *secretbox.Box) {
	t.Helper()
	nc := bustest.Connect(t, bustest.RunServer(t))
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(nc, box, nil, Options{}), js, box
}

// TestDeployVersionsAndDelete: each deploy is the next version with its
// bundle stored under the name the metadata gives; the version before the
// previous one is dropped; delete removes the key.
func TestDeployVersionsAndDelete(t *testing.T) {
	s, js, _ := newTestStore(t)
	ctx := context.Background()
	off := false
	for i, src := range []string{"Deno.serve(() => new Response('1'))", "Deno.serve(() => new Response('2'))", "Deno.serve(() => new Response('3'))"} {
		set := Settings{}
		if i == 0 {
			set.VerifyJWT = &off
		}
		fc, err := s.Deploy(ctx, "default", "hello", []byte(src), set)
		if err != nil {
			t.Fatalf("deploy %d: %v", i, err)
		}
		if fc.Version != int64(i+1) || fc.VerifyJWT {
			t.Fatalf("deploy %d: %+v (verify_jwt is kept from the first deploy)", i, fc)
		}
		obj, err := js.ObjectStore(ctx, bus.FunctionsObjectStore)
		if err != nil {
			t.Fatal(err)
		}
		b, err := obj.GetBytes(ctx, fc.Object)
		if err != nil || string(b) != src {
			t.Fatalf("bundle of version %d: %q %v", fc.Version, b, err)
		}
		if i == 2 {
			if _, err := obj.GetBytes(ctx, bus.FunctionObject("default", "hello", 1)); !errors.Is(err, jetstream.ErrObjectNotFound) {
				t.Errorf("version 1's bundle is still stored: %v", err)
			}
		}
	}
	list, err := s.List(ctx, "default")
	if err != nil || len(list) != 1 || list[0].Name != "hello" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := s.Deploy(ctx, "default", "../bad", []byte("x"), Settings{}); !errors.Is(err, ErrBadName) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := s.Deploy(ctx, "someproject", "hello", []byte("x"), Settings{}); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("unknown project: %v", err)
	}
	if err := s.Delete(ctx, "default", "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "default", "hello"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}

// TestSecretsSealed: secrets are published sealed for their project and
// name, and listed by name only.
func TestSecretsSealed(t *testing.T) {
	s, js, box := newTestStore(t)
	ctx := context.Background()
	if err := s.ChangeSecrets(ctx, "default", map[string]string{"API_TOKEN": "s3cr3t", "OTHER": "x"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ChangeSecrets(ctx, "default", nil, []string{"OTHER"}); err != nil {
		t.Fatal(err)
	}
	names, err := s.SecretNames(ctx, "default")
	if err != nil || len(names) != 1 || names[0] != "API_TOKEN" {
		t.Fatalf("names: %v %v", names, err)
	}
	kv, _ := js.KeyValue(ctx, bus.FunctionsBucket)
	e, err := kv.Get(ctx, bus.FunctionSecretsKey("default"))
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Value()) == "" || contains(e.Value(), "s3cr3t") {
		t.Fatalf("the secret is published in clear: %s", e.Value())
	}
	fs, _, _ := s.secrets(ctx, kv, "default")
	if v, err := box.OpenString(fs.Values["API_TOKEN"], bus.FunctionSecretContext("default", "API_TOKEN")); err != nil || v != "s3cr3t" {
		t.Errorf("open: %q %v", v, err)
	}
	if err := s.ChangeSecrets(ctx, "default", map[string]string{"SUPABASE_URL": "x"}, nil); !errors.Is(err, ErrBadSecret) {
		t.Errorf("SUPABASE_ names are reserved: %v", err)
	}
}

// TestAdminRoutes: the routes answer in the admin API's shapes.
func TestAdminRoutes(t *testing.T) {
	s, _, _ := newTestStore(t)
	app := httpserver.New(httpserver.Options{Log: slog.New(slog.DiscardHandler)})
	Mount(app, s)
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/functions/hello?verify_jwt=false", "Deno.serve(() => new Response('hi'))", 201},
		{"PUT", "/functions/hello", "Deno.serve(() => new Response('hi'))", 200},
		{"PUT", "/functions/hello?verify_jwt=maybe", "x", 400},
		{"PUT", "/functions/hello", "<html>", 400},
		{"GET", "/functions", "", 200},
		{"GET", "/functions/hello", "", 200},
		{"GET", "/projects/default/functions/hello", "", 200},
		{"GET", "/functions/hello?project=nope", "", 404},
		{"GET", "/functions/missing", "", 404},
		{"PUT", "/secrets", `{"A_KEY":"v"}`, 200},
		{"PUT", "/secrets", `[{"name":"B_KEY","value":"v"}]`, 200},
		{"PUT", "/secrets", `nope`, 400},
		{"DELETE", "/secrets/A_KEY", "", 204},
		{"DELETE", "/functions/hello", "", 204},
		{"DELETE", "/functions/hello", "", 404},
	} {
		req := httptestRequest(tc.method, tc.path, tc.body)
		res, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, res.StatusCode, tc.want)
		}
	}
}
