package storage

import (
	"context"
	"io"
	"strings"
	"time"
)

// ProjectPrefix is where a created project's bytes live in the backend it
// shares with the others: "projects/<ref>/" before every key. The default
// project keeps the bare keys, and its cleaner leaves keys it does not know
// alone, so it never takes another project's bytes for orphans.
func ProjectPrefix(ref string) string { return "projects/" + ref + "/" }

// WithPrefix returns a Backend that stores every key of b under prefix, and
// walks only the keys under it (without the prefix).
func WithPrefix(b Backend, prefix string) Backend {
	if b == nil || prefix == "" {
		return b
	}
	return prefixed{b: b, prefix: prefix}
}

type prefixed struct {
	b      Backend
	prefix string
}

func (p prefixed) Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error) {
	return p.b.Put(ctx, p.prefix+key, r, contentType)
}

func (p prefixed) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	return p.b.Get(ctx, p.prefix+key, off, length)
}

func (p prefixed) Copy(ctx context.Context, src, dst string) error {
	return p.b.Copy(ctx, p.prefix+src, p.prefix+dst)
}

func (p prefixed) Delete(ctx context.Context, key string) error {
	return p.b.Delete(ctx, p.prefix+key)
}

func (p prefixed) Walk(ctx context.Context, fn func(key string, mod time.Time) error) error {
	return p.b.Walk(ctx, func(key string, mod time.Time) error {
		if rest, ok := strings.CutPrefix(key, p.prefix); ok {
			return fn(rest, mod)
		}
		return nil
	})
}

// unprefixed returns the backend under a WithPrefix.
func unprefixed(b Backend) Backend {
	if p, ok := b.(prefixed); ok {
		return p.b
	}
	return b
}
