package storage

import (
	"strings"
	"testing"

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
	e.createBucket("b", false, nil)
	for _, k := range []string{"a.txt", "d/1.txt", "d/2.txt", "d/e/3.txt", "f.txt", "z/9.txt"} {
		e.mustOK(req{method: "POST", path: "/object/b/" + k, token: e.service, body: strings.NewReader(k)})
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
	for _, tc := range []struct {
		name    string
		body    map[string]any
		objs    []string
		folders []string
		hasNext bool
	}{
		{"flat", map[string]any{}, []string{"a.txt", "d/1.txt", "d/2.txt", "d/e/3.txt", "f.txt", "z/9.txt"}, nil, false},
		{"delimited", map[string]any{"with_delimiter": true}, []string{"a.txt", "f.txt"}, []string{"d/", "z/"}, false},
		{"prefix delimited", map[string]any{"prefix": "d/", "with_delimiter": true}, []string{"d/1.txt", "d/2.txt"}, []string{"d/e/"}, false},
		{"limited", map[string]any{"limit": 2}, []string{"a.txt", "d/1.txt"}, nil, true},
	} {
		var p v2page
		e.mustOK(req{method: "POST", path: "/object/list-v2/b", token: e.service, json: tc.body}).decode(t, &p)
		objs, folders := names(p)
		assert.Equal(t, tc.objs, objs, tc.name)
		assert.Equal(t, tc.folders, folders, tc.name)
		assert.Equal(t, tc.hasNext, p.HasNext, tc.name)
	}
	// Paging with the cursor walks every key once.
	var all []string
	cursor := ""
	for i := 0; i < 10; i++ {
		var p v2page
		e.mustOK(req{method: "POST", path: "/object/list-v2/b", token: e.service, json: map[string]any{"limit": 4, "cursor": cursor, "with_delimiter": true}}).decode(t, &p)
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
