package storage

import (
	"testing"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	alice = "00000000-0000-4000-8000-0000000000a1"
	bob   = "00000000-0000-4000-8000-0000000000b2"
)

// refused is the fields of storage's error body with code.
func refused(code string) map[string]any { return map[string]any{"code": code} }

// TestRLSFolderPolicy: Supabase's "own folder" policies work unchanged;
// each operation needs the policies docs/api/storage.md §5 lists.
func TestRLSFolderPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "avatars", false, nil)
	_, err := e.pool.Exec(testCtx(t), `
create policy sel on storage.objects for select to authenticated using (bucket_id = 'avatars' and (storage.foldername(name))[1] = auth.uid()::text);
create policy ins on storage.objects for insert to authenticated with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = auth.uid()::text);
create policy upd on storage.objects for update to authenticated using (bucket_id = 'avatars' and (storage.foldername(name))[1] = auth.uid()::text);
create policy del on storage.objects for delete to authenticated using (bucket_id = 'avatars' and (storage.foldername(name))[1] = auth.uid()::text);
create policy bsel on storage.buckets for select to authenticated using (true);`)
	require.NoError(t, err)
	ta, tb := as(e.UserToken(t, alice)), as(e.UserToken(t, bob))
	anon := as(e.Anon)

	// Rows in order: the writes come before the reads that need them.
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "alice writes her folder", Method: "POST", URL: "/object/avatars/" + alice + "/a.png", Headers: ta, Body: []byte("A"), WantStatus: 200},
		{Name: "bob writes his folder", Method: "POST", URL: "/object/avatars/" + bob + "/b.png", Headers: tb, Body: []byte("B"), WantStatus: 200},
		{Name: "bob cannot write alice's folder", Method: "POST", URL: "/object/avatars/" + alice + "/evil.png", Headers: tb, Body: []byte("x"),
			WantStatus: 400, WantFields: refused(codeAccessDenied)},
		{Name: "bob cannot read alice's file", URL: "/object/avatars/" + alice + "/a.png", Headers: tb,
			WantStatus: 400, WantFields: refused(codeNoSuchKey)},
		{Name: "anon cannot read", URL: "/object/avatars/" + alice + "/a.png", Headers: anon,
			WantStatus: 400, WantFields: refused(codeNoSuchKey)},
		{Name: "no credentials: private bucket hidden", URL: "/object/avatars/" + alice + "/a.png",
			WantStatus: 400, WantFields: refused(codeNoSuchBucket)},
		{Name: "alice reads her file", URL: "/object/authenticated/avatars/" + alice + "/a.png", Headers: ta, WantStatus: 200},
		{Name: "bob cannot sign alice's file", Method: "POST", URL: "/object/sign/avatars/" + alice + "/a.png", Headers: tb,
			Body: map[string]any{"expiresIn": 60}, WantStatus: 400, WantFields: refused(codeNoSuchKey)},
		{Name: "bob cannot move alice's file", Method: "POST", URL: "/object/move", Headers: tb,
			Body:       map[string]any{"bucketId": "avatars", "sourceKey": alice + "/a.png", "destinationKey": bob + "/stolen.png"},
			WantStatus: 400, WantFields: refused(codeNoSuchKey)},
		{Name: "alice cannot move out of her folder", Method: "POST", URL: "/object/move", Headers: ta,
			Body:       map[string]any{"bucketId": "avatars", "sourceKey": alice + "/a.png", "destinationKey": bob + "/gift.png"},
			WantStatus: 400, WantFields: refused(codeAccessDenied)},
		{Name: "bob cannot copy alice's file", Method: "POST", URL: "/object/copy", Headers: tb,
			Body:       map[string]any{"bucketId": "avatars", "sourceKey": alice + "/a.png", "destinationKey": bob + "/c.png"},
			WantStatus: 400, WantFields: refused(codeNoSuchKey)},
		{Name: "alice upserts her file", Method: "PUT", URL: "/object/avatars/" + alice + "/a.png", Headers: ta, Body: []byte("A2"), WantStatus: 200},
		{Name: "bob cannot upsert alice's file", Method: "PUT", URL: "/object/avatars/" + alice + "/a.png", Headers: tb, Body: []byte("x"),
			WantStatus: 400, WantFields: refused(codeAccessDenied)},
		{Name: "anon cannot create buckets", Method: "POST", URL: "/bucket", Headers: anon, Body: map[string]any{"id": "x"},
			WantStatus: 400, WantFields: refused(codeAccessDenied)},
	})

	// list shows each user their own folder only.
	var items []listItem
	e.ok(t, apitest.Request{Method: "POST", URL: "/object/list/avatars", Headers: tb, Body: map[string]any{"prefix": ""}}).JSON(t, &items)
	require.Len(t, items, 1)
	assert.Equal(t, bob, items[0].Name)

	// remove() of an invisible key deletes nothing; the owner's works.
	var removed []map[string]any
	e.ok(t, apitest.Request{Method: "DELETE", URL: "/object/avatars", Headers: tb, Body: map[string]any{"prefixes": []string{alice + "/a.png"}}}).JSON(t, &removed)
	assert.Empty(t, removed)
	assert.Equal(t, "A2", e.ok(t, apitest.Request{URL: "/object/avatars/" + alice + "/a.png", Headers: ta}).String())

	// owner and owner_id come from the JWT sub.
	var owner, ownerID string
	require.NoError(t, e.pool.QueryRow(testCtx(t), `select owner::text, owner_id from storage.objects where name = $1`, alice+"/a.png").Scan(&owner, &ownerID))
	assert.Equal(t, alice, owner)
	assert.Equal(t, alice, ownerID)

	e.ok(t, apitest.Request{Method: "DELETE", URL: "/object/avatars", Headers: ta, Body: map[string]any{"prefixes": []string{alice + "/a.png"}}}).JSON(t, &removed)
	assert.Len(t, removed, 1)
	assert.Equal(t, alice+"/a.png", removed[0]["name"])
	assert.Equal(t, 1, e.blobCount(t))

	// Authenticated users see buckets through the bucket policy.
	var buckets []bucketJSON
	e.ok(t, apitest.Request{URL: "/bucket", Headers: ta}).JSON(t, &buckets)
	assert.Len(t, buckets, 1)
	e.ok(t, apitest.Request{URL: "/bucket", Headers: anon}).JSON(t, &buckets)
	assert.Empty(t, buckets)
}

// TestRequestSettings: policies can read storage.operation and the
// request settings, as upstream sets them; credentials are not exposed.
func TestRequestSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "b", false, nil)
	_, err := e.pool.Exec(testCtx(t), `create policy ins on storage.objects for insert to authenticated with check (
  current_setting('storage.operation', true) = 'storage.object.upload'
  and current_setting('request.method', true) = 'POST'
  and current_setting('request.path', true) like '/storage/v1/object/b/%'
  and current_setting('request.headers', true)::jsonb->>'x-app' = 'yes'
  and current_setting('request.headers', true)::jsonb->>'authorization' is null)`)
	require.NoError(t, err)
	tok := e.UserToken(t, alice)
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "the policy's header", Method: "POST", URL: "/object/b/x.txt", Headers: as(tok, "x-app", "yes"), Body: []byte("x"), WantStatus: 200},
		{Name: "without it", Method: "POST", URL: "/object/b/y.txt", Headers: as(tok), Body: []byte("x"), WantStatus: 400,
			WantFields: refused(codeAccessDenied)},
	})
}
