// Package platform holds the platform's own SQL: the roles every request runs as, the
// extensions apps expect, the default grants that let row-level security do the filtering,
// and the auth.uid()/auth.role()/auth.jwt() functions that policies call. Control applies
// it first; the worker's schemas (auth users, storage) build on it.
package platform

import (
	"embed"

	"github.com/madbase/madbase/shared/db/migrate"
)

//go:embed *.sql
var files embed.FS

// Source is the platform migrations, for migrate.Run and dbtest.New.
var Source = migrate.Source{Name: "platform", FS: files}
