package rest

import (
	"testing"

	"github.com/madbase/madbase/shared/apitest"
)

func TestReadSelectFilterOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "all columns", URL: "/rest/v1/genres?order=id", WantStatus: 200,
			WantJSON:    `[{"id":1,"name":"Science Fiction"},{"id":2,"name":"Fable"},{"id":3,"name":"Classic"}]`,
			WantHeaders: map[string]string{"Content-Range": "0-2/*", "Content-Type": "application/json; charset=utf-8"}},
		{Name: "columns and alias", URL: "/rest/v1/genres?select=key:id,name&id=eq.2", WantStatus: 200,
			WantJSON: `[{"key":2,"name":"Fable"}]`},
		{Name: "cast", URL: "/rest/v1/books?select=id,pages::text&id=eq.1", WantStatus: 200, WantJSON: `[{"id":1,"pages":"387"}]`},
		{Name: "json path", URL: "/rest/v1/authors?select=name,born:bio->born,bio->address->>city&id=eq.1", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","born":1929,"city":"Berkeley"}]`},
		{Name: "json array index", URL: "/rest/v1/authors?select=first:bio->tags->0,last:bio->tags->-1&id=eq.1", WantStatus: 200,
			WantJSON: `[{"first":"sf","last":"fantasy"}]`},
		{Name: "order desc limit offset", URL: "/rest/v1/books?select=id&order=id.desc&limit=2&offset=1", WantStatus: 200,
			WantJSON: `[{"id":3},{"id":2}]`, WantHeaders: map[string]string{"Content-Range": "1-2/*"}},
		{Name: "nulls first", URL: "/rest/v1/books?select=id&order=price.desc.nullsfirst,id", WantStatus: 200,
			WantJSON: `[{"id":4},{"id":3},{"id":1},{"id":2}]`},
		{Name: "nulls last", URL: "/rest/v1/books?select=id&order=price.asc.nullslast", WantStatus: 200,
			WantJSON: `[{"id":2},{"id":1},{"id":3},{"id":4}]`},
		{Name: "order by json path", URL: "/rest/v1/books?select=id&meta->>rating=not.is.null&order=meta->rating.desc,id", WantStatus: 200,
			WantJSON: `[{"id":1},{"id":4},{"id":2}]`},
		{Name: "limit zero", URL: "/rest/v1/books?limit=0", WantStatus: 200, WantJSON: `[]`,
			WantHeaders: map[string]string{"Content-Range": "*/*"}},
		{Name: "view", URL: "/rest/v1/book_view?select=title,author_name&id=eq.3", WantStatus: 200,
			WantJSON: `[{"title":"Invisible Cities","author_name":"Italo"}]`},
		{Name: "quoted names", URL: `/rest/v1/Odd%20Names?select=%22Some%20Col%22,%22quote%22%22d%22`, WantStatus: 400,
			WantContains: []string{"PGRST100"}},
		{Name: "odd table", URL: `/rest/v1/Odd%20Names?select=%22Some%20Col%22`, WantStatus: 200, WantJSON: `[{"Some Col":"x"}]`},
		{Name: "computed field", URL: "/rest/v1/books?select=id,full_title&id=eq.3", WantStatus: 200,
			WantJSON: `[{"id":3,"full_title":"Invisible Cities (165)"}]`},
		{Name: "unknown table", URL: "/rest/v1/nope", WantStatus: 404,
			WantJSON: `{"code":"PGRST205","message":"Could not find the table 'public.nope' in the schema cache","details":null,"hint":null}`},
		{Name: "unknown column", URL: "/rest/v1/books?select=nope", WantStatus: 400, WantContains: []string{`"42703"`, "books.nope"}},
		{Name: "unknown filter column", URL: "/rest/v1/books?nope=eq.1", WantStatus: 400, WantContains: []string{`"42703"`}},
		{Name: "bad select", URL: "/rest/v1/books?select=id,(", WantStatus: 400, WantContains: []string{`"PGRST100"`, "failed to parse select"}},
		{Name: "bad operator", URL: "/rest/v1/books?id=foo.1", WantStatus: 400, WantContains: []string{`"PGRST100"`, "unknown operator"}},
		{Name: "bad value type", URL: "/rest/v1/books?id=eq.abc", WantStatus: 400, WantContains: []string{`"22P02"`}},
		{Name: "negative limit", URL: "/rest/v1/books?limit=-1", WantStatus: 416, WantContains: []string{`"PGRST103"`}},
		{Name: "bad limit", URL: "/rest/v1/books?limit=x", WantStatus: 400, WantContains: []string{`"PGRST100"`}},
	})
}
