package storage

import (
	"testing"

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
