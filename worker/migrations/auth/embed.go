// Package auth holds the SQL of the auth schema: users, identities, sessions,
// refresh tokens and what GoTrue keeps beside them, with GoTrue's table and
// column names so that SQL written for Supabase (foreign keys to
// auth.users(id), triggers reading raw_user_meta_data) works unchanged. The
// auth.uid()/role()/jwt()/email() helpers come from the platform migrations.
package auth

import (
	"embed"

	"github.com/madbase/madbase/shared/db/migrate"
)

//go:embed *.sql
var files embed.FS

// Source is the auth schema migrations, for migrate.Run and dbtest.New.
var Source = migrate.Source{Name: "auth", FS: files}
