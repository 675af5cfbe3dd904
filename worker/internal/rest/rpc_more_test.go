package rest

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

//go:embed testdata/rpc/schema.sql
var rpcFixtureSQL string

const rpcSecret = "rest-rpc-test-jwt-secret-0123456789abcdef012345"

// rpcEnv is a REST handler on a fresh database holding testdata/rpc's
// functions, reached through apitest as anon; sql records the statements
// for the golden files of testdata/rpc.
type rpcEnv struct {
	*apitest.Env
	pool *pgxpool.Pool
	sql  *recorder
}

func newRPCEnv(t *testing.T, opts ...envOption) *rpcEnv {
	t.Helper()
	e := newEnvOn(t, rpcFixtureSQL, rpcSecret, nil, opts...)
	return &rpcEnv{Env: e.api, pool: e.pool, sql: e.rec}
}

// logCount is how many rows thing_log holds.
func (e *rpcEnv) logCount(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), "select count(*) from thing_log").Scan(&n))
	return n
}

func TestRPCRawBody(t *testing.T) {
	t.Parallel()
	e := newRPCEnv(t)
	text := map[string]string{"Content-Type": "text/plain"}
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "text/plain goes to the text parameter", Method: "POST", URL: "/rest/v1/rpc/echo_text", Headers: text,
			Body: "hello, world", WantStatus: 200, WantJSON: `"got hello, world"`},
		{Name: "charset is allowed", Method: "POST", URL: "/rest/v1/rpc/echo_text",
			Headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}, Body: `{"not":"json args"}`,
			WantStatus: 200, WantJSON: `"got {\"not\":\"json args\"}"`},
		{Name: "text/xml goes to the xml parameter", Method: "POST", URL: "/rest/v1/rpc/echo_xml",
			Headers: map[string]string{"Content-Type": "text/xml"}, Body: "<a>hi</a>", WantStatus: 200, WantJSON: `"hi"`},
		{Name: "octet-stream goes to the bytea parameter byte for byte", Method: "POST", URL: "/rest/v1/rpc/bytes_hex",
			Headers: map[string]string{"Content-Type": "application/octet-stream"}, Body: []byte{0, 0xff, 0x10, '\\'},
			WantStatus: 200, WantJSON: `"00ff105c"`},
		{Name: "an empty octet-stream", Method: "POST", URL: "/rest/v1/rpc/bytes_len",
			Headers: map[string]string{"Content-Type": "application/octet-stream"}, WantStatus: 200, WantJSON: `0`},
		{Name: "json array goes whole to the unnamed json parameter", Method: "POST", URL: "/rest/v1/rpc/echo_json",
			Body: `[{"a":1},{"a":2}]`, WantStatus: 200, WantJSON: `[{"a":1},{"a":2}]`},
		{Name: "json object with other keys goes whole too", Method: "POST", URL: "/rest/v1/rpc/echo_json",
			Body: `{"y":1}`, WantStatus: 200, WantJSON: `{"y":1}`},
		{Name: "a named overload wins over the unnamed one", Method: "POST", URL: "/rest/v1/rpc/echo_json",
			Body: `{"x":5}`, WantStatus: 200, WantJSON: `{"named":5}`},
		{Name: "text/plain to a function without a text parameter", Method: "POST", URL: "/rest/v1/rpc/add_them", Headers: text,
			Body: "1", WantStatus: 404, WantJSON: `{"code":"PGRST202","message":"Could not find the function public.add_them in the schema cache",
			"details":"Searched for the function public.add_them with a single unnamed text parameter, but no matches were found in the schema cache.","hint":null}`},
		{Name: "octet-stream to a function of no parameters", Method: "POST", URL: "/rest/v1/rpc/who",
			Headers: map[string]string{"Content-Type": "application/octet-stream"}, Body: []byte("x"), WantStatus: 404,
			WantJSON: `{"code":"PGRST202","message":"Could not find the function public.who in the schema cache",
			"details":"Searched for the function public.who with a single unnamed bytea parameter, but no matches were found in the schema cache.","hint":null}`},
	})
}

func TestRPCOverloads(t *testing.T) {
	t.Parallel()
	e := newRPCEnv(t)
	hint := "Try renaming the parameters or the function itself in the database so function overloading can be resolved"
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "same names, two types", Method: "POST", URL: "/rest/v1/rpc/ov", Body: `{"a":1}`, WantStatus: 300,
			WantJSON: `{"code":"PGRST203","message":"Could not choose the best candidate function between: public.ov(a => integer), public.ov(a => text)","details":null,"hint":"` + hint + `"}`},
		{Name: "same names, two types, by GET", URL: "/rest/v1/rpc/ov?a=1", WantStatus: 300,
			WantFields: map[string]any{"code": "PGRST203"}},
		{Name: "no arguments: no parameters and all defaulted are both candidates", Method: "POST", URL: "/rest/v1/rpc/ovd", WantStatus: 300,
			WantJSON: `{"code":"PGRST203","message":"Could not choose the best candidate function between: public.ovd(), public.ovd(a => integer)","details":null,"hint":"` + hint + `"}`},
		{Name: "two unnamed json parameters", Method: "POST", URL: "/rest/v1/rpc/dup_json", Body: `{"k":1}`, WantStatus: 300,
			WantFields: map[string]any{"message": "Could not choose the best candidate function between: public.dup_json( => json), public.dup_json( => jsonb)"}},
		{Name: "no arguments by GET", URL: "/rest/v1/rpc/ovd", WantStatus: 300, WantFields: map[string]any{"code": "PGRST203"}},
		{Name: "naming the defaulted parameter chooses it", Method: "POST", URL: "/rest/v1/rpc/ovd", Body: `{"a":2}`, WantStatus: 200, WantJSON: `"a"`},
		{Name: "no arguments: only the defaulted overload fits", Method: "POST", URL: "/rest/v1/rpc/ovs", Body: `{}`, WantStatus: 200, WantJSON: `"optional"`},
		{Name: "a required and a defaulted one: only one fits a and b", Method: "POST", URL: "/rest/v1/rpc/ovs", Body: `{"a":1,"b":2}`, WantStatus: 200, WantJSON: `"both"`},
		{Name: "a fits the defaulted one only", Method: "POST", URL: "/rest/v1/rpc/ovs", Body: `{"a":1}`, WantStatus: 200, WantJSON: `"optional"`},
	})
}

func TestRPCNotFoundWording(t *testing.T) {
	t.Parallel()
	e := newRPCEnv(t)
	notFound := func(msg, details, hint string) string {
		h := "null"
		if hint != "" {
			h = `"` + hint + `"`
		}
		return fmt.Sprintf(`{"code":"PGRST202","message":%q,"details":%q,"hint":%s}`, msg, details, h)
	}
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "an unknown parameter", Method: "POST", URL: "/rest/v1/rpc/add_them", Body: `{"c":2,"a":1}`, WantStatus: 404,
			WantJSON: notFound("Could not find the function public.add_them(a, c) in the schema cache",
				"Searched for the function public.add_them with parameters a, c or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
				"Perhaps you meant to call the function public.add_them(a, b)")},
		{Name: "a missing parameter", Method: "POST", URL: "/rest/v1/rpc/add_them", Body: `{"a":1}`, WantStatus: 404,
			WantJSON: notFound("Could not find the function public.add_them(a) in the schema cache",
				"Searched for the function public.add_them with parameter a or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
				"Perhaps you meant to call the function public.add_them(a, b)")},
		{Name: "by GET there is no json alternative", URL: "/rest/v1/rpc/add_them?a=1", WantStatus: 404,
			WantJSON: notFound("Could not find the function public.add_them(a) in the schema cache",
				"Searched for the function public.add_them with parameter a, but no matches were found in the schema cache.",
				"Perhaps you meant to call the function public.add_them(a, b)")},
		{Name: "by GET a value with an operator is a filter, not an argument", URL: "/rest/v1/rpc/add_them?a=1&b=eq.2", WantStatus: 404,
			WantJSON: notFound("Could not find the function public.add_them(a) in the schema cache",
				"Searched for the function public.add_them with parameter a, but no matches were found in the schema cache.",
				"Perhaps you meant to call the function public.add_them(a, b)")},
		{Name: "by GET a plain value is an argument", URL: "/rest/v1/rpc/add_them?a=1&b=2&x=3", WantStatus: 404,
			WantFields: map[string]any{"message": "Could not find the function public.add_them(a, b, x) in the schema cache"}},
		{Name: "by GET filters apply to the rows", URL: "/rest/v1/rpc/things_named?n=b&id=not.eq.1&name=in.(a,b)", WantStatus: 200,
			WantJSON: `[{"id":2,"name":"b"}]`},
		{Name: "no parameters given", Method: "POST", URL: "/rest/v1/rpc/add_them", Body: `{}`, WantStatus: 404,
			WantJSON: notFound("Could not find the function public.add_them without parameters in the schema cache",
				"Searched for the function public.add_them without parameters or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
				"")}, // "()" shares no n-gram with "(a, b)"
		{Name: "nothing close among the overloads", Method: "POST", URL: "/rest/v1/rpc/add_them", Body: `{"completely_unrelated_name":1}`, WantStatus: 404,
			WantJSON: notFound("Could not find the function public.add_them(completely_unrelated_name) in the schema cache",
				"Searched for the function public.add_them with parameter completely_unrelated_name or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
				"")},
		{Name: "a close function name", Method: "POST", URL: "/rest/v1/rpc/add_thm", Body: `{}`, WantStatus: 404,
			WantJSON: notFound("Could not find the function public.add_thm without parameters in the schema cache",
				"Searched for the function public.add_thm without parameters or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
				"Perhaps you meant to call the function public.add_them")},
		{Name: "no close function name", Method: "POST", URL: "/rest/v1/rpc/qqqzzz", Body: `{"a":1}`, WantStatus: 404,
			WantJSON: notFound("Could not find the function public.qqqzzz(a) in the schema cache",
				"Searched for the function public.qqqzzz with parameter a or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
				"")},
	})
}

// TestClosest pins the fuzzy search against PostgREST's documented
// examples of its hint.
func TestClosest(t *testing.T) {
	lists := []string{"(name, param, val)", "(attr, id)"}
	for _, tc := range []struct{ keys, want string }{
		{"(nam, pqaram, vall)", "(name, param, val)"},
		{"(param, val)", "(name, param, val)"},
		{"(attrs, id)", "(attr, id)"},
		{"(id)", "(attr, id)"},
		{"(noclosealternative)", ""},
	} {
		assert.Equal(t, tc.want, closest(tc.keys, lists, 0.33), tc.keys)
	}
	assert.Equal(t, "", closest("hello", []string{"help"}, 0.75), "a far name is no hint")
	assert.Equal(t, "Books", closest("books", []string{"Books", "book"}, 0.75), "an exact match wins")
}

func TestRPCCounts(t *testing.T) {
	t.Parallel()
	e := newRPCEnv(t)
	exact := map[string]string{"Prefer": "count=exact"}
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "scalar without a count", Method: "POST", URL: "/rest/v1/rpc/add_them", Body: `{"a":1,"b":2}`, WantStatus: 200,
			WantJSON: `3`, WantHeaders: map[string]string{"Content-Range": "0-0/*", "Preference-Applied": ""}},
		{Name: "scalar with exact", Method: "POST", URL: "/rest/v1/rpc/add_them", Headers: exact, Body: `{"a":1,"b":2}`, WantStatus: 200,
			WantJSON: `3`, WantHeaders: map[string]string{"Content-Range": "0-0/1", "Preference-Applied": "count=exact"}},
		{Name: "scalar by GET with planned", URL: "/rest/v1/rpc/add_them?a=1&b=2", Headers: map[string]string{"Prefer": "count=planned"},
			WantStatus: 200, WantJSON: `3`, WantHeaders: map[string]string{"Content-Range": "0-0/1"}},
		{Name: "scalar by HEAD with estimated", Method: "HEAD", URL: "/rest/v1/rpc/add_them?a=1&b=2", Headers: map[string]string{"Prefer": "count=estimated"},
			WantStatus: 200, WantHeaders: map[string]string{"Content-Range": "0-0/1"}},
		{Name: "single row with exact", URL: "/rest/v1/rpc/one_thing?i=2", Headers: exact, WantStatus: 200,
			WantJSON: `{"id":2,"name":"b"}`, WantHeaders: map[string]string{"Content-Range": "0-0/1"}},
		{Name: "set by HEAD with exact and a page", Method: "HEAD", URL: "/rest/v1/rpc/all_things?limit=2", Headers: exact,
			WantStatus: 206, WantHeaders: map[string]string{"Content-Range": "0-1/3"}},
		{Name: "set with a filter, counted after it", URL: "/rest/v1/rpc/all_things?id=gt.1&select=id", Headers: exact,
			WantStatus: 200, WantJSON: `[{"id":2},{"id":3}]`, WantHeaders: map[string]string{"Content-Range": "0-1/2"}},
		{Name: "void with exact", Method: "POST", URL: "/rest/v1/rpc/log_it", Headers: exact, Body: `{"n":"v"}`,
			WantStatus: 204, WantHeaders: map[string]string{"Content-Range": "0-0/1"}},
		{Name: "a volatile set function with a count runs once", Method: "POST", URL: "/rest/v1/rpc/log_and_list?select=n", Headers: exact,
			Body: `{"n":"once"}`, WantStatus: 200, WantJSON: `[{"n":"once"},{"n":"once"}]`,
			WantHeaders: map[string]string{"Content-Range": "0-1/2"},
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) {
				var n int
				require.NoError(t, e.pool.QueryRow(t.Context(), "select count(*) from thing_log where n = 'once'").Scan(&n))
				assert.Equal(t, 2, n)
			}},
	})
}

func TestRPCBulk(t *testing.T) {
	t.Parallel()
	e := newRPCEnv(t)
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "scalar, once per object", Method: "POST", URL: "/rest/v1/rpc/add_them",
			Body: `[{"a":1,"b":2},{"a":4,"b":6},{"a":100,"b":200}]`, WantStatus: 200, WantJSON: `[3,10,300]`},
		{Name: "with params=multiple-objects and a count", Method: "POST", URL: "/rest/v1/rpc/add_them",
			Headers: map[string]string{"Prefer": "params=multiple-objects, count=exact"},
			Body:    `[{"a":1,"b":2},{"b":6,"a":4}]`, WantStatus: 200, WantJSON: `[3,10]`,
			WantHeaders: map[string]string{"Content-Range": "0-1/2", "Preference-Applied": "params=multiple-objects, count=exact"}},
		{Name: "params=multiple-objects is a known preference under strict handling", Method: "POST", URL: "/rest/v1/rpc/add_them",
			Headers: map[string]string{"Prefer": "handling=strict, params=multiple-objects"},
			Body:    `[{"a":1,"b":2}]`, WantStatus: 200, WantJSON: `[3]`},
		{Name: "single rows become an array", Method: "POST", URL: "/rest/v1/rpc/one_thing?select=name",
			Body: `[{"i":3},{"i":1}]`, WantStatus: 200, WantJSON: `[{"name":"c"},{"name":"a"}]`},
		{Name: "sets are concatenated", Method: "POST", URL: "/rest/v1/rpc/things_named?select=id",
			Body: `[{"n":"c"},{"n":"a"}]`, WantStatus: 200, WantJSON: `[{"id":3},{"id":1}]`},
		{Name: "an empty array names no arguments", Method: "POST", URL: "/rest/v1/rpc/log_it",
			Body: `[]`, WantStatus: 404, WantFields: map[string]any{"code": "PGRST202"}},
		{Name: "keys must match", Method: "POST", URL: "/rest/v1/rpc/add_them",
			Body: `[{"a":1,"b":2},{"a":4}]`, WantStatus: 400,
			WantJSON: `{"code":"PGRST102","message":"All object keys must match","details":null,"hint":null}`},
		{Name: "void, once per object", Method: "POST", URL: "/rest/v1/rpc/log_it", Body: `[{"n":"x"},{"n":"y"},{"n":"z"}]`,
			WantStatus: 204, WantHeaders: map[string]string{"Content-Range": "0-2/*"},
			Before: func(t *testing.T, _ *apitest.Env) { assert.Equal(t, 0, e.logCount(t)) },
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) {
				var got []string
				rows, err := e.pool.Query(t.Context(), "select n from thing_log order by id")
				require.NoError(t, err)
				got, err = pgx.CollectRows(rows, pgx.RowTo[string])
				require.NoError(t, err)
				assert.Equal(t, []string{"x", "y", "z"}, got)
			}},
	})
}

func TestRPCAPIKeyRequired(t *testing.T) {
	t.Parallel()
	required := newRPCEnv(t)
	required.Headers = nil
	apitest.Run(t, required.Env, []apitest.Scenario{
		{Name: "by default a request needs a key", URL: "/rest/v1/rpc/who", WantStatus: 401,
			WantFields: map[string]any{"code": "PGRST302", "message": "No API key found in request"}},
		{Name: "a key is enough", URL: "/rest/v1/rpc/who", Headers: map[string]string{"apikey": required.Anon}, WantStatus: 200, WantJSON: `"anon"`},
	})
	open := newRPCEnv(t, func(c *config.Rest) { c.APIKeyRequired = false })
	open.Headers = nil
	apitest.Run(t, open.Env, []apitest.Scenario{
		{Name: "without a key the request runs as anon", URL: "/rest/v1/rpc/who", WantStatus: 200, WantJSON: `"anon"`},
		{Name: "and reads as anon", URL: "/rest/v1/things?select=id&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":2},{"id":3}]`},
		{Name: "a token still counts", URL: "/rest/v1/rpc/who", Headers: map[string]string{"Authorization": apitest.Bearer(open.Service)},
			WantStatus: 200, WantJSON: `"service_role"`},
		{Name: "a bad key is still refused", URL: "/rest/v1/rpc/who", Headers: map[string]string{"apikey": "sb_publishable_nope"},
			WantStatus: 401, WantFields: map[string]any{"code": "PGRST301"}},
	})
}

// rpcGoldenCases pin the SQL of the calls above in testdata/rpc/*.golden;
// regenerate with `go test ./worker/internal/rest -run TestRPCGolden -update`.
var rpcGoldenCases = []goldenCase{
	{name: "raw_text", method: "POST", url: "/rest/v1/rpc/echo_text", headers: map[string]string{"Content-Type": "text/plain"}, body: "hi"},
	{name: "raw_bytea", method: "POST", url: "/rest/v1/rpc/bytes_len", headers: map[string]string{"Content-Type": "application/octet-stream"}, body: "abc"},
	{name: "count_scalar", method: "POST", url: "/rest/v1/rpc/add_them", headers: map[string]string{"Prefer": "count=exact"}, body: `{"a":1,"b":2}`},
	{name: "count_set_page", method: "GET", url: "/rest/v1/rpc/all_things?select=id&limit=1", headers: map[string]string{"Prefer": "count=exact"}},
	{name: "bulk_scalar", method: "POST", url: "/rest/v1/rpc/add_them", body: `[{"a":1,"b":2},{"a":3,"b":4}]`},
	{name: "bulk_set", method: "POST", url: "/rest/v1/rpc/things_named?select=id", body: `[{"n":"a"},{"n":"b"}]`},
	{name: "bulk_void", method: "POST", url: "/rest/v1/rpc/log_it", body: `[{"n":"a"},{"n":"b"}]`},
}

// TestRPCGolden sends the bodies as bytes, so a request carries no content
// type but its own.
func TestRPCGolden(t *testing.T) {
	e := newRPCEnv(t)
	for _, gc := range rpcGoldenCases {
		e.sql.take()
		res := e.Do(t, apitest.Request{Method: gc.method, URL: gc.url, Headers: gc.headers, Body: []byte(gc.body)})
		require.Less(t, res.Status, 300, "%s: %s", gc.name, res)
		matchGolden(t, filepath.Join("testdata", "rpc", gc.name+".golden"), gc.render(t, res.Status, e.sql.take()))
	}
}
