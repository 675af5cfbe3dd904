package cli

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/db/dbtest"
)

func TestGenTypes(t *testing.T) {
	d := dbtest.NewDB(t)
	ctx := context.Background()
	_, err := d.Pool.Exec(ctx, `create schema app;
		create table public.todos (id serial primary key, task text not null, done boolean not null default false);
		create table app.tags (name text primary key)`)
	require.NoError(t, err)
	t.Setenv("DATABASE_URL", d.URL)
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runGen(ctx, args, &out, &errOut)
		return out.String(), err
	}

	out, err := run("types", "typescript")
	require.NoError(t, err)
	assert.Contains(t, out, "export type Database = {")
	assert.Contains(t, out, "  public: {\n    Tables: {\n      todos: {\n        Row: {\n          done: boolean\n          id: number\n          task: string\n")
	assert.Contains(t, out, "        Insert: {\n          done?: boolean\n          id?: number\n          task: string\n")
	assert.NotContains(t, out, "tags", "only public by default")

	for _, args := range [][]string{
		{"types", "typescript", "--schema", "public", "--schema", "app"},
		{"types", "--lang", "typescript", "--schema", "public,app"},
		{"types", "typescript", "--local", "--schema=public", "--schema=app"},
	} {
		out, err = run(args...)
		require.NoError(t, err, args)
		assert.Contains(t, out, "  app: {\n    Tables: {\n      tags: {", args)
		assert.Contains(t, out, "  public: {", args)
	}

	for _, args := range [][]string{
		{},
		{"schema"},
		{"types", "python"},
		{"types", "typescript", "extra"},
		{"types", "typescript", "--schema", "nope"},
	} {
		_, err = run(args...)
		assert.ErrorIs(t, err, errUsage, args)
	}
	_, err = run("types", "typescript", "--schema", "nope")
	assert.ErrorContains(t, err, `no schema named nope`)
}
