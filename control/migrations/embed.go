// Package migrations holds control's own SQL: the tables in the platform
// database that only control reads and writes (projects). It applies to the
// platform database after shared/db/platform, never to a project's database.
package migrations

import (
	"embed"

	"github.com/madbase/madbase/shared/db/migrate"
)

//go:embed *.sql
var files embed.FS

// Source is control's migrations, for migrate.Run and dbtest.New.
var Source = migrate.Source{Name: "control", FS: files}
