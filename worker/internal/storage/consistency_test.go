package storage

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newDialableEnv is newEnv served on a listener whose address the test
// knows, for requests written by hand on a raw connection (apitest's
// NewListener keeps its address to itself).
func newDialableEnv(t *testing.T, kind string) (e *env, addr string) {
	t.Helper()
	be := Backend(localBackend(t))
	if kind == "s3" {
		be = s3Backend(t)
	}
	e, a := newUnserved(t, be)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- a.Fiber.Listener(ln) }()
	t.Cleanup(func() {
		assert.NoError(t, a.Fiber.ShutdownWithTimeout(5*time.Second))
		if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("serving: %v", err)
		}
	})
	e.Env = apitest.NewURL(t, "http://"+ln.Addr().String(), testSecret)
	e.Prefix = "/storage/v1"
	return e, ln.Addr().String()
}

// TestCutUpload: a client that goes away mid-body leaves no row and no
// bytes, on both backends, with a declared length and chunked.
func TestCutUpload(t *testing.T) {
	t.Parallel()
	for _, kind := range backends {
		for _, mode := range []string{"length", "chunked", "multipart"} {
			t.Run(kind+" "+mode, func(t *testing.T) {
				t.Parallel()
				e, addr := newDialableEnv(t, kind)
				e.createBucket(t, "b", false, nil)
				conn, err := net.Dial("tcp", addr)
				require.NoError(t, err)
				head := "POST /storage/v1/object/b/cut.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + e.Service + "\r\n"
				part := bytes.Repeat([]byte("x"), 9<<20)
				switch mode {
				case "chunked":
					head += "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
					_, err = fmt.Fprintf(conn, "%s%x\r\n", head, 20<<20)
				case "length":
					head += "Content-Type: application/octet-stream\r\nContent-Length: 20971520\r\n\r\n"
					_, err = conn.Write([]byte(head))
				case "multipart":
					head += "Content-Type: multipart/form-data; boundary=BB\r\nContent-Length: 20971520\r\n\r\n" +
						"--BB\r\nContent-Disposition: form-data; name=\"\"; filename=\"blob\"\r\nContent-Type: image/png\r\n\r\n"
					_, err = conn.Write([]byte(head))
				}
				require.NoError(t, err)
				_, err = conn.Write(part)
				require.NoError(t, err)
				// The handler is streaming (the temp file or the multipart
				// upload exists) when the connection drops.
				if kind == "local" {
					eventually(t, func() bool { return e.blobCount(t) > 0 }, "upload never started")
				}
				require.NoError(t, conn.Close())
				eventually(t, func() bool { return e.blobCount(t) == 0 }, "partial bytes left behind")
				assert.Equal(t, 0, e.rowCount(t))
				// The server still works.
				e.serviceOK(t, "POST", "/object/b/after.txt", []byte("ok"))
			})
		}
	}
}

// TestBackendFailure: when the backend fails the client gets a 500 in the
// storage shape and no row is written.
func TestBackendFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there any more
	dead, err := NewS3(config.Storage{S3Endpoint: "http://" + addr, S3Bucket: "madbase", S3Region: "us-east-1", S3AccessKey: "k", S3SecretKey: "s"})
	require.NoError(t, err)
	e := newEnvWith(t, dead)
	e.createBucket(t, "b", false, nil)
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "upload", Method: "POST", URL: "/object/b/x.txt", Headers: as(e.Service), Body: []byte("data"),
			WantStatus: 500, WantFields: map[string]any{"code": codeInternal},
			WantNotContains: []string{addr}, // no internal detail in the body
			After:           func(t *testing.T, _ *apitest.Env, _ *apitest.Response) { assert.Equal(t, 0, e.rowCount(t)) }},
	})
}

// TestRowFailureRemovesBytes: when the row cannot be written after the
// bytes were stored, the bytes are deleted; an upsert that fails keeps the
// old object whole.
func TestRowFailureRemovesBytes(t *testing.T) {
	t.Parallel()
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind)
			e.createBucket(t, "b", false, nil)
			e.serviceOK(t, "POST", "/object/b/keep.txt", []byte("old"))
			// Fails the real write only (the permission check writes an
			// empty eTag).
			_, err := e.pool.Exec(testCtx(t), `create function public.boom() returns trigger language plpgsql as $$
begin if new.metadata->>'eTag' <> '' and new.metadata->>'size' = '3' then raise exception 'boom'; end if; return new; end $$;
create trigger boom before insert or update on storage.objects for each row execute function public.boom();`)
			require.NoError(t, err)
			apitest.Run(t, e.Env, []apitest.Scenario{
				{Name: "a new object", Method: "POST", URL: "/object/b/new.txt", Headers: as(e.Service), Body: []byte("new"), WantStatus: 500},
				{Name: "an upsert", Method: "PUT", URL: "/object/b/keep.txt", Headers: as(e.Service), Body: []byte("bad"), WantStatus: 500},
			})
			assert.Equal(t, 1, e.rowCount(t))
			assert.Equal(t, 1, e.blobCount(t))
			assert.Equal(t, "old", e.serviceOK(t, "GET", "/object/b/keep.txt", nil).String())
		})
	}
}

// TestCleaner: bytes no row points to (a crash between writing bytes and
// the row) are deleted once old enough; live objects are kept.
func TestCleaner(t *testing.T) {
	t.Parallel()
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind)
			e.createBucket(t, "b", false, nil)
			e.serviceOK(t, "POST", "/object/b/live.txt", []byte("live"))
			_, err := e.backend.Put(testCtx(t), blobKey(uuid.NewString()), bytes.NewReader([]byte("orphan")), "")
			require.NoError(t, err)
			_, err = e.backend.Put(testCtx(t), tusChunkKey("deadbeef", 0), bytes.NewReader([]byte("orphan chunk")), "")
			require.NoError(t, err)
			assert.Equal(t, 2, e.blobCount(t))

			n, err := e.h.CleanOrphans(testCtx(t), time.Now().Add(-time.Hour))
			require.NoError(t, err)
			assert.Equal(t, 0, n, "young orphans are left alone: their row may be on its way")

			n, err = e.h.CleanOrphans(testCtx(t), time.Now().Add(time.Minute))
			require.NoError(t, err)
			assert.Equal(t, 2, n)
			assert.Equal(t, 1, e.blobCount(t))
			assert.Equal(t, "live", e.serviceOK(t, "GET", "/object/b/live.txt", nil).String())
		})
	}
}
