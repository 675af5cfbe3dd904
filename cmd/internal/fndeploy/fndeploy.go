// Package fndeploy turns a Supabase function folder into the bundle
// MadBase runs and deploys it through control's admin API: what
// `madbase functions deploy` and `madbase dev`'s function watcher share.
//
// Bundling uses esbuild's Go API: index.ts (or .js, .tsx, .jsx, .mjs) and the
// files it imports by relative path become one script (IIFE, ES2017, so
// newer syntax is lowered for the engine). Imports that need a network or a
// package manager (npm:, jsr:, node:, http(s): URLs and bare package names)
// are refused at deploy with a clear error: the runtime has no loader.
package fndeploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/evanw/esbuild/pkg/api"
)

// Entries are the entry files looked for in a function's folder, in order.
var Entries = []string{"index.ts", "index.js", "index.tsx", "index.jsx", "index.mjs"}

// Entry returns the entry file of the function folder dir.
func Entry(dir string) (string, error) {
	for _, e := range Entries {
		p := filepath.Join(dir, e)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s has no index.ts", dir)
}

// Bundle bundles the function whose entry file is entry.
func Bundle(entry string) ([]byte, error) {
	res := api.Build(api.BuildOptions{
		EntryPoints:       []string{entry},
		Bundle:            true,
		Write:             false,
		Format:            api.FormatIIFE,
		Target:            api.ES2017,
		Platform:          api.PlatformNeutral,
		Charset:           api.CharsetUTF8,
		LogLevel:          api.LogLevelSilent,
		Plugins:           []api.Plugin{localOnly},
		Loader:            map[string]api.Loader{".json": api.LoaderJSON, ".txt": api.LoaderText},
		ResolveExtensions: []string{".ts", ".tsx", ".js", ".jsx", ".mjs", ".json"},
	})
	if len(res.Errors) > 0 {
		var msgs []string
		for _, e := range res.Errors {
			m := e.Text
			if e.Location != nil {
				m = fmt.Sprintf("%s:%d:%d: %s", e.Location.File, e.Location.Line, e.Location.Column, m)
			}
			msgs = append(msgs, m)
		}
		return nil, fmt.Errorf("bundling %s:\n  %s", entry, strings.Join(msgs, "\n  "))
	}
	if len(res.OutputFiles) != 1 {
		return nil, fmt.Errorf("bundling %s: esbuild made %d files", entry, len(res.OutputFiles))
	}
	return res.OutputFiles[0].Contents, nil
}

// localOnly refuses every import that is not a relative or absolute path.
var localOnly = api.Plugin{
	Name: "madbase-local-only",
	Setup: func(b api.PluginBuild) {
		b.OnResolve(api.OnResolveOptions{Filter: `.*`}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
			p := a.Path
			if a.Kind == api.ResolveEntryPoint || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") {
				return api.OnResolveResult{}, nil
			}
			switch {
			case strings.HasPrefix(p, "npm:"), strings.HasPrefix(p, "jsr:"), strings.HasPrefix(p, "node:"):
				return api.OnResolveResult{}, fmt.Errorf("import %q: %s imports are not supported; MadBase bundles the function's own files (relative imports) and provides the web APIs (fetch, Request, Response ...) itself", p, strings.SplitN(p, ":", 2)[0]+":")
			case strings.HasPrefix(p, "http://"), strings.HasPrefix(p, "https://"):
				return api.OnResolveResult{}, fmt.Errorf("import %q: remote imports are not supported; copy the module into the function's folder and import it by relative path", p)
			}
			return api.OnResolveResult{}, fmt.Errorf("import %q: package imports are not supported; import the function's own files by relative path (./file.ts)", p)
		})
	},
}

// Client deploys to control's admin API.
type Client struct {
	Base, Password string
	HTTP           *http.Client
}

// Function is a deployed function as control answers it.
type Function struct {
	Project    string    `json:"project"`
	Name       string    `json:"name"`
	Version    int64     `json:"version"`
	Status     string    `json:"status"`
	VerifyJWT  bool      `json:"verify_jwt"`
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
	DeployedAt time.Time `json:"deployed_at"`
}

// Error is control's refusal.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("control refused (%d): %s", e.Status, e.Message) }

// Do sends a request to control and returns the answer's body, or an
// *Error for any status but 2xx.
func (c *Client) Do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Password)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach control at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return raw, nil
	}
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return nil, &Error{Status: resp.StatusCode, Message: msg}
}

// Query builds the project query string ("" for the default project).
func Query(project string, extra url.Values) string {
	q := url.Values{}
	for k, v := range extra {
		q[k] = v
	}
	if project != "" {
		q.Set("project", project)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Settings are a deploy's per-function settings; zero values keep the
// deployed ones (verify_jwt true and the workers' timeouts for a new
// function).
type Settings struct {
	VerifyJWT   *bool
	WallTimeout time.Duration
	CPUTimeout  time.Duration
}

// Deploy uploads bundle as the next version of name; verifyJWT nil keeps
// the deployed setting (true for a new function).
func (c *Client) Deploy(ctx context.Context, project, name string, bundle []byte, verifyJWT *bool) (Function, error) {
	return c.DeployWith(ctx, project, name, bundle, Settings{VerifyJWT: verifyJWT})
}

// DeployWith is Deploy with every per-function setting.
func (c *Client) DeployWith(ctx context.Context, project, name string, bundle []byte, set Settings) (Function, error) {
	var f Function
	extra := url.Values{}
	if set.VerifyJWT != nil {
		extra.Set("verify_jwt", strconv.FormatBool(*set.VerifyJWT))
	}
	if set.WallTimeout > 0 {
		extra.Set("wall_timeout_ms", strconv.FormatInt(set.WallTimeout.Milliseconds(), 10))
	}
	if set.CPUTimeout > 0 {
		extra.Set("cpu_timeout_ms", strconv.FormatInt(set.CPUTimeout.Milliseconds(), 10))
	}
	raw, err := c.Do(ctx, http.MethodPut, "/admin/v1/functions/"+url.PathEscape(name)+Query(project, extra), "application/javascript", bundle)
	if err != nil {
		return f, err
	}
	err = json.Unmarshal(raw, &f)
	return f, err
}

// VerifyJWTSettings reads the verify_jwt of each [functions.NAME] table of
// a Supabase config.toml (supabase/config.toml); a missing file is no
// setting.
func VerifyJWTSettings(configToml string) (map[string]bool, error) {
	f, err := os.Open(configToml)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.Trim(strings.TrimSpace(line[1:len(line)-1]), `"`)
			continue
		}
		name, ok := strings.CutPrefix(section, "functions.")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != "verify_jwt" {
			continue
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s: [functions.%s] verify_jwt must be true or false", configToml, name)
		}
		out[strings.Trim(name, `"`)] = b
	}
	return out, sc.Err()
}
