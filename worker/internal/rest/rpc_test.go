package rest

import (
	"testing"

	"github.com/madbase/madbase/shared/apitest"
)

func TestRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "scalar post", Method: "POST", URL: "/rest/v1/rpc/add", Body: `{"a":2,"b":3}`, WantStatus: 200, WantJSON: `5`},
		{Name: "scalar get", URL: "/rest/v1/rpc/add?a=2&b=40", WantStatus: 200, WantJSON: `42`},
		{Name: "no args", Method: "POST", URL: "/rest/v1/rpc/hello", WantStatus: 200, WantJSON: `"hello"`},
		{Name: "empty object body", Method: "POST", URL: "/rest/v1/rpc/hello", Body: `{}`, WantStatus: 200, WantJSON: `"hello"`},
		{Name: "array arg as json", Method: "POST", URL: "/rest/v1/rpc/sum_array", Body: `{"xs":[1,2,3]}`, WantStatus: 200, WantJSON: `6`},
		{Name: "array arg in get", URL: "/rest/v1/rpc/sum_array?xs=%7B4,5%7D", WantStatus: 200, WantJSON: `9`},
		{Name: "setof table with filters", URL: "/rest/v1/rpc/books_by_author?aid=1&select=id,title&pages=gt.350", WantStatus: 200,
			WantJSON: `[{"id":1,"title":"The Dispossessed"}]`},
		{Name: "setof table post with order and limit", Method: "POST", URL: "/rest/v1/rpc/books_by_author?select=id&order=id.desc&limit=1",
			Body: `{"aid":2}`, WantStatus: 200, WantJSON: `[{"id":4}]`},
		{Name: "setof with embed", URL: "/rest/v1/rpc/books_by_author?aid=2&select=id,author:authors!author_id(name)&id=eq.3", WantStatus: 200,
			WantJSON: `[{"id":3,"author":{"name":"Italo"}}]`},
		{Name: "setof with count", URL: "/rest/v1/rpc/books_by_author?aid=1&limit=1", Headers: map[string]string{"Prefer": "count=exact"},
			WantStatus: 206, WantHeaders: map[string]string{"Content-Range": "0-0/2"}},
		{Name: "returns table", URL: "/rest/v1/rpc/author_stats?n=gt.0", WantStatus: 200,
			WantJSON: `[{"author":"Italo","n":2},{"author":"Ursula","n":2}]`},
		{Name: "single composite is an object", URL: "/rest/v1/rpc/one_book?bid=3&select=id,title", WantStatus: 200,
			WantJSON: `{"id":3,"title":"Invisible Cities"}`},
		{Name: "setof scalars", URL: "/rest/v1/rpc/numbers?n=3", WantStatus: 200, WantJSON: `[1,2,3]`},
		{Name: "single json param gets the body", Method: "POST", URL: "/rest/v1/rpc/echo_json", Body: `{"any":["thing"]}`, WantStatus: 200,
			WantJSON: `{"any":["thing"]}`},
		{Name: "void is 204", Method: "POST", URL: "/rest/v1/rpc/bump", Body: `{"n":2}`, WantStatus: 204},
		{Name: "default args", Method: "POST", URL: "/rest/v1/rpc/bump", WantStatus: 204},
		{Name: "volatile via get is read-only", URL: "/rest/v1/rpc/insert_item?name=x", WantStatus: 405, WantContains: []string{`"25006"`}},
		{Name: "volatile via post", Method: "POST", URL: "/rest/v1/rpc/insert_item?select=name,qty", Body: `{"name":"kiwi"}`, WantStatus: 200,
			WantJSON: `{"name":"kiwi","qty":1}`},
		{Name: "unknown function", Method: "POST", URL: "/rest/v1/rpc/nope", Body: `{}`, WantStatus: 404, WantContains: []string{`"PGRST202"`}},
		{Name: "unknown argument", Method: "POST", URL: "/rest/v1/rpc/add", Body: `{"a":1,"c":2}`, WantStatus: 404,
			WantContains: []string{`"PGRST202"`, "public.add(a, c)"}},
		{Name: "missing argument", Method: "POST", URL: "/rest/v1/rpc/add", Body: `{"a":1}`, WantStatus: 404, WantContains: []string{`"PGRST202"`}},
		{Name: "bad argument type", Method: "POST", URL: "/rest/v1/rpc/add", Body: `{"a":"x","b":1}`, WantStatus: 400, WantContains: []string{`"22P02"`}},
		{Name: "raise exception", Method: "POST", URL: "/rest/v1/rpc/fail_plain", WantStatus: 400,
			WantJSON: `{"code":"P0001","message":"nope","details":null,"hint":"try again"}`},
		{Name: "raise PGRST", Method: "POST", URL: "/rest/v1/rpc/fail_custom", WantStatus: 418,
			WantJSON:    `{"code":"123","message":"custom failure","details":"some details","hint":"a hint"}`,
			WantHeaders: map[string]string{"X-Custom": "yes"}},
		{Name: "put not allowed", Method: "PUT", URL: "/rest/v1/rpc/add", Body: `{}`, WantStatus: 405, WantContains: []string{`"PGRST101"`}},
		{Name: "claims reach the function", Method: "POST", URL: "/rest/v1/rpc/whoami",
			Headers: map[string]string{"Authorization": apitest.Bearer(e.api.UserToken(t, alice))}, WantStatus: 200, WantJSON: `"` + alice + `"`},
		{Name: "single on set", URL: "/rest/v1/rpc/books_by_author?aid=1", Headers: map[string]string{"Accept": "application/vnd.pgrst.object+json"},
			WantStatus: 406, WantContains: []string{`"PGRST116"`}},
		{Name: "head", Method: "HEAD", URL: "/rest/v1/rpc/numbers?n=2", WantStatus: 200},
		{Name: "request headers, cookies, method and path reach SQL", Method: "POST", URL: "/rest/v1/rpc/request_context",
			Headers: map[string]string{"X-Custom": `say "hi" \ there`, "Cookie": "d=1; c=v2"}, WantStatus: 200,
			WantJSON: `{"custom":"say \"hi\" \\ there","cookie":"v2","method":"POST","path":"/rest/v1/rpc/request_context"}`},
		{Name: "and reach a read in one round trip", URL: "/rest/v1/request_info", Headers: map[string]string{"X-CUSTOM": "Upper", "Cookie": "c=x"},
			WantStatus: 200, WantJSON: `[{"custom":"Upper","cookie":"x","method":"GET","path":"/rest/v1/request_info"}]`},
		{Name: "response headers and status from SQL", URL: "/rest/v1/rpc/set_response", WantStatus: 202, WantJSON: `"ok"`,
			WantHeaders: map[string]string{"X-Made-By": "sql", "Cache-Control": "no-store"}},
		{Name: "invalid response status from SQL", URL: "/rest/v1/rpc/bad_response", WantStatus: 500, WantContains: []string{`"PGRST112"`}},
	})
}
