// Package migrations lists the SQL of the worker's capabilities, each in its
// own subpackage (auth/, storage/, realtime/) with an embed.go exporting a
// migrate.Source. They apply after the platform's (shared/db/platform), in
// the order All gives; control runs them at start and `madbase migrate`
// alone. Tests build their template database from platform.Source plus All.
package migrations

import (
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/worker/migrations/auth"
	"github.com/madbase/madbase/worker/migrations/realtime"
	"github.com/madbase/madbase/worker/migrations/rest"
	"github.com/madbase/madbase/worker/migrations/storage"
)

// All returns the capabilities' migration sources in the order they apply.
// A capability joins with one line here.
func All() []migrate.Source {
	return []migrate.Source{
		auth.Source,
		storage.Source,
		rest.Source,
		realtime.Source,
	}
}
