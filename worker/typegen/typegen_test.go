package typegen

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/db/dbtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestGolden renders the fixture schema (tables with foreign keys, views,
// enums, a composite type, a domain, functions, nullable, defaulted,
// generated and identity columns, arrays, json) and compares it with
// testdata/*.ts.golden; regenerate with
// `go test ./worker/typegen -run TestGolden -update` and review the diff.
func TestGolden(t *testing.T) {
	d := dbtest.NewDB(t)
	ctx := context.Background()
	fixture, err := os.ReadFile(filepath.Join("testdata", "fixture.sql"))
	require.NoError(t, err)
	_, err = d.Pool.Exec(ctx, string(fixture))
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, d.URL)
	require.NoError(t, err)
	defer conn.Close(ctx)

	for _, schemas := range [][]string{{"public"}, {"public", "other"}} {
		name := strings.Join(schemas, "_")
		t.Run(name, func(t *testing.T) {
			c, err := Load(ctx, conn, schemas)
			require.NoError(t, err)
			var out bytes.Buffer
			require.NoError(t, Render(&out, c))
			path := filepath.Join("testdata", name+".ts.golden")
			if *update {
				require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "missing golden file: run go test -run TestGolden -update")
			assert.Equal(t, string(want), out.String())
		})
	}
}
