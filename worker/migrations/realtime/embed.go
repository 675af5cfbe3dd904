// Package realtime holds the SQL of the realtime schema: realtime.messages
// (whose RLS policies authorize private channels), realtime.topic(),
// realtime.send() and the publication supabase_realtime whose tables emit
// postgres_changes.
package realtime

import (
	"embed"

	"github.com/madbase/madbase/shared/db/migrate"
)

//go:embed *.sql
var files embed.FS

// Source is the realtime schema migrations, for migrate.Run and dbtest.New.
var Source = migrate.Source{Name: "realtime", FS: files}
