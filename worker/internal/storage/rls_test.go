package storage

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	alice = "00000000-0000-4000-8000-0000000000a1"
	bob   = "00000000-0000-4000-8000-0000000000b2"
)

// TestRLSFolderPolicy: Supabase's "own folder" policies work unchanged;
// each operation needs the policies spec §5 lists.
func TestRLSFolderPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket("avatars", false, nil)
	_, err := e.pool.Exec(testCtx(t), `
create policy sel on storage.objects for select to authenticated using (bucket_id = 'avatars' and (storage.foldername(name))[1] = auth.uid()::text);
create policy ins on storage.objects for insert to authenticated with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = auth.uid()::text);
create policy upd on storage.objects for update to authenticated using (bucket_id = 'avatars' and (storage.foldername(name))[1] = auth.uid()::text);
create policy del on storage.objects for delete to authenticated using (bucket_id = 'avatars' and (storage.foldername(name))[1] = auth.uid()::text);
create policy bsel on storage.buckets for select to authenticated using (true);`)
	require.NoError(t, err)
	ta, tb := userToken(t, alice), userToken(t, bob)

	for _, tc := range []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"alice writes her folder", req{method: "POST", path: "/object/avatars/" + alice + "/a.png", token: ta, body: strings.NewReader("A")}, 200, ""},
		{"bob writes his folder", req{method: "POST", path: "/object/avatars/" + bob + "/b.png", token: tb, body: strings.NewReader("B")}, 200, ""},
		{"bob cannot write alice's folder", req{method: "POST", path: "/object/avatars/" + alice + "/evil.png", token: tb, body: strings.NewReader("x")}, 400, codeAccessDenied},
		{"bob cannot read alice's file", req{method: "GET", path: "/object/avatars/" + alice + "/a.png", token: tb}, 400, codeNoSuchKey},
		{"anon cannot read", req{method: "GET", path: "/object/avatars/" + alice + "/a.png", token: anonToken(t)}, 400, codeNoSuchKey},
		{"no credentials: private bucket hidden", req{method: "GET", path: "/object/avatars/" + alice + "/a.png"}, 400, codeNoSuchBucket},
		{"alice reads her file", req{method: "GET", path: "/object/authenticated/avatars/" + alice + "/a.png", token: ta}, 200, ""},
		{"bob cannot sign alice's file", req{method: "POST", path: "/object/sign/avatars/" + alice + "/a.png", token: tb, json: map[string]any{"expiresIn": 60}}, 400, codeNoSuchKey},
		{"bob cannot move alice's file", req{method: "POST", path: "/object/move", token: tb, json: map[string]any{"bucketId": "avatars", "sourceKey": alice + "/a.png", "destinationKey": bob + "/stolen.png"}}, 400, codeNoSuchKey},
		{"alice cannot move out of her folder", req{method: "POST", path: "/object/move", token: ta, json: map[string]any{"bucketId": "avatars", "sourceKey": alice + "/a.png", "destinationKey": bob + "/gift.png"}}, 400, codeAccessDenied},
		{"bob cannot copy alice's file", req{method: "POST", path: "/object/copy", token: tb, json: map[string]any{"bucketId": "avatars", "sourceKey": alice + "/a.png", "destinationKey": bob + "/c.png"}}, 400, codeNoSuchKey},
		{"alice upserts her file", req{method: "PUT", path: "/object/avatars/" + alice + "/a.png", token: ta, body: strings.NewReader("A2")}, 200, ""},
		{"bob cannot upsert alice's file", req{method: "PUT", path: "/object/avatars/" + alice + "/a.png", token: tb, body: strings.NewReader("x")}, 400, codeAccessDenied},
		{"anon cannot create buckets", req{method: "POST", path: "/bucket", token: anonToken(t), json: map[string]any{"id": "x"}}, 400, codeAccessDenied},
	} {
		res := e.do(tc.r)
		assert.Equal(t, tc.status, res.status, "%s: %s", tc.name, res.body)
		if tc.code != "" {
			assert.Equal(t, tc.code, res.errCode(), tc.name)
		}
	}

	// list shows each user their own folder only.
	var items []listItem
	e.mustOK(req{method: "POST", path: "/object/list/avatars", token: tb, json: map[string]any{"prefix": ""}}).decode(t, &items)
	require.Len(t, items, 1)
	assert.Equal(t, bob, items[0].Name)

	// remove() of an invisible key deletes nothing; the owner's works.
	var removed []map[string]any
	e.mustOK(req{method: "DELETE", path: "/object/avatars", token: tb, json: map[string]any{"prefixes": []string{alice + "/a.png"}}}).decode(t, &removed)
	assert.Empty(t, removed)
	assert.Equal(t, "A2", string(e.mustOK(req{method: "GET", path: "/object/avatars/" + alice + "/a.png", token: ta}).body))

	// owner and owner_id come from the JWT sub.
	var owner, ownerID string
	require.NoError(t, e.pool.QueryRow(testCtx(t), `select owner::text, owner_id from storage.objects where name = $1`, alice+"/a.png").Scan(&owner, &ownerID))
	assert.Equal(t, alice, owner)
	assert.Equal(t, alice, ownerID)

	e.mustOK(req{method: "DELETE", path: "/object/avatars", token: ta, json: map[string]any{"prefixes": []string{alice + "/a.png"}}}).decode(t, &removed)
	assert.Len(t, removed, 1)
	assert.Equal(t, alice+"/a.png", removed[0]["name"])
	assert.Equal(t, 1, e.blobCount())

	// Authenticated users see buckets through the bucket policy.
	var buckets []bucketJSON
	e.mustOK(req{method: "GET", path: "/bucket", token: ta}).decode(t, &buckets)
	assert.Len(t, buckets, 1)
	e.mustOK(req{method: "GET", path: "/bucket", token: anonToken(t)}).decode(t, &buckets)
	assert.Empty(t, buckets)
	_ = url.PathEscape
}

// TestRequestSettings: policies can read storage.operation and the
// request settings, as upstream sets them; credentials are not exposed.
func TestRequestSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket("b", false, nil)
	_, err := e.pool.Exec(testCtx(t), `create policy ins on storage.objects for insert to authenticated with check (
  current_setting('storage.operation', true) = 'storage.object.upload'
  and current_setting('request.method', true) = 'POST'
  and current_setting('request.path', true) like '/storage/v1/object/b/%'
  and current_setting('request.headers', true)::jsonb->>'x-app' = 'yes'
  and current_setting('request.headers', true)::jsonb->>'authorization' is null)`)
	require.NoError(t, err)
	tok := userToken(t, alice)
	ok := e.do(req{method: "POST", path: "/object/b/x.txt", token: tok, body: strings.NewReader("x"), headers: map[string]string{"x-app": "yes"}})
	assert.Equal(t, 200, ok.status, string(ok.body))
	no := e.do(req{method: "POST", path: "/object/b/y.txt", token: tok, body: strings.NewReader("x")})
	assert.Equal(t, codeAccessDenied, no.errCode())
}
