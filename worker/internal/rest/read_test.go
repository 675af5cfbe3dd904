package rest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

// scenario is one request and what must come back (STYLE item 20).
type scenario struct {
	name            string
	method          string
	url             string
	headers         map[string]string
	body            string
	wantStatus      int
	wantJSON        string // exact JSON body, when set
	wantContains    []string
	wantNotContains []string
	wantHeaders     map[string]string
}

func runScenarios(t *testing.T, e *env, cases []scenario) {
	t.Helper()
	for _, tc := range cases {
		method := tc.method
		if method == "" {
			method = "GET"
		}
		res := e.do(method, tc.url, tc.headers, tc.body)
		assert.Equal(t, tc.wantStatus, res.status, "%s: status (body %s)", tc.name, res.body)
		if tc.wantJSON != "" {
			if json.Valid([]byte(res.body)) {
				assert.JSONEq(t, tc.wantJSON, res.body, tc.name)
			} else {
				assert.Fail(t, "body is not JSON", "%s: %q", tc.name, res.body)
			}
		}
		for _, s := range tc.wantContains {
			assert.Contains(t, res.body, s, tc.name)
		}
		for _, s := range tc.wantNotContains {
			assert.NotContains(t, res.body, s, tc.name)
		}
		for k, v := range tc.wantHeaders {
			assert.Equal(t, v, res.headers.Get(k), "%s: header %s", tc.name, k)
		}
	}
}

func TestReadSelectFilterOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runScenarios(t, e, []scenario{
		{name: "all columns", url: "/rest/v1/genres?order=id", wantStatus: 200,
			wantJSON:    `[{"id":1,"name":"Science Fiction"},{"id":2,"name":"Fable"},{"id":3,"name":"Classic"}]`,
			wantHeaders: map[string]string{"Content-Range": "0-2/*", "Content-Type": "application/json; charset=utf-8"}},
		{name: "columns and alias", url: "/rest/v1/genres?select=key:id,name&id=eq.2", wantStatus: 200,
			wantJSON: `[{"key":2,"name":"Fable"}]`},
		{name: "cast", url: "/rest/v1/books?select=id,pages::text&id=eq.1", wantStatus: 200, wantJSON: `[{"id":1,"pages":"387"}]`},
		{name: "json path", url: "/rest/v1/authors?select=name,born:bio->born,bio->address->>city&id=eq.1", wantStatus: 200,
			wantJSON: `[{"name":"Ursula","born":1929,"city":"Berkeley"}]`},
		{name: "json array index", url: "/rest/v1/authors?select=first:bio->tags->0,last:bio->tags->-1&id=eq.1", wantStatus: 200,
			wantJSON: `[{"first":"sf","last":"fantasy"}]`},
		{name: "order desc limit offset", url: "/rest/v1/books?select=id&order=id.desc&limit=2&offset=1", wantStatus: 200,
			wantJSON: `[{"id":3},{"id":2}]`, wantHeaders: map[string]string{"Content-Range": "1-2/*"}},
		{name: "nulls first", url: "/rest/v1/books?select=id&order=price.desc.nullsfirst,id", wantStatus: 200,
			wantJSON: `[{"id":4},{"id":3},{"id":1},{"id":2}]`},
		{name: "nulls last", url: "/rest/v1/books?select=id&order=price.asc.nullslast", wantStatus: 200,
			wantJSON: `[{"id":2},{"id":1},{"id":3},{"id":4}]`},
		{name: "order by json path", url: "/rest/v1/books?select=id&meta->>rating=not.is.null&order=meta->rating.desc,id", wantStatus: 200,
			wantJSON: `[{"id":1},{"id":4},{"id":2}]`},
		{name: "limit zero", url: "/rest/v1/books?limit=0", wantStatus: 200, wantJSON: `[]`,
			wantHeaders: map[string]string{"Content-Range": "*/*"}},
		{name: "view", url: "/rest/v1/book_view?select=title,author_name&id=eq.3", wantStatus: 200,
			wantJSON: `[{"title":"Invisible Cities","author_name":"Italo"}]`},
		{name: "quoted names", url: `/rest/v1/Odd%20Names?select=%22Some%20Col%22,%22quote%22%22d%22`, wantStatus: 400,
			wantContains: []string{"PGRST100"}},
		{name: "odd table", url: `/rest/v1/Odd%20Names?select=%22Some%20Col%22`, wantStatus: 200, wantJSON: `[{"Some Col":"x"}]`},
		{name: "computed field", url: "/rest/v1/books?select=id,full_title&id=eq.3", wantStatus: 200,
			wantJSON: `[{"id":3,"full_title":"Invisible Cities (165)"}]`},
		{name: "unknown table", url: "/rest/v1/nope", wantStatus: 404,
			wantJSON: `{"code":"PGRST205","message":"Could not find the table 'public.nope' in the schema cache","details":null,"hint":null}`},
		{name: "unknown column", url: "/rest/v1/books?select=nope", wantStatus: 400, wantContains: []string{`"42703"`, "books.nope"}},
		{name: "unknown filter column", url: "/rest/v1/books?nope=eq.1", wantStatus: 400, wantContains: []string{`"42703"`}},
		{name: "bad select", url: "/rest/v1/books?select=id,(", wantStatus: 400, wantContains: []string{`"PGRST100"`, "failed to parse select"}},
		{name: "bad operator", url: "/rest/v1/books?id=foo.1", wantStatus: 400, wantContains: []string{`"PGRST100"`, "unknown operator"}},
		{name: "bad value type", url: "/rest/v1/books?id=eq.abc", wantStatus: 400, wantContains: []string{`"22P02"`}},
		{name: "negative limit", url: "/rest/v1/books?limit=-1", wantStatus: 416, wantContains: []string{`"PGRST103"`}},
		{name: "bad limit", url: "/rest/v1/books?limit=x", wantStatus: 400, wantContains: []string{`"PGRST100"`}},
	})
}
