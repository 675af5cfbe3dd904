package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/madbase/madbase/shared/db/migrate"
)

// stdin is where `projects delete` reads its confirmation (tests replace it).
var stdin io.Reader = os.Stdin

const projectsUsage = `Usage: madbase projects <command> [flags]

Manages the projects of the running madbase dev, or of the control plane at
CONTROL_UPSTREAM_URL (with ADMIN_PASSWORD). Every command takes --json.

  create --ref REF [--name NAME] [--database-url URL] [--set KEY=VALUE ...]
  list
  show REF                          the project, its keys and settings
  config REF KEY=VALUE ...          change settings (KEY= removes one)
  rotate-keys REF [--grace 24h]     new keys; the old ones work for the grace
  delete REF [--drop-database] [--yes]
`

// runProjects dispatches `madbase projects <command>`.
func runProjects(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatchVerb(ctx, "projects", projectsUsage, []verb{
		{"create", nil, projectsCreate},
		{"list", []string{"ls"}, projectsList},
		{"show", nil, projectsShow},
		{"config", nil, projectsConfig},
		{"rotate-keys", nil, projectsRotate},
		{"delete", []string{"rm"}, projectsDelete},
	}, args, stdout, stderr)
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// parseArgs parses flags wherever they stand among the positional
// arguments (`show shop --json` as well as `show --json shop`) and returns
// the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func newFlags(name, usage string, stderr io.Writer) (*flag.FlagSet, *bool) {
	fs := flagSet(name, "Usage: madbase "+usage+"\n\nFlags:", stderr)
	return fs, fs.Bool("json", false, "print control's answer as JSON")
}

// oneRef parses args into fs and returns the single positional argument,
// the project's ref.
func oneRef(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		fs.Usage()
		return "", fmt.Errorf("%w: give one project ref", errUsage)
	}
	return pos[0], nil
}

// settingPairs reads KEY=VALUE arguments; KEY= (an empty value) gives null,
// which removes the setting.
func settingPairs(pairs []string) (map[string]any, error) {
	out := make(map[string]any, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: %q is not KEY=VALUE", errUsage, p)
		}
		if v == "" {
			out[k] = nil
		} else {
			out[k] = v
		}
	}
	return out, nil
}

func projectsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, asJSON := newFlags("projects create", "projects create --ref REF [--name NAME] [--database-url URL] [--set KEY=VALUE ...]", stderr)
	ref := fs.String("ref", "", "the project's ref: its subdomain, 3-40 lower-case letters, digits and -")
	name := fs.String("name", "", "a name for people (default: the ref)")
	dbURL := fs.String("database-url", "", "use this existing database instead of creating madbase_<ref>")
	var sets multiFlag
	fs.Var(&sets, "set", "a setting, KEY=VALUE (repeatable)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *ref == "" && len(pos) == 1 {
		*ref, pos = pos[0], nil
	}
	if *ref == "" || len(pos) > 0 {
		fs.Usage()
		return fmt.Errorf("%w: give the project's ref with --ref", errUsage)
	}
	settings, err := settingPairs(sets)
	if err != nil {
		return err
	}
	body := map[string]any{"ref": *ref}
	if *name != "" {
		body["name"] = *name
	}
	if *dbURL != "" {
		body["database_url"] = *dbURL
	}
	if len(settings) > 0 {
		body["settings"] = settings
	}
	c, err := newControlClient()
	if err != nil {
		return err
	}
	raw, err := c.do(ctx, http.MethodPost, "/admin/v1/projects", body)
	if err != nil {
		return eachProblem(err)
	}
	if *asJSON {
		return printJSON(stdout, raw)
	}
	var p projectView
	if err := json.Unmarshal(raw, &p); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created project %s (database %s, %s).\n\n", p.Ref, p.Database.Name, p.Database.Mode)
	p.print(stdout)
	return nil
}

func projectsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, asJSON := newFlags("projects list", "projects list [--json]", stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: projects list takes no arguments", errUsage)
	}
	c, err := newControlClient()
	if err != nil {
		return err
	}
	raw, err := c.do(ctx, http.MethodGet, "/admin/v1/projects", nil)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, raw)
	}
	var list struct {
		Projects []projectView `json:"projects"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	if len(list.Projects) == 0 {
		fmt.Fprintln(stdout, "No projects yet: madbase projects create --ref NAME")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REF\tNAME\tDATABASE\tSETTINGS\tREVISION\tCREATED")
	for _, p := range list.Projects {
		fmt.Fprintf(tw, "%s\t%s\t%s (%s)\t%d\t%d\t%s\n", p.Ref, p.Name, p.Database.Name, p.Database.Mode,
			len(p.Settings)+len(p.SecretSettings), p.Revision, p.CreatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func projectsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, asJSON := newFlags("projects show", "projects show REF [--json]", stderr)
	ref, err := oneRef(fs, args)
	if err != nil {
		return err
	}
	return projectAnswer(ctx, stdout, *asJSON, http.MethodGet, "/admin/v1/projects/"+url.PathEscape(ref), nil, "")
}

func projectsConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, asJSON := newFlags("projects config", "projects config REF KEY=VALUE ... [--json]  (KEY= removes a setting)", stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		fs.Usage()
		return fmt.Errorf("%w: give a project ref and at least one KEY=VALUE", errUsage)
	}
	changes, err := settingPairs(pos[1:])
	if err != nil {
		return err
	}
	return eachProblem(projectAnswer(ctx, stdout, *asJSON, http.MethodPatch, "/admin/v1/projects/"+url.PathEscape(pos[0])+"/config", changes,
		"Updated the settings of project %s.\n\n"))
}

func projectsRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, asJSON := newFlags("projects rotate-keys", "projects rotate-keys REF [--grace 24h] [--json]", stderr)
	grace := fs.String("grace", "", "how long the old keys keep working, like 1h or 0s (default: control's, 24h)")
	ref, err := oneRef(fs, args)
	if err != nil {
		return err
	}
	body := map[string]any{}
	if *grace != "" {
		if d, err := time.ParseDuration(*grace); err != nil || d < 0 {
			return fmt.Errorf("%w: --grace: not a duration like 24h, 30m or 0s", errUsage)
		}
		body["grace"] = *grace
	}
	return projectAnswer(ctx, stdout, *asJSON, http.MethodPost, "/admin/v1/projects/"+url.PathEscape(ref)+"/keys/rotate", body,
		"Rotated the keys of project %s.\n\n")
}

func projectsDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, asJSON := newFlags("projects delete", "projects delete REF [--drop-database] [--yes] [--json]", stderr)
	drop := fs.Bool("drop-database", false, "drop the project's database too (never an external one)")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	ref, err := oneRef(fs, args)
	if err != nil {
		return err
	}
	if !*yes {
		what := "its database stays"
		if *drop {
			what = "its database is DROPPED with all its data"
		}
		fmt.Fprintf(stderr, "Delete project %s (%s)? Type the ref to confirm: ", ref, what)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != ref {
			fmt.Fprintln(stderr)
			return fmt.Errorf("%w: not confirmed; nothing deleted (--yes skips the question)", errUsage)
		}
	}
	c, err := newControlClient()
	if err != nil {
		return err
	}
	path := "/admin/v1/projects/" + url.PathEscape(ref)
	if *drop {
		path += "?drop_database=true"
	}
	raw, err := c.do(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, raw)
	}
	var d struct {
		Ref             string `json:"ref"`
		Database        string `json:"database"`
		DatabaseDropped bool   `json:"database_dropped"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	if d.DatabaseDropped {
		fmt.Fprintf(stdout, "Deleted project %s and dropped its database %s.\n", d.Ref, d.Database)
	} else {
		fmt.Fprintf(stdout, "Deleted project %s; its database %s is kept.\n", d.Ref, d.Database)
	}
	return nil
}

// projectAnswer sends one request whose answer is a project and prints it,
// after intro (a format taking the ref) when not empty.
func projectAnswer(ctx context.Context, stdout io.Writer, asJSON bool, method, path string, body any, intro string) error {
	c, err := newControlClient()
	if err != nil {
		return err
	}
	raw, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, raw)
	}
	var p projectView
	if err := json.Unmarshal(raw, &p); err != nil {
		return err
	}
	if intro != "" {
		fmt.Fprintf(stdout, intro, p.Ref)
	}
	p.print(stdout)
	return nil
}

// projectView is the part of control's project answer the commands print.
type projectView struct {
	Ref      string `json:"ref"`
	Name     string `json:"name"`
	Database struct {
		Mode string `json:"mode"`
		Name string `json:"name"`
	} `json:"database"`
	Settings          map[string]string `json:"settings"`
	SecretSettings    []string          `json:"secret_settings"`
	Revision          int64             `json:"revision"`
	CreatedAt         time.Time         `json:"created_at"`
	KeysRetiringUntil *time.Time        `json:"keys_retiring_until"`
	Keys              *projectKeys      `json:"keys"`
	JWTSecret         string            `json:"jwt_secret"`
	RetiringKeys      *projectKeys      `json:"retiring_keys"`
}

type projectKeys struct {
	Anon        string `json:"anon"`
	ServiceRole string `json:"service_role"`
	Publishable string `json:"publishable"`
	Secret      string `json:"secret"`
}

func (k *projectKeys) print(w io.Writer, indent string) {
	fmt.Fprintf(w, "%sanon key          %s\n%sservice_role key  %s\n%spublishable key   %s\n%ssecret key        %s\n",
		indent, k.Anon, indent, k.ServiceRole, indent, k.Publishable, indent, k.Secret)
}

func (p *projectView) print(w io.Writer) {
	fmt.Fprintf(w, "  Ref               %s\n  Name              %s\n  Database          %s (%s)\n  Revision          %d\n",
		p.Ref, p.Name, p.Database.Name, p.Database.Mode, p.Revision)
	if p.Keys != nil {
		p.Keys.print(w, "  ")
	}
	if p.JWTSecret != "" {
		fmt.Fprintf(w, "  JWT secret        %s\n", p.JWTSecret)
	}
	if p.RetiringKeys != nil && p.KeysRetiringUntil != nil {
		fmt.Fprintf(w, "\n  The previous keys work until %s:\n", p.KeysRetiringUntil.Local().Format(time.DateTime+" MST"))
		p.RetiringKeys.print(w, "    ")
	}
	if len(p.Settings)+len(p.SecretSettings) == 0 {
		fmt.Fprintln(w, "\n  Settings          none (the environment's values apply)")
		return
	}
	fmt.Fprintln(w, "\n  Settings")
	keys := make([]string, 0, len(p.Settings))
	for k := range p.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "    %s=%s\n", k, p.Settings[k])
	}
	secrets := append([]string(nil), p.SecretSettings...)
	sort.Strings(secrets)
	for _, k := range secrets {
		fmt.Fprintf(w, "    %s=(secret)\n", k)
	}
}

// printJSON prints control's answer indented, for people and jq alike.
func printJSON(w io.Writer, raw []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// controlClient talks to control's admin API.
type controlClient struct {
	base, password string
}

// newControlClient finds control as `madbase logs` does:
// CONTROL_UPSTREAM_URL and ADMIN_PASSWORD, else the running madbase dev.
func newControlClient() (*controlClient, error) {
	base, pw := os.Getenv("CONTROL_UPSTREAM_URL"), os.Getenv("ADMIN_PASSWORD")
	if base == "" || pw == "" {
		_, st, err := findDev()
		if err != nil {
			return nil, fmt.Errorf("%w: %w; or set CONTROL_UPSTREAM_URL and ADMIN_PASSWORD", errUsage, err)
		}
		base, pw = envOr("CONTROL_UPSTREAM_URL", st.ControlURL), envOr("ADMIN_PASSWORD", st.AdminPassword)
	}
	return &controlClient{base: strings.TrimRight(base, "/"), password: pw}, nil
}

// controlError is control's refusal: its status and message, with the
// problems it lists one by one.
type controlError struct {
	Status   int
	Message  string
	Problems []string
	// SQL fields, from the SQL endpoint.
	SQLState, Detail, Hint string
	Position               int32
}

func (e *controlError) Error() string {
	if len(e.Problems) > 1 {
		return fmt.Sprintf("control refused (%d):\n  - %s", e.Status, strings.Join(e.Problems, "\n  - "))
	}
	return fmt.Sprintf("control refused (%d): %s", e.Status, e.Message)
}

// eachProblem lists the problems of a refused create or config one by one:
// control joins them with "; " in its message.
func eachProblem(err error) error {
	var ce *controlError
	if errors.As(err, &ce) && ce.Status == http.StatusBadRequest && len(ce.Problems) == 0 {
		ce.Problems = strings.Split(ce.Message, "; ")
	}
	return err
}

// do sends body (as JSON, when not nil) and returns the answer's body, or a
// *controlError for any status but 2xx.
func (c *controlClient) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach control at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read control's answer: %w", err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return raw, nil
	}
	var e struct {
		Error    string          `json:"error"`
		Details  json.RawMessage `json:"details"`
		SQLState string          `json:"sqlstate"`
		Position int32           `json:"position"`
		Detail   string          `json:"detail"`
		Hint     string          `json:"hint"`
	}
	ce := &controlError{Status: resp.StatusCode}
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		ce.Message, ce.SQLState, ce.Position, ce.Detail, ce.Hint = e.Error, e.SQLState, e.Position, e.Detail, e.Hint
		_ = json.Unmarshal(e.Details, &ce.Problems)
	} else {
		ce.Message = strings.TrimSpace(string(raw))
		if ce.Message == "" {
			ce.Message = http.StatusText(resp.StatusCode)
		}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		ce.Message += " (is ADMIN_PASSWORD control's admin password?)"
	}
	return nil, ce
}

// projectSQL runs sql on a project's database through control
// (POST /admin/v1/projects/{ref}/sql) and prints the answer as `madbase sql`
// prints a local one. where names the file the SQL came from, for errors.
func projectSQL(ctx context.Context, ref, sql, where string, asJSON bool, stdout, stderr io.Writer) error {
	c, err := newControlClient()
	if err != nil {
		return err
	}
	raw, err := c.do(ctx, http.MethodPost, "/admin/v1/projects/"+url.PathEscape(ref)+"/sql", map[string]any{"query": sql})
	var ce *controlError
	if errors.As(err, &ce) && ce.SQLState != "" {
		// PostgreSQL refused it: shown as a local refusal is.
		pgErr := &pgconn.PgError{Severity: "ERROR", Message: ce.Message, Code: ce.SQLState, Position: ce.Position,
			Detail: ce.Detail, Hint: ce.Hint}
		if where != "" {
			return &migrate.FileError{Path: where, Line: migrate.ErrorLine(sql, pgErr), Err: pgErr}
		}
		return sqlErrorWithDetail(pgErr)
	}
	if err != nil {
		return err
	}
	res, truncated, err := resultFromJSON(raw)
	if err != nil {
		return fmt.Errorf("read control's answer: %w", err)
	}
	printResult(stdout, res, asJSON)
	if truncated {
		fmt.Fprintf(stderr, "control answered the first %d rows only\n", len(res.Rows))
	}
	return nil
}

// sqlErrorWithDetail adds PostgreSQL's detail and hint to its error.
func sqlErrorWithDetail(e *pgconn.PgError) error {
	if e.Detail == "" && e.Hint == "" {
		return e
	}
	msg := e.Error()
	if e.Detail != "" {
		msg += "\nDETAIL: " + e.Detail
	}
	if e.Hint != "" {
		msg += "\nHINT: " + e.Hint
	}
	return fmt.Errorf("%s", msg)
}

// resultFromJSON turns the SQL endpoint's answer back into the result
// printResult prints: each value as PostgreSQL's text for it, with a type
// that gives the same alignment and JSON.
func resultFromJSON(raw []byte) (*pgconn.Result, bool, error) {
	var a struct {
		Command   string                       `json:"command"`
		Columns   []string                     `json:"columns"`
		Rows      []map[string]json.RawMessage `json:"rows"`
		Truncated bool                         `json:"truncated"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, false, err
	}
	res := &pgconn.Result{CommandTag: pgconn.NewCommandTag(a.Command)}
	if len(a.Columns) == 0 {
		return res, a.Truncated, nil
	}
	// A column's type is the one of its values; text when they disagree.
	oids := make([]uint32, len(a.Columns))
	for i, col := range a.Columns {
		var oid uint32
		for _, row := range a.Rows {
			v := bytes.TrimSpace(row[col])
			if len(v) == 0 || string(v) == "null" {
				continue
			}
			var o uint32
			switch v[0] {
			case '"':
				o = oidText
			case 't', 'f':
				o = oidBool
			case '{', '[':
				o = oidJSONB
			default:
				o = oidNumeric
			}
			if oid != 0 && oid != o {
				oid = oidText
				break
			}
			oid = o
		}
		if oid == 0 {
			oid = oidText
		}
		oids[i] = oid
		res.FieldDescriptions = append(res.FieldDescriptions, pgconn.FieldDescription{Name: col, DataTypeOID: oid})
	}
	for _, row := range a.Rows {
		cells := make([][]byte, len(a.Columns))
		for i, col := range a.Columns {
			v := bytes.TrimSpace(row[col])
			switch {
			case len(v) == 0 || string(v) == "null":
				cells[i] = nil
			case v[0] == '"':
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					return nil, false, err
				}
				cells[i] = []byte(s)
			case string(v) == "true":
				cells[i] = []byte("t")
			case string(v) == "false":
				cells[i] = []byte("f")
			case v[0] == '{' || v[0] == '[':
				cells[i] = compactJSON(v)
			default:
				cells[i] = append([]byte(nil), v...)
			}
		}
		res.Rows = append(res.Rows, cells)
	}
	return res, a.Truncated, nil
}

func compactJSON(v []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return append([]byte(nil), v...)
	}
	return b.Bytes()
}
