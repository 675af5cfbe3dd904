package storage

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tusMeta(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

func TestTUS(t *testing.T) {
	t.Parallel()
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind)
			e.createBucket("b", false, map[string]any{"file_size_limit": 1 << 20})
			data := make([]byte, 300<<10)
			_, _ = rand.Read(data)
			hdr := func(kv ...string) map[string]string {
				m := map[string]string{"Tus-Resumable": "1.0.0"}
				for i := 0; i+1 < len(kv); i += 2 {
					m[kv[i]] = kv[i+1]
				}
				return m
			}

			opt := e.do(req{method: "OPTIONS", path: "/upload/resumable"})
			assert.Equal(t, "1.0.0", opt.header.Get("Tus-Version"))

			tooBig := e.do(req{method: "POST", path: "/upload/resumable", token: e.service,
				headers: hdr("Upload-Length", "2000000", "Upload-Metadata", tusMeta("bucketName", "b", "objectName", "big.bin"))})
			assert.Equal(t, codeTooLarge, tooBig.errCode())
			bad := e.do(req{method: "POST", path: "/upload/resumable", token: e.service,
				headers: hdr("Upload-Length", "1", "Upload-Metadata", tusMeta("bucketName", "b", "objectName", "../x"))})
			assert.Equal(t, codeInvalidKey, bad.errCode())
			noAuth := e.do(req{method: "POST", path: "/upload/resumable", token: "bad",
				headers: hdr("Upload-Length", "1", "Upload-Metadata", tusMeta("bucketName", "b", "objectName", "x"))})
			assert.Equal(t, codeAccessDenied, noAuth.errCode())

			created := e.do(req{method: "POST", path: "/upload/resumable", token: e.service,
				headers: hdr("Upload-Length", "307200", "Upload-Metadata",
					tusMeta("bucketName", "b", "objectName", "dir/ré sumé.bin", "contentType", "application/x-r", "cacheControl", "30", "metadata", `{"m":1}`))})
			require.Equal(t, 201, created.status, string(created.body))
			loc := created.header.Get("Location")
			require.Contains(t, loc, "/storage/v1/upload/resumable/")
			path := loc[strings.Index(loc, "/upload/resumable/"):]

			patch := func(off string, body []byte) resp {
				return e.do(req{method: "PATCH", path: path, token: e.service, body: bytes.NewReader(body),
					headers: hdr("Upload-Offset", off, "Content-Type", "application/offset+octet-stream")})
			}
			r := patch("0", data[:100<<10])
			require.Equal(t, 204, r.status, string(r.body))
			assert.Equal(t, "102400", r.header.Get("Upload-Offset"))
			assert.Equal(t, 409, patch("0", data[:10]).status, "wrong offset")
			head := e.do(req{method: "HEAD", path: path, token: e.service, headers: hdr()})
			assert.Equal(t, "102400", head.header.Get("Upload-Offset"))
			assert.Equal(t, "307200", head.header.Get("Upload-Length"))
			assert.Equal(t, 0, e.rowCount(), "no row before the last byte")

			r = patch("102400", data[100<<10:])
			require.Equal(t, 204, r.status, string(r.body))
			got := e.mustOK(req{method: "GET", path: "/object/b/dir/r%C3%A9%20sum%C3%A9.bin", token: e.service})
			assert.Equal(t, data, got.body)
			assert.Equal(t, "application/x-r", got.header.Get("Content-Type"))
			assert.Equal(t, "max-age=30", got.header.Get("Cache-Control"))
			assert.Equal(t, 1, e.blobCount(), "chunks removed")
			assert.Equal(t, 404, e.do(req{method: "HEAD", path: path, headers: hdr()}).status, "finished uploads are gone")

			// Terminated uploads leave nothing.
			created = e.do(req{method: "POST", path: "/upload/resumable", token: e.service,
				headers: hdr("Upload-Length", "10", "Upload-Metadata", tusMeta("bucketName", "b", "objectName", "gone.bin"))})
			require.Equal(t, 201, created.status)
			loc = created.header.Get("Location")
			path = loc[strings.Index(loc, "/upload/resumable/"):]
			require.Equal(t, 204, patch("0", []byte("12345")).status)
			assert.Equal(t, 204, e.do(req{method: "DELETE", path: path, token: e.service, headers: hdr()}).status)
			assert.Equal(t, 1, e.blobCount())
			assert.Equal(t, 1, e.rowCount())
		})
	}
}

// Only the creator of an upload (the same user, the service role, or the
// holder of the signed upload URL it was made with) may continue it, look
// at it or cancel it: its id alone is not enough.
func TestTUSOnlyTheCreatorContinues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket("b", false, nil)
	_, err := e.pool.Exec(testCtx(t), `create policy ins on storage.objects for insert to authenticated
		with check ((storage.foldername(name))[1] = auth.uid()::text);
		create policy sel on storage.objects for select to authenticated using ((storage.foldername(name))[1] = auth.uid()::text)`)
	require.NoError(t, err)
	ta, tb := userToken(t, alice), userToken(t, bob)
	hdr := func(kv ...string) map[string]string {
		m := map[string]string{"Tus-Resumable": "1.0.0"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	create := func(path, token string, extra ...string) string {
		t.Helper()
		r := e.do(req{method: "POST", path: path, token: token, headers: hdr(append([]string{"Upload-Length", "4",
			"Upload-Metadata", tusMeta("bucketName", "b", "objectName", alice+"/"+path[len(path)-4:]+".bin")}, extra...)...)})
		require.Equal(t, 201, r.status, string(r.body))
		loc := r.header.Get("Location")
		return loc[strings.Index(loc, "/upload/resumable/"):]
	}
	patch := func(path, token string, body string, extra ...string) resp {
		return e.do(req{method: "PATCH", path: path, token: token, body: strings.NewReader(body),
			headers: hdr(append([]string{"Upload-Offset", "0", "Content-Type", "application/offset+octet-stream"}, extra...)...)})
	}

	up := create("/upload/resumable", ta)
	for name, r := range map[string]resp{
		"another user's PATCH":  patch(up, tb, "evil"),
		"no credentials PATCH":  patch(up, "", "evil"),
		"anon key PATCH":        patch(up, anonToken(t), "evil"),
		"another user's DELETE": e.do(req{method: "DELETE", path: up, token: tb, headers: hdr()}),
	} {
		assert.Equal(t, codeAccessDenied, r.errCode(), name)
	}
	other := e.do(req{method: "HEAD", path: up, token: tb, headers: hdr()})
	assert.Equal(t, 400, other.status, "another user's HEAD (storage answers 4xx with 400)")
	assert.Empty(t, other.header.Get("Upload-Offset"), "another user's HEAD")
	head := e.do(req{method: "HEAD", path: up, token: e.service, headers: hdr()})
	assert.Equal(t, "0", head.header.Get("Upload-Offset"), "nothing was written by the others")
	require.Equal(t, 204, patch(up, ta, "mine").status)
	assert.Equal(t, "mine", string(e.mustOK(req{method: "GET", path: "/object/b/" + alice + "/able.bin", token: ta}).body))

	// A signed resumable upload: the signature goes with every request.
	var signed struct{ Token string }
	e.mustOK(req{method: "POST", path: "/object/upload/sign/b/" + alice + "/sign.bin", token: ta, json: map[string]any{}}).decode(t, &signed)
	sup := create("/upload/resumable/sign", "", "x-signature", signed.Token)
	assert.Equal(t, codeAccessDenied, patch(sup, tb, "evil").errCode(), "a user's token does not open a signed upload")
	assert.Equal(t, codeInvalidJWT, patch(sup, "", "evil", "x-signature", "not-a-token").errCode())
	require.Equal(t, 204, patch(sup, "", "sign", "x-signature", signed.Token).status)
	assert.Equal(t, "sign", string(e.mustOK(req{method: "GET", path: "/object/b/" + alice + "/sign.bin", token: ta}).body))
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	for _, id := range []string{"zeta", "alpha", "mid"} {
		e.createBucket(id, id == "alpha", nil)
	}
	var list []bucketJSON
	e.mustOK(req{method: "GET", path: "/bucket", token: e.service}).decode(t, &list)
	require.Len(t, list, 3)
	assert.Equal(t, "alpha", list[0].ID)
	assert.Equal(t, "STANDARD", list[0].Type)
	e.mustOK(req{method: "GET", path: "/bucket?limit=1&offset=1&sortColumn=name&sortOrder=desc", token: e.service}).decode(t, &list)
	require.Len(t, list, 1)
	assert.Equal(t, "mid", list[0].ID)
	e.mustOK(req{method: "GET", path: "/bucket?search=ET", token: e.service}).decode(t, &list)
	require.Len(t, list, 1)
	assert.Equal(t, "zeta", list[0].ID)

	for _, tc := range []struct {
		limit any
		want  *int64
	}{{"20MB", ptr(int64(20 << 20))}, {"1.5kb", ptr(int64(1536))}, {1000, ptr(int64(1000))}, {nil, nil}} {
		e.mustOK(req{method: "PUT", path: "/bucket/mid", token: e.service, json: map[string]any{"id": "mid", "file_size_limit": tc.limit}})
		var b bucketJSON
		e.mustOK(req{method: "GET", path: "/bucket/mid", token: e.service}).decode(t, &b)
		assert.Equal(t, tc.want, b.FileSizeLimit, "%v", tc.limit)
	}
	nothing := e.do(req{method: "PUT", path: "/bucket/mid", token: e.service, json: map[string]any{"id": "mid"}})
	assert.Equal(t, codeInvalidRequest, nothing.errCode())
	assert.Equal(t, codeNoSuchBucket, e.do(req{method: "PUT", path: "/bucket/nope", token: e.service, json: map[string]any{"public": true}}).errCode())
	assert.Equal(t, codeNoSuchBucket, e.do(req{method: "GET", path: "/bucket/nope", token: e.service}).errCode())
	assert.Equal(t, codeBucketExists, e.do(req{method: "POST", path: "/bucket", token: e.service, json: map[string]any{"id": "mid"}}).errCode())
	assert.Equal(t, codeInvalidBucket, e.do(req{method: "POST", path: "/bucket", token: e.service, json: map[string]any{"id": "a/b"}}).errCode())

	e.mustOK(req{method: "POST", path: "/object/mid/x/y.txt", token: e.service, body: strings.NewReader("y")})
	assert.Equal(t, codeNotEmpty, e.do(req{method: "DELETE", path: "/bucket/mid", token: e.service, json: map[string]any{}}).errCode())
	e.mustOK(req{method: "POST", path: "/bucket/mid/empty", token: e.service, json: map[string]any{}})
	assert.Equal(t, 0, e.blobCount())
	e.mustOK(req{method: "DELETE", path: "/bucket/mid", token: e.service, json: map[string]any{}})
	assert.Equal(t, codeNoSuchBucket, e.do(req{method: "DELETE", path: "/bucket/mid", token: e.service}).errCode())

	// Public bucket: no credentials needed on the public route.
	e.mustOK(req{method: "POST", path: "/object/alpha/p.txt", token: e.service, body: strings.NewReader("pub")})
	assert.Equal(t, "pub", string(e.mustOK(req{method: "GET", path: "/object/public/alpha/p.txt"}).body))
	var info infoJSON
	e.mustOK(req{method: "GET", path: "/object/info/public/alpha/p.txt"}).decode(t, &info)
	assert.Equal(t, int64(3), info.Size)
}

func ptr[T any](v T) *T { return &v }
