package storage

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProjectPrefix: a created project's bytes live under its prefix of a
// backend it shares with the default project; each one's cleaner deletes
// only its own orphans.
func TestProjectPrefix(t *testing.T) {
	t.Parallel()
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var shared Backend
			if kind == "s3" {
				shared = s3Backend(t)
			} else {
				shared = localBackend(t)
			}
			def := newEnvWith(t, shared)
			proj := newEnvWith(t, WithPrefix(shared, ProjectPrefix("alpha")))
			proj.createBucket(t, "b", false, nil)
			proj.ok(t, apitest.Request{Method: "POST", URL: "/object/b/live.txt", Headers: as(proj.Service), Body: []byte("live")})
			_, err := proj.backend.Put(testCtx(t), blobKey(uuid.NewString()), strings.NewReader("orphan"), "")
			require.NoError(t, err)

			var keys []string
			require.NoError(t, shared.Walk(testCtx(t), func(k string, _ time.Time) error {
				keys = append(keys, k)
				return nil
			}))
			require.Len(t, keys, 2)
			for _, k := range keys {
				assert.True(t, strings.HasPrefix(k, "projects/alpha/objects/"), k)
			}

			n, err := def.h.CleanOrphans(testCtx(t), time.Now().Add(time.Minute))
			require.NoError(t, err)
			assert.Equal(t, 0, n, "the default project's cleaner leaves a project's bytes alone")
			n, err = proj.h.CleanOrphans(testCtx(t), time.Now().Add(time.Minute))
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			assert.Equal(t, "live", string(proj.ok(t, apitest.Request{Method: "GET", URL: "/object/b/live.txt", Headers: as(proj.Service)}).Body))
		})
	}
}
