package functions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/nats-io/nats.go/jetstream"
)

// publisher writes functions as control does: bundle first, then the key.
type publisher struct {
	t   *testing.T
	kv  jetstream.KeyValue
	obj jetstream.ObjectStore
	box *secretbox.Box
}

func (p *publisher) deploy(name, src string, version int64) {
	p.t.Helper()
	ctx := context.Background()
	fc := bus.FunctionConfig{Project: "default", Name: name, Version: version, Object: bus.FunctionObject("default", name, version)}
	sum := sha256.Sum256([]byte(src))
	fc.SHA256 = hex.EncodeToString(sum[:])
	if _, err := p.obj.PutBytes(ctx, fc.Object, []byte(src)); err != nil {
		p.t.Fatal(err)
	}
	b, _ := json.Marshal(fc)
	if _, err := p.kv.Put(ctx, bus.FunctionKey("default", name), b); err != nil {
		p.t.Fatal(err)
	}
}

// TestDeployOverNATS: a worker follows the bucket: a deploy is served, a
// redeploy replaces it while an invocation that started on the old
// version finishes on it, secrets reach Deno.env, a delete is a 404.
func TestDeployOverNATS(t *testing.T) {
	srv := bustest.RunServer(t)
	nc := bustest.Connect(t, srv)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bus.FunctionsBucket})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bus.FunctionsObjectStore})
	if err != nil {
		t.Fatal(err)
	}
	key := secretbox.NewKey()
	box, _ := secretbox.New(key)
	p := &publisher{t: t, kv: kv, obj: obj, box: box}

	cfg := testConfig(t, map[string]string{"MADBASE_ENCRYPTION_KEY": secretbox.EncodeKey(key)})
	logs := &syncBuffer{}
	m := New(Options{Config: cfg, NATS: bustest.Connect(t, srv), Log: slog.New(slog.NewTextHandler(logs, nil))})
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Run(runCtx) }()
	app := fiber.New(fiber.Config{StreamRequestBody: true})
	m.Register(app, api.Deps{Config: cfg, BaseContext: runCtx})
	get := func(path string) (int, string) {
		res, err := app.Test(httptest.NewRequest("GET", path, nil), 10000)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		bustest.Eventually(t, 5*time.Second, ok, what)
	}

	p.deploy("hello", `Deno.serve(async (req) => { if (new URL(req.url).searchParams.has("slow")) { console.log("slow one started"); await new Promise(r => setTimeout(r, 300)) } return new Response("v1") })`, 1)
	eventually("v1 served", func() bool { s, b := get("/functions/v1/hello"); return s == 200 && b == "v1" })

	// An invocation in flight on v1 while v2 is deployed.
	slow := make(chan string, 1)
	go func() { _, b := get("/functions/v1/hello?slow=1"); slow <- b }()
	eventually("the slow one started", func() bool { return strings.Contains(logs.String(), "slow one started") })
	p.deploy("hello", `Deno.serve(() => new Response("v2"))`, 2)
	eventually("v2 served", func() bool { s, b := get("/functions/v1/hello"); return s == 200 && b == "v2" })
	if b := <-slow; b != "v1" {
		t.Errorf("the invocation in flight answered %q, want v1", b)
	}

	p.deploy("env", `Deno.serve(() => new Response(String(Deno.env.get("TOKEN"))))`, 1)
	fs := bus.FunctionSecrets{Project: "default", Revision: 1, Values: map[string]string{
		"TOKEN": box.SealString("abc", bus.FunctionSecretContext("default", "TOKEN")),
	}}
	b, _ := json.Marshal(fs)
	if _, err := kv.Put(ctx, bus.FunctionSecretsKey("default"), b); err != nil {
		t.Fatal(err)
	}
	eventually("secret read", func() bool { s, b := get("/functions/v1/env"); return s == 200 && b == "abc" })

	// Another project's app does not see the default project's functions.
	shop := fiber.New()
	m.Register(shop, api.Deps{Config: cfg, BaseContext: runCtx, Project: "shop"})
	res, err := shop.Test(httptest.NewRequest("GET", "/functions/v1/hello", nil), 10000)
	if err != nil || res.StatusCode != 404 {
		t.Errorf("the shop project reached the default project's function: %v %v", res.StatusCode, err)
	}

	if err := kv.Delete(ctx, bus.FunctionKey("default", "hello")); err != nil {
		t.Fatal(err)
	}
	eventually("deleted", func() bool { s, b := get("/functions/v1/hello"); return s == 404 && strings.Contains(b, "NOT_FOUND") })
}
