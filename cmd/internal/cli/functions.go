package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/cmd/internal/fndeploy"
)

const functionsUsage = `Usage: madbase functions <command> [flags]

Manages the edge functions of the running madbase dev, or of the control
plane at CONTROL_UPSTREAM_URL (with ADMIN_PASSWORD). Functions live in
supabase/functions/<name>/index.ts, as with the Supabase CLI. Every command
takes --project REF (default: the default project).

  new NAME                          create supabase/functions/NAME/index.ts
  deploy [NAME ...] [--no-verify-jwt] [--wall-timeout 30s] [--cpu-timeout 1s]
                                    bundle and deploy (all functions without a name)
  list [--json]
  delete NAME
  logs NAME [-f]                    the function's log lines (console.* and errors)
`

const secretsUsage = `Usage: madbase secrets <command> [flags]

Manages the secrets edge functions read with Deno.env.get (sealed with
MADBASE_ENCRYPTION_KEY). Every command takes --project REF.

  set KEY=VALUE ... [--env-file FILE]
  list [--json]                     names only: values never leave control
  unset KEY ...
`

// runFunctions dispatches `madbase functions <command>`.
func runFunctions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatchVerb(ctx, "functions", functionsUsage, []verb{
		{"new", nil, functionsNew},
		{"deploy", nil, functionsDeploy},
		{"list", []string{"ls"}, functionsList},
		{"delete", []string{"rm"}, functionsDelete},
		{"logs", nil, functionsLogs},
	}, args, stdout, stderr)
}

// functionsDir is where the Supabase CLI keeps functions.
func functionsDir() string {
	if d := os.Getenv("MADBASE_FUNCTIONS_DIR"); d != "" {
		return d
	}
	return filepath.Join("supabase", "functions")
}

const functionTemplate = `// A MadBase edge function: the handler gets a web Request and returns a
// Response. Call it with supabase.functions.invoke('%[1]s', { body: { name: 'you' } }).
Deno.serve(async (req: Request) => {
  const { name } = await req.json().catch(() => ({ name: 'world' }))
  return Response.json({ message: ` + "`Hello ${name}!`" + ` })
})
`

func functionsNew(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("functions new", "functions new NAME", stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || !bus.ValidFunctionName(pos[0]) {
		return fmt.Errorf("%w: functions new NAME (letters, digits, '-' and '_')", errUsage)
	}
	dir := filepath.Join(functionsDir(), pos[0])
	entry := filepath.Join(dir, "index.ts")
	if _, err := os.Stat(entry); err == nil {
		return fmt.Errorf("%s exists already", entry)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(entry, fmt.Appendf(nil, functionTemplate, pos[0]), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created %s\nDeploy it with: madbase functions deploy %s\n", entry, pos[0])
	return nil
}

// fnClient is the deploy client for the control newControlClient finds.
func fnClient() (*fndeploy.Client, error) {
	cc, err := newControlClient()
	if err != nil {
		return nil, err
	}
	return &fndeploy.Client{Base: cc.base, Password: cc.password}, nil
}

// localFunctions lists the function folders of dir (those starting with
// '_' or '.', like _shared, are shared code, not functions).
func localFunctions(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "_") && !strings.HasPrefix(e.Name(), ".") && bus.ValidFunctionName(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func functionsDeploy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("functions deploy", "functions deploy [NAME ...]", stderr)
	project := fs.String("project", "", "the project's ref (default: the default project)")
	noVerify := fs.Bool("no-verify-jwt", false, "serve the function without checking the caller's JWT")
	dir := fs.String("dir", functionsDir(), "the functions folder")
	wall := fs.Duration("wall-timeout", 0, "the functions' wall time limit (default: the workers' FUNCTIONS_WALL_TIMEOUT)")
	cpu := fs.Duration("cpu-timeout", 0, "the functions' CPU time limit (default: the workers' FUNCTIONS_CPU_TIMEOUT)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	names := pos
	if len(names) == 0 {
		if names, err = localFunctions(*dir); err != nil {
			return fmt.Errorf("%w: no functions folder: %v", errUsage, err)
		}
		if len(names) == 0 {
			return fmt.Errorf("%w: no function in %s (madbase functions new NAME makes one)", errUsage, *dir)
		}
	}
	settings, err := fndeploy.VerifyJWTSettings(filepath.Join(filepath.Dir(*dir), "config.toml"))
	if err != nil {
		return err
	}
	c, err := fnClient()
	if err != nil {
		return err
	}
	for _, name := range names {
		if !bus.ValidFunctionName(name) {
			return fmt.Errorf("%w: %q is not a function name", errUsage, name)
		}
		entry, err := fndeploy.Entry(filepath.Join(*dir, name))
		if err != nil {
			return err
		}
		bundle, err := fndeploy.Bundle(entry)
		if err != nil {
			return err
		}
		var verify *bool
		if v, ok := settings[name]; ok {
			verify = &v
		}
		if *noVerify {
			f := false
			verify = &f
		}
		fn, err := c.DeployWith(ctx, *project, name, bundle, fndeploy.Settings{VerifyJWT: verify, WallTimeout: *wall, CPUTimeout: *cpu})
		if err != nil {
			return fmt.Errorf("deploy %s: %w", name, err)
		}
		fmt.Fprintf(stdout, "Deployed %s version %d (%d bytes, verify_jwt=%t)\n", fn.Name, fn.Version, fn.Size, fn.VerifyJWT)
	}
	return nil
}

// listFromAdmin is the part the list commands share: their flags
// (--project, --json), the GET of path for the project, then the answer
// printed as it came (--json: printed is true) or decoded into out.
func listFromAdmin(ctx context.Context, cmd, path string, args []string, stdout, stderr io.Writer, out any) (printed bool, err error) {
	fs, asJSON := newFlags(cmd, cmd, stderr)
	project := fs.String("project", "", "the project's ref")
	if _, err := parseArgs(fs, args); err != nil {
		return false, err
	}
	c, err := fnClient()
	if err != nil {
		return false, err
	}
	raw, err := c.Do(ctx, http.MethodGet, path+fndeploy.Query(*project, nil), "", nil)
	if err != nil {
		return false, err
	}
	if *asJSON {
		return true, printJSON(stdout, raw)
	}
	return false, json.Unmarshal(raw, out)
}

func functionsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var out struct {
		Functions []fndeploy.Function `json:"functions"`
	}
	if printed, err := listFromAdmin(ctx, "functions list", "/admin/v1/functions", args, stdout, stderr, &out); printed || err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tVERIFY_JWT\tSIZE\tDEPLOYED")
	for _, f := range out.Functions {
		fmt.Fprintf(tw, "%s\t%d\t%t\t%d\t%s\n", f.Name, f.Version, f.VerifyJWT, f.Size, f.DeployedAt.Local().Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}

func functionsDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("functions delete", "functions delete NAME", stderr)
	project := fs.String("project", "", "the project's ref")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: functions delete NAME", errUsage)
	}
	c, err := fnClient()
	if err != nil {
		return err
	}
	if _, err := c.Do(ctx, http.MethodDelete, "/admin/v1/functions/"+url.PathEscape(pos[0])+fndeploy.Query(*project, nil), "", nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Deleted %s\n", pos[0])
	return nil
}

// functionsLogs shows the worker records of one function: recent ones from
// control's buffer, or live ones from its stream with -f.
func functionsLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, asJSON := newFlags("functions logs", "functions logs NAME", stderr)
	follow := fs.Bool("f", false, "follow: print records live")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: functions logs NAME [-f]", errUsage)
	}
	name := pos[0]
	c, err := fnClient()
	if err != nil {
		return err
	}
	show := func(data []byte) {
		rec, all, err := bus.ParseLogRecord(data)
		if err != nil || all["function"] != name {
			return
		}
		if *asJSON {
			fmt.Fprintln(stdout, string(data))
			return
		}
		fmt.Fprintln(stdout, pretty(rec, all))
	}
	q := url.Values{"tier": {"worker"}, "limit": {"1000"}}
	if !*follow {
		raw, err := c.Do(ctx, http.MethodGet, "/admin/v1/logs?"+q.Encode(), "", nil)
		if err != nil {
			return err
		}
		var out struct {
			Logs []json.RawMessage `json:"logs"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return err
		}
		for _, r := range out.Logs {
			show(r)
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.Base, "/")+"/admin/v1/logs/stream?tier=worker", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach control at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("control answered %d: %s", resp.StatusCode, b)
	}
	fmt.Fprintf(stderr, "following the logs of %s (Ctrl-C to stop)\n", name)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			show([]byte(data))
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

// runSecrets dispatches `madbase secrets <command>`.
func runSecrets(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatchVerb(ctx, "secrets", secretsUsage, []verb{
		{"set", nil, secretsSet},
		{"list", []string{"ls"}, secretsList},
		{"unset", nil, secretsUnset},
	}, args, stdout, stderr)
}

func secretsSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("secrets set", "secrets set KEY=VALUE ...", stderr)
	project := fs.String("project", "", "the project's ref")
	envFile := fs.String("env-file", "", "read KEY=VALUE lines from this file too")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	pairs := pos
	if *envFile != "" {
		b, err := os.ReadFile(*envFile)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				pairs = append(pairs, strings.TrimPrefix(line, "export "))
			}
		}
	}
	if len(pairs) == 0 {
		return fmt.Errorf("%w: secrets set KEY=VALUE ...", errUsage)
	}
	set := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return fmt.Errorf("%w: %q is not KEY=VALUE", errUsage, p)
		}
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		set[strings.TrimSpace(k)] = v
	}
	body, _ := json.Marshal(set)
	c, err := fnClient()
	if err != nil {
		return err
	}
	if _, err := c.Do(ctx, http.MethodPut, "/admin/v1/secrets"+fndeploy.Query(*project, nil), "application/json", body); err != nil {
		return err
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(stdout, "Set %s\n", strings.Join(keys, ", "))
	return nil
}

func secretsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var out struct {
		Secrets []struct {
			Name string `json:"name"`
		} `json:"secrets"`
	}
	if printed, err := listFromAdmin(ctx, "secrets list", "/admin/v1/secrets", args, stdout, stderr, &out); printed || err != nil {
		return err
	}
	for _, s := range out.Secrets {
		fmt.Fprintln(stdout, s.Name)
	}
	return nil
}

func secretsUnset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("secrets unset", "secrets unset KEY ...", stderr)
	project := fs.String("project", "", "the project's ref")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: secrets unset KEY ...", errUsage)
	}
	unset := map[string]*string{}
	for _, k := range pos {
		unset[k] = nil
	}
	body, _ := json.Marshal(unset)
	c, err := fnClient()
	if err != nil {
		return err
	}
	if _, err := c.Do(ctx, http.MethodPut, "/admin/v1/secrets"+fndeploy.Query(*project, nil), "application/json", body); err != nil {
		var fe *fndeploy.Error
		if errors.As(err, &fe) {
			return fe
		}
		return err
	}
	fmt.Fprintf(stdout, "Unset %s\n", strings.Join(pos, ", "))
	return nil
}
