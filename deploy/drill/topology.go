package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/db/pgcluster"
	"github.com/madbase/madbase/shared/jwtauth"
)

// Binaries are the programs the drill runs: madbase from this repository
// and the real nats-server, built from the module the workspace already has.
type Binaries struct{ Madbase, NATS string }

// Build compiles both into dir; root is the repository.
func Build(ctx context.Context, root, dir string) (Binaries, error) {
	b := Binaries{Madbase: filepath.Join(dir, "madbase"), NATS: filepath.Join(dir, "nats-server")}
	errs := make(chan error, 2)
	build := func(wd, out, pkg string) {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = wd
		if o, err := cmd.CombinedOutput(); err != nil {
			errs <- fmt.Errorf("go build %s: %v\n%s", pkg, err, o)
			return
		}
		errs <- nil
	}
	go build(root, b.Madbase, "./cmd/madbase")
	go build(filepath.Join(root, "bus"), b.NATS, "github.com/nats-io/nats-server/v2")
	return b, errors.Join(<-errs, <-errs)
}

// Keys are the secrets of one drill platform.
type Keys struct {
	JWTSecret, AdminPassword string
	Anon, Service            string
}

// NewKeys makes a fresh secret and the API keys signed with it.
func NewKeys() (Keys, error) {
	k := Keys{JWTSecret: randomHex(32), AdminPassword: randomHex(16)}
	exp := time.Now().Add(24 * time.Hour).Unix()
	var err error
	if k.Anon, err = jwtauth.Sign([]byte(k.JWTSecret), map[string]any{"role": "anon", "iss": "supabase", "exp": exp}); err != nil {
		return k, err
	}
	k.Service, err = jwtauth.Sign([]byte(k.JWTSecret), map[string]any{"role": "service_role", "iss": "supabase", "exp": exp})
	return k, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Database is the PostgreSQL server of the drill, run by pgcluster from the
// machine's binaries in the root namespace.
type Database struct {
	pg       *pgcluster.Cluster
	password string
}

// StartPostgres starts a server listening on loopback and on the extra
// addresses given, reachable from allowCIDR (besides loopback) with the
// password.
func StartPostgres(ctx context.Context, dir string, extraListen []string, allowCIDR string) (*Database, error) {
	d := &Database{password: randomHex(12)}
	var err error
	d.pg, err = pgcluster.Start(ctx, pgcluster.Options{
		DataDir: filepath.Join(dir, "postgres"), Password: d.password, NoSync: true,
		ExtraConf: map[string]string{
			"listen_addresses": strings.Join(append([]string{"127.0.0.1"}, extraListen...), ","),
			"max_connections":  "300",
		},
		Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	if allowCIDR != "" {
		hba := filepath.Join(d.pg.DataDir(), "pg_hba.conf")
		f, err := os.OpenFile(hba, os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			_, err = fmt.Fprintf(f, "\nhost all all %s scram-sha-256\nhost replication all %s scram-sha-256\n", allowCIDR, allowCIDR)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			err = d.Exec(ctx, "postgres", "select pg_reload_conf()")
		}
		if err != nil {
			d.Stop()
			return nil, fmt.Errorf("allowing %s in pg_hba.conf: %w", allowCIDR, err)
		}
	}
	return d, nil
}

// URL is the URL of database dbname at host (an address the server listens
// on).
func (d *Database) URL(host, dbname string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(pgcluster.SuperUser, d.password),
		Host: net.JoinHostPort(host, strconv.Itoa(d.pg.Port())), Path: "/" + dbname, RawQuery: "sslmode=disable"}
	return u.String()
}

// Exec runs sql in dbname as the superuser.
func (d *Database) Exec(ctx context.Context, dbname, sql string) error {
	conn, err := pgx.Connect(ctx, d.URL("127.0.0.1", dbname))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop stops the server.
func (d *Database) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = d.pg.Stop(ctx)
}

// DrillSchemaSQL creates what the load reads and realtime watches: the
// table, readable by anon and signed-in users, in the supabase_realtime
// publication, with rows 1..rows; and the function drill_slow(ms), which
// answers after ms milliseconds (GET /rest/v1/rpc/drill_slow?ms=N).
func DrillSchemaSQL(table string, rows int) string {
	t := pgx.Identifier{table}.Sanitize()
	return fmt.Sprintf(`create table %[1]s (id bigint primary key, note text not null);
alter table %[1]s replica identity full;
grant select, insert, update, delete on %[1]s to anon, authenticated, service_role;
insert into %[1]s select i, 'row ' || i from generate_series(1, %[2]d) i;
alter publication supabase_realtime add table %[1]s;
create function drill_slow(ms int) returns int language sql stable
  as $$ select ms from (select pg_sleep(ms / 1000.0)) s $$;`, t, rows)
}

// SlowPath is the load's slow request: drill_slow taking 300 ms.
const SlowPath = "/rest/v1/rpc/drill_slow?ms=300"

// NATSConfig is a nats-server configuration: JetStream on, monitoring on
// httpPort, and, when routes are given, one node of a cluster.
func NATSConfig(name, host string, port, httpPort int, storeDir string, clusterPort int, routes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %q\nlisten: %q\nhttp: %q\n", name, net.JoinHostPort(host, strconv.Itoa(port)),
		net.JoinHostPort(host, strconv.Itoa(httpPort)))
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  max_memory_store: 64MB\n  max_file_store: 256MB\n}\n", storeDir)
	if len(routes) > 0 {
		fmt.Fprintf(&b, "cluster {\n  name: \"madbase-drill\"\n  listen: %q\n  routes: [\n", net.JoinHostPort(host, strconv.Itoa(clusterPort)))
		for _, r := range routes {
			fmt.Fprintf(&b, "    %q\n", r)
		}
		b.WriteString("  ]\n}\n")
	}
	return b.String()
}

// Env is a process environment.
type Env map[string]string

// List turns e into the form exec.Cmd takes, sorted.
func (e Env) List() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// With returns a copy of e with more variables.
func (e Env) With(kv ...string) Env {
	out := Env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// WaitHealthy polls url until it answers 200, the process exits, or ctx
// ends.
func WaitHealthy(ctx context.Context, p *Proc, url string) error {
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := httpClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited (%v) before %s answered; its log:\n%s", p.Name, p.ExitErr(), url, p.Log.Tail(3000))
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %v (%w)", url, last, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// EdgeHealth is what an edge's /health says about its pool.
type EdgeHealth struct {
	Known   int `json:"workers_known"`
	Healthy int `json:"workers_healthy"`
}

// ReadEdgeHealth reads an edge's /health.
func ReadEdgeHealth(ctx context.Context, base string) (EdgeHealth, error) {
	var h EdgeHealth
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h, err
}

// CallJSON sends a JSON request and decodes a JSON answer into out (when
// not nil), failing on any status other than want (any 2xx when want is 0).
func CallJSON(ctx context.Context, method, u string, headers map[string]string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if (want != 0 && resp.StatusCode != want) || (want == 0 && resp.StatusCode/100 != 2) {
		return fmt.Errorf("%s %s: %s %s", method, u, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// SignIn creates a confirmed user through base's auth admin API and signs
// it in with its password, returning the access token.
func SignIn(ctx context.Context, base string, k Keys, email, password string) (string, error) {
	svc := map[string]string{"apikey": k.Service, "Authorization": "Bearer " + k.Service}
	err := CallJSON(ctx, http.MethodPost, base+"/auth/v1/admin/users", svc,
		map[string]any{"email": email, "password": password, "email_confirm": true}, 0, nil)
	if err != nil {
		return "", fmt.Errorf("creating the drill's user: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = CallJSON(ctx, http.MethodPost, base+"/auth/v1/token?grant_type=password", map[string]string{"apikey": k.Anon},
		map[string]any{"email": email, "password": password}, http.StatusOK, &tok)
	if err != nil {
		return "", fmt.Errorf("signing the drill's user in: %w", err)
	}
	if tok.AccessToken == "" {
		return "", errors.New("sign-in gave no access token")
	}
	return tok.AccessToken, nil
}

// NATSClients lists the names of the MadBase connections (workers, edges,
// control) a NATS node's monitoring endpoint (base) shows; nil when the node
// does not answer.
func NATSClients(ctx context.Context, base string) []string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/connz?limit=1024", nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var cz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	if json.NewDecoder(resp.Body).Decode(&cz) != nil {
		return nil
	}
	var out []string
	for _, c := range cz.Connections {
		if strings.HasPrefix(c.Name, "madbase-") || strings.HasPrefix(c.Name, "edge ") {
			out = append(out, c.Name)
		}
	}
	return out
}
