package rest

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the translator's golden files in testdata/golden")

// goldenCase is a request whose SQL is pinned in testdata/golden/<name>.golden
// (STYLE item 17): review the diff when the translator changes, and
// regenerate with `go test ./worker/internal/rest -run TestGolden -update`.
type goldenCase struct {
	name    string
	method  string
	url     string
	headers map[string]string
	body    string
}

var goldenCases = []goldenCase{
	{name: "select_star", url: "/rest/v1/genres"},
	{name: "select_columns_alias_cast", url: "/rest/v1/books?select=id,label:title,pages::text"},
	{name: "select_json_path", url: "/rest/v1/authors?select=name,bio->born,city:bio->address->>city,bio->tags->-1"},
	{name: "filters_all_basic", url: "/rest/v1/books?select=id&id=gt.1&id=lte.3&title=ilike.*a*&price=is.null&tags=cs.{sf}"},
	{name: "filter_in_and_not", url: `/rest/v1/books?select=id&id=not.in.(1,"2",3)&mood=in.(happy,sad)`},
	{name: "filter_fts_quantifier", url: "/rest/v1/books?select=id&title=fts(english).cities&pages=eq(any).{1,2}&title=like(all).{A*,*b}"},
	{name: "logic_tree", url: "/rest/v1/books?select=id&or=(id.eq.1,and(pages.gt.100,not.or(mood.is.null,title.eq.%22a,b%22)))"},
	{name: "order_limit_offset", url: "/rest/v1/books?select=id&order=pages.desc.nullslast,meta->>rating,id&limit=10&offset=5"},
	{name: "count_exact", url: "/rest/v1/books?select=id&pages=gt.100", headers: map[string]string{"Prefer": "count=exact"}},
	{name: "single_object", url: "/rest/v1/books?id=eq.1", headers: map[string]string{"Accept": "application/vnd.pgrst.object+json"}},
	{name: "embed_to_one_hint", url: "/rest/v1/books?select=title,author:authors!author_id(name)"},
	{name: "embed_to_many_params", url: "/rest/v1/authors?select=name,books!author_id(id,title)&books.order=id.desc&books.limit=2&books.pages=gt.100"},
	{name: "embed_many_to_many", url: "/rest/v1/books?select=title,genres(name)"},
	{name: "embed_inner_and_null", url: "/rest/v1/authors?select=name,books!author_id!inner(id),profiles(website)&profiles=is.null",
		headers: map[string]string{"Prefer": "count=exact"}},
	{name: "embed_spread", url: "/rest/v1/books?select=title,...authors!author_id(author:name)"},
	{name: "embed_spread_to_many", url: "/rest/v1/authors?select=name,...books!author_id(title)"},
	{name: "embed_legacy_count", url: "/rest/v1/authors?select=name,books!author_id(count)"},
	{name: "order_by_embed", url: "/rest/v1/books?select=id,authors!author_id(name)&order=authors(name).desc"},
	{name: "computed_field", url: "/rest/v1/books?select=id,full_title"},
	{name: "embed_self_parent_children", url: "/rest/v1/employees?select=name,boss:manager_id(name),reports:employees!manager_id(name)"},
	{name: "insert_object", method: "POST", url: "/rest/v1/genres", body: `{"id":90,"name":"x"}`},
	{name: "insert_bulk_columns_representation", method: "POST", url: `/rest/v1/authors?columns="name","country"&select=id,name`,
		headers: map[string]string{"Prefer": "return=representation"}, body: `[{"name":"a","country":"FR"},{"name":"b"}]`},
	{name: "insert_missing_default", method: "POST", url: `/rest/v1/authors?columns="name","country"`,
		headers: map[string]string{"Prefer": "missing=default"}, body: `[{"name":"a","country":"FR"},{"name":"b"}]`},
	{name: "upsert_merge", method: "POST", url: "/rest/v1/items?on_conflict=sku&select=id",
		headers: map[string]string{"Prefer": "resolution=merge-duplicates,return=representation"}, body: `{"name":"n","sku":"A1"}`},
	{name: "upsert_ignore", method: "POST", url: "/rest/v1/genres",
		headers: map[string]string{"Prefer": "resolution=ignore-duplicates"}, body: `{"id":1,"name":"n"}`},
	{name: "update_representation_embed", method: "PATCH", url: "/rest/v1/books?id=eq.1&select=id,authors!author_id(name)",
		headers: map[string]string{"Prefer": "return=representation"}, body: `{"pages":400}`},
	{name: "delete_filtered", method: "DELETE", url: "/rest/v1/book_genres?book_id=eq.3&or=(genre_id.eq.2,genre_id.eq.3)"},
	{name: "rpc_scalar_post", method: "POST", url: "/rest/v1/rpc/add", body: `{"a":1,"b":2}`},
	{name: "rpc_setof_get_filters", url: "/rest/v1/rpc/books_by_author?aid=1&select=id,title&pages=gt.100&order=id&limit=1"},
	{name: "rpc_void", method: "POST", url: "/rest/v1/rpc/bump", body: `{"n":1}`},
	{name: "rpc_single_json", method: "POST", url: "/rest/v1/rpc/echo_json", body: `{"k":1}`},
}

func TestGolden(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	for _, gc := range goldenCases {
		require.False(t, seen[gc.name], "duplicate golden case %s", gc.name)
		seen[gc.name] = true
		t.Run(gc.name, func(t *testing.T) {
			e.rec.take()
			res := e.api.Do(t, apitest.Request{Method: gc.verb(), URL: gc.url, Headers: gc.headers, Body: gc.body})
			if matchGolden(t, filepath.Join("testdata", "golden", gc.name+".golden"), gc.render(t, res.Status, e.rec.take())) {
				assert.Less(t, res.Status, 300, "%s: %s", gc.name, res.Body)
			}
		})
	}
	if *update {
		return
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.golden"))
	for _, f := range files {
		assert.True(t, seen[strings.TrimSuffix(filepath.Base(f), ".golden")], "stale golden file %s", f)
	}
}

// verb is the case's method, GET when it names none.
func (gc goldenCase) verb() string {
	if gc.method == "" {
		return "GET"
	}
	return gc.method
}

// render is what the golden file of gc holds: the request (method and URL,
// headers sorted, body) and its status as comments, then each statement it
// sent with its arguments as JSON.
func (gc goldenCase) render(t *testing.T, status int, stmts []recorded) string {
	t.Helper()
	var sb strings.Builder
	fmt.Fprintf(&sb, "# %s %s\n", gc.verb(), gc.url)
	keys := make([]string, 0, len(gc.headers))
	for k := range gc.headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&sb, "# %s: %s\n", k, gc.headers[k])
	}
	if gc.body != "" {
		fmt.Fprintf(&sb, "# body: %s\n", gc.body)
	}
	fmt.Fprintf(&sb, "# status: %d\n", status)
	for _, st := range stmts {
		args, err := json.Marshal(st.Args)
		require.NoError(t, err)
		fmt.Fprintf(&sb, "\n%s\n-- args: %s\n", st.SQL, args)
	}
	return sb.String()
}

// matchGolden compares got with the golden file at path, or with -update
// writes got there instead; it reports whether it compared.
func matchGolden(t *testing.T, path, got string) bool {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return false
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file %s: run with -update", path)
	assert.Equal(t, string(want), got, "%s: the SQL changed; review and run with -update", path)
	return true
}
