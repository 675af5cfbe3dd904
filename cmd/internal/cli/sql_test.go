package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSQLCommand(t *testing.T) {
	d := dbtest.NewDB(t)
	t.Setenv("DATABASE_URL", d.URL)
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runSQL(ctx, args, &out, &errOut)
		return out.String(), err
	}

	out, err := run("create table t (id int, name text, ok bool, doc jsonb); insert into t values (1, 'ab', true, '{\"k\": 1}'), (20, null, false, null)")
	require.NoError(t, err)
	assert.Equal(t, "CREATE TABLE\nINSERT 0 2\n", out)

	out, err = run("select", "id, name, ok from t order by id")
	require.NoError(t, err)
	assert.Equal(t, ""+
		" id | name | ok\n"+
		"----+------+----\n"+
		"  1 | ab   | t\n"+
		" 20 |      | f\n"+
		"(2 rows)\n", out)

	out, err = run("--json", "select id, name, ok, doc from t order by id")
	require.NoError(t, err)
	assert.JSONEq(t, `[{"id":1,"name":"ab","ok":true,"doc":{"k":1}},{"id":20,"name":null,"ok":false,"doc":null}]`, out)

	file := filepath.Join(t.TempDir(), "q.sql")
	require.NoError(t, os.WriteFile(file, []byte("select 1 as one;\n\nselect nope from t;\n"), 0o600))
	out, err = run("-f", file)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "q.sql:3: ERROR: column \"nope\" does not exist")
	assert.Contains(t, out, "(1 row)", "what ran before the error is shown")

	_, err = run("-f", file, "select 1")
	assert.ErrorIs(t, err, errUsage)

	// SQL piped on stdin.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdin := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = stdin }()
	_, err = w.WriteString("select count(*) as n from t")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	out, err = run()
	require.NoError(t, err)
	assert.Equal(t, " n\n---\n 2\n(1 row)\n", out)
}

// TestSQLFindsTheDevDatabase: without DATABASE_URL, madbase sql needs a
// running madbase dev and says so when there is none.
func TestSQLWithoutADatabase(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("MADBASE_DATA_DIR", t.TempDir())
	var out, errOut bytes.Buffer
	err := runSQL(context.Background(), []string{"select 1"}, &out, &errOut)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no madbase dev is running")
	assert.Contains(t, err.Error(), "DATABASE_URL")
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"dev", "--help"}, {"sql", "-h"}, {"migrate", "--help"}, {"db", "--help"},
		{"migration", "--help"}, {"db", "reset", "--help"}, {"migration", "new", "-h"}, {"--help"},
		{"projects", "--help"}, {"projects", "show", "-h"}, {"projects", "create", "--help"}} {
		var out, errOut bytes.Buffer
		assert.Equal(t, 0, Main(args, &out, &errOut), "%v", args)
		assert.Contains(t, strings.ToLower(errOut.String()), "usage", "%v prints its usage", args)
	}
	var out, errOut bytes.Buffer
	assert.Equal(t, 0, Main([]string{"--version"}, &out, &errOut))
	assert.Equal(t, "madbase "+Version+"\n", out.String())
	assert.Equal(t, 2, Main([]string{"dev", "--no-such-flag"}, &out, &errOut))
	assert.Equal(t, 2, Main([]string{"dev", "--db-port", "-1"}, &out, &errOut))
}
