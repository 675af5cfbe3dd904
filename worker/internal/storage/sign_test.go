package storage

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignedURLs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "b", false, nil)
	e.serviceOK(t, "POST", "/object/b/dir/f.txt", []byte("hello"))

	var one struct{ SignedURL string }
	e.serviceOK(t, "POST", "/object/sign/b/dir/f.txt", map[string]any{"expiresIn": 60}).JSON(t, &one)
	require.True(t, strings.HasPrefix(one.SignedURL, "/object/sign/b/dir/f.txt?token="), one.SignedURL)
	got := e.ok(t, apitest.Request{URL: one.SignedURL + "&download="})
	assert.Equal(t, "hello", got.String())
	assert.Equal(t, "attachment;", got.Header.Get("Content-Disposition"))
	assert.NotEmpty(t, got.Header.Get("Expires"))
	got = e.ok(t, apitest.Request{URL: one.SignedURL + "&download=na%C3%AFve.txt"})
	assert.Contains(t, got.Header.Get("Content-Disposition"), "filename*=UTF-8''na%C3%AFve.txt")

	var many []signedItem
	e.serviceOK(t, "POST", "/object/sign/b", map[string]any{"expiresIn": 60, "paths": []string{"missing", "dir/f.txt"}}).JSON(t, &many)
	require.Len(t, many, 2)
	assert.Nil(t, many[0].SignedURL)
	assert.NotNil(t, many[0].Error)
	require.NotNil(t, many[1].SignedURL)
	assert.Equal(t, "hello", e.ok(t, apitest.Request{URL: *many[1].SignedURL}).String())

	sign := func(claims jwt.MapClaims) string { return e.Token(t, claims) }
	now := time.Now()
	tok := strings.SplitN(one.SignedURL, "token=", 2)[1]
	otherSecret, err := jwtauth.Sign([]byte("another-secret-another-secret-xx"), jwt.MapClaims{"url": "b/dir/f.txt", "exp": now.Add(time.Hour).Unix()})
	require.NoError(t, err)
	// refusedToken is a row: the signed URL's token is refused with code; an
	// upload URL is tried with a PUT.
	refusedToken := func(name, url, code string) apitest.Scenario {
		sc := apitest.Scenario{Name: name, URL: url, WantStatus: 400, WantFields: refused(code)}
		if strings.HasPrefix(url, "/object/upload/") {
			sc.Method, sc.Body = "PUT", []byte("x")
		}
		return sc
	}
	apitest.Run(t, e.Env, []apitest.Scenario{
		refusedToken("expired", "/object/sign/b/dir/f.txt?token="+sign(jwt.MapClaims{"url": "b/dir/f.txt", "exp": now.Add(-time.Minute).Unix()}), codeExpiredToken),
		refusedToken("expired seconds ago, within the JWT leeway", "/object/sign/b/dir/f.txt?token="+sign(jwt.MapClaims{"url": "b/dir/f.txt", "exp": now.Add(-3 * time.Second).Unix()}), codeExpiredToken),
		refusedToken("upload token expired seconds ago", "/object/upload/sign/b/new.txt?token="+sign(jwt.MapClaims{"url": "b/new.txt", "scope": "upload", "exp": now.Add(-3 * time.Second).Unix()}), codeExpiredToken),
		refusedToken("other object", "/object/sign/b/other.txt?token="+tok, codeInvalidSignature),
		refusedToken("other secret", "/object/sign/b/dir/f.txt?token="+otherSecret, codeInvalidJWT),
		refusedToken("tampered", "/object/sign/b/dir/f.txt?token="+tok[:len(tok)-3]+"abc", codeInvalidJWT),
		refusedToken("upload token cannot download", "/object/sign/b/dir/f.txt?token="+sign(jwt.MapClaims{"url": "b/dir/f.txt", "scope": "upload", "exp": now.Add(time.Hour).Unix()}), codeInvalidSignature),
		refusedToken("no expiry", "/object/sign/b/dir/f.txt?token="+sign(jwt.MapClaims{"url": "b/dir/f.txt"}), codeInvalidJWT),
	})
	// A token crafted to expire in a minute serves.
	valid := sign(jwt.MapClaims{"url": "b/dir/f.txt", "exp": now.Add(time.Minute).Unix()})
	assert.Equal(t, "hello", e.ok(t, apitest.Request{URL: "/object/sign/b/dir/f.txt?token=" + valid}).String())
	assert.Equal(t, 1, e.rowCount(t), "the expired upload token wrote nothing")
	var tr struct{ SignedURL string }
	e.serviceOK(t, "POST", "/object/sign/b/dir/f.txt", map[string]any{"expiresIn": 60, "transform": map[string]any{"width": 10}}).JSON(t, &tr)
	require.True(t, strings.HasPrefix(tr.SignedURL, "/render/image/sign/b/dir/f.txt?token="), tr.SignedURL)
	// The render token serves its render only: not the original, and a
	// text file is no image.
	notImage := e.Do(t, apitest.Request{URL: tr.SignedURL})
	assert.Equal(t, 400, notImage.Status)
	assert.Contains(t, notImage.String(), "The source image is invalid or unsupported for rendering")
	asObject := e.Do(t, apitest.Request{URL: "/object/sign/" + strings.TrimPrefix(tr.SignedURL, "/render/image/sign/")})
	assert.Equal(t, codeInvalidSignature, errCode(asObject))

	res := e.Do(t, apitest.Request{Method: "POST", URL: "/object/sign/b/dir/f.txt", Headers: as(e.Service), Body: map[string]any{"expiresIn": 0}})
	assert.Equal(t, codeInvalidRequest, errCode(res))
}

func TestSignedUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "b", false, nil)
	_, err := e.pool.Exec(testCtx(t), `create policy ins on storage.objects for insert to authenticated with check ((storage.foldername(name))[1] = auth.uid()::text)`)
	require.NoError(t, err)
	ta := as(e.UserToken(t, alice))

	denied := e.Do(t, apitest.Request{Method: "POST", URL: "/object/upload/sign/b/" + bob + "/x.txt", Headers: ta, Body: map[string]any{}})
	assert.Equal(t, codeAccessDenied, errCode(denied))

	var signed struct{ URL, Token string }
	e.ok(t, apitest.Request{Method: "POST", URL: "/object/upload/sign/b/" + alice + "/x.txt", Headers: ta, Body: map[string]any{}}).JSON(t, &signed)
	require.Contains(t, signed.URL, "?token="+signed.Token)
	var up struct{ Key string }
	e.ok(t, apitest.Request{Method: "PUT", URL: signed.URL, Body: []byte("signed!"), Headers: as("", "x-upsert", "true")}).JSON(t, &up)
	assert.Equal(t, "b/"+alice+"/x.txt", up.Key)
	var owner string
	require.NoError(t, e.pool.QueryRow(testCtx(t), `select owner_id from storage.objects where name = $1`, alice+"/x.txt").Scan(&owner))
	assert.Equal(t, alice, owner)

	var dl struct{ SignedURL string }
	e.serviceOK(t, "POST", "/object/sign/b/"+alice+"/x.txt", map[string]any{"expiresIn": 60}).JSON(t, &dl)
	dtok := strings.SplitN(dl.SignedURL, "token=", 2)[1]
	apitest.Run(t, e.Env, []apitest.Scenario{
		// The token's upsert=false wins over x-upsert: a second upload conflicts.
		{Name: "the token's upsert wins", Method: "PUT", URL: signed.URL, Body: []byte("again"), Headers: as("", "x-upsert", "true"),
			WantStatus: 400, WantFields: refused(codeKeyExists)},
		// A token opens only its own path, and a download token cannot upload.
		{Name: "another path", Method: "PUT", URL: "/object/upload/sign/b/" + alice + "/y.txt?token=" + signed.Token, Body: []byte("x"),
			WantStatus: 400, WantFields: refused(codeInvalidSignature)},
		{Name: "a download token", Method: "PUT", URL: "/object/upload/sign/b/" + alice + "/x.txt?token=" + dtok, Body: []byte("x"),
			WantStatus: 400, WantFields: refused(codeInvalidSignature)},
	})
	assert.Equal(t, "signed!", e.serviceOK(t, "GET", "/object/b/"+alice+"/x.txt", nil).String())
	assert.Equal(t, 1, e.blobCount(t))
}
