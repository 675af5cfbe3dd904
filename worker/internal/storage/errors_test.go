package storage

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadInput: every bad request gets the spec's JSON error shape and
// leaves no row and no bytes behind.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local", func(o *Options) { o.MaxBodyBytes = 1 << 20 })
	e.createBucket("b", false, map[string]any{"file_size_limit": "1KB", "allowed_mime_types": []string{"image/*", "text/plain"}})
	e.createBucket("any", false, nil)
	expired, err := jwtauth.Sign([]byte(testSecret), jwt.MapClaims{"sub": "u", "role": "authenticated", "exp": time.Now().Add(-time.Minute).Unix()})
	require.NoError(t, err)
	png := map[string]string{"Content-Type": "image/png"}
	for _, tc := range []struct {
		name   string
		r      req
		status string
		code   string
		http   int
	}{
		{"dot-dot", req{method: "POST", path: "/object/b/a/%2e%2e/x.png", headers: png}, "400", codeInvalidKey, 400},
		{"encoded slash dot-dot", req{method: "POST", path: "/object/b/..%2Fx.png", headers: png}, "400", codeInvalidKey, 400},
		{"absolute", req{method: "POST", path: "/object/b//etc/x.png", headers: png}, "400", codeInvalidKey, 400},
		{"NUL", req{method: "POST", path: "/object/b/a%00.png", headers: png}, "400", codeInvalidKey, 400},
		{"backslash", req{method: "POST", path: "/object/b/a%5C..%5Cx.png", headers: png}, "400", codeInvalidKey, 400},
		{"overlong", req{method: "POST", path: "/object/b/" + strings.Repeat("x", 1100), headers: png}, "400", codeInvalidKey, 400},
		{"unknown bucket", req{method: "POST", path: "/object/nope/x.png", headers: png}, "404", codeNoSuchBucket, 400},
		{"bad bucket name", req{method: "POST", path: "/object/b%C3%BC/x.png", headers: png}, "400", codeInvalidBucket, 400},
		{"over bucket limit", req{method: "POST", path: "/object/b/big.png", headers: png, body: bytes.NewReader(make([]byte, 2048))}, "413", codeTooLarge, 400},
		{"over bucket limit, chunked", req{method: "POST", path: "/object/b/big.png", headers: png,
			body: struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 4096))}}, "413", codeTooLarge, 400},
		{"over global limit", req{method: "POST", path: "/object/any/big.bin", body: struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 2<<20))}}, "413", codeTooLarge, 400},
		{"wrong mime", req{method: "POST", path: "/object/b/x.json", headers: map[string]string{"Content-Type": "application/json"}, body: strings.NewReader("{}")}, "415", codeInvalidMime, 400},
		{"mime parameter is part of the subtype", req{method: "POST", path: "/object/b/x.txt", headers: map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, body: strings.NewReader("x")}, "415", codeInvalidMime, 400},
		{"expired jwt", req{method: "POST", path: "/object/b/x.png", token: expired, headers: png}, "403", codeAccessDenied, 400},
		{"no credentials", req{method: "POST", path: "/bucket", json: map[string]any{"id": "x"}, headers: map[string]string{"Authorization": ""}}, "403", codeAccessDenied, 400},
		{"garbage jwt", req{method: "POST", path: "/object/b/x.png", token: "not.a.jwt", headers: png}, "403", codeAccessDenied, 400},
		{"missing object", req{method: "GET", path: "/object/b/missing.png"}, "404", codeNoSuchKey, 400},
		{"missing object info", req{method: "GET", path: "/object/info/b/missing.png"}, "404", codeNoSuchKey, 400},
		{"private bucket on public route", req{method: "GET", path: "/object/public/b/x.png"}, "404", codeNoSuchBucket, 400},
		{"unsigned", req{method: "GET", path: "/object/sign/b/x.png"}, "400", codeInvalidJWT, 400},
		{"tampered token", req{method: "GET", path: "/object/sign/b/x.png?token=eyJhbGciOiJIUzI1NiJ9.eyJ1cmwiOiJiL3gucG5nIn0.AAAA"}, "400", codeInvalidJWT, 400},
		{"unknown route", req{method: "GET", path: "/nope"}, "404", codeInvalidRequest, 404},
		{"multipart without file", req{method: "POST", path: "/object/b/x.png",
			headers: map[string]string{"Content-Type": "multipart/form-data; boundary=XX"},
			body:    strings.NewReader("--XX\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n3600\r\n--XX--\r\n")}, "400", codeInvalidRequest, 400},
		{"bad json", req{method: "POST", path: "/bucket", body: strings.NewReader("{"), headers: map[string]string{"Content-Type": "application/json"}}, "400", codeInvalidRequest, 400},
		{"bad bucket size", req{method: "POST", path: "/bucket", json: map[string]any{"id": "zz", "file_size_limit": "lots"}}, "400", codeInvalidRequest, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.r.token == "" && tc.r.headers["Authorization"] == "" && tc.name != "no credentials" &&
				!strings.HasPrefix(tc.r.path, "/object/sign") && !strings.HasPrefix(tc.r.path, "/object/public") {
				tc.r.token = e.service
			}
			if tc.r.body == nil && tc.r.json == nil && tc.r.method == "POST" {
				tc.r.body = strings.NewReader("x")
			}
			res := e.do(tc.r)
			assert.Equal(t, tc.http, res.status, string(res.body))
			var body errorBody
			res.decode(t, &body)
			assert.Equal(t, tc.status, body.StatusCode)
			assert.Equal(t, tc.code, body.Code)
			assert.NotEmpty(t, body.Message)
			assert.NotEmpty(t, body.Error)
		})
	}
	assert.Equal(t, 0, e.rowCount())
	assert.Equal(t, 0, e.blobCount())
}

// TestUnreachableDatabase: while the database cannot be reached, every
// route that needs it answers 503 with Retry-After in storage's shape.
func TestUnreachableDatabase(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	pool, err := pgxpool.New(testCtx(t), "postgres://madbase@"+addr+"/madbase?connect_timeout=5")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	e := newEnvWith(t, localBackend(t), func(o *Options) { o.Pool = pool })
	for _, r := range []req{
		{method: "GET", path: "/bucket", token: e.service},
		{method: "POST", path: "/bucket", token: e.service, json: map[string]any{"id": "b"}},
		{method: "POST", path: "/object/b/x.txt", token: e.service, body: strings.NewReader("x")},
		{method: "GET", path: "/object/b/x.txt", token: e.service},
		{method: "GET", path: "/object/public/b/x.txt"},
		{method: "POST", path: "/object/list/b", token: e.service, json: map[string]any{"prefix": ""}},
		{method: "POST", path: "/object/sign/b/x.txt", token: e.service, json: map[string]any{"expiresIn": 60}},
	} {
		res := e.do(r)
		name := r.method + " " + r.path
		assert.Equal(t, 503, res.status, "%s: %s", name, res.body)
		assert.Equal(t, "1", res.header.Get("Retry-After"), name)
		var body errorBody
		res.decode(t, &body)
		assert.Equal(t, errorBody{StatusCode: "503", Code: codeDatabase, Error: "Service Unavailable",
			Message: "The database cannot be reached; try again shortly"}, body, name)
	}
	assert.Equal(t, 0, e.blobCount(), "the refused upload left no bytes")
}

// TestUnreachableObjectStore: an object store that cannot be reached is
// not reported as the database.
func TestUnreachableObjectStore(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	s3, err := NewS3(config.Storage{S3Endpoint: "http://" + addr, S3Region: "us-east-1", S3Bucket: "madbase",
		S3AccessKey: "key", S3SecretKey: "secret"})
	require.NoError(t, err)
	e := newEnvWith(t, s3)
	e.createBucket("b", false, nil)
	res := e.upload("b", "x.txt", e.service, []byte("x"), nil)
	assert.Equal(t, 500, res.status, string(res.body))
	assert.Equal(t, codeInternal, res.errCode())
	assert.Empty(t, res.header.Get("Retry-After"))
	assert.Equal(t, 0, e.rowCount())
}
