package storage

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignedURLs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket("b", false, nil)
	e.mustOK(req{method: "POST", path: "/object/b/dir/f.txt", token: e.service, body: strings.NewReader("hello")})

	var one struct{ SignedURL string }
	e.mustOK(req{method: "POST", path: "/object/sign/b/dir/f.txt", token: e.service, json: map[string]any{"expiresIn": 60}}).decode(t, &one)
	require.True(t, strings.HasPrefix(one.SignedURL, "/object/sign/b/dir/f.txt?token="), one.SignedURL)
	got := e.mustOK(req{method: "GET", path: one.SignedURL + "&download="})
	assert.Equal(t, "hello", string(got.body))
	assert.Equal(t, "attachment;", got.header.Get("Content-Disposition"))
	assert.NotEmpty(t, got.header.Get("Expires"))
	got = e.mustOK(req{method: "GET", path: one.SignedURL + "&download=na%C3%AFve.txt"})
	assert.Contains(t, got.header.Get("Content-Disposition"), "filename*=UTF-8''na%C3%AFve.txt")

	var many []signedItem
	e.mustOK(req{method: "POST", path: "/object/sign/b", token: e.service, json: map[string]any{"expiresIn": 60, "paths": []string{"missing", "dir/f.txt"}}}).decode(t, &many)
	require.Len(t, many, 2)
	assert.Nil(t, many[0].SignedURL)
	assert.NotNil(t, many[0].Error)
	require.NotNil(t, many[1].SignedURL)
	assert.Equal(t, "hello", string(e.mustOK(req{method: "GET", path: *many[1].SignedURL}).body))

	sign := func(claims jwt.MapClaims) string {
		tok, err := jwtauth.Sign([]byte(testSecret), claims)
		require.NoError(t, err)
		return tok
	}
	now := time.Now()
	tok := strings.SplitN(one.SignedURL, "token=", 2)[1]
	for _, tc := range []struct {
		name, path, code string
	}{
		{"expired", "/object/sign/b/dir/f.txt?token=" + sign(jwt.MapClaims{"url": "b/dir/f.txt", "exp": now.Add(-time.Minute).Unix()}), codeExpiredToken},
		{"expired seconds ago, within the JWT leeway", "/object/sign/b/dir/f.txt?token=" + sign(jwt.MapClaims{"url": "b/dir/f.txt", "exp": now.Add(-3 * time.Second).Unix()}), codeExpiredToken},
		{"upload token expired seconds ago", "/object/upload/sign/b/new.txt?token=" + sign(jwt.MapClaims{"url": "b/new.txt", "scope": "upload", "exp": now.Add(-3 * time.Second).Unix()}), codeExpiredToken},
		{"other object", "/object/sign/b/other.txt?token=" + tok, codeInvalidSignature},
		{"other secret", "/object/sign/b/dir/f.txt?token=" + func() string {
			s, _ := jwtauth.Sign([]byte("another-secret-another-secret-xx"), jwt.MapClaims{"url": "b/dir/f.txt", "exp": now.Add(time.Hour).Unix()})
			return s
		}(), codeInvalidJWT},
		{"tampered", "/object/sign/b/dir/f.txt?token=" + tok[:len(tok)-3] + "abc", codeInvalidJWT},
		{"upload token cannot download", "/object/sign/b/dir/f.txt?token=" + sign(jwt.MapClaims{"url": "b/dir/f.txt", "scope": "upload", "exp": now.Add(time.Hour).Unix()}), codeInvalidSignature},
		{"no expiry", "/object/sign/b/dir/f.txt?token=" + sign(jwt.MapClaims{"url": "b/dir/f.txt"}), codeInvalidJWT},
	} {
		r := req{method: "GET", path: tc.path}
		if strings.HasPrefix(tc.path, "/object/upload/") {
			r.method, r.body = "PUT", strings.NewReader("x")
		}
		res := e.do(r)
		assert.Equal(t, 400, res.status, tc.name)
		assert.Equal(t, tc.code, res.errCode(), tc.name)
	}
	// A token crafted to expire in a minute serves.
	valid := sign(jwt.MapClaims{"url": "b/dir/f.txt", "exp": now.Add(time.Minute).Unix()})
	assert.Equal(t, "hello", string(e.mustOK(req{method: "GET", path: "/object/sign/b/dir/f.txt?token=" + valid}).body))
	assert.Equal(t, 1, e.rowCount(), "the expired upload token wrote nothing")
	var tr struct{ SignedURL string }
	e.mustOK(req{method: "POST", path: "/object/sign/b/dir/f.txt", token: e.service,
		json: map[string]any{"expiresIn": 60, "transform": map[string]any{"width": 10}}}).decode(t, &tr)
	require.True(t, strings.HasPrefix(tr.SignedURL, "/render/image/sign/b/dir/f.txt?token="), tr.SignedURL)
	assert.Equal(t, "hello", string(e.mustOK(req{method: "GET", path: tr.SignedURL}).body))

	res := e.do(req{method: "POST", path: "/object/sign/b/dir/f.txt", token: e.service, json: map[string]any{"expiresIn": 0}})
	assert.Equal(t, codeInvalidRequest, res.errCode())
}

func TestSignedUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket("b", false, nil)
	_, err := e.pool.Exec(testCtx(t), `create policy ins on storage.objects for insert to authenticated with check ((storage.foldername(name))[1] = auth.uid()::text)`)
	require.NoError(t, err)
	ta := userToken(t, alice)

	denied := e.do(req{method: "POST", path: "/object/upload/sign/b/" + bob + "/x.txt", token: ta, json: map[string]any{}})
	assert.Equal(t, codeAccessDenied, denied.errCode())

	var signed struct{ URL, Token string }
	e.mustOK(req{method: "POST", path: "/object/upload/sign/b/" + alice + "/x.txt", token: ta, json: map[string]any{}}).decode(t, &signed)
	require.Contains(t, signed.URL, "?token="+signed.Token)
	var up struct{ Key string }
	e.mustOK(req{method: "PUT", path: signed.URL, body: strings.NewReader("signed!"), headers: map[string]string{"x-upsert": "true"}}).decode(t, &up)
	assert.Equal(t, "b/"+alice+"/x.txt", up.Key)
	var owner string
	require.NoError(t, e.pool.QueryRow(testCtx(t), `select owner_id from storage.objects where name = $1`, alice+"/x.txt").Scan(&owner))
	assert.Equal(t, alice, owner)

	// The token's upsert=false wins over x-upsert: a second upload conflicts.
	again := e.do(req{method: "PUT", path: signed.URL, body: strings.NewReader("again"), headers: map[string]string{"x-upsert": "true"}})
	assert.Equal(t, codeKeyExists, again.errCode())
	// A token opens only its own path, and a download token cannot upload.
	other := e.do(req{method: "PUT", path: "/object/upload/sign/b/" + alice + "/y.txt?token=" + signed.Token, body: strings.NewReader("x")})
	assert.Equal(t, codeInvalidSignature, other.errCode())
	var dl struct{ SignedURL string }
	e.mustOK(req{method: "POST", path: "/object/sign/b/" + alice + "/x.txt", token: e.service, json: map[string]any{"expiresIn": 60}}).decode(t, &dl)
	dtok := strings.SplitN(dl.SignedURL, "token=", 2)[1]
	swap := e.do(req{method: "PUT", path: "/object/upload/sign/b/" + alice + "/x.txt?token=" + dtok, body: strings.NewReader("x")})
	assert.Equal(t, codeInvalidSignature, swap.errCode())
	assert.Equal(t, "signed!", string(e.mustOK(req{method: "GET", path: "/object/b/" + alice + "/x.txt", token: e.service}).body))
	assert.Equal(t, 1, e.blobCount())
}
