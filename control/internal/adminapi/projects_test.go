package adminapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/control/internal/fleet"
	"github.com/madbase/madbase/control/internal/projects"
	controlmigrations "github.com/madbase/madbase/control/migrations"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const projectsPassword = "projects-admin-pw"

// probeSource stands for the worker's migrations (control cannot import the
// worker's module): a project database is migrated when it has this table.
var probeSource = migrate.Source{Name: "probe", FS: fstest.MapFS{
	"0001_probe.up.sql": {Data: []byte("CREATE TABLE public.madbase_probe (id int)")},
}}

// syncBuffer is a log sink several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type projectsEnv struct {
	t        *testing.T
	do       func(method, path, body string, auth bool) (int, string)
	pool     *pgxpool.Pool
	kv       jetstream.KeyValue
	box      *secretbox.Box
	logs     *syncBuffer
	store    *projects.Store
	adminURL string
	// nc is connected to the NATS the fleet follows heartbeats on.
	nc *nats.Conn
}

// newProjectsEnv starts the admin API over a real platform database (with
// control's migrations), a real NATS with JetStream and a running publisher.
func newProjectsEnv(t *testing.T, opts projects.Options) *projectsEnv {
	t.Helper()
	platformDB := dbtest.NewDB(t, platform.Source, controlmigrations.Source)
	box, err := secretbox.New(secretbox.NewKey())
	require.NoError(t, err)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Migrations = []migrate.Source{platform.Source, probeSource}
	if opts.Env == nil {
		opts.Env = config.Map(map[string]string{})
	}
	store := projects.NewStore(platformDB.Pool, box, log, opts)

	ns := bustest.RunServer(t)
	nc := bustest.Connect(t, ns)
	pub, err := projects.NewPublisher(nc, store, log, projects.PublisherOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	js, err := jetstream.New(nc)
	require.NoError(t, err)
	var kv jetstream.KeyValue
	bustest.Eventually(t, 10*time.Second, func() bool {
		kv, err = js.KeyValue(context.Background(), bus.ProjectsBucket)
		return err == nil
	}, "the publisher creates the bucket")

	workers := fleet.New(log, nil, fleet.Options{})
	require.NoError(t, workers.Subscribe(nc))
	app := New(Deps{Password: projectsPassword, Log: log, Projects: store, Fleet: workers})
	e := &projectsEnv{t: t, pool: platformDB.Pool, kv: kv, box: box, logs: logs, store: store, adminURL: dbtest.AdminURL(t), nc: nc}
	e.do = func(method, path, body string, auth bool) (int, string) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, path, r)
		req.Header.Set("Content-Type", "application/json")
		if auth {
			req.Header.Set("Authorization", "Bearer "+projectsPassword)
		}
		res, err := app.Test(req, -1)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	return e
}

// newRef is a ref no other test (or test process on a shared server) uses.
func newRef(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	ref := "t-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgxpool.New(ctx, dbtest.AdminURL(t))
		if err == nil {
			_, _ = admin.Exec(ctx, `DROP DATABASE IF EXISTS "madbase_`+ref+`" WITH (FORCE)`)
			admin.Close()
		}
	})
	return ref
}

func (e *projectsEnv) databaseExists(name string) bool {
	var ok bool
	require.NoError(e.t, e.pool.QueryRow(context.Background(), "SELECT exists(SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok))
	return ok
}

// published reads a project's configuration from the bucket; ok is false when
// the key is absent or deleted.
func (e *projectsEnv) published(ref string) (cfg bus.ProjectConfig, raw string, ok bool) {
	entry, err := e.kv.Get(context.Background(), bus.ProjectKey(ref))
	if err != nil {
		return cfg, "", false
	}
	require.NoError(e.t, json.Unmarshal(entry.Value(), &cfg))
	return cfg, string(entry.Value()), true
}

func (e *projectsEnv) waitRevision(ref string, rev int64) bus.ProjectConfig {
	e.t.Helper()
	var cfg bus.ProjectConfig
	bustest.Eventually(e.t, 10*time.Second, func() bool {
		var ok bool
		cfg, _, ok = e.published(ref)
		return ok && cfg.Revision == rev
	}, "revision %d of %s published", rev, ref)
	return cfg
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	return v
}

func TestProjectLifecycle(t *testing.T) {
	t.Parallel()
	e := newProjectsEnv(t, projects.Options{})
	ref := newRef(t)
	const smtpPass = "smtp-pass-Zq81"

	status, body := e.do("POST", "/admin/v1/projects", `{"ref":"`+ref+`","name":"Shop","settings":{
		"AUTH_DISABLE_SIGNUP": true, "DB_MAX_ROWS": 100, "SMTP_HOST": "smtp.example.com",
		"API_EXTERNAL_URL": "https://api.example.com", "SMTP_PASS": "`+smtpPass+`"}}`, true)
	require.Equal(t, 201, status, body)
	created := decode[projectBody](t, body)
	assert.Equal(t, ref, created.Ref)
	assert.Equal(t, "Shop", created.Name)
	assert.Equal(t, databaseBody{Mode: "created", Name: "madbase_" + ref}, created.Database)
	assert.Equal(t, int64(1), created.Revision)
	assert.Equal(t, map[string]string{"AUTH_DISABLE_SIGNUP": "true", "DB_MAX_ROWS": "100",
		"SMTP_HOST": "smtp.example.com", "API_EXTERNAL_URL": "https://api.example.com"}, created.Settings)
	assert.Equal(t, []string{"SMTP_PASS"}, created.SecretSettings)
	assert.NotContains(t, body, smtpPass, "a secret setting is never answered")
	require.NotNil(t, created.Keys)
	assert.GreaterOrEqual(t, len(created.JWTSecret), 32)
	for role, key := range map[string]string{"anon": created.Keys.Anon, "service_role": created.Keys.ServiceRole} {
		claims, err := jwtauth.Verify([]byte(created.JWTSecret), key)
		require.NoError(t, err, role)
		assert.Equal(t, ref, claims["ref"], "the key carries the project's ref")
		assert.Equal(t, role, claims["role"])
		assert.Equal(t, jwtauth.Issuer, claims["iss"])
	}
	pub, sec := jwtauth.OpaqueKeys([]byte(created.JWTSecret))
	assert.Equal(t, pub, created.Keys.Publishable)
	assert.Equal(t, sec, created.Keys.Secret)
	assert.True(t, strings.HasPrefix(created.Keys.Publishable, "sb_publishable_"))

	// The database exists and carries the migrations.
	require.True(t, e.databaseExists("madbase_"+ref))
	projectPool, err := pgxpool.New(context.Background(), withDB(t, e.adminURL, "madbase_"+ref))
	require.NoError(t, err)
	defer projectPool.Close()
	var probe, roles int
	require.NoError(t, projectPool.QueryRow(context.Background(), "SELECT count(*) FROM madbase_migrations.applied WHERE source = 'probe'").Scan(&probe))
	assert.Equal(t, 1, probe)
	require.NoError(t, projectPool.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role')").Scan(&roles))
	assert.Equal(t, 3, roles)

	// The bucket holds revision 1, secrets sealed and openable by a worker.
	cfg := e.waitRevision(ref, 1)
	_, raw, _ := e.published(ref)
	for _, secret := range []string{created.JWTSecret, smtpPass, "madbase_" + ref, created.Keys.Anon} {
		assert.NotContains(t, raw, secret, "no plaintext secret in the published configuration")
	}
	assert.Equal(t, created.ID, cfg.ID)
	assert.Equal(t, "true", cfg.Settings["AUTH_DISABLE_SIGNUP"])
	require.Len(t, cfg.JWTSecrets, 1)
	jwtSecret, err := e.box.OpenString(cfg.JWTSecrets[0].Secret, bus.SecretContext(ref, bus.SecretJWT))
	require.NoError(t, err)
	assert.Equal(t, created.JWTSecret, jwtSecret)
	pass, err := e.box.OpenString(cfg.Secrets["SMTP_PASS"], bus.SecretContext(ref, "SMTP_PASS"))
	require.NoError(t, err)
	assert.Equal(t, smtpPass, pass)
	dbURL, err := e.box.OpenString(cfg.DatabaseURL, bus.SecretContext(ref, bus.SecretDatabaseURL))
	require.NoError(t, err)
	assert.Contains(t, dbURL, "/madbase_"+ref)

	// The list hides every secret; one project's read shows its keys.
	status, body = e.do("GET", "/admin/v1/projects", "", true)
	require.Equal(t, 200, status, body)
	list := decode[projectsBody](t, body)
	require.Len(t, list.Projects, 1)
	assert.Equal(t, ref, list.Projects[0].Ref)
	assert.Nil(t, list.Projects[0].Keys)
	for _, secret := range []string{created.JWTSecret, created.Keys.Anon, created.Keys.ServiceRole, created.Keys.Publishable, created.Keys.Secret, smtpPass} {
		assert.NotContains(t, body, secret, "the list answers no secret")
	}
	status, body = e.do("GET", "/admin/v1/projects/"+ref, "", true)
	require.Equal(t, 200, status, body)
	got := decode[projectBody](t, body)
	assert.Equal(t, created.Keys, got.Keys)

	// A valid change: revision 2, published.
	status, body = e.do("PATCH", "/admin/v1/projects/"+ref+"/config", `{"DB_MAX_ROWS": 50, "AUTH_DISABLE_SIGNUP": null}`, true)
	require.Equal(t, 200, status, body)
	patched := decode[projectBody](t, body)
	assert.Equal(t, int64(2), patched.Revision)
	assert.Equal(t, "50", patched.Settings["DB_MAX_ROWS"])
	assert.NotContains(t, patched.Settings, "AUTH_DISABLE_SIGNUP", "null removes a setting")
	assert.Equal(t, []string{"SMTP_PASS"}, patched.SecretSettings, "untouched secrets stay")
	cfg = e.waitRevision(ref, 2)
	assert.Equal(t, "50", cfg.Settings["DB_MAX_ROWS"])
	pass, err = e.box.OpenString(cfg.Secrets["SMTP_PASS"], bus.SecretContext(ref, "SMTP_PASS"))
	require.NoError(t, err)
	assert.Equal(t, smtpPass, pass)

	// Invalid changes: every problem named, nothing applied.
	status, body = e.do("PATCH", "/admin/v1/projects/"+ref+"/config", `{"JWT_EXP": "soon", "DB_TX_END": "sometimes", "DB_MAX_ROWS": 7}`, true)
	assert.Equal(t, 400, status, body)
	assert.Contains(t, body, "JWT_EXP")
	assert.Contains(t, body, "DB_TX_END")
	status, body = e.do("PATCH", "/admin/v1/projects/"+ref+"/config", `{"NATS_URL": "nats://x", "EDGE_PORT": 1, "JWT_SECRET": "x", "STORAGE_DIR": "/tmp", "MADBASE_WORKERS": 3, "NOT_A_THING": 1}`, true)
	assert.Equal(t, 400, status, body)
	for _, name := range []string{"NATS_URL", "EDGE_PORT", "JWT_SECRET", "STORAGE_DIR", "MADBASE_WORKERS", "NOT_A_THING"} {
		assert.Contains(t, body, name)
	}
	status, body = e.do("PATCH", "/admin/v1/projects/"+ref+"/config", `{"SMTP_HOST": "smtp.example.com", "API_EXTERNAL_URL": null, "AUTH_OTP_LENGTH": {"x": 1}}`, true)
	assert.Equal(t, 400, status, body)
	assert.Contains(t, body, "AUTH_OTP_LENGTH", "a value that is not text is named")
	status, body = e.do("PATCH", "/admin/v1/projects/"+ref+"/config", `{"API_EXTERNAL_URL": null}`, true)
	assert.Equal(t, 400, status, body)
	assert.Contains(t, body, "API_EXTERNAL_URL: required with SMTP_HOST", "the whole configuration is validated, not only what changed")
	status, body = e.do("GET", "/admin/v1/projects/"+ref, "", true)
	require.Equal(t, 200, status)
	unchanged := decode[projectBody](t, body)
	assert.Equal(t, int64(2), unchanged.Revision, "a refused change changes nothing")
	assert.Equal(t, "50", unchanged.Settings["DB_MAX_ROWS"])
	cfg, _, _ = e.published(ref)
	assert.Equal(t, int64(2), cfg.Revision)

	// Rotation: new keys; the old ones verify until the grace ends.
	before := time.Now()
	status, body = e.do("POST", "/admin/v1/projects/"+ref+"/keys/rotate", "", true)
	require.Equal(t, 200, status, body)
	rotated := decode[projectBody](t, body)
	assert.Equal(t, int64(3), rotated.Revision)
	assert.NotEqual(t, created.JWTSecret, rotated.JWTSecret)
	assert.NotEqual(t, created.Keys.Anon, rotated.Keys.Anon)
	assert.NotEqual(t, created.Keys.Publishable, rotated.Keys.Publishable)
	require.NotNil(t, rotated.RetiringKeys)
	assert.Equal(t, created.Keys, rotated.RetiringKeys, "the old keys are listed as retiring")
	require.NotNil(t, rotated.KeysRetiringUntil)
	assert.WithinRange(t, *rotated.KeysRetiringUntil, before.Add(projects.DefaultRotationGrace-time.Minute), before.Add(projects.DefaultRotationGrace+time.Minute))
	cfg = e.waitRevision(ref, 3)
	require.Len(t, cfg.JWTSecrets, 2)
	assert.Nil(t, cfg.JWTSecrets[0].RetiresAt)
	require.NotNil(t, cfg.JWTSecrets[1].RetiresAt)
	old, err := e.box.OpenString(cfg.JWTSecrets[1].Secret, bus.SecretContext(ref, bus.SecretJWT))
	require.NoError(t, err)
	assert.Equal(t, created.JWTSecret, old)
	status, body = e.do("GET", "/admin/v1/projects", "", true)
	require.Equal(t, 200, status)
	list = decode[projectsBody](t, body)
	require.NotNil(t, list.Projects[0].KeysRetiringUntil, "the list says keys are retiring")
	assert.NotContains(t, body, created.JWTSecret)

	status, body = e.do("POST", "/admin/v1/projects/"+ref+"/keys/rotate", `{"grace":"0s"}`, true)
	require.Equal(t, 200, status, body)
	now := decode[projectBody](t, body)
	assert.Nil(t, now.RetiringKeys, "grace 0s retires the old keys at once")
	cfg = e.waitRevision(ref, 4)
	assert.Len(t, cfg.JWTSecrets, 1)

	// Nothing secret reached the logs.
	logs := e.logs.String()
	assert.Contains(t, logs, "project created")
	for _, secret := range []string{created.JWTSecret, rotated.JWTSecret, now.JWTSecret, smtpPass, created.Keys.Anon, created.Keys.Secret} {
		assert.NotContains(t, logs, secret)
	}

	// Delete detaches by default: the database stays.
	status, body = e.do("DELETE", "/admin/v1/projects/"+ref, "", true)
	require.Equal(t, 200, status, body)
	assert.JSONEq(t, `{"ref":"`+ref+`","database":"madbase_`+ref+`","database_dropped":false}`, body)
	assert.True(t, e.databaseExists("madbase_"+ref))
	bustest.Eventually(t, 10*time.Second, func() bool { _, _, ok := e.published(ref); return !ok }, "the key is deleted")
	status, _ = e.do("GET", "/admin/v1/projects/"+ref, "", true)
	assert.Equal(t, 404, status)
	// The detached database is not adopted by a new project of the same ref.
	status, body = e.do("POST", "/admin/v1/projects", `{"ref":"`+ref+`"}`, true)
	assert.Equal(t, 409, status, body)
	assert.Contains(t, body, "madbase_"+ref)
}

func withDB(t *testing.T, adminURL, name string) string {
	u, err := url.Parse(adminURL)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// TestProjectWorkers: GET /admin/v1/projects/{ref} lists what each live
// worker runs of the project, from their heartbeats: the current revision,
// an older one, or an older one because the current was refused.
func TestProjectWorkers(t *testing.T) {
	t.Parallel()
	e := newProjectsEnv(t, projects.Options{})
	ref := newRef(t)
	status, body := e.do("POST", "/admin/v1/projects", `{"ref":"`+ref+`"}`, true)
	require.Equal(t, 201, status, body)
	status, body = e.do("GET", "/admin/v1/projects/"+ref, "", true)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, `"workers":[]`, "no worker yet")
	status, body = e.do("PATCH", "/admin/v1/projects/"+ref+"/config", `{"DB_MAX_ROWS": 5}`, true)
	require.Equal(t, 200, status, body)

	beat := func(id string, held map[string]bus.ProjectRevision) {
		b, err := json.Marshal(bus.Heartbeat{ID: id, URL: "http://" + id, Projects: held})
		require.NoError(t, err)
		require.NoError(t, e.nc.Publish(bus.WorkerHeartbeat(id), b))
	}
	beat("w1", map[string]bus.ProjectRevision{ref: {Revision: 2}})
	beat("w2", map[string]bus.ProjectRevision{ref: {Revision: 1}})
	beat("w3", map[string]bus.ProjectRevision{ref: {Revision: 1, Refused: 2, Reason: "DB_MAX_ROWS: must not be negative"}})
	beat("w4", nil)
	require.NoError(t, e.nc.Flush())
	var got struct {
		Revision int64 `json:"revision"`
		Workers  []struct {
			ID, URL, Status, Reason string
			Revision                int64
			RefusedRevision         int64 `json:"refused_revision"`
		} `json:"workers"`
	}
	bustest.Eventually(t, 5*time.Second, func() bool {
		status, body = e.do("GET", "/admin/v1/projects/"+ref, "", true)
		require.Equal(t, 200, status, body)
		got.Workers = nil
		require.NoError(t, json.Unmarshal([]byte(body), &got))
		return len(got.Workers) == 4
	}, "the workers' beats are not shown")
	assert.Equal(t, int64(2), got.Revision)
	assert.Equal(t, []string{"w1", "current", "", "w2", "behind", "", "w3", "refused", "DB_MAX_ROWS: must not be negative", "w4", "unknown", ""},
		[]string{got.Workers[0].ID, got.Workers[0].Status, got.Workers[0].Reason, got.Workers[1].ID, got.Workers[1].Status, got.Workers[1].Reason,
			got.Workers[2].ID, got.Workers[2].Status, got.Workers[2].Reason, got.Workers[3].ID, got.Workers[3].Status, got.Workers[3].Reason})
	assert.Equal(t, "http://w3", got.Workers[2].URL)
	assert.Equal(t, int64(1), got.Workers[2].Revision)
	assert.Equal(t, int64(2), got.Workers[2].RefusedRevision)
	// The list of projects stays as it was.
	status, body = e.do("GET", "/admin/v1/projects", "", true)
	require.Equal(t, 200, status, body)
	assert.NotContains(t, body, `"workers"`)
}

func TestProjectDeleteDropsDatabase(t *testing.T) {
	t.Parallel()
	e := newProjectsEnv(t, projects.Options{})
	ref := newRef(t)
	status, body := e.do("POST", "/admin/v1/projects", `{"ref":"`+ref+`"}`, true)
	require.Equal(t, 201, status, body)
	assert.Equal(t, ref, decode[projectBody](t, body).Name, "the name defaults to the ref")
	require.True(t, e.databaseExists("madbase_"+ref))
	e.waitRevision(ref, 1)

	status, body = e.do("DELETE", "/admin/v1/projects/"+ref+"?drop_database=true", "", true)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, `"database_dropped":true`)
	assert.False(t, e.databaseExists("madbase_"+ref))
	bustest.Eventually(t, 10*time.Second, func() bool { _, _, ok := e.published(ref); return !ok }, "the key is deleted")

	// The ref is free again: a new project under it is a new incarnation.
	status, body = e.do("POST", "/admin/v1/projects", `{"ref":"`+ref+`"}`, true)
	require.Equal(t, 201, status, body)
	again := decode[projectBody](t, body)
	cfg := e.waitRevision(ref, 1)
	assert.Equal(t, again.ID, cfg.ID)
}

func TestProjectExternalDatabase(t *testing.T) {
	t.Parallel()
	e := newProjectsEnv(t, projects.Options{})
	ref := newRef(t)
	ext := dbtest.NewDB(t)
	// The throwaway server trusts local connections, so a password in the
	// URL is accepted and must stay secret.
	u, err := url.Parse(ext.URL)
	require.NoError(t, err)
	const dbPass = "db-pass-Wk27"
	u.User = url.UserPassword(u.User.Username(), dbPass)

	status, body := e.do("POST", "/admin/v1/projects", `{"ref":"`+ref+`","database_url":"`+u.String()+`"}`, true)
	require.Equal(t, 201, status, body)
	p := decode[projectBody](t, body)
	assert.Equal(t, databaseBody{Mode: "external", Name: ext.Name}, p.Database)
	assert.NotContains(t, body, dbPass)
	var probe int
	require.NoError(t, ext.Pool.QueryRow(context.Background(), "SELECT count(*) FROM madbase_migrations.applied WHERE source = 'probe'").Scan(&probe))
	assert.Equal(t, 1, probe, "a given database is migrated too")

	e.waitRevision(ref, 1)
	_, raw, _ := e.published(ref)
	assert.NotContains(t, raw, dbPass)
	_, list := e.do("GET", "/admin/v1/projects", "", true)
	assert.NotContains(t, list, dbPass)

	status, body = e.do("POST", "/admin/v1/projects/"+ref+"/sql", `{"query":"select current_database() as db"}`, true)
	require.Equal(t, 200, status, body)
	assert.JSONEq(t, `{"command":"SELECT 1","columns":["db"],"rows":[{"db":"`+ext.Name+`"}]}`, body)

	status, body = e.do("DELETE", "/admin/v1/projects/"+ref+"?drop_database=true", "", true)
	assert.Equal(t, 409, status, body, "MadBase never drops a database it did not create")
	status, body = e.do("DELETE", "/admin/v1/projects/"+ref, "", true)
	require.Equal(t, 200, status, body)
	assert.True(t, e.databaseExists(ext.Name))
	assert.NotContains(t, e.logs.String(), dbPass)
}

func TestProjectSQL(t *testing.T) {
	t.Parallel()
	e := newProjectsEnv(t, projects.Options{})
	ref := newRef(t)
	status, body := e.do("POST", "/admin/v1/projects", `{"ref":"`+ref+`"}`, true)
	require.Equal(t, 201, status, body)
	sql := func(req string) (int, string) {
		return e.do("POST", "/admin/v1/projects/"+ref+"/sql", req, true)
	}

	status, body = sql(`{"query":"select 1 as n, 2.5::numeric as x, 'a' as s, null as z, true as b, '{\"k\":[1]}'::jsonb as j"}`)
	require.Equal(t, 200, status, body)
	assert.JSONEq(t, `{"command":"SELECT 1","columns":["n","x","s","z","b","j"],
		"rows":[{"n":1,"x":2.5,"s":"a","z":null,"b":true,"j":{"k":[1]}}]}`, body)

	status, body = sql(`{"query":"create table public.notes (id int primary key, body text); insert into public.notes values (1, 'one'), (2, 'two'); select id, body from public.notes order by id"}`)
	require.Equal(t, 200, status, body)
	assert.JSONEq(t, `{"command":"SELECT 2","columns":["id","body"],"rows":[{"id":1,"body":"one"},{"id":2,"body":"two"}]}`, body)
	status, body = sql(`{"query":"insert into public.notes values (3, 'three')"}`)
	require.Equal(t, 200, status, body)
	assert.JSONEq(t, `{"command":"INSERT 0 1","columns":[],"rows":[]}`, body)

	status, body = sql(`{"query":"select 1; selec 2"}`)
	assert.Equal(t, 400, status, body)
	assert.JSONEq(t, `{"error":"syntax error at or near \"selec\"","code":400,"sqlstate":"42601","position":11}`, body)
	status, body = sql(`{"query":"select * from public.missing"}`)
	assert.Equal(t, 400, status, body)
	assert.Contains(t, body, `"sqlstate":"42P01"`)

	status, body = sql(`{"query":"select pg_sleep(60)","timeout_ms":100}`)
	assert.Equal(t, 400, status, body)
	assert.Contains(t, body, `"sqlstate":"57014"`, "the statement timeout cancels it")
	assert.Contains(t, body, "statement timeout")

	for _, bad := range []string{`{}`, `{"query":"  "}`, `{"query":"select 1","extra":1}`, `not json`, `{"query":"select 1","timeout_ms":-1}`} {
		status, body = sql(bad)
		assert.Equal(t, 400, status, "%s: %s", bad, body)
		assert.Contains(t, body, `"code":400`)
	}
	status, _ = e.do("POST", "/admin/v1/projects/t-nosuchref/sql", `{"query":"select 1"}`, true)
	assert.Equal(t, 404, status)
}

func TestProjectRequestsRefused(t *testing.T) {
	t.Parallel()
	e := newProjectsEnv(t, projects.Options{DefaultRef: "default"})
	ref := newRef(t)
	status, body := e.do("POST", "/admin/v1/projects", `{"ref":"`+ref+`"}`, true)
	require.Equal(t, 201, status, body)

	rows := []struct {
		name, method, path, body string
		noAuth                   bool
		want                     int
		contains                 string
	}{
		{"upper case", "POST", "/admin/v1/projects", `{"ref":"Shop"}`, false, 400, "ref"},
		{"too short", "POST", "/admin/v1/projects", `{"ref":"ab"}`, false, 400, "3 to 40"},
		{"too long", "POST", "/admin/v1/projects", `{"ref":"` + strings.Repeat("a", 41) + `"}`, false, 400, "ref"},
		{"dots", "POST", "/admin/v1/projects", `{"ref":".."}`, false, 400, "ref"},
		{"dot dot in a name", "POST", "/admin/v1/projects", `{"ref":"a..b"}`, false, 400, "ref"},
		{"sql metacharacters", "POST", "/admin/v1/projects", `{"ref":"a\"; drop database x; --"}`, false, 400, "ref"},
		{"quote", "POST", "/admin/v1/projects", `{"ref":"ab'c"}`, false, 400, "ref"},
		{"leading dash", "POST", "/admin/v1/projects", `{"ref":"-abc"}`, false, 400, "ref"},
		{"empty", "POST", "/admin/v1/projects", `{}`, false, 400, "ref"},
		{"control characters in the name", "POST", "/admin/v1/projects", `{"ref":"t-named","name":"a\u0007b"}`, false, 400, "name"},
		{"duplicate", "POST", "/admin/v1/projects", `{"ref":"` + ref + `"}`, false, 409, "already exists"},
		{"the default project", "POST", "/admin/v1/projects", `{"ref":"default"}`, false, 409, "default project"},
		{"unknown field", "POST", "/admin/v1/projects", `{"ref":"abc","color":"red"}`, false, 400, "color"},
		{"bad settings and ref at once", "POST", "/admin/v1/projects", `{"ref":"A","settings":{"DB_MAX_ROWS":"many","NATS_URL":"x"}}`, false, 400, "NATS_URL"},
		{"unreachable database", "POST", "/admin/v1/projects", `{"ref":"t-unreach","database_url":"postgres://u:pw-Hj3@127.0.0.1:1/db?connect_timeout=2"}`, false, 400, "database_url"},
		{"not a database URL", "POST", "/admin/v1/projects", `{"ref":"t-badurl","database_url":"mysql://x"}`, false, 400, "database_url"},
		{"unknown project", "GET", "/admin/v1/projects/t-nosuchref", "", false, 404, "not found"},
		{"bad ref in a path", "GET", "/admin/v1/projects/..%2f..", "", false, 404, "not found"},
		{"empty patch", "PATCH", "/admin/v1/projects/" + ref + "/config", `{}`, false, 400, "no settings"},
		{"patch of an array", "PATCH", "/admin/v1/projects/" + ref + "/config", `[1]`, false, 400, "invalid JSON"},
		{"bad grace", "POST", "/admin/v1/projects/" + ref + "/keys/rotate", `{"grace":"soon"}`, false, 400, "grace"},
		{"grace too long", "POST", "/admin/v1/projects/" + ref + "/keys/rotate", `{"grace":"9000h"}`, false, 400, "grace"},
		{"bad drop flag", "DELETE", "/admin/v1/projects/" + ref + "?drop_database=maybe", "", false, 400, "drop_database"},
		{"create unauthenticated", "POST", "/admin/v1/projects", `{"ref":"t-anon"}`, true, 401, "admin credentials"},
		{"list unauthenticated", "GET", "/admin/v1/projects", "", true, 401, "admin credentials"},
		{"get unauthenticated", "GET", "/admin/v1/projects/" + ref, "", true, 401, "admin credentials"},
		{"patch unauthenticated", "PATCH", "/admin/v1/projects/" + ref + "/config", `{"DB_MAX_ROWS":1}`, true, 401, "admin credentials"},
		{"rotate unauthenticated", "POST", "/admin/v1/projects/" + ref + "/keys/rotate", "", true, 401, "admin credentials"},
		{"sql unauthenticated", "POST", "/admin/v1/projects/" + ref + "/sql", `{"query":"select 1"}`, true, 401, "admin credentials"},
		{"delete unauthenticated", "DELETE", "/admin/v1/projects/" + ref + "?drop_database=true", "", true, 401, "admin credentials"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			status, body := e.do(r.method, r.path, r.body, !r.noAuth)
			assert.Equal(t, r.want, status, body)
			assert.Contains(t, body, r.contains)
			assert.Contains(t, body, `"code":`, "a JSON error")
			assert.NotContains(t, body, "pw-Hj3")
		})
	}
	// Two problems of one create are named together.
	_, body = e.do("POST", "/admin/v1/projects", `{"ref":"A","settings":{"DB_MAX_ROWS":"many","NATS_URL":"x"}}`, true)
	assert.Contains(t, body, "ref")
	assert.Contains(t, body, "NATS_URL")

	// Nothing of the refused requests was made.
	status, body = e.do("GET", "/admin/v1/projects", "", true)
	require.Equal(t, 200, status)
	list := decode[projectsBody](t, body)
	require.Len(t, list.Projects, 1)
	assert.Equal(t, int64(1), list.Projects[0].Revision)
	assert.True(t, e.databaseExists("madbase_"+ref), "an unauthenticated delete dropped nothing")
	assert.NotContains(t, e.logs.String(), "pw-Hj3")
}

func TestProjectsUnavailableWithoutStore(t *testing.T) {
	t.Parallel()
	app := New(Deps{Password: projectsPassword, Log: slog.New(slog.DiscardHandler)})
	req := httptest.NewRequest("GET", "/admin/v1/projects", nil)
	req.Header.Set("Authorization", "Bearer "+projectsPassword)
	res, err := app.Test(req, -1)
	require.NoError(t, err)
	assert.Equal(t, 503, res.StatusCode)
}

// TestProjectConcurrentCreates: of two creations of one ref at once, one
// wins and the other is refused without dropping the winner's database.
func TestProjectConcurrentCreates(t *testing.T) {
	t.Parallel()
	e := newProjectsEnv(t, projects.Options{})
	ref := newRef(t)
	statuses := make(chan int, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _ := e.do("POST", "/admin/v1/projects", `{"ref":"`+ref+`"}`, true)
			statuses <- status
		}()
	}
	wg.Wait()
	close(statuses)
	var got []int
	for s := range statuses {
		got = append(got, s)
	}
	assert.ElementsMatch(t, []int{201, 409}, got, e.logs.String())
	assert.True(t, e.databaseExists("madbase_"+ref), "the loser did not drop the winner's database")
	status, body := e.do("POST", "/admin/v1/projects/"+ref+"/sql", `{"query":"select count(*) as n from madbase_migrations.applied where source = 'probe'"}`, true)
	require.Equal(t, 200, status, body)
	assert.JSONEq(t, `{"command":"SELECT 1","columns":["n"],"rows":[{"n":1}]}`, body)
}
