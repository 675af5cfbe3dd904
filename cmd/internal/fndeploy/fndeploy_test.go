package fndeploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBundle: relative imports and TypeScript are bundled into one script;
// npm:, remote and package imports are refused with an error naming them.
func TestBundle(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"hello/index.ts":   "import { greet } from '../_shared/greet.ts'\nDeno.serve((req: Request) => new Response(greet('x')))\n",
		"_shared/greet.ts": "export const greet = (n: string): string => `hi ${n ?? ''}`\n",
		"npm/index.ts":     "import x from 'npm:left-pad'\nDeno.serve(() => new Response(x))\n",
		"remote/index.ts":  "import x from 'https://esm.sh/left-pad'\nDeno.serve(() => new Response(x))\n",
		"bare/index.ts":    "import x from 'left-pad'\nDeno.serve(() => new Response(x))\n",
	})
	entry, err := Entry(filepath.Join(dir, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bundle(entry)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, "hi ") || strings.Contains(s, "import") || strings.Contains(s, ": string") {
		t.Errorf("not one plain script:\n%s", s)
	}
	for name, want := range map[string]string{"npm": "npm: imports are not supported", "remote": "remote imports are not supported", "bare": "package imports are not supported"} {
		_, err := Bundle(filepath.Join(dir, name, "index.ts"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
	if _, err := Entry(filepath.Join(dir, "_shared")); err == nil {
		t.Error("a folder without index.ts has an entry")
	}
}

func TestVerifyJWTSettings(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"config.toml": "[api]\nport = 1\n[functions.hello]\nverify_jwt = false # public\n[functions.\"other\"]\nverify_jwt = true\n"})
	got, err := VerifyJWTSettings(filepath.Join(dir, "config.toml"))
	if err != nil || len(got) != 2 || got["hello"] || !got["other"] {
		t.Errorf("%v %v", got, err)
	}
	if got, err := VerifyJWTSettings(filepath.Join(dir, "none.toml")); err != nil || len(got) != 0 {
		t.Errorf("missing file: %v %v", got, err)
	}
}
