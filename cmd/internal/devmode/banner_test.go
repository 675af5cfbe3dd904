package devmode

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBannerDatabase: the banner names the database, with where its files
// really are when that is not the data folder (root, and a data folder the
// postgres user cannot reach), and never a DATABASE_URL's password.
func TestBannerDatabase(t *testing.T) {
	for _, tc := range []struct {
		name         string
		b            banner
		want, absent []string
	}{
		{"own cluster", banner{apiURL: "http://127.0.0.1:8000", dataDir: "/home/me/app/.madbase", dbURL: "postgres://postgres:pw@127.0.0.1:54329/postgres?sslmode=disable",
			db: devDB{Files: "/home/me/app/.madbase/postgres", Port: 54329}},
			[]string{"\n  Database          postgres://postgres:pw@127.0.0.1:54329/postgres?sslmode=disable\n",
				"\n  Dashboard         http://127.0.0.1:8000/dashboard/  (sign in with the admin password)\n"},
			[]string{"Database files", "was taken"}},
		{"port taken", banner{dataDir: "/d", dbURL: "postgres://postgres:pw@127.0.0.1:40000/postgres",
			db: devDB{Files: "/d/postgres", Port: 40000, PortTaken: 54329}},
			[]string{"Database          postgres://postgres:pw@127.0.0.1:40000/postgres  (DEV_DB_PORT 54329 was taken)\n"}, nil},
		{"root fallback", banner{dataDir: "/root/app/.madbase", dbURL: "postgres://postgres:pw@127.0.0.1:54329/postgres",
			db: devDB{Files: "/var/lib/postgresql/madbase/app-1234", Port: 54329}},
			[]string{"\n  Database files    /var/lib/postgresql/madbase/app-1234  (out of the data folder"}, nil},
		{"DATABASE_URL", banner{dataDir: "/d", dbURL: "postgres://app:secret@db.example:5432/app"},
			[]string{"Database          postgres://app:xxxxx@db.example:5432/app  (DATABASE_URL)\n"}, []string{"secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			printBanner(&out, tc.b)
			for _, w := range tc.want {
				assert.Contains(t, out.String(), w)
			}
			for _, a := range tc.absent {
				assert.NotContains(t, out.String(), a)
			}
		})
	}
}
