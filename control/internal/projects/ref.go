package projects

import (
	"fmt"
	"regexp"
)

// Ref length bounds: three characters at least so a ref reads as a name, 40 at
// most so "madbase_<ref>" stays a PostgreSQL identifier and <ref> a DNS label.
const (
	MinRefLen = 3
	MaxRefLen = 40
)

// refRE is a ref: lower-case letters, digits and '-', starting and ending
// with a letter or digit (it is a DNS label).
var refRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*[a-z0-9]$`)

// CheckRef reports why ref cannot name a project, or nil. The message quotes
// the ref escaped, so control characters never reach a log or a terminal raw.
func CheckRef(ref string) error {
	if len(ref) < MinRefLen || len(ref) > MaxRefLen || !refRE.MatchString(ref) {
		return fmt.Errorf("ref %q: must be %d to %d lower-case letters, digits and '-', starting and ending with a letter or digit",
			ref, MinRefLen, MaxRefLen)
	}
	return nil
}

// databaseName is the database control creates for a project on the
// platform's server.
func databaseName(ref string) string {
	return "madbase_" + ref
}
