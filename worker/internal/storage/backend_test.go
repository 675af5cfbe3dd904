package storage

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failingReader yields n bytes, then an error, as a cut upload does.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

func TestBackends(t *testing.T) {
	t.Parallel()
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var be Backend
			if kind == "s3" {
				be = s3Backend(t)
			} else {
				be = localBackend(t)
			}
			ctx := testCtx(t)
			// Larger than one S3 part, so the multipart path runs, and than
			// two of the local backend's writeback chunks, so it starts the
			// disk write of some before the end.
			data := make([]byte, max(s3PartSize, 2*writebackChunk)+12345)
			_, _ = rand.Read(data)
			n, err := be.Put(ctx, "objects/ab/abc", bytes.NewReader(data), "application/octet-stream")
			require.NoError(t, err)
			assert.Equal(t, int64(len(data)), n)

			for _, tc := range []struct {
				off, length int64
				want        []byte
			}{
				{0, -1, data},
				{10, 20, data[10:30]},
				{int64(len(data)) - 5, -1, data[len(data)-5:]},
				{5, 0, []byte{}},
			} {
				rc, err := be.Get(ctx, "objects/ab/abc", tc.off, tc.length)
				require.NoError(t, err)
				got, err := io.ReadAll(rc)
				require.NoError(t, err)
				_ = rc.Close()
				assert.Equal(t, tc.want, got, "off %d len %d", tc.off, tc.length)
			}

			require.NoError(t, be.Copy(ctx, "objects/ab/abc", "objects/cd/cde"))
			rc, err := be.Get(ctx, "objects/cd/cde", 0, -1)
			require.NoError(t, err)
			got, _ := io.ReadAll(rc)
			_ = rc.Close()
			assert.Equal(t, data, got)

			// A Put whose reader fails leaves nothing.
			_, err = be.Put(ctx, "objects/ef/cut", &failingReader{n: s3PartSize + 10, err: io.ErrUnexpectedEOF}, "")
			require.Error(t, err)
			_, err = be.Get(ctx, "objects/ef/cut", 0, -1)
			assert.ErrorIs(t, err, ErrNotExist)

			var keys []string
			require.NoError(t, be.Walk(ctx, func(k string, _ time.Time) error { keys = append(keys, k); return nil }))
			assert.ElementsMatch(t, []string{"objects/ab/abc", "objects/cd/cde"}, keys)

			require.NoError(t, be.Delete(ctx, "objects/ab/abc"))
			require.NoError(t, be.Delete(ctx, "objects/ab/abc"), "deleting twice is fine")
			_, err = be.Get(ctx, "objects/ab/abc", 0, -1)
			assert.True(t, errors.Is(err, ErrNotExist))
		})
	}
}

// TestLocalRefusesEscapingKeys: no key reaches a file outside the folder,
// neither to write, to read, to copy nor to delete.
func TestLocalRefusesEscapingKeys(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	l, err := NewLocal(filepath.Join(parent, "root"))
	require.NoError(t, err)
	ctx := testCtx(t)
	// A file beside the root that an escaping key would reach.
	victim := filepath.Join(parent, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("keep"), 0o600))
	_, err = l.Put(ctx, "objects/ok", bytes.NewReader([]byte("inside")), "")
	require.NoError(t, err)

	for _, k := range []string{"../victim", "../new", "objects/../../new", "..", "/" + filepath.ToSlash(filepath.Join(parent, "new")),
		`..\new`, `objects\..\..\new`, ""} {
		_, err := l.Put(ctx, k, bytes.NewReader([]byte("x")), "")
		assert.ErrorIs(t, err, errBadKey, "put %q", k)
		_, err = l.Get(ctx, k, 0, -1)
		assert.ErrorIs(t, err, errBadKey, "get %q", k)
		assert.ErrorIs(t, l.Copy(ctx, "objects/ok", k), errBadKey, "copy to %q", k)
		assert.ErrorIs(t, l.Delete(ctx, k), errBadKey, "delete %q", k)
	}

	// Outside the root there is still only the victim, unchanged.
	entries, err := os.ReadDir(parent)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"root", "victim"}, names)
	b, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "keep", string(b))
	// Inside, only the one good object (and no temporary file).
	var keys []string
	require.NoError(t, l.Walk(ctx, func(k string, _ time.Time) error { keys = append(keys, k); return nil }))
	assert.Equal(t, []string{"objects/ok"}, keys)
}
