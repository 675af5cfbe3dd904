package storage

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime/multipart"
	"net/url"
	"testing"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var backends = []string{"local", "s3"}

// TestObjectLifecycle runs the core flow of supabase-js's storage client
// against both backends: upload, download (whole, range, conditional),
// info, upsert, list, move, copy, remove.
func TestObjectLifecycle(t *testing.T) {
	t.Parallel()
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind)
			e.createBucket(t, "docs", false, nil)
			data := make([]byte, 3<<20+17)
			_, _ = rand.Read(data)

			res := e.ok(t, apitest.Request{Method: "POST", URL: "/object/docs/folder/été 日本.bin", Body: data,
				Headers: as(e.Service, "Content-Type", "application/x-test", "Cache-Control", "max-age=60", "x-upsert", "false",
					"x-metadata", base64.StdEncoding.EncodeToString([]byte(`{"k":"v"}`)))})
			var up struct{ Id, Key string }
			res.JSON(t, &up)
			assert.Equal(t, "docs/folder/été 日本.bin", up.Key)
			assert.NotEmpty(t, up.Id)

			path := "/object/docs/" + url.PathEscape("folder") + "/" + url.PathEscape("été 日本.bin")
			get := e.serviceOK(t, "GET", path, nil)
			assert.Equal(t, data, get.Body)
			assert.Equal(t, "application/x-test", get.Header.Get("Content-Type"))
			assert.Equal(t, "max-age=60", get.Header.Get("Cache-Control"))
			etag := get.Header.Get("ETag")
			assert.NotEmpty(t, etag)
			assert.NotEmpty(t, get.Header.Get("Last-Modified"))

			body := func(want []byte) func(*testing.T, *apitest.Env, *apitest.Response) {
				return func(t *testing.T, _ *apitest.Env, r *apitest.Response) { assert.Equal(t, want, r.Body) }
			}
			apitest.Run(t, e.Env, []apitest.Scenario{
				{Name: "range", URL: path, Headers: as(e.Service, "Range", "bytes=10-19"), WantStatus: 206,
					WantHeaders: map[string]string{"Content-Range": fmt.Sprintf("bytes 10-19/%d", len(data))},
					After:       body(data[10:20])},
				{Name: "suffix range", URL: path, Headers: as(e.Service, "Range", "bytes=-5"), WantStatus: 206,
					After: body(data[len(data)-5:])},
				{Name: "unsatisfiable range", URL: path, Headers: as(e.Service, "Range", fmt.Sprintf("bytes=%d-", len(data))),
					WantStatus: 416},
				{Name: "not modified", URL: path, Headers: as(e.Service, "If-None-Match", etag), WantStatus: 304,
					After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) { assert.Empty(t, r.Body) }},
				{Name: "HEAD", Method: "HEAD", URL: path, Headers: as(e.Service), WantStatus: 200,
					WantHeaders: map[string]string{"Content-Length": fmt.Sprint(len(data))}},
			})

			var info infoJSON
			e.serviceOK(t, "GET", "/object/info/docs/folder/"+url.PathEscape("été 日本.bin"), nil).JSON(t, &info)
			assert.Equal(t, int64(len(data)), info.Size)
			assert.JSONEq(t, `{"k":"v"}`, string(info.Metadata))
			assert.Equal(t, etag, info.ETag)

			// No upsert: conflict. Upsert: replaced, old bytes gone.
			dup := e.upload(t, "docs", "folder/été 日本.bin", e.Service, []byte("x"), map[string]string{"x-upsert": "false"})
			assert.Equal(t, 400, dup.Status)
			assert.Equal(t, codeKeyExists, errCode(dup))
			e.serviceOK(t, "PUT", path, []byte("replaced"))
			assert.Equal(t, "replaced", e.serviceOK(t, "GET", path, nil).String())
			assert.Equal(t, 1, e.blobCount(t))

			// list: one level, folders as null-id rows, names relative.
			e.serviceOK(t, "POST", "/object/docs/top.txt", []byte("t"))
			e.serviceOK(t, "POST", "/object/docs/folder/sub/deep.txt", []byte("d"))
			list := func(check func(t *testing.T, items []listItem)) func(*testing.T, *apitest.Env, *apitest.Response) {
				return func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
					var items []listItem
					r.JSON(t, &items)
					check(t, items)
				}
			}
			byName := map[string]string{"column": "name", "order": "asc"}
			apitest.Run(t, e.Env, []apitest.Scenario{
				{Name: "the top level", Method: "POST", URL: "/object/list/docs", Headers: as(e.Service),
					Body: map[string]any{"prefix": "", "limit": 100, "offset": 0, "sortBy": byName}, WantStatus: 200,
					After: list(func(t *testing.T, items []listItem) {
						require.Len(t, items, 2)
						assert.Equal(t, "folder", items[0].Name)
						assert.Nil(t, items[0].ID)
						assert.Equal(t, "top.txt", items[1].Name)
						assert.NotNil(t, items[1].ID)
					})},
				{Name: "a folder", Method: "POST", URL: "/object/list/docs", Headers: as(e.Service),
					Body: map[string]any{"prefix": "folder", "limit": 100, "offset": 0, "sortBy": byName}, WantStatus: 200,
					After: list(func(t *testing.T, items []listItem) {
						require.Len(t, items, 2)
						assert.Equal(t, "sub", items[0].Name)
						assert.Equal(t, "été 日本.bin", items[1].Name)
					})},
				{Name: "search ignores case", Method: "POST", URL: "/object/list/docs", Headers: as(e.Service),
					Body: map[string]any{"prefix": "folder/", "search": "ÉT", "sortBy": map[string]string{"column": "name"}}, WantStatus: 200,
					After: list(func(t *testing.T, items []listItem) { require.Len(t, items, 1) })},
				{Name: "limit and offset", Method: "POST", URL: "/object/list/docs", Headers: as(e.Service),
					Body: map[string]any{"prefix": "", "limit": 1, "offset": 1}, WantStatus: 200,
					After: list(func(t *testing.T, items []listItem) {
						require.Len(t, items, 1)
						assert.Equal(t, "top.txt", items[0].Name)
					})},
			})

			// move, copy, remove
			e.serviceOK(t, "POST", "/object/move", map[string]any{"bucketId": "docs", "sourceKey": "top.txt", "destinationKey": "moved/top.txt"})
			assert.Equal(t, codeNoSuchKey, errCode(e.Do(t, apitest.Request{URL: "/object/info/docs/top.txt", Headers: as(e.Service)})))
			assert.Equal(t, "t", e.serviceOK(t, "GET", "/object/docs/moved/top.txt", nil).String())
			var cp struct{ Key string }
			e.serviceOK(t, "POST", "/object/copy", map[string]any{"bucketId": "docs", "sourceKey": "moved/top.txt", "destinationKey": "copy.txt"}).JSON(t, &cp)
			assert.Equal(t, "docs/copy.txt", cp.Key)
			assert.Equal(t, "t", e.serviceOK(t, "GET", "/object/docs/copy.txt", nil).String())
			var removed []map[string]any
			e.serviceOK(t, "DELETE", "/object/docs", map[string]any{"prefixes": []string{"copy.txt", "moved/top.txt", "missing.txt"}}).JSON(t, &removed)
			assert.Len(t, removed, 2)
			assert.Equal(t, 2, e.rowCount(t))
			assert.Equal(t, 2, e.blobCount(t))
		})
	}
}

// TestMultipartUpload covers storage-js's Blob encoding (file part named
// ""), user FormData with fields after the file, and the chunked stream.
func TestMultipartUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "b", false, nil)
	for _, tc := range []struct {
		name       string
		chunked    bool
		fieldAfter bool
	}{{"blob", false, false}, {"chunked", true, false}, {"fields after file", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			if !tc.fieldAfter {
				require.NoError(t, mw.WriteField("cacheControl", "120"))
			}
			h := map[string][]string{"Content-Disposition": {`form-data; name=""; filename="blob"`}, "Content-Type": {"image/png"}}
			w, err := mw.CreatePart(h)
			require.NoError(t, err)
			_, _ = w.Write([]byte("png-bytes-" + tc.name))
			if tc.fieldAfter {
				require.NoError(t, mw.WriteField("cacheControl", "120"))
			}
			require.NoError(t, mw.WriteField("metadata", `{"a":1}`))
			require.NoError(t, mw.Close())
			r := apitest.Request{Method: "POST", URL: "/object/b/" + tc.name + ".png",
				Headers: as(e.Service, "Content-Type", mw.FormDataContentType())}
			if tc.chunked {
				r.Body = struct{ *bytes.Reader }{bytes.NewReader(buf.Bytes())} // unknown length: chunked
			} else {
				r.Body = bytes.NewReader(buf.Bytes())
			}
			e.ok(t, r)
			get := e.serviceOK(t, "GET", "/object/b/"+url.PathEscape(tc.name+".png"), nil)
			assert.Equal(t, "png-bytes-"+tc.name, get.String())
			assert.Equal(t, "image/png", get.Header.Get("Content-Type"))
			assert.Equal(t, "max-age=120", get.Header.Get("Cache-Control"))
			var info infoJSON
			e.serviceOK(t, "GET", "/object/info/b/"+url.PathEscape(tc.name+".png"), nil).JSON(t, &info)
			assert.JSONEq(t, `{"a":1}`, string(info.Metadata))
		})
	}
}

// The ETag is the quoted MD5 of the object's bytes, whatever the backend
// and however the bytes came (raw, multipart, resumable, copied), and
// info() gives the user metadata as {} when there is none.
func TestETagIsTheMD5(t *testing.T) {
	t.Parallel()
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind)
			e.createBucket(t, "b", false, nil)
			data := make([]byte, 9<<20+3) // more than one S3 part
			_, _ = rand.Read(data)
			sum := md5.Sum(data)
			want := `"` + hex.EncodeToString(sum[:]) + `"`

			e.serviceOK(t, "POST", "/object/b/raw.bin", data)
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			w, err := mw.CreateFormFile("", "blob")
			require.NoError(t, err)
			_, _ = w.Write(data)
			require.NoError(t, mw.Close())
			e.ok(t, apitest.Request{Method: "POST", URL: "/object/b/form.bin", Body: buf.Bytes(),
				Headers: as(e.Service, "Content-Type", mw.FormDataContentType())})
			created := e.Do(t, apitest.Request{Method: "POST", URL: "/upload/resumable",
				Headers: tusAs(e.Service, "Upload-Length", fmt.Sprint(len(data)), "Upload-Metadata", tusMeta("bucketName", "b", "objectName", "tus.bin"))})
			require.Equal(t, 201, created.Status, created.String())
			for off := 0; off < len(data); off += 6 << 20 {
				end := min(off+6<<20, len(data))
				r := e.Do(t, apitest.Request{Method: "PATCH", URL: uploadPath(t, created), Body: data[off:end],
					Headers: tusAs(e.Service, "Upload-Offset", fmt.Sprint(off), "Content-Type", "application/offset+octet-stream")})
				require.Equal(t, 204, r.Status, r.String())
			}
			e.serviceOK(t, "POST", "/object/copy", map[string]any{"bucketId": "b", "sourceKey": "raw.bin", "destinationKey": "copy.bin"})

			for _, key := range []string{"raw.bin", "form.bin", "tus.bin", "copy.bin"} {
				head := e.ok(t, apitest.Request{Method: "HEAD", URL: "/object/b/" + key, Headers: as(e.Service)})
				assert.Equal(t, want, head.Header.Get("ETag"), key)
				info := e.serviceOK(t, "GET", "/object/info/b/"+key, nil)
				var got infoJSON
				info.JSON(t, &got)
				assert.Equal(t, want, got.ETag, key)
				assert.JSONEq(t, `{}`, string(got.Metadata), key)
				assert.Contains(t, info.String(), `"metadata":{}`, key)
			}
		})
	}
}
