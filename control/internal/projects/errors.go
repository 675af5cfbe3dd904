package projects

import (
	"errors"
	"strings"
)

// Errors the store returns; the admin API maps them to statuses.
var (
	// ErrNotFound: no project has the ref.
	ErrNotFound = errors.New("project not found")
	// ErrExists: a project (or a database control would create) already has
	// the ref.
	ErrExists = errors.New("project already exists")
)

// InvalidError lists every problem of a request, so a caller fixes them all
// at once; nothing was changed.
type InvalidError struct {
	Problems []string
}

func (e *InvalidError) Error() string {
	return strings.Join(e.Problems, "; ")
}

// invalid returns an *InvalidError for problems, or nil when there are none.
func invalid(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return &InvalidError{Problems: problems}
}

// ConflictError is a refusal because of the project's state (the default
// project's ref, an external database asked to be dropped).
type ConflictError struct{ Message string }

func (e *ConflictError) Error() string { return e.Message }

// DatabaseError is a project database control could not reach or prepare.
// Message is safe to show (no URL, no password); Cause is for the logs.
type DatabaseError struct {
	Message string
	Cause   error
}

func (e *DatabaseError) Error() string { return e.Message + ": " + e.Cause.Error() }
func (e *DatabaseError) Unwrap() error { return e.Cause }
