// Package rest holds the SQL of the REST capability: the event triggers that
// tell every worker's schema cache to reload after DDL, as Supabase installs
// for PostgREST, so that a table created in psql or a migration is served
// at once.
package rest

import (
	"embed"

	"github.com/madbase/madbase/shared/db/migrate"
)

//go:embed *.sql
var files embed.FS

// Source is the REST migrations, for migrate.Run and dbtest.New.
var Source = migrate.Source{Name: "rest", FS: files}
