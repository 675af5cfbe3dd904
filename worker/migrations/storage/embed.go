// Package storage holds the SQL of the storage schema: buckets, objects and
// the helper functions Supabase storage policies call (storage.foldername(),
// storage.filename(), storage.extension()), with supabase/storage's table and
// column names so policies written for Supabase work unchanged. Row-level
// security is on for both tables; the API roles get table privileges and the
// policies an app adds decide which rows each sees (service_role bypasses).
// owner/owner_id come from the JWT sub, with no foreign key to auth.users.
package storage

import (
	"embed"

	"github.com/madbase/madbase/shared/db/migrate"
)

//go:embed *.sql
var files embed.FS

// Source is the storage schema migrations, for migrate.Run and dbtest.New.
var Source = migrate.Source{Name: "storage", FS: files}
