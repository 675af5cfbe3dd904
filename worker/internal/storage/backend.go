package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/madbase/madbase/shared/config"
)

// Backend keeps object bytes. Keys are opaque to it: the handler stores each
// written version of an object under its own key (see blobKey), so a write
// never overwrites bytes a row points to, and moving an object only changes
// its row.
type Backend interface {
	// Put stores r under key and returns the number of bytes written. The
	// bytes become visible under key only when all of r was read without
	// error: a failed or cancelled Put leaves nothing behind.
	Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error)
	// Get reads length bytes from offset off (length < 0: to the end).
	// A missing key is ErrNotExist.
	Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Copy duplicates src's bytes under dst.
	Copy(ctx context.Context, src, dst string) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Walk calls fn for every stored key with its modification time.
	Walk(ctx context.Context, fn func(key string, mod time.Time) error) error
}

// ErrNotExist is what Backend.Get returns for a missing key.
var ErrNotExist = errors.New("storage: object bytes not found")

// NewBackend builds the backend the configuration names.
func NewBackend(cfg config.Storage) (Backend, error) {
	switch cfg.Backend {
	case "", "local":
		return NewLocal(cfg.Dir)
	case "s3":
		return NewS3(cfg)
	}
	return nil, fmt.Errorf("storage: unknown backend %q", cfg.Backend)
}

// blobKey is where the bytes of one version of an object live. Versions are
// fresh UUIDs, so keys never collide and never hold user input.
func blobKey(version string) string {
	if len(version) < 2 {
		return "objects/_/" + version
	}
	return "objects/" + version[:2] + "/" + version
}

// versionOf is the inverse of blobKey, for the orphan cleaner.
func versionOf(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[i+1:]
		}
	}
	return key
}
