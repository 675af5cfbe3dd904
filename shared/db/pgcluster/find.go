package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoBinaries is returned when no PostgreSQL server installation can be found. Its message
// is written for the person who runs `madbase dev` or `go test` on a bare machine: it says
// what to install and how to point MadBase at an existing server instead.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb and postgres) were not found on this machine. " +
	"MadBase starts its own PostgreSQL from the machine's installation for `madbase dev` and for its tests: " +
	"install PostgreSQL (Debian/Ubuntu: `apt-get install postgresql`; Fedora: `dnf install postgresql-server postgresql-contrib`; " +
	"macOS: `brew install postgresql`), or set DATABASE_URL to use an existing server " +
	"(MADBASE_TEST_DATABASE_URL, a superuser URL, for the tests).")

// Search says where FindBinDir looks for PostgreSQL. It is a value rather than hard-coded
// paths so that tests can prove the "not installed" error on a machine where PostgreSQL is
// installed, and so that packagers can add their own locations.
type Search struct {
	// PGConfig is the pg_config program asked for --bindir; empty skips it.
	PGConfig string
	// Path makes the search look for initdb on $PATH (Homebrew, Fedora, Arch put it there).
	Path bool
	// Globs are patterns for bin directories; of all matches, the highest version wins.
	Globs []string
}

// DefaultSearch is where FindBinDir looks: pg_config first, because it names the
// installation the machine's administrator chose, then $PATH, then the well-known
// per-version directories of the common packagings.
var DefaultSearch = Search{
	PGConfig: "pg_config",
	Path:     true,
	Globs: []string{
		"/usr/lib/postgresql/*/bin",          // Debian, Ubuntu
		"/usr/pgsql-*/bin",                   // PGDG RPMs
		"/opt/homebrew/opt/postgresql@*/bin", // Homebrew on Apple silicon
		"/usr/local/opt/postgresql@*/bin",    // Homebrew on Intel
		"/usr/local/pgsql/bin",               // built from source
		"/Applications/Postgres.app/Contents/Versions/*/bin",
	},
}

// FindBinDir returns the directory holding initdb and postgres, found through DefaultSearch.
func FindBinDir() (string, error) { return DefaultSearch.Find() }

// Find returns the first directory holding initdb and postgres, or an error wrapping
// ErrNoBinaries.
func (s Search) Find() (string, error) {
	if s.PGConfig != "" {
		if dir := pgConfigBinDir(s.PGConfig); dir != "" && isBinDir(dir) {
			return dir, nil
		}
	}
	if s.Path {
		if p, err := exec.LookPath("initdb"); err == nil {
			if dir := filepath.Dir(p); isBinDir(dir) {
				return dir, nil
			}
		}
	}
	var candidates []string
	for _, g := range s.Globs {
		matches, _ := filepath.Glob(g)
		for _, m := range matches {
			if isBinDir(m) {
				candidates = append(candidates, m)
			}
		}
	}
	if len(candidates) > 0 {
		slices.SortStableFunc(candidates, func(a, b string) int {
			return slices.Compare(versionOf(b), versionOf(a)) // highest first
		})
		return candidates[0], nil
	}
	var looked []string
	if s.PGConfig != "" {
		looked = append(looked, s.PGConfig+" --bindir")
	}
	if s.Path {
		looked = append(looked, "initdb on $PATH")
	}
	looked = append(looked, s.Globs...)
	return "", fmt.Errorf("%w Looked in: %s.", ErrNoBinaries, strings.Join(looked, ", "))
}

func pgConfigBinDir(pgConfig string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pgConfig, "--bindir").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// isBinDir reports whether dir holds the two programs Start runs.
func isBinDir(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

var digitsRE = regexp.MustCompile(`\d+`)

// versionOf reads the numbers in a path ("/usr/lib/postgresql/9.6/bin" → [9 6]) so that
// 15 sorts above 9.6, which a string comparison gets wrong.
func versionOf(path string) []int {
	var v []int
	for _, d := range digitsRE.FindAllString(path, -1) {
		n, _ := strconv.Atoi(d)
		v = append(v, n)
	}
	return v
}
