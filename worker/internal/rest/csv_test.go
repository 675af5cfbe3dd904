package rest

import (
	"testing"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const csvFixtureSQL = `
create table csv_t (id int primary key, txt text, tags text[], doc tsvector, j jsonb, flag bool);
grant all on csv_t to anon, authenticated, service_role;
insert into csv_t values
  (1, 'hello world', '{a,b}', to_tsvector('simple', 'fat cat'), '{"k": "v"}', true),
  (2, e'say "hi", then\nleave', null, null, null, false),
  (3, '', null, null, null, null),
  (4, 'plain', '{}', null, '1', null);`

func csvEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	ctx := testCtx(t)
	_, err := e.pool.Exec(ctx, csvFixtureSQL)
	require.NoError(t, err)
	require.NoError(t, e.h.Cache().LoadNow(ctx))
	return e
}

// CSV answers quote as PostgreSQL writes a row: a value with a space, a
// quote, a comma or a line break is quoted, an empty string is "" and
// null is nothing; arrays, JSON, tsvectors and booleans are in their text
// forms.
func TestCSVOutputFollowsPostgreSQL(t *testing.T) {
	t.Parallel()
	e := csvEnv(t)
	csv := map[string]string{"Accept": "text/csv"}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "every kind of value", URL: "/rest/v1/csv_t?order=id", Headers: csv, WantStatus: 200,
			WantHeaders: map[string]string{"Content-Type": "text/csv; charset=utf-8"},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				assert.Equal(t, "id,txt,tags,doc,j,flag\n"+
					`1,"hello world","{a,b}","'cat':2 'fat':1","{""k"": ""v""}",t`+"\n"+
					"2,\"say \"\"hi\"\", then\nleave\",,,,f\n"+
					`3,"",,,,`+"\n"+
					`4,plain,{},,1,`, r.String())
			}},
		{Name: "selected columns, renamed", URL: "/rest/v1/csv_t?select=n:id,txt&id=eq.4", Headers: csv, WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				assert.Equal(t, "n,txt\n4,plain", r.String())
			}},
		{Name: "no rows", URL: "/rest/v1/csv_t?id=eq.999", Headers: csv, WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) { assert.Equal(t, "\n", r.String()) }},
		{Name: "a header that needs quotes", URL: `/rest/v1/csv_t?select=%22a%20b%22:id&id=eq.1`, Headers: csv, WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) { assert.Equal(t, "\"a b\"\n1", r.String()) }},
		{Name: "a set of scalars from a function", URL: "/rest/v1/rpc/numbers?n=3", Headers: csv, WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				assert.Equal(t, "numbers\n1\n2\n3", r.String())
			}},
		{Name: "a set of rows from a function", URL: "/rest/v1/rpc/books_by_author?aid=1&select=id,title", Headers: csv, WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				assert.Equal(t, "id,title\n1,\"The Dispossessed\"\n2,\"The Left Hand of Darkness\"", r.String())
			}},
		{Name: "a mutation's representation", Method: "PATCH", URL: "/rest/v1/csv_t?id=eq.4&select=id,txt",
			Headers: map[string]string{"Accept": "text/csv", "Prefer": "return=representation"}, Body: map[string]any{"txt": "a,b"}, WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				assert.Equal(t, "id,txt\n4,\"a,b\"", r.String())
			}},
	})
}

// A text/csv body inserts its rows (NULL is null), and a form body gives
// a call its arguments or an insert its row, as PostgREST reads them.
func TestCSVAndFormInput(t *testing.T) {
	t.Parallel()
	e := csvEnv(t)
	csvIn := map[string]string{"Content-Type": "text/csv", "Prefer": "return=representation"}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "csv insert", Method: "POST", URL: "/rest/v1/csv_t?select=id,txt,tags,flag", Headers: csvIn,
			Body: "id,txt,tags,flag\n10,\"a, b\",\"{x,y}\",true\n11,NULL,NULL,false\n12,,{},NULL", WantStatus: 201,
			WantJSON: `[{"id":10,"txt":"a, b","tags":["x","y"],"flag":true},{"id":11,"txt":null,"tags":null,"flag":false},{"id":12,"txt":"","tags":[],"flag":null}]`},
		{Name: "csv insert with a charset", Method: "POST", URL: "/rest/v1/csv_t?select=id",
			Headers: map[string]string{"Content-Type": "text/csv; charset=utf-8", "Prefer": "return=representation"},
			Body:    "id\n13", WantStatus: 201, WantJSON: `[{"id":13}]`},
		{Name: "csv rows of different lengths", Method: "POST", URL: "/rest/v1/csv_t", Headers: csvIn, Body: "id,txt\n20,a,extra",
			WantStatus: 400, WantFields: map[string]any{"code": "PGRST102", "message": "Invalid CSV body"}},
		{Name: "csv patch", Method: "PATCH", URL: "/rest/v1/csv_t?id=eq.3&select=id,txt", Headers: csvIn, Body: "txt\nchanged",
			WantStatus: 200, WantJSON: `[{"id":3,"txt":"changed"}]`},
		{Name: "csv patch of two rows", Method: "PATCH", URL: "/rest/v1/csv_t?id=eq.3", Headers: csvIn, Body: "txt\na\nb", WantStatus: 400},
		{Name: "form call", Method: "POST", URL: "/rest/v1/rpc/add", Headers: form, Body: "a=2&b=40", WantStatus: 200, WantJSON: `42`},
		{Name: "form call, text argument", Method: "POST", URL: "/rest/v1/rpc/insert_item", Headers: map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "apikey": e.api.Service}, Body: "name=from+a+form%21",
			WantStatus: 200, WantFields: map[string]any{"name": "from a form!"}},
		{Name: "form insert", Method: "POST", URL: "/rest/v1/csv_t?select=id,txt",
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Prefer": "return=representation"},
			Body:    "id=30&txt=x+y", WantStatus: 201, WantJSON: `[{"id":30,"txt":"x y"}]`},
		{Name: "csv call, one call per row", Method: "POST", URL: "/rest/v1/rpc/add", Headers: map[string]string{"Content-Type": "text/csv"},
			Body: "a,b\n1,2\n3,4", WantStatus: 200, WantJSON: `[3,7]`},
	})
}
