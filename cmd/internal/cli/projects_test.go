package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/control"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/logging/logtest"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startControl runs a real control with the projects API (a dbtest
// platform database, embedded NATS, an encryption key) and points the
// commands at it through CONTROL_UPSTREAM_URL and ADMIN_PASSWORD.
func startControl(t *testing.T) (platformURL string) {
	t.Helper()
	ns := bustest.RunServer(t)
	d := dbtest.NewDB(t)
	var cfg config.Control
	require.NoError(t, config.Load(&cfg, config.Map(map[string]string{
		"NATS_URL": ns.URL(), "ADMIN_PASSWORD": "cli-test-password", "DATABASE_URL": d.URL,
		"MADBASE_ENCRYPTION_KEY": secretbox.EncodeKey(secretbox.NewKey()),
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &logtest.Buffer{}
	go func() {
		done <- control.Run(ctx, cfg, control.Options{Listener: ln, Migrations: []migrate.Source{platform.Source},
			LogOut: logs, Dev: true, Env: config.Map(nil), Ready: func(u string) { ready <- u }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("control did not stop")
		}
	})
	select {
	case u := <-ready:
		t.Setenv("CONTROL_UPSTREAM_URL", u)
	case err := <-done:
		t.Fatalf("control stopped: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("control not ready\n%s", logs)
	}
	t.Setenv("ADMIN_PASSWORD", "cli-test-password")
	return d.URL
}

func TestProjectsCommands(t *testing.T) {
	startControl(t)
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runProjects(ctx, args, &out, &errOut)
		return out.String(), err
	}
	ref := fmt.Sprintf("cli-%d", time.Now().UnixNano()%1_000_000_000)

	out, err := run("create", "--ref", ref, "--name", "Shop", "--set", "DB_MAX_ROWS=50", "--set", "AUTH_DISABLE_SIGNUP=true")
	require.NoError(t, err)
	assert.Contains(t, out, "Created project "+ref+" (database madbase_"+ref+", created)")
	assert.Regexp(t, `anon key +eyJ`, out)
	assert.Regexp(t, `secret key +sb_secret_`, out)
	assert.Contains(t, out, "    DB_MAX_ROWS=50\n")

	_, err = run("create", "--ref", ref)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "control refused (409): a project with this ref already exists")

	out, err = run("list")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^REF +NAME +DATABASE`, out)
	assert.Regexp(t, `(?m)^`+ref+` +Shop +madbase_`+ref+` \(created\) +2 +1 `, out)
	assert.NotContains(t, out, "eyJ", "no keys in the list")

	out, err = run("list", "--json")
	require.NoError(t, err)
	var list struct {
		Projects []projectView `json:"projects"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list.Projects, 1)
	assert.Equal(t, ref, list.Projects[0].Ref)

	out, err = run("show", ref, "--json")
	require.NoError(t, err)
	var shown projectView
	require.NoError(t, json.Unmarshal([]byte(out), &shown))
	require.NotNil(t, shown.Keys)
	assert.NotEmpty(t, shown.Keys.Anon)
	out, err = run("show", ref)
	require.NoError(t, err)
	assert.Contains(t, out, "anon key          "+shown.Keys.Anon+"\n")

	// Every problem is named, one a line; nothing changes.
	_, err = run("config", ref, "NO_SUCH_VARIABLE=1", "JWT_SECRET=x")
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "control refused (400):\n  - ")
	for _, name := range []string{"NO_SUCH_VARIABLE", "JWT_SECRET"} {
		assert.Regexp(t, `\n  - "?`+name+`\b`, msg)
	}
	_, err = run("config", ref, "DB_MAX_ROWS=lots")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "control refused (400): DB_MAX_ROWS")
	out, err = run("config", ref, "DB_MAX_ROWS=", "DB_SCHEMAS=public,api", "--json")
	require.NoError(t, err)
	var patched projectView
	require.NoError(t, json.Unmarshal([]byte(out), &patched))
	assert.Equal(t, map[string]string{"AUTH_DISABLE_SIGNUP": "true", "DB_SCHEMAS": "public,api"}, patched.Settings)
	assert.EqualValues(t, 2, patched.Revision)
	_, err = run("config", ref, "novalue")
	assert.ErrorIs(t, err, errUsage)

	out, err = run("rotate-keys", ref, "--grace", "1h")
	require.NoError(t, err)
	assert.Contains(t, out, "Rotated the keys of project "+ref)
	assert.Contains(t, out, "The previous keys work until")
	assert.Contains(t, out, "\n    anon key          "+shown.Keys.Anon+"\n", "the old keys, under the new")
	assert.NotContains(t, out, "\n  anon key          "+shown.Keys.Anon+"\n", "new keys")
	_, err = run("rotate-keys", ref, "--grace", "soon")
	assert.ErrorIs(t, err, errUsage)

	// madbase sql --project prints what madbase sql prints.
	sqlRun := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runSQL(ctx, append([]string{"--project", ref}, args...), &out, &errOut)
		return out.String(), err
	}
	out, err = sqlRun("create table t (id int, name text, ok bool, doc jsonb); insert into t values (1, 'ab', true, '{\"k\": 1}'), (20, null, false, null)")
	require.NoError(t, err)
	assert.Equal(t, "INSERT 0 2\n", out)
	out, err = sqlRun("select", "id, name, ok from t order by id")
	require.NoError(t, err)
	assert.Equal(t, ""+
		" id | name | ok\n"+
		"----+------+----\n"+
		"  1 | ab   | t\n"+
		" 20 |      | f\n"+
		"(2 rows)\n", out)
	out, err = sqlRun("--json", "select id, name, ok, doc from t order by id")
	require.NoError(t, err)
	assert.JSONEq(t, `[{"id":1,"name":"ab","ok":true,"doc":{"k":1}},{"id":20,"name":null,"ok":false,"doc":null}]`, out)
	_, err = sqlRun("selec 1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `ERROR: syntax error at or near "selec" (SQLSTATE 42601)`)
	file := filepath.Join(t.TempDir(), "q.sql")
	require.NoError(t, os.WriteFile(file, []byte("select 1 as one;\n\nselect nope from t;\n"), 0o600))
	_, err = sqlRun("-f", file)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "q.sql:3: ERROR: column \"nope\" does not exist")
	var errOut bytes.Buffer
	err = runSQL(ctx, []string{"--project", ref, "--db-url", "postgres://x@y/z", "select 1"}, &bytes.Buffer{}, &errOut)
	assert.ErrorIs(t, err, errUsage)

	// delete asks first; a wrong answer deletes nothing.
	stdin = strings.NewReader("no\n")
	defer func() { stdin = os.Stdin }()
	_, err = run("delete", ref, "--drop-database")
	assert.ErrorIs(t, err, errUsage)
	_, err = run("show", ref)
	require.NoError(t, err, "still there")
	stdin = strings.NewReader(ref + "\n")
	out, err = run("delete", ref, "--drop-database")
	require.NoError(t, err)
	assert.Equal(t, "Deleted project "+ref+" and dropped its database madbase_"+ref+".\n", out)

	_, err = run("show", ref)
	require.Error(t, err)
	assert.Equal(t, "control refused (404): project not found", err.Error())
	_, err = run("delete", ref, "--yes", "--json")
	assert.EqualError(t, err, "control refused (404): project not found")
	_, err = run("frobnicate")
	assert.ErrorIs(t, err, errUsage)

	t.Setenv("ADMIN_PASSWORD", "wrong")
	_, err = run("list")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "control refused (401)")
	assert.Contains(t, err.Error(), "ADMIN_PASSWORD")
}

// TestProjectsExternalDatabase: --database-url keeps the database on
// delete, and --yes skips the question.
func TestProjectsExternalDatabase(t *testing.T) {
	startControl(t)
	other := dbtest.NewDB(t)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	require.NoError(t, runProjects(ctx, []string{"create", "--ref", "ext", "--database-url", other.URL, "--json"}, &out, &errOut))
	var p projectView
	require.NoError(t, json.Unmarshal(out.Bytes(), &p))
	assert.Equal(t, "external", p.Database.Mode)

	out.Reset()
	require.NoError(t, runSQL(ctx, []string{"--project", "ext", "create table made_here (v int)"}, &out, &errOut))
	conn, err := pgx.Connect(ctx, other.URL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, `select count(*) from made_here`).Scan(&n), "the query ran on the project's database")

	out.Reset()
	err = runProjects(ctx, []string{"delete", "ext", "--drop-database", "--yes"}, &out, &errOut)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "control refused (409)")
	out.Reset()
	require.NoError(t, runProjects(ctx, []string{"delete", "--yes", "ext"}, &out, &errOut))
	assert.Contains(t, out.String(), "Deleted project ext; its database")
	require.NoError(t, conn.Ping(ctx), "the external database stays")
}

func TestNewEncryptionKey(t *testing.T) {
	var out, errOut bytes.Buffer
	require.NoError(t, runKeys(context.Background(), []string{"--new-encryption-key"}, &out, &errOut))
	key, err := secretbox.ParseKey(strings.TrimSpace(out.String()))
	require.NoError(t, err)
	assert.Len(t, key, 32)
	var again bytes.Buffer
	require.NoError(t, runKeys(context.Background(), []string{"--new-encryption-key"}, &again, &errOut))
	assert.NotEqual(t, out.String(), again.String())
}
