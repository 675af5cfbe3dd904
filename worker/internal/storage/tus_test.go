package storage

import (
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/madbase/madbase/shared/apitest"
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

// tusAs is the headers of a TUS request made with token ("" for none) and
// the header pairs kv.
func tusAs(token string, kv ...string) map[string]string {
	return as(token, append([]string{"Tus-Resumable", "1.0.0"}, kv...)...)
}

// uploadPath is the path under /storage/v1 of the upload a creation
// answer's Location names.
func uploadPath(t *testing.T, created *apitest.Response) string {
	t.Helper()
	loc := created.Header.Get("Location")
	require.Contains(t, loc, "/storage/v1/upload/resumable/")
	return loc[strings.Index(loc, "/upload/resumable/"):]
}

func TestTUS(t *testing.T) {
	t.Parallel()
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind)
			e.createBucket(t, "b", false, map[string]any{"file_size_limit": 1 << 20})
			data := make([]byte, 300<<10)
			_, _ = rand.Read(data)

			apitest.Run(t, e.Env, []apitest.Scenario{
				{Name: "OPTIONS", Method: "OPTIONS", URL: "/upload/resumable", WantStatus: 204,
					WantHeaders: map[string]string{"Tus-Version": "1.0.0"}},
				{Name: "over the bucket's limit", Method: "POST", URL: "/upload/resumable",
					Headers:    tusAs(e.Service, "Upload-Length", "2000000", "Upload-Metadata", tusMeta("bucketName", "b", "objectName", "big.bin")),
					WantStatus: 400, WantFields: map[string]any{"statusCode": "413", "code": codeTooLarge}},
				{Name: "a bad key", Method: "POST", URL: "/upload/resumable",
					Headers:    tusAs(e.Service, "Upload-Length", "1", "Upload-Metadata", tusMeta("bucketName", "b", "objectName", "../x")),
					WantStatus: 400, WantFields: map[string]any{"statusCode": "400", "code": codeInvalidKey}},
				{Name: "a bad token", Method: "POST", URL: "/upload/resumable",
					Headers:    tusAs("bad", "Upload-Length", "1", "Upload-Metadata", tusMeta("bucketName", "b", "objectName", "x")),
					WantStatus: 400, WantFields: map[string]any{"statusCode": "403", "code": codeAccessDenied}},
			})

			created := e.Do(t, apitest.Request{Method: "POST", URL: "/upload/resumable",
				Headers: tusAs(e.Service, "Upload-Length", "307200", "Upload-Metadata",
					tusMeta("bucketName", "b", "objectName", "dir/ré sumé.bin", "contentType", "application/x-r", "cacheControl", "30", "metadata", `{"m":1}`))})
			require.Equal(t, 201, created.Status, created.String())
			path := uploadPath(t, created)

			patch := func(off string, body []byte) *apitest.Response {
				return e.Do(t, apitest.Request{Method: "PATCH", URL: path, Body: body,
					Headers: tusAs(e.Service, "Upload-Offset", off, "Content-Type", "application/offset+octet-stream")})
			}
			r := patch("0", data[:100<<10])
			require.Equal(t, 204, r.Status, r.String())
			assert.Equal(t, "102400", r.Header.Get("Upload-Offset"))
			assert.Equal(t, 409, patch("0", data[:10]).Status, "wrong offset")
			head := e.Do(t, apitest.Request{Method: "HEAD", URL: path, Headers: tusAs(e.Service)})
			assert.Equal(t, "102400", head.Header.Get("Upload-Offset"))
			assert.Equal(t, "307200", head.Header.Get("Upload-Length"))
			assert.Equal(t, 0, e.rowCount(t), "no row before the last byte")

			r = patch("102400", data[100<<10:])
			require.Equal(t, 204, r.Status, r.String())
			got := e.serviceOK(t, "GET", "/object/b/dir/r%C3%A9%20sum%C3%A9.bin", nil)
			assert.Equal(t, data, got.Body)
			assert.Equal(t, "application/x-r", got.Header.Get("Content-Type"))
			assert.Equal(t, "max-age=30", got.Header.Get("Cache-Control"))
			assert.Equal(t, 1, e.blobCount(t), "chunks removed")
			assert.Equal(t, 404, e.Do(t, apitest.Request{Method: "HEAD", URL: path, Headers: tusAs("")}).Status, "finished uploads are gone")

			// Terminated uploads leave nothing.
			created = e.Do(t, apitest.Request{Method: "POST", URL: "/upload/resumable",
				Headers: tusAs(e.Service, "Upload-Length", "10", "Upload-Metadata", tusMeta("bucketName", "b", "objectName", "gone.bin"))})
			require.Equal(t, 201, created.Status)
			path = created.Header.Get("Location")
			path = path[strings.Index(path, "/upload/resumable/"):]
			require.Equal(t, 204, patch("0", []byte("12345")).Status)
			assert.Equal(t, 204, e.Do(t, apitest.Request{Method: "DELETE", URL: path, Headers: tusAs(e.Service)}).Status)
			assert.Equal(t, 1, e.blobCount(t))
			assert.Equal(t, 1, e.rowCount(t))
		})
	}
}

// Only the creator of an upload (the same user, the service role, or the
// holder of the signed upload URL it was made with) may continue it, look
// at it or cancel it: its id alone is not enough.
func TestTUSOnlyTheCreatorContinues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "b", false, nil)
	_, err := e.pool.Exec(testCtx(t), `create policy ins on storage.objects for insert to authenticated
		with check ((storage.foldername(name))[1] = auth.uid()::text);
		create policy sel on storage.objects for select to authenticated using ((storage.foldername(name))[1] = auth.uid()::text)`)
	require.NoError(t, err)
	ta, tb := e.UserToken(t, alice), e.UserToken(t, bob)
	create := func(path, token string, extra ...string) string {
		t.Helper()
		r := e.Do(t, apitest.Request{Method: "POST", URL: path, Headers: tusAs(token, append([]string{"Upload-Length", "4",
			"Upload-Metadata", tusMeta("bucketName", "b", "objectName", alice+"/"+path[len(path)-4:]+".bin")}, extra...)...)})
		require.Equal(t, 201, r.Status, r.String())
		loc := r.Header.Get("Location")
		return loc[strings.Index(loc, "/upload/resumable/"):]
	}
	// patch is a request writing body at offset 0 of the upload at path.
	patch := func(path, token string, body string, extra ...string) apitest.Request {
		return apitest.Request{Method: "PATCH", URL: path, Body: []byte(body),
			Headers: tusAs(token, append([]string{"Upload-Offset", "0", "Content-Type", "application/offset+octet-stream"}, extra...)...)}
	}
	// refusedReq is a row: r is refused with code (storage answers 4xx
	// with 400).
	refusedReq := func(name string, r apitest.Request, code string) apitest.Scenario {
		return apitest.Scenario{Name: name, Method: r.Method, URL: r.URL, Headers: r.Headers, Body: r.Body,
			WantStatus: 400, WantFields: refused(code)}
	}

	up := create("/upload/resumable", ta)
	apitest.Run(t, e.Env, []apitest.Scenario{
		refusedReq("another user's PATCH", patch(up, tb, "evil"), codeAccessDenied),
		refusedReq("no credentials PATCH", patch(up, "", "evil"), codeAccessDenied),
		refusedReq("anon key PATCH", patch(up, e.Anon, "evil"), codeAccessDenied),
		refusedReq("another user's DELETE", apitest.Request{Method: "DELETE", URL: up, Headers: tusAs(tb)}, codeAccessDenied),
		// Storage answers 4xx with 400, and a HEAD has no body to say why.
		{Name: "another user's HEAD", Method: "HEAD", URL: up, Headers: tusAs(tb), WantStatus: 400,
			WantHeaders: map[string]string{"Upload-Offset": ""}},
		{Name: "nothing was written by the others", Method: "HEAD", URL: up, Headers: tusAs(e.Service), WantStatus: 200,
			WantHeaders: map[string]string{"Upload-Offset": "0"}},
	})
	require.Equal(t, 204, e.Do(t, patch(up, ta, "mine")).Status)
	assert.Equal(t, "mine", e.ok(t, apitest.Request{URL: "/object/b/" + alice + "/able.bin", Headers: as(ta)}).String())

	// A signed resumable upload: the signature goes with every request.
	var signed struct{ Token string }
	e.ok(t, apitest.Request{Method: "POST", URL: "/object/upload/sign/b/" + alice + "/sign.bin", Headers: as(ta), Body: map[string]any{}}).JSON(t, &signed)
	sup := create("/upload/resumable/sign", "", "x-signature", signed.Token)
	apitest.Run(t, e.Env, []apitest.Scenario{
		refusedReq("a user's token does not open a signed upload", patch(sup, tb, "evil"), codeAccessDenied),
		refusedReq("a bad signature", patch(sup, "", "evil", "x-signature", "not-a-token"), codeInvalidJWT),
	})
	require.Equal(t, 204, e.Do(t, patch(sup, "", "sign", "x-signature", signed.Token)).Status)
	assert.Equal(t, "sign", e.ok(t, apitest.Request{URL: "/object/b/" + alice + "/sign.bin", Headers: as(ta)}).String())
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	for _, id := range []string{"zeta", "alpha", "mid"} {
		e.createBucket(t, id, id == "alpha", nil)
	}
	var list []bucketJSON
	e.serviceOK(t, "GET", "/bucket", nil).JSON(t, &list)
	require.Len(t, list, 3)
	assert.Equal(t, "alpha", list[0].ID)
	assert.Equal(t, "STANDARD", list[0].Type)
	e.serviceOK(t, "GET", "/bucket?limit=1&offset=1&sortColumn=name&sortOrder=desc", nil).JSON(t, &list)
	require.Len(t, list, 1)
	assert.Equal(t, "mid", list[0].ID)
	e.serviceOK(t, "GET", "/bucket?search=ET", nil).JSON(t, &list)
	require.Len(t, list, 1)
	assert.Equal(t, "zeta", list[0].ID)

	// Sizes with a unit are decimal, as storage-api reads them; numbers are
	// bytes.
	for _, tc := range []struct {
		limit any
		want  *int64
	}{
		{"20mb", ptr(int64(20_000_000))}, {"20MB", ptr(int64(20_000_000))}, {"1GB", ptr(int64(1_000_000_000))},
		{"512kb", ptr(int64(512_000))}, {"1.5kb", ptr(int64(1500))}, {"7b", ptr(int64(7))}, {1000, ptr(int64(1000))}, {nil, nil},
	} {
		e.serviceOK(t, "PUT", "/bucket/mid", map[string]any{"id": "mid", "file_size_limit": tc.limit})
		var b bucketJSON
		e.serviceOK(t, "GET", "/bucket/mid", nil).JSON(t, &b)
		assert.Equal(t, tc.want, b.FileSizeLimit, "%v", tc.limit)
	}
	for _, bad := range []string{"20 MB", "20", "MB", "-1kb", "1e3kb", "20mib"} {
		r := e.Do(t, apitest.Request{Method: "PUT", URL: "/bucket/mid", Headers: as(e.Service), Body: map[string]any{"file_size_limit": bad}})
		assert.Equal(t, 400, r.Status, bad)
		assert.Contains(t, r.String(), "Invalid file size format", bad)
	}

	svc := as(e.Service)
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "an update that changes nothing", Method: "PUT", URL: "/bucket/mid", Headers: svc, Body: map[string]any{"id": "mid"},
			WantStatus: 400, WantFields: refused(codeInvalidRequest)},
		{Name: "update an unknown bucket", Method: "PUT", URL: "/bucket/nope", Headers: svc, Body: map[string]any{"public": true},
			WantStatus: 400, WantFields: refused(codeNoSuchBucket)},
		{Name: "get an unknown bucket", URL: "/bucket/nope", Headers: svc, WantStatus: 400, WantFields: refused(codeNoSuchBucket)},
		{Name: "create a bucket twice", Method: "POST", URL: "/bucket", Headers: svc, Body: map[string]any{"id": "mid"},
			WantStatus: 400, WantFields: refused(codeBucketExists)},
		{Name: "a bad bucket id", Method: "POST", URL: "/bucket", Headers: svc, Body: map[string]any{"id": "a/b"},
			WantStatus: 400, WantFields: refused(codeInvalidBucket)},
		{Name: "delete a bucket that holds objects", Method: "DELETE", URL: "/bucket/mid", Headers: svc, Body: map[string]any{},
			Before:     func(t *testing.T, _ *apitest.Env) { e.serviceOK(t, "POST", "/object/mid/x/y.txt", []byte("y")) },
			WantStatus: 400, WantFields: refused(codeNotEmpty)},
		{Name: "empty it", Method: "POST", URL: "/bucket/mid/empty", Headers: svc, Body: map[string]any{}, WantStatus: 200,
			WantJSON: `{"message": "Empty bucket has been queued. Completion may take up to an hour."}`,
			After:    func(t *testing.T, _ *apitest.Env, _ *apitest.Response) { assert.Equal(t, 0, e.blobCount(t)) }},
		{Name: "delete it", Method: "DELETE", URL: "/bucket/mid", Headers: svc, Body: map[string]any{}, WantStatus: 200},
		{Name: "delete it again", Method: "DELETE", URL: "/bucket/mid", Headers: svc, WantStatus: 400, WantFields: refused(codeNoSuchBucket)},
	})

	// Public bucket: no credentials needed on the public route.
	e.serviceOK(t, "POST", "/object/alpha/p.txt", []byte("pub"))
	assert.Equal(t, "pub", e.ok(t, apitest.Request{URL: "/object/public/alpha/p.txt"}).String())
	var info infoJSON
	e.ok(t, apitest.Request{URL: "/object/info/public/alpha/p.txt"}).JSON(t, &info)
	assert.Equal(t, int64(3), info.Size)
}

func ptr[T any](v T) *T { return &v }

// Buckets read as storage-api writes them: its fields and no others (no
// type from getBucket), timestamps as JavaScript's toISOString.
func TestBucketJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "pics", true, map[string]any{"file_size_limit": "1mb", "allowed_mime_types": []string{"image/png"}})
	jsTimeRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	check := func(t *testing.T, b map[string]any, wantKeys ...string) {
		t.Helper()
		keys := make([]string, 0, len(b))
		for k := range b {
			keys = append(keys, k)
		}
		assert.ElementsMatch(t, wantKeys, keys)
		assert.Regexp(t, jsTimeRE, b["created_at"])
		assert.Regexp(t, jsTimeRE, b["updated_at"])
		assert.Equal(t, float64(1_000_000), b["file_size_limit"])
	}
	cols := []string{"id", "name", "owner", "public", "file_size_limit", "allowed_mime_types", "created_at", "updated_at"}
	var one map[string]any
	e.serviceOK(t, "GET", "/bucket/pics", nil).JSON(t, &one)
	check(t, one, cols...)
	var all []map[string]any
	e.serviceOK(t, "GET", "/bucket", nil).JSON(t, &all)
	require.Len(t, all, 1)
	check(t, all[0], append(cols, "type")...)
	assert.Equal(t, "STANDARD", all[0]["type"])
}

// An upload may defer its length (Upload-Defer-Length: 1) and give it on a
// later PATCH; the bucket's limit holds meanwhile.
func TestTUSDeferLength(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "b", false, map[string]any{"file_size_limit": 100})
	create := func(name string) string {
		t.Helper()
		r := e.Do(t, apitest.Request{Method: "POST", URL: "/upload/resumable",
			Headers: tusAs(e.Service, "Upload-Defer-Length", "1", "Upload-Metadata", tusMeta("bucketName", "b", "objectName", name))})
		require.Equal(t, 201, r.Status, r.String())
		return uploadPath(t, r)
	}
	patch := func(path, off string, body string, kv ...string) apitest.Request {
		return apitest.Request{Method: "PATCH", URL: path, Body: []byte(body),
			Headers: tusAs(e.Service, append([]string{"Upload-Offset", off, "Content-Type", "application/offset+octet-stream"}, kv...)...)}
	}
	up := create("later.txt")
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "OPTIONS names the extension", Method: "OPTIONS", URL: "/upload/resumable", WantStatus: 204,
			WantHeaders: map[string]string{"Tus-Extension": "creation,creation-defer-length,termination,expiration"}},
		{Name: "HEAD says the length is deferred", Method: "HEAD", URL: up, Headers: tusAs(e.Service), WantStatus: 200,
			WantHeaders: map[string]string{"Upload-Defer-Length": "1", "Upload-Length": "", "Upload-Offset": "0"}},
		{Name: "a first chunk without the length", Method: "PATCH", URL: up, Headers: patch(up, "0", "").Headers,
			Body: []byte("hello "), WantStatus: 204, WantHeaders: map[string]string{"Upload-Offset": "6"},
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) { assert.Equal(t, 0, e.rowCount(t)) }},
		{Name: "a length over the bucket's limit", Method: "PATCH", URL: up, Headers: patch(up, "6", "", "Upload-Length", "101").Headers,
			Body: []byte("world"), WantStatus: 400, WantFields: map[string]any{"statusCode": "413", "code": codeTooLarge}},
		{Name: "a length shorter than what came", Method: "PATCH", URL: up, Headers: patch(up, "6", "", "Upload-Length", "5").Headers,
			Body: []byte("world"), WantStatus: 400, WantFields: refused(codeInvalidRequest)},
		{Name: "the last chunk with the length", Method: "PATCH", URL: up, Headers: patch(up, "6", "", "Upload-Length", "11").Headers,
			Body: []byte("world"), WantStatus: 204, WantHeaders: map[string]string{"Upload-Offset": "11"}},
		{Name: "the object is complete", URL: "/object/b/later.txt", Headers: as(e.Service), WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) { assert.Equal(t, "hello world", r.String()) }},
		{Name: "neither Upload-Length nor Upload-Defer-Length", Method: "POST", URL: "/upload/resumable",
			Headers:    tusAs(e.Service, "Upload-Metadata", tusMeta("bucketName", "b", "objectName", "x.txt")),
			WantStatus: 400, WantFields: refused(codeInvalidRequest)},
	})

	// Without the length, a chunk still may not pass the bucket's limit.
	big := create("big.txt")
	r := e.Do(t, patch(big, "0", strings.Repeat("x", 101)))
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, codeTooLarge, errCode(r))
	// The length, once given, cannot change.
	require.Equal(t, 204, e.Do(t, patch(big, "0", "abc", "Upload-Length", "10")).Status)
	r = e.Do(t, patch(big, "3", "def", "Upload-Length", "12"))
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, codeInvalidRequest, errCode(r))
	head := e.Do(t, apitest.Request{Method: "HEAD", URL: big, Headers: tusAs(e.Service)})
	assert.Equal(t, "10", head.Header.Get("Upload-Length"))
	assert.Empty(t, head.Header.Get("Upload-Defer-Length"))
}
