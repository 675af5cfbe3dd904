package rest

import (
	"testing"

	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInsert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	repr := map[string]string{"Prefer": "return=representation"}
	runScenarios(t, e, []scenario{
		{name: "minimal insert", method: "POST", url: "/rest/v1/genres", body: `{"id":10,"name":"Poetry"}`, wantStatus: 201,
			wantHeaders: map[string]string{"Content-Range": "*/*"}},
		{name: "representation", method: "POST", url: "/rest/v1/genres", headers: repr, body: `{"id":11,"name":"Drama"}`, wantStatus: 201,
			wantJSON: `[{"id":11,"name":"Drama"}]`, wantHeaders: map[string]string{"Preference-Applied": "return=representation"}},
		{name: "select after insert", method: "POST", url: "/rest/v1/books?select=title,author:authors!author_id(name)", headers: repr,
			body: `{"title":"Six Memos","author_id":2}`, wantStatus: 201, wantJSON: `[{"title":"Six Memos","author":{"name":"Italo"}}]`},
		{name: "defaults apply to absent keys", method: "POST", url: "/rest/v1/items?select=name,qty", headers: repr,
			body: `{"name":"plum"}`, wantStatus: 201, wantJSON: `[{"name":"plum","qty":1}]`},
		{name: "bulk with columns: absent keys are null", method: "POST", url: `/rest/v1/authors?columns=%22name%22,%22country%22&select=name,country`,
			headers: repr, body: `[{"name":"A","country":"FR"},{"name":"B"}]`, wantStatus: 201,
			wantJSON: `[{"name":"A","country":"FR"},{"name":"B","country":null}]`},
		{name: "bulk with missing=default", method: "POST", url: `/rest/v1/authors?columns=%22name%22,%22country%22&select=name,country`,
			headers: map[string]string{"Prefer": "return=representation,missing=default"}, body: `[{"name":"C","country":"FR"},{"name":"D"}]`,
			wantStatus: 201, wantJSON: `[{"name":"C","country":"FR"},{"name":"D","country":"NL"}]`},
		{name: "bulk keys must match", method: "POST", url: "/rest/v1/genres", body: `[{"id":20,"name":"x"},{"id":21}]`, wantStatus: 400,
			wantContains: []string{`"PGRST102"`, "All object keys must match"}},
		{name: "unknown key", method: "POST", url: "/rest/v1/genres", body: `{"id":22,"nope":1}`, wantStatus: 400,
			wantJSON: `{"code":"PGRST204","message":"Could not find the 'nope' column of 'genres' in the schema cache","details":null,"hint":null}`},
		{name: "invalid json", method: "POST", url: "/rest/v1/genres", body: `{"id":`, wantStatus: 400, wantContains: []string{`"PGRST102"`}},
		{name: "unique violation", method: "POST", url: "/rest/v1/genres", body: `{"id":1,"name":"dup"}`, wantStatus: 409,
			wantContains: []string{`"23505"`, "duplicate key value violates unique constraint"}},
		{name: "foreign key violation", method: "POST", url: "/rest/v1/books", body: `{"title":"x","author_id":999}`, wantStatus: 409,
			wantContains: []string{`"23503"`}},
		{name: "not null violation", method: "POST", url: "/rest/v1/genres", body: `{"id":30}`, wantStatus: 400, wantContains: []string{`"23502"`}},
		{name: "bad input", method: "POST", url: "/rest/v1/genres", body: `{"id":"x","name":"y"}`, wantStatus: 400, wantContains: []string{`"22P02"`}},
		{name: "arrays, jsonb, enum, range", method: "POST", url: "/rest/v1/books?select=tags,meta,mood,during", headers: repr,
			body: `{"title":"T","tags":["a","b"],"meta":{"k":[1,2]},"mood":"sad","during":"[1,3)"}`, wantStatus: 201,
			wantJSON: `[{"tags":["a","b"],"meta":{"k":[1,2]},"mood":"sad","during":"[1,3)"}]`},
		{name: "bigint as string", method: "POST", url: "/rest/v1/items?select=id,name", headers: repr, body: `{"id":"9007199254740993","name":"big"}`,
			wantStatus: 201, wantJSON: `[{"id":9007199254740993,"name":"big"}]`},
		{name: "empty array", method: "POST", url: "/rest/v1/genres", headers: repr, body: `[]`, wantStatus: 201, wantJSON: `[]`},
		{name: "headers-only location", method: "POST", url: "/rest/v1/genres", headers: map[string]string{"Prefer": "return=headers-only"},
			body: `{"id":40,"name":"Loc"}`, wantStatus: 201, wantHeaders: map[string]string{"Location": "/genres?id=eq.40"}},
		{name: "count on insert", method: "POST", url: "/rest/v1/genres", headers: map[string]string{"Prefer": "count=exact"},
			body: `[{"id":41,"name":"a"},{"id":42,"name":"b"}]`, wantStatus: 201, wantHeaders: map[string]string{"Content-Range": "*/2"}},
	})
}

func TestUpsert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runScenarios(t, e, []scenario{
		{name: "merge on primary key", method: "POST", url: "/rest/v1/genres?select=id,name&order=id",
			headers: map[string]string{"Prefer": "resolution=merge-duplicates,return=representation"},
			body:    `[{"id":1,"name":"SF"},{"id":50,"name":"New"}]`, wantStatus: 201, wantJSON: `[{"id":1,"name":"SF"},{"id":50,"name":"New"}]`,
			wantHeaders: map[string]string{"Preference-Applied": "resolution=merge-duplicates, return=representation"}},
		{name: "merge that only updates is 200", method: "POST", url: "/rest/v1/genres?select=id,name",
			headers: map[string]string{"Prefer": "resolution=merge-duplicates,return=representation"},
			body:    `{"id":2,"name":"Fables"}`, wantStatus: 200, wantJSON: `[{"id":2,"name":"Fables"}]`},
		{name: "merge with a computed field in the representation", method: "POST", url: "/rest/v1/books?select=id,full_title",
			headers: map[string]string{"Prefer": "resolution=merge-duplicates,return=representation"},
			body:    `{"id":3,"title":"Cities","pages":1}`, wantStatus: 200, wantJSON: `[{"id":3,"full_title":"Cities (1)"}]`},
		{name: "ignore duplicates", method: "POST", url: "/rest/v1/genres?select=id,name",
			headers: map[string]string{"Prefer": "resolution=ignore-duplicates,return=representation"},
			body:    `[{"id":1,"name":"ignored"},{"id":51,"name":"Newer"}]`, wantStatus: 201, wantJSON: `[{"id":51,"name":"Newer"}]`},
		{name: "on_conflict column", method: "POST", url: "/rest/v1/items?on_conflict=sku&select=name,qty,sku",
			headers: map[string]string{"Prefer": "resolution=merge-duplicates,return=representation"},
			body:    `{"name":"apple2","qty":9,"sku":"A1"}`, wantStatus: 200, wantJSON: `[{"name":"apple2","qty":9,"sku":"A1"}]`},
		{name: "on_conflict without unique index", method: "POST", url: "/rest/v1/items?on_conflict=name",
			headers: map[string]string{"Prefer": "resolution=merge-duplicates"}, body: `{"name":"x"}`, wantStatus: 400,
			wantContains: []string{`"42P10"`}},
		{name: "on_conflict unknown column", method: "POST", url: "/rest/v1/items?on_conflict=nope",
			headers: map[string]string{"Prefer": "resolution=merge-duplicates"}, body: `{"name":"x"}`, wantStatus: 400},
	})
	res := e.do("GET", "/rest/v1/genres?id=eq.1", nil, "")
	assert.JSONEq(t, `[{"id":1,"name":"SF"}]`, res.body)
}

func TestUpdateDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runScenarios(t, e, []scenario{
		{name: "update minimal", method: "PATCH", url: "/rest/v1/items?name=eq.apple", body: `{"qty":10}`, wantStatus: 204},
		{name: "update representation", method: "PATCH", url: "/rest/v1/items?name=eq.pear&select=name,qty",
			headers: map[string]string{"Prefer": "return=representation"}, body: `{"qty":7}`, wantStatus: 200,
			wantJSON: `[{"name":"pear","qty":7}]`, wantHeaders: map[string]string{"Content-Range": "0-0/*"}},
		{name: "update changes filtered column", method: "PATCH", url: "/rest/v1/items?qty=eq.7&select=qty",
			headers: map[string]string{"Prefer": "return=representation,count=exact"}, body: `{"qty":8}`, wantStatus: 200,
			wantJSON: `[{"qty":8}]`, wantHeaders: map[string]string{"Content-Range": "0-0/1"}},
		{name: "update without filter refused", method: "PATCH", url: "/rest/v1/items", body: `{"qty":1}`, wantStatus: 400,
			wantContains: []string{`"21000"`, "UPDATE requires a WHERE clause"}},
		{name: "update with array body", method: "PATCH", url: "/rest/v1/items?id=eq.1", body: `[{"qty":1}]`, wantStatus: 400,
			wantContains: []string{`"PGRST102"`}},
		{name: "update unknown column", method: "PATCH", url: "/rest/v1/items?id=eq.1", body: `{"nope":1}`, wantStatus: 400,
			wantContains: []string{`"PGRST204"`}},
		{name: "update nothing matched", method: "PATCH", url: "/rest/v1/items?id=eq.999", headers: map[string]string{"Prefer": "return=representation"},
			body: `{"qty":1}`, wantStatus: 200, wantJSON: `[]`},
		{name: "delete without filter refused", method: "DELETE", url: "/rest/v1/items", wantStatus: 400,
			wantContains: []string{"DELETE requires a WHERE clause"}},
		{name: "delete representation", method: "DELETE", url: "/rest/v1/book_genres?book_id=eq.3&select=genre_id&order=genre_id",
			headers: map[string]string{"Prefer": "return=representation,count=exact"}, wantStatus: 200,
			wantJSON: `[{"genre_id":2},{"genre_id":3}]`, wantHeaders: map[string]string{"Content-Range": "*/2"}},
		{name: "delete minimal", method: "DELETE", url: "/rest/v1/items?name=eq.apple", wantStatus: 204},
		{name: "delete fk violation", method: "DELETE", url: "/rest/v1/authors?id=eq.1", wantStatus: 409, wantContains: []string{`"23503"`}},
		{name: "single on multi-row delete rolls back", method: "DELETE", url: "/rest/v1/books?author_id=eq.2&select=id",
			headers: map[string]string{"Prefer": "return=representation", "Accept": "application/vnd.pgrst.object+json"}, wantStatus: 406,
			wantJSON: `{"code":"PGRST116","message":"Cannot coerce the result to a single JSON object","details":"The result contains 2 rows","hint":null}`},
		{name: "single on one-row update", method: "PATCH", url: "/rest/v1/books?id=eq.3&select=id,pages",
			headers: map[string]string{"Prefer": "return=representation", "Accept": "application/vnd.pgrst.object+json"}, body: `{"pages":166}`,
			wantStatus: 200, wantJSON: `{"id":3,"pages":166}`},
	})
	res := e.do("GET", "/rest/v1/books?author_id=eq.2&select=id&order=id", nil, "")
	assert.JSONEq(t, `[{"id":3},{"id":4}]`, res.body, "the failed .single() delete must have rolled back")
	res = e.do("GET", "/rest/v1/items?select=name,qty&order=id", nil, "")
	assert.JSONEq(t, `[{"name":"pear","qty":8}]`, res.body)
}

func TestMaxAffectedAndRollback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Rest) { c.DBTxEnd = "commit-allow-override" })
	runScenarios(t, e, []scenario{
		{name: "max-affected exceeded", method: "DELETE", url: "/rest/v1/book_genres?genre_id=in.(1,3)",
			headers: map[string]string{"Prefer": "handling=strict, max-affected=2"}, wantStatus: 400,
			wantContains: []string{`"PGRST124"`, "The query affects 4 rows"}},
		{name: "max-affected respected", method: "DELETE", url: "/rest/v1/book_genres?genre_id=eq.2",
			headers: map[string]string{"Prefer": "handling=strict, max-affected=2"}, wantStatus: 204,
			wantHeaders: map[string]string{"Preference-Applied": "handling=strict, max-affected=2"}},
		{name: "tx rollback", method: "POST", url: "/rest/v1/genres", headers: map[string]string{"Prefer": "tx=rollback, return=representation"},
			body: `{"id":60,"name":"rolled back"}`, wantStatus: 201, wantJSON: `[{"id":60,"name":"rolled back"}]`,
			wantHeaders: map[string]string{"Preference-Applied": "return=representation, tx=rollback"}},
		{name: "strict with an unknown preference", method: "GET", url: "/rest/v1/genres", headers: map[string]string{"Prefer": "handling=strict, bogus=1"},
			wantStatus: 400, wantContains: []string{`"PGRST122"`, "bogus=1"}},
		{name: "lenient ignores unknown preferences", method: "GET", url: "/rest/v1/genres?id=eq.1", headers: map[string]string{"Prefer": "bogus=1"},
			wantStatus: 200},
	})
	assert.Equal(t, 4, count(t, e, "/rest/v1/book_genres"))
	assert.Equal(t, 3, count(t, e, "/rest/v1/genres"))

	// Without the override, tx=rollback is ignored (and refused under strict).
	e2 := newEnv(t)
	res := e2.do("POST", "/rest/v1/genres", map[string]string{"Prefer": "tx=rollback"}, `{"id":61,"name":"kept"}`)
	require.Equal(t, 201, res.status)
	assert.Equal(t, 4, count(t, e2, "/rest/v1/genres"))
	res = e2.do("POST", "/rest/v1/genres", map[string]string{"Prefer": "handling=strict, tx=rollback"}, `{"id":62,"name":"x"}`)
	assert.Equal(t, 400, res.status)
}

// count reads the exact count of a table through the API as service_role.
func count(t *testing.T, e *env, url string) int {
	t.Helper()
	res := e.do("HEAD", url, map[string]string{"Prefer": "count=exact", "apikey": e.service}, "")
	require.Equal(t, 200, res.status, res.body)
	cr := res.headers.Get("Content-Range")
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
