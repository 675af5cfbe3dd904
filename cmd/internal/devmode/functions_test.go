package devmode

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/cmd/internal/fndeploy"
)

// TestDevDeploysChangedFunctions: every function is deployed once, an
// unchanged one is not deployed again, a changed one (or a change in a
// shared folder) is.
func TestDevDeploysChangedFunctions(t *testing.T) {
	var mu sync.Mutex
	deploys := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		mu.Lock()
		deploys[filepath.Base(r.URL.Path)]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name":"x","version":1}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	for name, src := range map[string]string{
		"a/index.ts":       "import { x } from '../_shared/x.ts'\nDeno.serve(() => new Response(x))\n",
		"b/index.ts":       "Deno.serve(() => new Response('b'))\n",
		"_shared/x.ts":     "export const x = 'x'\n",
		"notafunction.txt": "",
	} {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	d := &dev{opts: Options{Stdout: &out, Stderr: &out}, log: slog.New(slog.DiscardHandler)}
	c := &fndeploy.Client{Base: srv.URL, Password: "pw"}
	ctx := context.Background()
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return deploys["a"], deploys["b"] }

	deployed := map[string]string{}
	d.deployChanged(ctx, c, dir, "http://api", deployed)
	if a, b := count(); a != 1 || b != 1 {
		t.Fatalf("first pass: a=%d b=%d\n%s", a, b, out.String())
	}
	d.deployChanged(ctx, c, dir, "http://api", deployed)
	if a, b := count(); a != 1 || b != 1 {
		t.Fatalf("nothing changed: a=%d b=%d", a, b)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "b", "index.ts"), later, later); err != nil {
		t.Fatal(err)
	}
	d.deployChanged(ctx, c, dir, "http://api", deployed)
	if a, b := count(); a != 1 || b != 2 {
		t.Fatalf("b changed: a=%d b=%d", a, b)
	}
	if err := os.WriteFile(filepath.Join(dir, "_shared", "x.ts"), []byte("export const x = 'y'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(filepath.Join(dir, "_shared", "x.ts"), later.Add(time.Hour), later.Add(time.Hour))
	d.deployChanged(ctx, c, dir, "http://api", deployed)
	if a, b := count(); a != 2 || b != 3 {
		t.Fatalf("shared changed: a=%d b=%d", a, b)
	}
}
