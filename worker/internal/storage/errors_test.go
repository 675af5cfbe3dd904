package storage

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadInput: every bad request gets the JSON error shape of docs/api/storage.md §2 and
// leaves no row and no bytes behind.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local", func(o *Options) { o.MaxBodyBytes = 1 << 20 })
	e.createBucket(t, "b", false, map[string]any{"file_size_limit": "1KB", "allowed_mime_types": []string{"image/*", "text/plain"}})
	e.createBucket(t, "any", false, nil)
	expired := e.Token(t, jwt.MapClaims{"sub": "u", "role": "authenticated", "exp": time.Now().Add(-time.Minute).Unix()})
	svc, x := as(e.Service), []byte("x")
	png := func(token string) map[string]string { return as(token, "Content-Type", "image/png") }
	// bad is a row answered with storage's error shape: the HTTP status, and
	// the status and code in the body.
	bad := func(name, method, url string, headers map[string]string, body any, httpStatus int, status, code string) apitest.Scenario {
		return apitest.Scenario{Name: name, Method: method, URL: url, Headers: headers, Body: body,
			WantStatus: httpStatus, WantFields: map[string]any{"statusCode": status, "code": code},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				var body errorBody
				r.JSON(t, &body)
				assert.NotEmpty(t, body.Message)
				assert.NotEmpty(t, body.Error)
			}}
	}
	apitest.Run(t, e.Env, []apitest.Scenario{
		bad("dot-dot", "POST", "/object/b/a/%2e%2e/x.png", png(e.Service), x, 400, "400", codeInvalidKey),
		bad("encoded slash dot-dot", "POST", "/object/b/..%2Fx.png", png(e.Service), x, 400, "400", codeInvalidKey),
		bad("absolute", "POST", "/object/b//etc/x.png", png(e.Service), x, 400, "400", codeInvalidKey),
		bad("NUL", "POST", "/object/b/a%00.png", png(e.Service), x, 400, "400", codeInvalidKey),
		bad("backslash", "POST", "/object/b/a%5C..%5Cx.png", png(e.Service), x, 400, "400", codeInvalidKey),
		bad("overlong", "POST", "/object/b/"+strings.Repeat("x", 1100), png(e.Service), x, 400, "400", codeInvalidKey),
		bad("unknown bucket", "POST", "/object/nope/x.png", png(e.Service), x, 400, "404", codeNoSuchBucket),
		bad("bad bucket name", "POST", "/object/b%C3%BC/x.png", png(e.Service), x, 400, "400", codeInvalidBucket),
		bad("over bucket limit", "POST", "/object/b/big.png", png(e.Service), make([]byte, 2048), 400, "413", codeTooLarge),
		bad("over bucket limit, chunked", "POST", "/object/b/big.png", png(e.Service),
			struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 4096))}, 400, "413", codeTooLarge),
		bad("over global limit", "POST", "/object/any/big.bin", svc,
			struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 2<<20))}, 400, "413", codeTooLarge),
		bad("wrong mime", "POST", "/object/b/x.json", as(e.Service, "Content-Type", "application/json"), []byte("{}"), 400, "415", codeInvalidMime),
		bad("mime parameter is part of the subtype", "POST", "/object/b/x.txt", as(e.Service, "Content-Type", "text/plain;charset=UTF-8"), x,
			400, "415", codeInvalidMime),
		bad("expired jwt", "POST", "/object/b/x.png", png(expired), x, 400, "403", codeAccessDenied),
		bad("no credentials", "POST", "/bucket", nil, map[string]any{"id": "x"}, 400, "400", codeInvalidRequest),
		bad("a key JWT as apikey, no Authorization", "POST", "/bucket", map[string]string{"apikey": e.Service}, map[string]any{"id": "x"},
			400, "400", codeInvalidRequest),
		bad("garbage jwt", "POST", "/object/b/x.png", png("not.a.jwt"), x, 400, "403", codeAccessDenied),
		bad("missing object", "GET", "/object/b/missing.png", svc, nil, 400, "404", codeNoSuchKey),
		bad("missing object info", "GET", "/object/info/b/missing.png", svc, nil, 400, "404", codeNoSuchKey),
		bad("private bucket on public route", "GET", "/object/public/b/x.png", nil, nil, 400, "404", codeNoSuchBucket),
		bad("unsigned", "GET", "/object/sign/b/x.png", nil, nil, 400, "400", codeInvalidJWT),
		bad("tampered token", "GET", "/object/sign/b/x.png?token=eyJhbGciOiJIUzI1NiJ9.eyJ1cmwiOiJiL3gucG5nIn0.AAAA", nil, nil,
			400, "400", codeInvalidJWT),
		bad("unknown route", "GET", "/nope", svc, nil, 404, "404", codeInvalidRequest),
		bad("multipart without file", "POST", "/object/b/x.png", as(e.Service, "Content-Type", "multipart/form-data; boundary=XX"),
			[]byte("--XX\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n3600\r\n--XX--\r\n"), 400, "400", codeInvalidRequest),
		bad("bad json", "POST", "/bucket", as(e.Service, "Content-Type", "application/json"), []byte("{"), 400, "400", codeInvalidRequest),
		bad("bad bucket size", "POST", "/bucket", svc, map[string]any{"id": "zz", "file_size_limit": "lots"}, 400, "400", codeInvalidRequest),
	})
	assert.Equal(t, 0, e.rowCount(t))
	assert.Equal(t, 0, e.blobCount(t))

	// The apikey is checked as Supabase's gateway checks it, before
	// storage: a key that is not the project's is a 401 in the gateway's
	// shape, on every route that authenticates.
	badKey := map[string]any{"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."}
	other := apitest.NewFiber(t, fiber.New(), "another-secret-0123456789abcdef0123456789")
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "no Authorization", URL: "/bucket", Headers: map[string]string{"apikey": ""}, WantStatus: 400,
			WantFields: map[string]any{"statusCode": "400", "message": "headers must have required property 'authorization'"}},
		{Name: "an unknown apikey", URL: "/bucket", Headers: as(e.Service, "apikey", "sb_publishable_nope"), WantStatus: 401, WantJSON: mustJSON(t, badKey)},
		{Name: "another project's key", URL: "/bucket", Headers: as(other.Anon, "apikey", other.Anon), WantStatus: 401, WantJSON: mustJSON(t, badKey)},
		{Name: "an unknown apikey on a read", URL: "/object/b/x.png", Headers: as(e.Service, "apikey", "garbage"), WantStatus: 401,
			WantJSON: mustJSON(t, badKey)},
		{Name: "an opaque apikey alone acts as its role", URL: "/bucket", Headers: map[string]string{"apikey": e.SecretKey}, WantStatus: 200},
		{Name: "TUS with no bearer", Method: "POST", URL: "/upload/resumable",
			Headers:    map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "1", "Upload-Metadata": tusMeta("bucketName", "b", "objectName", "x")},
			WantStatus: 400, WantFields: map[string]any{"statusCode": "403", "code": codeAccessDenied, "message": "jwt must be provided"}},
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
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
	unavailable := func(method, url string, headers map[string]string, body any) apitest.Scenario {
		return apitest.Scenario{Name: method + " " + url, Method: method, URL: url, Headers: headers, Body: body,
			WantStatus: 503, WantHeaders: map[string]string{"Retry-After": "1"},
			WantFields: map[string]any{"statusCode": "503", "code": codeDatabase, "error": "Service Unavailable",
				"message": "The database cannot be reached; try again shortly"}}
	}
	svc := as(e.Service)
	apitest.Run(t, e.Env, []apitest.Scenario{
		unavailable("GET", "/bucket", svc, nil),
		unavailable("POST", "/bucket", svc, map[string]any{"id": "b"}),
		unavailable("POST", "/object/b/x.txt", svc, []byte("x")),
		unavailable("GET", "/object/b/x.txt", svc, nil),
		unavailable("GET", "/object/public/b/x.txt", nil, nil),
		unavailable("POST", "/object/list/b", svc, map[string]any{"prefix": ""}),
		unavailable("POST", "/object/sign/b/x.txt", svc, map[string]any{"expiresIn": 60}),
	})
	assert.Equal(t, 0, e.blobCount(t), "the refused upload left no bytes")
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
	e.createBucket(t, "b", false, nil)
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "upload", Method: "POST", URL: "/object/b/x.txt", Headers: as(e.Service), Body: []byte("x"),
			WantStatus: 500, WantFields: map[string]any{"code": codeInternal}, WantHeaders: map[string]string{"Retry-After": ""},
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) { assert.Equal(t, 0, e.rowCount(t)) }},
	})
}
