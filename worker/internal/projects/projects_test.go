package projects

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/madbase/madbase/worker/internal/auth"
	"github.com/madbase/madbase/worker/internal/realtime"
	"github.com/madbase/madbase/worker/internal/rest"
	"github.com/madbase/madbase/worker/internal/storage"
	"github.com/madbase/madbase/worker/migrations"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const domain = "projects.test"

// fixture is a NATS with the projects bucket, a platform key, a default
// project's database and the worker configuration that goes with them.
type fixture struct {
	t        *testing.T
	nats     string
	nc       *nats.Conn
	box      *secretbox.Box
	cfg      config.Worker
	defSec   string
	storeDir string
}

func sources() []migrate.Source {
	return append([]migrate.Source{platform.Source}, migrations.All()...)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, bustest.RunServer(t).URL(), nil)
}

// newFixtureOn makes a fixture on the NATS at url, with env added to the
// worker's configuration.
func newFixtureOn(t *testing.T, url string, env map[string]string) *fixture {
	t.Helper()
	nc, err := bus.Connect(url, "projects-test", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := secretbox.NewKey()
	box, err := secretbox.New(key)
	require.NoError(t, err)
	def := dbtest.NewDB(t, sources()...)
	f := &fixture{t: t, nats: url, nc: nc, box: box, defSec: "default-jwt-secret-0123456789abcdef012345", storeDir: t.TempDir()}
	vars := map[string]string{
		"NATS_URL":               url,
		"DATABASE_URL":           def.URL,
		"JWT_SECRET":             f.defSec,
		"STORAGE_DIR":            f.storeDir,
		"MADBASE_ENCRYPTION_KEY": secretbox.EncodeKey(key),
		"PROJECT_DOMAIN":         domain,
		"INSTANCE_ID":            "w-projects",
	}
	for k, v := range env {
		vars[k] = v
	}
	require.NoError(t, config.Load(&f.cfg, config.Map(vars)))
	_, err = def.Pool.Exec(ctx, `create table public.items (id int primary key, owner text not null);
		grant select on public.items to anon;
		insert into public.items values (1, 'default');`)
	require.NoError(t, err)
	return f
}

func poolOf(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// testProject is a created project as control would publish it.
type testProject struct {
	ref      string
	id       string
	dbURL    string
	secret   string
	revision int64
	settings map[string]string
	// secrets are secret settings, sealed when published.
	secrets  map[string]string
	retiring *retiringSecret
}

type retiringSecret struct {
	secret string
	at     time.Time
}

func (f *fixture) newProject(ref string) *testProject {
	d := dbtest.NewDB(f.t, sources()...)
	_, err := d.Pool.Exec(context.Background(), fmt.Sprintf(`
		create table public.items (id int primary key, owner text not null);
		grant select on public.items to anon;
		insert into public.items values (1, '%s');`, ref))
	require.NoError(f.t, err)
	return &testProject{ref: ref, id: "id-" + ref, dbURL: d.URL, secret: ref + "-secret-0123456789abcdef0123456789abcdef", revision: 1, settings: map[string]string{}}
}

func (f *fixture) publish(p *testProject) {
	f.t.Helper()
	pc := bus.ProjectConfig{
		ID: p.id, Ref: p.ref, Name: p.ref, Revision: p.revision, Settings: p.settings,
		DatabaseURL: f.box.SealString(p.dbURL, bus.SecretContext(p.ref, bus.SecretDatabaseURL)),
		JWTSecrets:  []bus.ProjectJWTSecret{{Secret: f.box.SealString(p.secret, bus.SecretContext(p.ref, bus.SecretJWT))}},
		UpdatedAt:   time.Now(),
	}
	for k, v := range p.secrets {
		if pc.Secrets == nil {
			pc.Secrets = map[string]string{}
		}
		pc.Secrets[k] = f.box.SealString(v, bus.SecretContext(p.ref, k))
	}
	if p.retiring != nil {
		at := p.retiring.at
		pc.JWTSecrets = append(pc.JWTSecrets, bus.ProjectJWTSecret{
			Secret: f.box.SealString(p.retiring.secret, bus.SecretContext(p.ref, bus.SecretJWT)), RetiresAt: &at})
	}
	b, err := json.Marshal(pc)
	require.NoError(f.t, err)
	_, err = f.bucket().Put(context.Background(), bus.ProjectKey(p.ref), b)
	require.NoError(f.t, err)
}

// bucket returns the projects bucket, made again after a NATS restart lost
// it, as control's publisher does.
func (f *fixture) bucket() jetstream.KeyValue {
	f.t.Helper()
	js, err := jetstream.New(f.nc)
	require.NoError(f.t, err)
	var kv jetstream.KeyValue
	bustest.Eventually(f.t, 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bus.ProjectsBucket, History: 1})
		return err == nil
	}, "projects bucket: %v", err)
	return kv
}

func key(t *testing.T, secret, ref, role string) string {
	t.Helper()
	k, err := jwtauth.Sign([]byte(secret), jwt.MapClaims{
		"iss": jwtauth.Issuer, "ref": ref, "role": role,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	require.NoError(t, err)
	return k
}

// worker is a worker's app with the projects manager, served on a free port.
type worker struct {
	url string
	m   *Manager
	log *logBuffer
	reg *prometheus.Registry
}

// logBuffer keeps a worker's log records, for tests of what it says.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (f *fixture) startWorker() *worker {
	t := f.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logBuffer{}
	var out io.Writer = logs
	if os.Getenv("PROJECTS_TEST_LOG") != "" {
		out = io.MultiWriter(logs, os.Stderr)
	}
	log := slog.New(slog.NewTextHandler(out, nil))
	caps := []api.Capability{auth.Register, rest.Register, storage.Register, realtime.Register}
	reg := prometheus.NewRegistry()
	m, err := New(Options{Config: f.cfg, NATS: f.nc, Log: log, BaseContext: ctx, Dev: true, Capabilities: caps, Registry: reg})
	require.NoError(t, err)
	pool := poolOf(t, f.cfg.DatabaseURL)
	a := api.New(api.Options{
		Deps:         api.Deps{Log: log, DB: pool, Config: f.cfg, NATS: f.nc, BaseContext: ctx, Dev: true},
		Capabilities: caps, Dispatch: m.Dispatch,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{}, 2)
	go func() { _ = a.Fiber.Listener(ln); done <- struct{}{} }()
	go func() { _ = m.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		_ = a.Fiber.ShutdownWithTimeout(5 * time.Second)
		<-done
		<-done
	})
	return &worker{url: "http://" + ln.Addr().String(), m: m, log: logs, reg: reg}
}

type reply struct {
	status int
	body   string
}

func (w *worker) do(t *testing.T, method, path, host, apiKey string, body io.Reader, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, w.url+path, body)
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	if apiKey != "" {
		req.Header.Set("apikey", apiKey)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, string(b)}
}

func (w *worker) waitRevision(t *testing.T, ref string, rev int64) {
	t.Helper()
	bustest.Eventually(t, 10*time.Second, func() bool { return w.m.Revision(ref) >= rev }, "%s revision %d not taken", ref, rev)
}

func TestProjects(t *testing.T) {
	f := newFixture(t)
	a, b := f.newProject("alpha"), f.newProject("beta")
	f.publish(a)
	f.publish(b)
	w := f.startWorker()
	w.waitRevision(t, "alpha", 1)
	w.waitRevision(t, "beta", 1)
	anonA, anonB := key(t, a.secret, "alpha", "anon"), key(t, b.secret, "beta", "anon")

	t.Run("each project reads its own database", func(t *testing.T) {
		r := w.do(t, "GET", "/rest/v1/items?select=owner", "", anonA, nil)
		require.Equal(t, 200, r.status, r.body)
		require.JSONEq(t, `[{"owner":"alpha"}]`, r.body)
		r = w.do(t, "GET", "/rest/v1/items?select=owner", "beta."+domain, anonB, nil)
		require.Equal(t, 200, r.status, r.body)
		require.JSONEq(t, `[{"owner":"beta"}]`, r.body)
		pub, _ := jwtauth.OpaqueKeys([]byte(a.secret))
		r = w.do(t, "GET", "/rest/v1/items?select=owner", "", pub, nil)
		require.Equal(t, 200, r.status, r.body)
		require.JSONEq(t, `[{"owner":"alpha"}]`, r.body)
	})

	t.Run("metrics carry the project", func(t *testing.T) {
		r := w.do(t, "GET", "/rest/v1/items", "", "", nil)
		require.Equal(t, 401, r.status, r.body)
		families := gather(t, w.reg)
		require.GreaterOrEqual(t, families.value(t, "madbase_worker_project_requests_total", "project", "alpha", "class", "2xx"), 2.0)
		require.Equal(t, 1.0, families.value(t, "madbase_worker_project_requests_total", "project", "beta", "class", "2xx"))
		require.GreaterOrEqual(t, families.value(t, "madbase_worker_project_requests_total", "project", f.cfg.DefaultProjectRef, "class", "4xx"), 1.0,
			"the default project's label is its ref")
		require.GreaterOrEqual(t, families.value(t, "madbase_worker_project_request_duration_seconds", "project", "alpha"), 2.0)
		require.Equal(t, float64(w.m.maxConns), families.value(t, "madbase_worker_project_db_pool_max_conns", "project", "alpha"))
		require.GreaterOrEqual(t, families.value(t, "madbase_worker_project_db_pool_acquire_total", "project", "beta"), 1.0)
	})

	t.Run("a key of another project is 401", func(t *testing.T) {
		r := w.do(t, "GET", "/rest/v1/items", "beta."+domain, anonA, nil)
		require.Equal(t, 401, r.status, r.body)
		require.JSONEq(t, `{"error":"the API key belongs to another project","code":401}`, r.body)
		pub, _ := jwtauth.OpaqueKeys([]byte(a.secret))
		r = w.do(t, "GET", "/rest/v1/items", "beta."+domain, pub, nil)
		require.Equal(t, 401, r.status, r.body)
		// A key claiming beta's ref but signed with alpha's secret is
		// verified by beta, and refused.
		forged := key(t, a.secret, "beta", "service_role")
		r = w.do(t, "GET", "/rest/v1/items", "", forged, nil)
		require.Equal(t, 401, r.status, r.body)
		r = w.do(t, "GET", "/rest/v1/items", "nope."+domain, anonA, nil)
		require.Equal(t, 401, r.status, r.body)
		// Behind the edge, X-Forwarded-Host is the client's Host.
		r = w.do(t, "GET", "/rest/v1/items", "", anonA, nil, "X-Forwarded-Host", "beta."+domain+":443")
		require.Equal(t, 401, r.status, r.body)
		r = w.do(t, "GET", "/rest/v1/items?select=owner", "", anonB, nil, "X-Forwarded-Host", "Beta."+strings.ToUpper(domain))
		require.Equal(t, 200, r.status, r.body)
		require.JSONEq(t, `[{"owner":"beta"}]`, r.body)
	})

	t.Run("the default project is unaffected", func(t *testing.T) {
		defKey := key(t, f.defSec, jwtauth.Ref, "anon")
		r := w.do(t, "GET", "/rest/v1/items?select=owner", "", defKey, nil)
		require.Equal(t, 200, r.status, r.body)
		require.JSONEq(t, `[{"owner":"default"}]`, r.body)
		r = w.do(t, "GET", "/rest/v1/items?select=owner", "other.example", defKey, nil)
		require.Equal(t, 200, r.status, r.body)
		// alpha's key on the default project's host is refused.
		r = w.do(t, "GET", "/rest/v1/items?select=owner", "default."+domain, anonA, nil)
		require.Equal(t, 401, r.status, r.body)
	})

	t.Run("a project's WAL reader starts with its first realtime join", func(t *testing.T) {
		pa := poolOf(t, a.dbURL)
		ctx := context.Background()
		_, err := pa.Exec(ctx, `create table public.notes (id int primary key, body text);
			grant select on public.notes to anon;
			alter publication supabase_realtime add table public.notes`)
		require.NoError(t, err)
		slots := func() int {
			var n int
			require.NoError(t, pa.QueryRow(ctx, `select count(*) from pg_replication_slots where database = current_database() and active`).Scan(&n))
			return n
		}
		require.True(t, w.m.Active("alpha"))
		require.Zero(t, slots(), "alpha reads no WAL before a client joins")

		u := "ws" + strings.TrimPrefix(w.url, "http") + "/realtime/v1/websocket?vsn=2.0.0&apikey=" + anonA
		conn, res, err := websocket.DefaultDialer.Dial(u, nil)
		require.NoError(t, err)
		if res != nil && res.Body != nil {
			res.Body.Close()
		}
		defer conn.Close()
		require.NoError(t, conn.WriteJSON([]any{"1", "1", "realtime:notes", "phx_join", map[string]any{"config": map[string]any{
			"postgres_changes": []any{map[string]any{"event": "INSERT", "schema": "public", "table": "notes"}}}}}))
		// The join's answer means live: a change committed right after it is
		// delivered, though the project's reader only starts with this join.
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
		for {
			var msg []any
			require.NoError(t, conn.ReadJSON(&msg))
			if msg[3] == "phx_reply" && msg[1] == "1" {
				b, _ := json.Marshal(msg[4])
				require.Contains(t, string(b), `"status":"ok"`)
				break
			}
		}
		_, err = pa.Exec(ctx, `insert into public.notes values (1, 'from alpha')`)
		require.NoError(t, err)
		bustest.Eventually(t, 30*time.Second, func() bool { return slots() == 1 }, "alpha's WAL reader did not start")
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
		for {
			var msg []any
			require.NoError(t, conn.ReadJSON(&msg))
			if msg[3] == "postgres_changes" {
				b, _ := json.Marshal(msg[4])
				require.Contains(t, string(b), "from alpha")
				break
			}
		}
	})

	t.Run("realtime reaches a project's socket through its app, on its own subjects", func(t *testing.T) {
		got := make(chan *nats.Msg, 16)
		sub, err := f.nc.ChanSubscribe(bus.Prefix+".realtime.alpha.>", got)
		require.NoError(t, err)
		defer func() { _ = sub.Unsubscribe() }()
		require.NoError(t, f.nc.Flush())
		u := "ws" + strings.TrimPrefix(w.url, "http") + "/realtime/v1/websocket?vsn=2.0.0&apikey=" + anonA
		conn, res, err := websocket.DefaultDialer.Dial(u, nil)
		require.NoError(t, err)
		if res != nil && res.Body != nil {
			res.Body.Close()
		}
		defer conn.Close()
		require.NoError(t, conn.WriteJSON([]any{"1", "1", "realtime:room", "phx_join", map[string]any{"config": map[string]any{"broadcast": map[string]any{"self": true}}}}))
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		var joined []any
		require.NoError(t, conn.ReadJSON(&joined))
		require.Equal(t, "phx_reply", joined[3], "%v", joined)
		require.NoError(t, conn.WriteJSON([]any{"1", "2", "realtime:room", "broadcast", map[string]any{"type": "broadcast", "event": "hi", "payload": map[string]any{"x": 1}}}))
		select {
		case m := <-got:
			require.Contains(t, m.Subject, ".realtime.alpha.")
		case <-time.After(10 * time.Second):
			t.Fatal("no broadcast on alpha's subjects")
		}
	})

	t.Run("a sign-up on one project is invisible on the other", func(t *testing.T) {
		body := `{"email":"ann@example.com","password":"a-long-password-1"}`
		r := w.do(t, "POST", "/auth/v1/signup", "", anonA, strings.NewReader(body), "Content-Type", "application/json")
		require.Equal(t, 200, r.status, r.body)
		r = w.do(t, "POST", "/auth/v1/token?grant_type=password", "", anonA, strings.NewReader(body), "Content-Type", "application/json")
		require.Equal(t, 200, r.status, r.body)
		r = w.do(t, "POST", "/auth/v1/token?grant_type=password", "", anonB, strings.NewReader(body), "Content-Type", "application/json")
		require.Equal(t, 400, r.status, r.body)
	})

	t.Run("storage keeps a project's bytes under its prefix", func(t *testing.T) {
		svcA := key(t, a.secret, "alpha", "service_role")
		r := w.do(t, "POST", "/storage/v1/bucket", "", svcA, strings.NewReader(`{"name":"docs"}`),
			"Content-Type", "application/json", "Authorization", "Bearer "+svcA)
		require.Equal(t, 200, r.status, r.body)
		r = w.do(t, "POST", "/storage/v1/object/docs/hello.txt", "", svcA, strings.NewReader("hello alpha"),
			"Content-Type", "text/plain", "Authorization", "Bearer "+svcA)
		require.Equal(t, 200, r.status, r.body)
		var found []string
		require.NoError(t, filepath.WalkDir(f.storeDir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(f.storeDir, p)
				found = append(found, filepath.ToSlash(rel))
			}
			return err
		}))
		require.Len(t, found, 1, "%v", found)
		require.True(t, strings.HasPrefix(found[0], "projects/alpha/objects/"), found[0])
		r = w.do(t, "GET", "/storage/v1/object/docs/hello.txt", "", svcA, nil, "Authorization", "Bearer "+svcA)
		require.Equal(t, 200, r.status, r.body)
		require.Equal(t, "hello alpha", r.body)

		// A signed URL carries no key: its token names the project.
		r = w.do(t, "POST", "/storage/v1/object/sign/docs/hello.txt", "", svcA, strings.NewReader(`{"expiresIn":60}`),
			"Content-Type", "application/json", "Authorization", "Bearer "+svcA)
		require.Equal(t, 200, r.status, r.body)
		var signed struct {
			SignedURL string `json:"signedURL"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.body), &signed))
		r = w.do(t, "GET", "/storage/v1"+signed.SignedURL, "", "", nil)
		require.Equal(t, 200, r.status, r.body)
		require.Equal(t, "hello alpha", r.body)
	})

	t.Run("a new revision applies without a restart", func(t *testing.T) {
		_, err := poolOf(t, a.dbURL).Exec(context.Background(), `insert into public.items values (2, 'alpha'), (3, 'alpha')`)
		require.NoError(t, err)
		r := w.do(t, "GET", "/rest/v1/items?select=id", "", anonA, nil)
		require.JSONEq(t, `[{"id":1},{"id":2},{"id":3}]`, r.body)
		a.revision, a.settings = 2, map[string]string{"DB_MAX_ROWS": "1", "AUTH_DISABLE_SIGNUP": "true"}
		f.publish(a)
		w.waitRevision(t, "alpha", 2)
		r = w.do(t, "GET", "/rest/v1/items?select=id", "", anonA, nil)
		require.JSONEq(t, `[{"id":1}]`, r.body)
		body := `{"email":"bob@example.com","password":"a-long-password-1"}`
		r = w.do(t, "POST", "/auth/v1/signup", "", anonA, strings.NewReader(body), "Content-Type", "application/json")
		require.Equal(t, 422, r.status, r.body)
		// beta keeps its own settings.
		r = w.do(t, "POST", "/auth/v1/signup", "", anonB, strings.NewReader(body), "Content-Type", "application/json")
		require.Equal(t, 200, r.status, r.body)
	})

	t.Run("a stale revision is ignored", func(t *testing.T) {
		stale := *a
		stale.revision, stale.settings = 1, map[string]string{}
		f.publish(&stale)
		a.revision = 3
		f.publish(a)
		w.waitRevision(t, "alpha", 3)
		r := w.do(t, "GET", "/rest/v1/items?select=id", "", anonA, nil)
		require.JSONEq(t, `[{"id":1}]`, r.body)
	})

	t.Run("an unbuildable configuration keeps the old runtime", func(t *testing.T) {
		bad := *a
		bad.revision, bad.dbURL = 4, "postgres://nobody:pw-never-logged@127.0.0.1:1/none?connect_timeout=1"
		f.publish(&bad)
		w.waitRevision(t, "alpha", 4)
		r := w.do(t, "GET", "/rest/v1/items?select=owner", "", anonA, nil)
		require.Equal(t, 200, r.status, r.body)
		logs := w.log.String()
		require.Contains(t, logs, `msg="projects: new configuration failed to build; the previous one keeps serving" component=projects project=alpha revision=4`)
		require.NotContains(t, logs, "pw-never-logged")
		// The heartbeat says which revision serves and which was refused.
		running, truncated := w.m.Projects()
		require.False(t, truncated)
		require.Equal(t, int64(3), running["alpha"].Revision)
		require.Equal(t, int64(4), running["alpha"].Refused)
		require.Contains(t, running["alpha"].Reason, "database:")
		require.NotContains(t, running["alpha"].Reason, "pw-never-logged")
		require.LessOrEqual(t, len(running["alpha"].Reason), bus.MaxRefusalReason)
		require.Equal(t, bus.ProjectRevision{Revision: 1}, running["beta"])
		invalid := *a
		invalid.revision, invalid.settings = 5, map[string]string{"DB_MAX_ROWS": "-3"}
		f.publish(&invalid)
		w.waitRevision(t, "alpha", 5)
		r = w.do(t, "GET", "/rest/v1/items?select=id", "", anonA, nil)
		require.Equal(t, 200, r.status, r.body)
		require.JSONEq(t, `[{"id":1}]`, r.body)
		require.Contains(t, w.log.String(), `msg="projects: configuration not applied; the previous one stays" component=projects project=alpha revision=5 error="DB_MAX_ROWS: must not be negative"`)
		running, _ = w.m.Projects()
		require.Equal(t, bus.ProjectRevision{Revision: 3, Refused: 5, Reason: "DB_MAX_ROWS: must not be negative"}, running["alpha"])
		a.revision = 6
		f.publish(a)
		w.waitRevision(t, "alpha", 6)
		running, _ = w.m.Projects()
		require.Equal(t, bus.ProjectRevision{Revision: 6}, running["alpha"], "a newer revision that applies clears the refusal")
	})

	t.Run("a rotated-out key verifies until it retires", func(t *testing.T) {
		oldSecret := b.secret
		oldKey := anonB
		b.secret, b.retiring, b.revision = "beta-second-secret-0123456789abcdef012345", &retiringSecret{oldSecret, time.Now().Add(time.Hour)}, 2
		f.publish(b)
		w.waitRevision(t, "beta", 2)
		newKey := key(t, b.secret, "beta", "anon")
		require.Equal(t, 200, w.do(t, "GET", "/rest/v1/items", "", newKey, nil).status)
		require.Equal(t, 200, w.do(t, "GET", "/rest/v1/items", "", oldKey, nil).status)
		oldPub, _ := jwtauth.OpaqueKeys([]byte(oldSecret))
		require.Equal(t, 200, w.do(t, "GET", "/rest/v1/items", "", oldPub, nil).status)

		b.retiring.at, b.revision = time.Now().Add(-time.Minute), 3
		f.publish(b)
		w.waitRevision(t, "beta", 3)
		require.Equal(t, 200, w.do(t, "GET", "/rest/v1/items", "", newKey, nil).status)
		r := w.do(t, "GET", "/rest/v1/items", "", oldKey, nil)
		require.Equal(t, 401, r.status, r.body)
		r = w.do(t, "GET", "/rest/v1/items", "", oldPub, nil)
		require.Equal(t, 401, r.status, r.body)
	})

	t.Run("a worker started later serves the current configuration", func(t *testing.T) {
		w2 := f.startWorker()
		r := w2.do(t, "GET", "/rest/v1/items?select=id", "", anonA, nil)
		require.Equal(t, 200, r.status, r.body)
		require.JSONEq(t, `[{"id":1}]`, r.body)
		require.Equal(t, int64(6), w2.m.Revision("alpha"))
	})

	t.Run("a deleted project is gone", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, f.bucket().Delete(ctx, "beta"))
		bustest.Eventually(t, 10*time.Second, func() bool { return w.m.Revision("beta") == 0 }, "beta not deleted")
		r := w.do(t, "GET", "/rest/v1/items", "beta."+domain, "", nil)
		require.Equal(t, 404, r.status, r.body)
	})

	t.Run("a ref created again is a new project", func(t *testing.T) {
		again := f.newProject("beta")
		again.id, again.secret = "id-beta-2", "beta-reborn-secret-0123456789abcdef0123"
		_, err := poolOf(t, again.dbURL).Exec(context.Background(), `update public.items set owner = 'beta again'`)
		require.NoError(t, err)
		f.publish(again)
		bustest.Eventually(t, 10*time.Second, func() bool { return w.m.Revision("beta") == 1 }, "beta not created again")
		r := w.do(t, "GET", "/rest/v1/items?select=owner", "", key(t, again.secret, "beta", "anon"), nil)
		require.Equal(t, 200, r.status, r.body)
		require.JSONEq(t, `[{"owner":"beta again"}]`, r.body)
		r = w.do(t, "GET", "/rest/v1/items?select=owner", "", anonB, nil)
		require.Equal(t, 401, r.status, r.body)
	})
}

// families are gathered metrics by name.
type families map[string]*dto.MetricFamily

func gather(t *testing.T, reg *prometheus.Registry) families {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := families{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value is the value of the metric name with the given labels (a
// histogram's count); the test fails when there is none.
func (f families) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mf := f[name]
	require.NotNil(t, mf, "no metric %s", name)
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no %s with %v", name, labels)
	return 0
}
