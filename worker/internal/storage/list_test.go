package storage

import (
	"testing"
	"time"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type v2page struct {
	HasNext    bool                `json:"hasNext"`
	NextCursor string              `json:"nextCursor"`
	Folders    []map[string]string `json:"folders"`
	Objects    []map[string]any    `json:"objects"`
}

func TestListV2(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "b", false, nil)
	for _, k := range []string{"a.txt", "d/1.txt", "d/2.txt", "d/e/3.txt", "f.txt", "z/9.txt"} {
		e.serviceOK(t, "POST", "/object/b/"+k, []byte(k))
	}
	names := func(p v2page) (objs, folders []string) {
		for _, o := range p.Objects {
			objs = append(objs, o["name"].(string))
		}
		for _, f := range p.Folders {
			folders = append(folders, f["name"])
		}
		return
	}
	// page is a row: the page's objects and folders, and whether more follow.
	page := func(name string, body map[string]any, wantObjs, wantFolders []string, hasNext bool) apitest.Scenario {
		return apitest.Scenario{Name: name, Method: "POST", URL: "/object/list-v2/b", Headers: as(e.Service), Body: body,
			WantStatus: 200, WantFields: map[string]any{"hasNext": hasNext},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				var p v2page
				r.JSON(t, &p)
				objs, folders := names(p)
				assert.Equal(t, wantObjs, objs)
				assert.Equal(t, wantFolders, folders)
			}}
	}
	apitest.Run(t, e.Env, []apitest.Scenario{
		page("flat", map[string]any{}, []string{"a.txt", "d/1.txt", "d/2.txt", "d/e/3.txt", "f.txt", "z/9.txt"}, nil, false),
		page("delimited", map[string]any{"with_delimiter": true}, []string{"a.txt", "f.txt"}, []string{"d/", "z/"}, false),
		page("prefix delimited", map[string]any{"prefix": "d/", "with_delimiter": true}, []string{"d/1.txt", "d/2.txt"}, []string{"d/e/"}, false),
		page("limited", map[string]any{"limit": 2}, []string{"a.txt", "d/1.txt"}, nil, true),
	})
	// Paging with the cursor walks every key once.
	var all []string
	cursor := ""
	for i := 0; i < 10; i++ {
		var p v2page
		e.serviceOK(t, "POST", "/object/list-v2/b", map[string]any{"limit": 4, "cursor": cursor, "with_delimiter": true}).JSON(t, &p)
		objs, folders := names(p)
		all = append(all, append(objs, folders...)...)
		if !p.HasNext {
			break
		}
		require.NotEmpty(t, p.NextCursor)
		cursor = p.NextCursor
	}
	assert.ElementsMatch(t, []string{"a.txt", "d/", "f.txt", "z/"}, all)
}

// list-v2 orders by sortBy (name, updated_at or created_at; asc or desc,
// ties by name), its cursors keep that order page after page (a later
// request needs no sortBy), and delimited entries carry their key.
func TestListV2Sort(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "b", false, nil)
	// key: created_at, updated_at (seconds after base).
	times := map[string][2]int{"a.txt": {3, 5}, "d/1.txt": {1, 6}, "d/2.txt": {4, 2}, "f.txt": {2, 2}, "z/9.txt": {5, 1}}
	for k := range times {
		e.serviceOK(t, "POST", "/object/b/"+k, []byte(k))
	}
	ctx := testCtx(t)
	_, err := e.pool.Exec(ctx, `alter table storage.objects disable trigger update_objects_updated_at`)
	require.NoError(t, err)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for k, ts := range times {
		_, err := e.pool.Exec(ctx, `update storage.objects set created_at = $2, updated_at = $3 where name = $1`, k,
			base.Add(time.Duration(ts[0])*time.Second+123456*time.Nanosecond), base.Add(time.Duration(ts[1])*time.Second))
		require.NoError(t, err)
	}
	_, err = e.pool.Exec(ctx, `alter table storage.objects enable trigger update_objects_updated_at`)
	require.NoError(t, err)

	// walk pages through every entry, limit at a time, sortBy on the first
	// request only, and returns the names in the order they came.
	walk := func(t *testing.T, body map[string]any, limit int) []string {
		t.Helper()
		var got []string
		req := map[string]any{"limit": limit}
		for k, v := range body {
			req[k] = v
		}
		for i := 0; i < 20; i++ {
			var p v2page
			e.serviceOK(t, "POST", "/object/list-v2/b", req).JSON(t, &p)
			require.LessOrEqual(t, len(p.Objects)+len(p.Folders), limit)
			for _, f := range p.Folders {
				got = append(got, f["name"])
			}
			for _, o := range p.Objects {
				got = append(got, o["name"].(string))
			}
			if !p.HasNext {
				return got
			}
			req = map[string]any{"limit": limit, "cursor": p.NextCursor, "with_delimiter": body["with_delimiter"]}
		}
		t.Fatal("the cursor never ends")
		return nil
	}
	sortBy := func(col, order string) map[string]any { return map[string]any{"column": col, "order": order} }
	for _, tc := range []struct {
		name string
		body map[string]any
		want []string
	}{
		{"name desc", map[string]any{"sortBy": sortBy("name", "desc")}, []string{"z/9.txt", "f.txt", "d/2.txt", "d/1.txt", "a.txt"}},
		{"updated_at asc, ties by name", map[string]any{"sortBy": sortBy("updated_at", "asc")},
			[]string{"z/9.txt", "d/2.txt", "f.txt", "a.txt", "d/1.txt"}},
		{"updated_at desc", map[string]any{"sortBy": sortBy("updated_at", "desc")}, []string{"d/1.txt", "a.txt", "f.txt", "d/2.txt", "z/9.txt"}},
		{"created_at (default order asc)", map[string]any{"sortBy": map[string]any{"column": "created_at"}},
			[]string{"d/1.txt", "f.txt", "a.txt", "d/2.txt", "z/9.txt"}},
		{"delimited, name desc", map[string]any{"with_delimiter": true, "sortBy": sortBy("name", "desc")}, []string{"z/", "f.txt", "d/", "a.txt"}},
		{"delimited, name asc", map[string]any{"with_delimiter": true}, []string{"a.txt", "d/", "f.txt", "z/"}},
		{"delimited, created_at: a folder dates from its oldest key", map[string]any{"with_delimiter": true, "sortBy": sortBy("created_at", "asc")},
			[]string{"d/", "f.txt", "a.txt", "z/"}},
		// A folder's updated_at is its oldest key's created_at too; z/ ties
		// with a.txt at millisecond precision, and ties go by name.
		{"delimited, updated_at desc", map[string]any{"with_delimiter": true, "sortBy": sortBy("updated_at", "desc")},
			[]string{"z/", "a.txt", "f.txt", "d/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, walk(t, tc.body, 1), "one a page")
			assert.ElementsMatch(t, tc.want, walk(t, tc.body, 2), "two a page")
		})
	}

	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "keys of a level's folders and objects", Method: "POST", URL: "/object/list-v2/b", Headers: as(e.Service),
			Body: map[string]any{"with_delimiter": true}, WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				var p v2page
				r.JSON(t, &p)
				assert.Equal(t, []map[string]string{{"name": "d/", "key": "d"}, {"name": "z/", "key": "z"}}, p.Folders)
				require.Len(t, p.Objects, 2)
				assert.Equal(t, "a.txt", p.Objects[0]["key"])
			}},
		{Name: "keys under a prefix", Method: "POST", URL: "/object/list-v2/b", Headers: as(e.Service),
			Body: map[string]any{"prefix": "d/", "with_delimiter": true}, WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				var p v2page
				r.JSON(t, &p)
				require.Len(t, p.Objects, 2)
				assert.Equal(t, "d/1.txt", p.Objects[0]["name"])
				assert.Equal(t, "1.txt", p.Objects[0]["key"])
			}},
		{Name: "an unknown sort column", Method: "POST", URL: "/object/list-v2/b", Headers: as(e.Service),
			Body: map[string]any{"sortBy": map[string]any{"column": "size"}}, WantStatus: 400, WantFields: refused(codeInvalidRequest)},
		{Name: "a bad cursor", Method: "POST", URL: "/object/list-v2/b", Headers: as(e.Service),
			Body: map[string]any{"cursor": "bm90IGEgY3Vyc29y"}, WantStatus: 400, WantFields: refused(codeInvalidRequest)},
	})
}
