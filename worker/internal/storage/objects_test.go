package storage

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"mime/multipart"
	"net/url"
	"testing"

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
			e.createBucket("docs", false, nil)
			data := make([]byte, 3<<20+17)
			_, _ = rand.Read(data)

			res := e.mustOK(req{method: "POST", path: "/object/docs/folder/été 日本.bin", token: e.service, body: bytes.NewReader(data),
				headers: map[string]string{"Content-Type": "application/x-test", "Cache-Control": "max-age=60", "x-upsert": "false",
					"x-metadata": base64.StdEncoding.EncodeToString([]byte(`{"k":"v"}`))}})
			var up struct{ Id, Key string }
			res.decode(t, &up)
			assert.Equal(t, "docs/folder/été 日本.bin", up.Key)
			assert.NotEmpty(t, up.Id)

			path := "/object/docs/" + url.PathEscape("folder") + "/" + url.PathEscape("été 日本.bin")
			get := e.mustOK(req{method: "GET", path: path, token: e.service})
			assert.Equal(t, data, get.body)
			assert.Equal(t, "application/x-test", get.header.Get("Content-Type"))
			assert.Equal(t, "max-age=60", get.header.Get("Cache-Control"))
			etag := get.header.Get("ETag")
			assert.NotEmpty(t, etag)
			assert.NotEmpty(t, get.header.Get("Last-Modified"))

			rng := e.do(req{method: "GET", path: path, token: e.service, headers: map[string]string{"Range": "bytes=10-19"}})
			assert.Equal(t, 206, rng.status)
			assert.Equal(t, data[10:20], rng.body)
			assert.Equal(t, fmt.Sprintf("bytes 10-19/%d", len(data)), rng.header.Get("Content-Range"))
			suffix := e.do(req{method: "GET", path: path, token: e.service, headers: map[string]string{"Range": "bytes=-5"}})
			assert.Equal(t, data[len(data)-5:], suffix.body)
			bad := e.do(req{method: "GET", path: path, token: e.service, headers: map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(data))}})
			assert.Equal(t, 416, bad.status)

			nm := e.do(req{method: "GET", path: path, token: e.service, headers: map[string]string{"If-None-Match": etag}})
			assert.Equal(t, 304, nm.status)
			assert.Empty(t, nm.body)
			head := e.do(req{method: "HEAD", path: path, token: e.service})
			assert.Equal(t, 200, head.status)
			assert.Equal(t, fmt.Sprint(len(data)), head.header.Get("Content-Length"))

			var info infoJSON
			e.mustOK(req{method: "GET", path: "/object/info/docs/folder/" + url.PathEscape("été 日本.bin"), token: e.service}).decode(t, &info)
			assert.Equal(t, int64(len(data)), info.Size)
			assert.JSONEq(t, `{"k":"v"}`, string(info.Metadata))
			assert.Equal(t, etag, info.ETag)

			// No upsert: conflict. Upsert: replaced, old bytes gone.
			dup := e.upload("docs", "folder/été 日本.bin", e.service, []byte("x"), map[string]string{"x-upsert": "false"})
			assert.Equal(t, 400, dup.status)
			assert.Equal(t, codeKeyExists, dup.errCode())
			e.mustOK(req{method: "PUT", path: path, token: e.service, body: bytes.NewReader([]byte("replaced"))})
			assert.Equal(t, "replaced", string(e.mustOK(req{method: "GET", path: path, token: e.service}).body))
			assert.Equal(t, 1, e.blobCount())

			// list: one level, folders as null-id rows, names relative.
			e.mustOK(req{method: "POST", path: "/object/docs/top.txt", token: e.service, body: bytes.NewReader([]byte("t"))})
			e.mustOK(req{method: "POST", path: "/object/docs/folder/sub/deep.txt", token: e.service, body: bytes.NewReader([]byte("d"))})
			var items []listItem
			e.mustOK(req{method: "POST", path: "/object/list/docs", token: e.service,
				json: map[string]any{"prefix": "", "limit": 100, "offset": 0, "sortBy": map[string]string{"column": "name", "order": "asc"}}}).decode(t, &items)
			require.Len(t, items, 2)
			assert.Equal(t, "folder", items[0].Name)
			assert.Nil(t, items[0].ID)
			assert.Equal(t, "top.txt", items[1].Name)
			assert.NotNil(t, items[1].ID)
			e.mustOK(req{method: "POST", path: "/object/list/docs", token: e.service,
				json: map[string]any{"prefix": "folder", "limit": 100, "offset": 0, "sortBy": map[string]string{"column": "name", "order": "asc"}}}).decode(t, &items)
			require.Len(t, items, 2)
			assert.Equal(t, "sub", items[0].Name)
			assert.Equal(t, "été 日本.bin", items[1].Name)
			e.mustOK(req{method: "POST", path: "/object/list/docs", token: e.service,
				json: map[string]any{"prefix": "folder/", "search": "ÉT", "sortBy": map[string]string{"column": "name"}}}).decode(t, &items)
			require.Len(t, items, 1)
			e.mustOK(req{method: "POST", path: "/object/list/docs", token: e.service,
				json: map[string]any{"prefix": "", "limit": 1, "offset": 1}}).decode(t, &items)
			require.Len(t, items, 1)
			assert.Equal(t, "top.txt", items[0].Name)

			// move, copy, remove
			e.mustOK(req{method: "POST", path: "/object/move", token: e.service,
				json: map[string]any{"bucketId": "docs", "sourceKey": "top.txt", "destinationKey": "moved/top.txt"}})
			assert.Equal(t, codeNoSuchKey, e.do(req{method: "GET", path: "/object/info/docs/top.txt", token: e.service}).errCode())
			assert.Equal(t, "t", string(e.mustOK(req{method: "GET", path: "/object/docs/moved/top.txt", token: e.service}).body))
			var cp struct{ Key string }
			e.mustOK(req{method: "POST", path: "/object/copy", token: e.service,
				json: map[string]any{"bucketId": "docs", "sourceKey": "moved/top.txt", "destinationKey": "copy.txt"}}).decode(t, &cp)
			assert.Equal(t, "docs/copy.txt", cp.Key)
			assert.Equal(t, "t", string(e.mustOK(req{method: "GET", path: "/object/docs/copy.txt", token: e.service}).body))
			var removed []map[string]any
			e.mustOK(req{method: "DELETE", path: "/object/docs", token: e.service,
				json: map[string]any{"prefixes": []string{"copy.txt", "moved/top.txt", "missing.txt"}}}).decode(t, &removed)
			assert.Len(t, removed, 2)
			assert.Equal(t, 2, e.rowCount())
			assert.Equal(t, 2, e.blobCount())
		})
	}
}

// TestMultipartUpload covers storage-js's Blob encoding (file part named
// ""), user FormData with fields after the file, and the chunked stream.
func TestMultipartUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket("b", false, nil)
	for _, tc := range []struct {
		name       string
		chunked    bool
		fieldAfter bool
	}{{"blob", false, false}, {"chunked", true, false}, {"fields after file", true, true}} {
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
		var body = bytes.NewReader(buf.Bytes())
		r := req{method: "POST", path: "/object/b/" + tc.name + ".png", token: e.service,
			headers: map[string]string{"Content-Type": mw.FormDataContentType()}}
		if tc.chunked {
			r.body = struct{ *bytes.Reader }{body} // unknown length: chunked
		} else {
			r.body = body
		}
		e.mustOK(r)
		get := e.mustOK(req{method: "GET", path: "/object/b/" + url.PathEscape(tc.name+".png"), token: e.service})
		assert.Equal(t, "png-bytes-"+tc.name, string(get.body), tc.name)
		assert.Equal(t, "image/png", get.header.Get("Content-Type"), tc.name)
		assert.Equal(t, "max-age=120", get.header.Get("Cache-Control"), tc.name)
		var info infoJSON
		e.mustOK(req{method: "GET", path: "/object/info/b/" + url.PathEscape(tc.name+".png"), token: e.service}).decode(t, &info)
		assert.JSONEq(t, `{"a":1}`, string(info.Metadata), tc.name)
	}
}
