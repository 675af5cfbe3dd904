package rest

import (
	"testing"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInsert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	repr := map[string]string{"Prefer": "return=representation"}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "minimal insert", Method: "POST", URL: "/rest/v1/genres", Body: `{"id":10,"name":"Poetry"}`, WantStatus: 201,
			WantHeaders: map[string]string{"Content-Range": "*/*"}},
		{Name: "representation", Method: "POST", URL: "/rest/v1/genres", Headers: repr, Body: `{"id":11,"name":"Drama"}`, WantStatus: 201,
			WantJSON: `[{"id":11,"name":"Drama"}]`, WantHeaders: map[string]string{"Preference-Applied": "return=representation"}},
		{Name: "select after insert", Method: "POST", URL: "/rest/v1/books?select=title,author:authors!author_id(name)", Headers: repr,
			Body: `{"title":"Six Memos","author_id":2}`, WantStatus: 201, WantJSON: `[{"title":"Six Memos","author":{"name":"Italo"}}]`},
		{Name: "defaults apply to absent keys", Method: "POST", URL: "/rest/v1/items?select=name,qty", Headers: repr,
			Body: `{"name":"plum"}`, WantStatus: 201, WantJSON: `[{"name":"plum","qty":1}]`},
		{Name: "bulk with columns: absent keys are null", Method: "POST", URL: `/rest/v1/authors?columns=%22name%22,%22country%22&select=name,country`,
			Headers: repr, Body: `[{"name":"A","country":"FR"},{"name":"B"}]`, WantStatus: 201,
			WantJSON: `[{"name":"A","country":"FR"},{"name":"B","country":null}]`},
		{Name: "bulk with missing=default", Method: "POST", URL: `/rest/v1/authors?columns=%22name%22,%22country%22&select=name,country`,
			Headers: map[string]string{"Prefer": "return=representation,missing=default"}, Body: `[{"name":"C","country":"FR"},{"name":"D"}]`,
			WantStatus: 201, WantJSON: `[{"name":"C","country":"FR"},{"name":"D","country":"NL"}]`},
		{Name: "bulk keys must match", Method: "POST", URL: "/rest/v1/genres", Body: `[{"id":20,"name":"x"},{"id":21}]`, WantStatus: 400,
			WantContains: []string{`"PGRST102"`, "All object keys must match"}},
		{Name: "unknown key", Method: "POST", URL: "/rest/v1/genres", Body: `{"id":22,"nope":1}`, WantStatus: 400,
			WantJSON: `{"code":"PGRST204","message":"Could not find the 'nope' column of 'genres' in the schema cache","details":null,"hint":null}`},
		{Name: "invalid json", Method: "POST", URL: "/rest/v1/genres", Body: `{"id":`, WantStatus: 400, WantContains: []string{`"PGRST102"`}},
		{Name: "unique violation", Method: "POST", URL: "/rest/v1/genres", Body: `{"id":1,"name":"dup"}`, WantStatus: 409,
			WantContains: []string{`"23505"`, "duplicate key value violates unique constraint"}},
		{Name: "foreign key violation", Method: "POST", URL: "/rest/v1/books", Body: `{"title":"x","author_id":999}`, WantStatus: 409,
			WantContains: []string{`"23503"`}},
		{Name: "not null violation", Method: "POST", URL: "/rest/v1/genres", Body: `{"id":30}`, WantStatus: 400, WantContains: []string{`"23502"`}},
		{Name: "bad input", Method: "POST", URL: "/rest/v1/genres", Body: `{"id":"x","name":"y"}`, WantStatus: 400, WantContains: []string{`"22P02"`}},
		{Name: "arrays, jsonb, enum, range", Method: "POST", URL: "/rest/v1/books?select=tags,meta,mood,during", Headers: repr,
			Body: `{"title":"T","tags":["a","b"],"meta":{"k":[1,2]},"mood":"sad","during":"[1,3)"}`, WantStatus: 201,
			WantJSON: `[{"tags":["a","b"],"meta":{"k":[1,2]},"mood":"sad","during":"[1,3)"}]`},
		{Name: "bigint as string", Method: "POST", URL: "/rest/v1/items?select=id,name", Headers: repr, Body: `{"id":"9007199254740993","name":"big"}`,
			WantStatus: 201, WantJSON: `[{"id":9007199254740993,"name":"big"}]`},
		{Name: "empty array", Method: "POST", URL: "/rest/v1/genres", Headers: repr, Body: `[]`, WantStatus: 201, WantJSON: `[]`},
		{Name: "headers-only location", Method: "POST", URL: "/rest/v1/genres", Headers: map[string]string{"Prefer": "return=headers-only"},
			Body: `{"id":40,"name":"Loc"}`, WantStatus: 201, WantHeaders: map[string]string{"Location": "/genres?id=eq.40"}},
		{Name: "count on insert", Method: "POST", URL: "/rest/v1/genres", Headers: map[string]string{"Prefer": "count=exact"},
			Body: `[{"id":41,"name":"a"},{"id":42,"name":"b"}]`, WantStatus: 201, WantHeaders: map[string]string{"Content-Range": "*/2"}},
	})
}

func TestUpsert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "merge on primary key", Method: "POST", URL: "/rest/v1/genres?select=id,name&order=id",
			Headers: map[string]string{"Prefer": "resolution=merge-duplicates,return=representation"},
			Body:    `[{"id":1,"name":"SF"},{"id":50,"name":"New"}]`, WantStatus: 201, WantJSON: `[{"id":1,"name":"SF"},{"id":50,"name":"New"}]`,
			WantHeaders: map[string]string{"Preference-Applied": "resolution=merge-duplicates, return=representation"}},
		{Name: "merge that only updates is 200", Method: "POST", URL: "/rest/v1/genres?select=id,name",
			Headers: map[string]string{"Prefer": "resolution=merge-duplicates,return=representation"},
			Body:    `{"id":2,"name":"Fables"}`, WantStatus: 200, WantJSON: `[{"id":2,"name":"Fables"}]`},
		{Name: "merge with a computed field in the representation", Method: "POST", URL: "/rest/v1/books?select=id,full_title",
			Headers: map[string]string{"Prefer": "resolution=merge-duplicates,return=representation"},
			Body:    `{"id":3,"title":"Cities","pages":1}`, WantStatus: 200, WantJSON: `[{"id":3,"full_title":"Cities (1)"}]`},
		{Name: "ignore duplicates", Method: "POST", URL: "/rest/v1/genres?select=id,name",
			Headers: map[string]string{"Prefer": "resolution=ignore-duplicates,return=representation"},
			Body:    `[{"id":1,"name":"ignored"},{"id":51,"name":"Newer"}]`, WantStatus: 201, WantJSON: `[{"id":51,"name":"Newer"}]`},
		{Name: "on_conflict column", Method: "POST", URL: "/rest/v1/items?on_conflict=sku&select=name,qty,sku",
			Headers: map[string]string{"Prefer": "resolution=merge-duplicates,return=representation"},
			Body:    `{"name":"apple2","qty":9,"sku":"A1"}`, WantStatus: 200, WantJSON: `[{"name":"apple2","qty":9,"sku":"A1"}]`},
		{Name: "on_conflict without unique index", Method: "POST", URL: "/rest/v1/items?on_conflict=name",
			Headers: map[string]string{"Prefer": "resolution=merge-duplicates"}, Body: `{"name":"x"}`, WantStatus: 400,
			WantContains: []string{`"42P10"`}},
		{Name: "on_conflict unknown column", Method: "POST", URL: "/rest/v1/items?on_conflict=nope",
			Headers: map[string]string{"Prefer": "resolution=merge-duplicates"}, Body: `{"name":"x"}`, WantStatus: 400},
		{Name: "the merged row reads back", URL: "/rest/v1/genres?id=eq.1", WantStatus: 200, WantJSON: `[{"id":1,"name":"SF"}]`},
	})
}

func TestUpdateDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "update minimal", Method: "PATCH", URL: "/rest/v1/items?name=eq.apple", Body: `{"qty":10}`, WantStatus: 204},
		{Name: "update representation", Method: "PATCH", URL: "/rest/v1/items?name=eq.pear&select=name,qty",
			Headers: map[string]string{"Prefer": "return=representation"}, Body: `{"qty":7}`, WantStatus: 200,
			WantJSON: `[{"name":"pear","qty":7}]`, WantHeaders: map[string]string{"Content-Range": "0-0/*"}},
		{Name: "update changes filtered column", Method: "PATCH", URL: "/rest/v1/items?qty=eq.7&select=qty",
			Headers: map[string]string{"Prefer": "return=representation,count=exact"}, Body: `{"qty":8}`, WantStatus: 200,
			WantJSON: `[{"qty":8}]`, WantHeaders: map[string]string{"Content-Range": "0-0/1"}},
		{Name: "update without filter refused", Method: "PATCH", URL: "/rest/v1/items", Body: `{"qty":1}`, WantStatus: 400,
			WantContains: []string{`"21000"`, "UPDATE requires a WHERE clause"}},
		{Name: "update with array body", Method: "PATCH", URL: "/rest/v1/items?id=eq.1", Body: `[{"qty":1}]`, WantStatus: 400,
			WantContains: []string{`"PGRST102"`}},
		{Name: "update unknown column", Method: "PATCH", URL: "/rest/v1/items?id=eq.1", Body: `{"nope":1}`, WantStatus: 400,
			WantContains: []string{`"PGRST204"`}},
		{Name: "update nothing matched", Method: "PATCH", URL: "/rest/v1/items?id=eq.999", Headers: map[string]string{"Prefer": "return=representation"},
			Body: `{"qty":1}`, WantStatus: 200, WantJSON: `[]`},
		{Name: "delete without filter refused", Method: "DELETE", URL: "/rest/v1/items", WantStatus: 400,
			WantContains: []string{"DELETE requires a WHERE clause"}},
		{Name: "delete representation", Method: "DELETE", URL: "/rest/v1/book_genres?book_id=eq.3&select=genre_id&order=genre_id",
			Headers: map[string]string{"Prefer": "return=representation,count=exact"}, WantStatus: 200,
			WantJSON: `[{"genre_id":2},{"genre_id":3}]`, WantHeaders: map[string]string{"Content-Range": "*/2"}},
		{Name: "delete minimal", Method: "DELETE", URL: "/rest/v1/items?name=eq.apple", WantStatus: 204},
		{Name: "delete fk violation", Method: "DELETE", URL: "/rest/v1/authors?id=eq.1", WantStatus: 409, WantContains: []string{`"23503"`}},
		{Name: "single on multi-row delete rolls back", Method: "DELETE", URL: "/rest/v1/books?author_id=eq.2&select=id",
			Headers: map[string]string{"Prefer": "return=representation", "Accept": "application/vnd.pgrst.object+json"}, WantStatus: 406,
			WantJSON: `{"code":"PGRST116","message":"Cannot coerce the result to a single JSON object","details":"The result contains 2 rows","hint":null}`,
			After: func(t *testing.T, api *apitest.Env, _ *apitest.Response) {
				res := api.Do(t, apitest.Request{URL: "/rest/v1/books?author_id=eq.2&select=id&order=id"})
				assert.JSONEq(t, `[{"id":3},{"id":4}]`, res.String(), "the failed .single() delete must have rolled back")
			}},
		{Name: "single on one-row update", Method: "PATCH", URL: "/rest/v1/books?id=eq.3&select=id,pages",
			Headers: map[string]string{"Prefer": "return=representation", "Accept": "application/vnd.pgrst.object+json"}, Body: `{"pages":166}`,
			WantStatus: 200, WantJSON: `{"id":3,"pages":166}`},
		{Name: "the items left", URL: "/rest/v1/items?select=name,qty&order=id", WantStatus: 200, WantJSON: `[{"name":"pear","qty":8}]`},
	})
}

func TestMaxAffectedAndRollback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Rest) { c.DBTxEnd = "commit-allow-override" })
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "max-affected exceeded", Method: "DELETE", URL: "/rest/v1/book_genres?genre_id=in.(1,3)",
			Headers: map[string]string{"Prefer": "handling=strict, max-affected=2"}, WantStatus: 400,
			WantContains: []string{`"PGRST124"`, "The query affects 4 rows"}},
		{Name: "max-affected respected", Method: "DELETE", URL: "/rest/v1/book_genres?genre_id=eq.2",
			Headers: map[string]string{"Prefer": "handling=strict, max-affected=2"}, WantStatus: 204,
			WantHeaders: map[string]string{"Preference-Applied": "handling=strict, max-affected=2"}},
		{Name: "tx rollback", Method: "POST", URL: "/rest/v1/genres", Headers: map[string]string{"Prefer": "tx=rollback, return=representation"},
			Body: `{"id":60,"name":"rolled back"}`, WantStatus: 201, WantJSON: `[{"id":60,"name":"rolled back"}]`,
			WantHeaders: map[string]string{"Preference-Applied": "return=representation, tx=rollback"}},
		{Name: "strict with an unknown preference", Method: "GET", URL: "/rest/v1/genres", Headers: map[string]string{"Prefer": "handling=strict, bogus=1"},
			WantStatus: 400, WantContains: []string{`"PGRST122"`, "bogus=1"}},
		{Name: "lenient ignores unknown preferences", Method: "GET", URL: "/rest/v1/genres?id=eq.1", Headers: map[string]string{"Prefer": "bogus=1"},
			WantStatus: 200},
	})
	assert.Equal(t, 4, count(t, e, "/rest/v1/book_genres"))
	assert.Equal(t, 3, count(t, e, "/rest/v1/genres"))

	// Without the override, tx=rollback is ignored (and refused under strict).
	e2 := newEnv(t)
	apitest.Run(t, e2.api, []apitest.Scenario{
		{Name: "tx rollback without the override is ignored", Method: "POST", URL: "/rest/v1/genres",
			Headers: map[string]string{"Prefer": "tx=rollback"}, Body: `{"id":61,"name":"kept"}`, WantStatus: 201,
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) {
				assert.Equal(t, 4, count(t, e2, "/rest/v1/genres"))
			}},
		{Name: "tx rollback without the override is refused under strict", Method: "POST", URL: "/rest/v1/genres",
			Headers: map[string]string{"Prefer": "handling=strict, tx=rollback"}, Body: `{"id":62,"name":"x"}`, WantStatus: 400},
	})
}

// count reads the exact count of a table through the API as service_role.
func count(t *testing.T, e *env, url string) int {
	t.Helper()
	res := e.api.Do(t, apitest.Request{Method: "HEAD", URL: url, Headers: map[string]string{"Prefer": "count=exact", "apikey": e.api.Service}})
	require.Equal(t, 200, res.Status, res.String())
	cr := res.Header.Get("Content-Range")
	var n int
	for i := len(cr) - 1; i >= 0; i-- {
		if cr[i] == '/' {
			for _, c := range cr[i+1:] {
				n = n*10 + int(c-'0')
			}
			break
		}
	}
	return n
}
