package rest

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCountsRangesMedia(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.pool.Exec(testCtx(t), "analyze books")
	require.NoError(t, err)
	exact := map[string]string{"Prefer": "count=exact"}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "count exact, whole page", URL: "/rest/v1/books?select=id", Headers: exact, WantStatus: 200,
			WantHeaders: map[string]string{"Content-Range": "0-3/4", "Preference-Applied": "count=exact"}},
		{Name: "count exact, partial page", URL: "/rest/v1/books?select=id&limit=2&offset=1", Headers: exact, WantStatus: 206,
			WantHeaders: map[string]string{"Content-Range": "1-2/4"}},
		{Name: "count with filters", URL: "/rest/v1/books?select=id&author_id=eq.1", Headers: exact, WantStatus: 200,
			WantHeaders: map[string]string{"Content-Range": "0-1/2"}},
		{Name: "count, empty result", URL: "/rest/v1/books?id=eq.999", Headers: exact, WantStatus: 200, WantJSON: `[]`,
			WantHeaders: map[string]string{"Content-Range": "*/0"}},
		{Name: "offset beyond total", URL: "/rest/v1/books?offset=10", Headers: exact, WantStatus: 416,
			WantContains: []string{`"PGRST103"`, "An offset of 10 was requested, but there are only 4 rows."}},
		{Name: "head with count", Method: "HEAD", URL: "/rest/v1/books", Headers: exact, WantStatus: 200,
			WantHeaders: map[string]string{"Content-Range": "0-3/4"}},
		{Name: "planned count", URL: "/rest/v1/books?select=id&limit=1", Headers: map[string]string{"Prefer": "count=planned"}, WantStatus: 206,
			WantHeaders: map[string]string{"Content-Range": "0-0/4", "Preference-Applied": "count=planned"}},
		{Name: "estimated count", URL: "/rest/v1/books?select=id&limit=1", Headers: map[string]string{"Prefer": "count=estimated"}, WantStatus: 206,
			WantHeaders: map[string]string{"Content-Range": "0-0/4"}},
		{Name: "range header", URL: "/rest/v1/books?select=id&order=id", Headers: map[string]string{"Range": "1-2", "Range-Unit": "items"},
			WantStatus: 200, WantJSON: `[{"id":2},{"id":3}]`, WantHeaders: map[string]string{"Content-Range": "1-2/*"}},
		{Name: "range header intersected with limit", URL: "/rest/v1/books?select=id&order=id&limit=2", Headers: map[string]string{"Range": "1-3"},
			WantStatus: 200, WantJSON: `[{"id":2}]`},
		{Name: "invalid range", URL: "/rest/v1/books", Headers: map[string]string{"Range": "3-1"}, WantStatus: 416, WantContains: []string{`"PGRST103"`}},
		{Name: "single object", URL: "/rest/v1/books?select=id,title&id=eq.1", Headers: map[string]string{"Accept": "application/vnd.pgrst.object+json"},
			WantStatus: 200, WantJSON: `{"id":1,"title":"The Dispossessed"}`},
		{Name: "single with none", URL: "/rest/v1/books?id=eq.999", Headers: map[string]string{"Accept": "application/vnd.pgrst.object+json"},
			WantStatus: 406, WantJSON: `{"code":"PGRST116","message":"Cannot coerce the result to a single JSON object","details":"The result contains 0 rows","hint":null}`},
		{Name: "single with many", URL: "/rest/v1/books", Headers: map[string]string{"Accept": "application/vnd.pgrst.object+json"},
			WantStatus: 406, WantContains: []string{"The result contains 4 rows"}},
		{Name: "nulls stripped", URL: "/rest/v1/books?select=id,price,editor_id&id=eq.4",
			Headers: map[string]string{"Accept": "application/vnd.pgrst.array+json;nulls=stripped"}, WantStatus: 200, WantJSON: `[{"id":4}]`},
		{Name: "object nulls stripped", URL: "/rest/v1/books?select=id,price&id=eq.4",
			Headers: map[string]string{"Accept": "application/vnd.pgrst.object+json;nulls=stripped"}, WantStatus: 200, WantJSON: `{"id":4}`},
		{Name: "csv", URL: "/rest/v1/books?select=id,title,tags&id=in.(1,4)&order=id", Headers: map[string]string{"Accept": "text/csv"},
			WantStatus: 200, WantHeaders: map[string]string{"Content-Type": "text/csv; charset=utf-8"}},
		{Name: "unsupported media type", URL: "/rest/v1/books", Headers: map[string]string{"Accept": "application/xml"}, WantStatus: 406,
			WantJSON: `{"code":"PGRST107","message":"None of these media types are available: application/xml","details":null,"hint":null}`},
		{Name: "wildcard accept", URL: "/rest/v1/genres?id=eq.1", Headers: map[string]string{"Accept": "*/*"}, WantStatus: 200},
		{Name: "max rows is not exceeded", URL: "/rest/v1/books?limit=5000", WantStatus: 200},
		{Name: "csv body", URL: "/rest/v1/books?select=id,title,tags,price&id=in.(1,4)&order=id", Headers: map[string]string{"Accept": "text/csv"},
			WantStatus: 200, After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				assert.Equal(t, "id,title,tags,price\n1,\"The Dispossessed\",\"{sf,classic}\",9.99\n4,\"If on a winter's night a traveler\",{},", r.String())
			}},
	})
}

func TestMaxRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Rest) { c.DBMaxRows = 2 })
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "truncated", URL: "/rest/v1/books?select=id&order=id", Headers: map[string]string{"Prefer": "count=exact"}, WantStatus: 206,
			WantJSON: `[{"id":1},{"id":2}]`, WantHeaders: map[string]string{"Content-Range": "0-1/4"}},
		{Name: "smaller limit kept", URL: "/rest/v1/books?select=id&order=id&limit=1", WantStatus: 200, WantJSON: `[{"id":1}]`},
	})
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Rest) { c.DBSchemas = []string{"public", "extra"} })
	_, err := e.pool.Exec(testCtx(t), `create schema extra; grant usage on schema extra to anon, authenticated, service_role;
		create table extra.things (id int primary key, label text); grant all on extra.things to anon, authenticated, service_role;
		insert into extra.things values (1, 'in extra');
		create function extra.label(i int) returns text language sql stable as $$ select label from extra.things where id = i $$;
		notify pgrst, 'reload schema'`)
	require.NoError(t, err)
	require.NoError(t, e.h.Cache().LoadNow(testCtx(t)))
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "accept-profile", URL: "/rest/v1/things", Headers: map[string]string{"Accept-Profile": "extra"}, WantStatus: 200,
			WantJSON: `[{"id":1,"label":"in extra"}]`},
		{Name: "default profile is the first schema", URL: "/rest/v1/things", WantStatus: 404, WantContains: []string{"public.things"}},
		{Name: "public explicitly", URL: "/rest/v1/genres?id=eq.1", Headers: map[string]string{"Accept-Profile": "public"}, WantStatus: 200},
		{Name: "content-profile for writes", Method: "POST", URL: "/rest/v1/things", Headers: map[string]string{"Content-Profile": "extra"},
			Body: `{"id":2,"label":"two"}`, WantStatus: 201},
		{Name: "rpc in another schema", Method: "POST", URL: "/rest/v1/rpc/label", Headers: map[string]string{"Content-Profile": "extra"},
			Body: `{"i":2}`, WantStatus: 200, WantJSON: `"two"`},
		{Name: "schema not exposed", URL: "/rest/v1/users", Headers: map[string]string{"Accept-Profile": "auth"}, WantStatus: 406,
			WantJSON: `{"code":"PGRST106","message":"Invalid schema: auth","details":null,"hint":"Only the following schemas are exposed: public, extra"}`},
	})
}

func TestRowLevelSecurity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	asUser := func(sub string) map[string]string {
		return map[string]string{"Authorization": apitest.Bearer(e.api.UserToken(t, sub))}
	}
	expired := e.api.Token(t, jwt.MapClaims{"sub": alice, "role": "authenticated", "exp": time.Now().Add(-time.Hour).Unix()})
	postgres := e.api.Token(t, jwt.MapClaims{"role": "postgres", "exp": time.Now().Add(time.Hour).Unix()})
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "anon sees public notes only", URL: "/rest/v1/notes?select=body", WantStatus: 200, WantJSON: `[{"body":"alice public"}]`},
		{Name: "alice sees hers", URL: "/rest/v1/notes?select=body&order=id", Headers: asUser(alice), WantStatus: 200,
			WantJSON: `[{"body":"alice public"},{"body":"alice secret"}]`},
		{Name: "bob sees his", URL: "/rest/v1/notes?select=body", Headers: asUser(bob), WantStatus: 200, WantJSON: `[{"body":"bob secret"}]`},
		{Name: "service role sees all", URL: "/rest/v1/notes?select=id", Headers: map[string]string{"apikey": e.api.Service}, WantStatus: 200,
			WantJSON: `[{"id":1},{"id":2},{"id":3}]`},
		{Name: "service role as bearer", URL: "/rest/v1/notes?select=id&id=eq.3", Headers: map[string]string{"Authorization": apitest.Bearer(e.api.Service)},
			WantStatus: 200, WantJSON: `[{"id":3}]`},
		{Name: "anon cannot insert", Method: "POST", URL: "/rest/v1/notes", Body: `{"body":"x"}`, WantStatus: 401, WantContains: []string{`"42501"`}},
		{Name: "user inserts own with default owner", Method: "POST", URL: "/rest/v1/notes?select=owner,body", Body: `{"body":"bob new"}`,
			Headers: map[string]string{"Authorization": apitest.Bearer(e.api.UserToken(t, bob)), "Prefer": "return=representation"}, WantStatus: 201,
			WantJSON: `[{"owner":"` + bob + `","body":"bob new"}]`},
		{Name: "user cannot insert for another", Method: "POST", URL: "/rest/v1/notes", Body: `{"body":"forged","owner":"` + alice + `"}`,
			Headers: asUser(bob), WantStatus: 403, WantContains: []string{`"42501"`, "row-level security"}},
		{Name: "update of invisible rows changes nothing", Method: "PATCH", URL: "/rest/v1/notes?id=eq.1", Body: `{"body":"hacked"}`,
			Headers: map[string]string{"Authorization": apitest.Bearer(e.api.UserToken(t, bob)), "Prefer": "return=representation"}, WantStatus: 200, WantJSON: `[]`,
			After: func(t *testing.T, api *apitest.Env, _ *apitest.Response) {
				res := api.Do(t, apitest.Request{URL: "/rest/v1/notes?id=eq.1&select=body", Headers: map[string]string{"apikey": api.Service}})
				assert.JSONEq(t, `[{"body":"alice public"}]`, res.String())
			}},
		{Name: "expired token", URL: "/rest/v1/notes", Headers: map[string]string{"Authorization": apitest.Bearer(expired)}, WantStatus: 401,
			WantContains: []string{`"PGRST303"`, "JWT expired"}},
		{Name: "garbage token", URL: "/rest/v1/notes", Headers: map[string]string{"Authorization": "Bearer abc.def.ghi"}, WantStatus: 401,
			WantContains: []string{`"PGRST301"`}},
		{Name: "bad apikey", URL: "/rest/v1/notes", Headers: map[string]string{"apikey": "nope"}, WantStatus: 401},
		{Name: "no apikey", URL: "/rest/v1/notes", Headers: map[string]string{"apikey": ""}, WantStatus: 401},
		{Name: "forbidden role claim", URL: "/rest/v1/notes", Headers: map[string]string{"Authorization": apitest.Bearer(postgres)},
			WantStatus: 401},
	})
}

func TestOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.pool.Exec(testCtx(t), `create table hidden (id int); revoke all on hidden from anon;`)
	require.NoError(t, err)
	require.NoError(t, e.h.Cache().LoadNow(testCtx(t)))
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "the document anon sees", URL: "/rest/v1/", Headers: map[string]string{"Accept": "application/openapi+json"}, WantStatus: 200,
			WantHeaders: map[string]string{"Content-Type": "application/openapi+json; charset=utf-8"},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				var doc struct {
					Swagger     string                    `json:"swagger"`
					Paths       map[string]map[string]any `json:"paths"`
					Definitions map[string]struct {
						Properties map[string]map[string]any `json:"properties"`
						Required   []string                  `json:"required"`
					} `json:"definitions"`
				}
				r.JSON(t, &doc)
				assert.Equal(t, "2.0", doc.Swagger)
				assert.Contains(t, doc.Paths, "/books")
				assert.Contains(t, doc.Paths, "/rpc/add")
				assert.Contains(t, doc.Paths["/rpc/add"], "get")
				assert.NotContains(t, doc.Paths["/rpc/insert_item"], "get", "volatile functions are POST only")
				assert.NotContains(t, doc.Paths, "/hidden", "anon may not use it")
				assert.Equal(t, "integer", doc.Definitions["books"].Properties["pages"]["type"])
				assert.Equal(t, []any{"happy", "sad", "neutral"}, doc.Definitions["books"].Properties["mood"]["enum"])
				assert.Contains(t, doc.Definitions["books"].Required, "title")
			}},
		{Name: "service_role sees every table", URL: "/rest/v1/", Headers: map[string]string{"apikey": e.api.Service}, WantStatus: 200,
			WantContains: []string{`"/hidden"`}},
		{Name: "csv is not offered", URL: "/rest/v1/", Headers: map[string]string{"Accept": "text/csv"}, WantStatus: 406},
	})

	off := newEnv(t, func(c *config.Rest) { c.RestOpenAPIMode = "disabled" })
	apitest.Run(t, off.api, []apitest.Scenario{
		{Name: "disabled", URL: "/rest/v1/", WantStatus: 404, WantContains: []string{"PGRST126"}},
	})
}

func TestPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "deeper path", URL: "/rest/v1/books/1", WantStatus: 404, WantContains: []string{`"PGRST125"`}},
		{Name: "put needs the primary key filter", Method: "PUT", URL: "/rest/v1/genres?name=eq.x", Body: `{"id":1,"name":"x"}`, WantStatus: 405,
			WantContains: []string{`"PGRST105"`}},
		{Name: "put payload must match", Method: "PUT", URL: "/rest/v1/genres?id=eq.1", Body: `{"id":2,"name":"x"}`, WantStatus: 400,
			WantContains: []string{`"PGRST115"`}},
		{Name: "put replaces", Method: "PUT", URL: "/rest/v1/genres?id=eq.1", Body: `{"id":1,"name":"SF"}`,
			Headers: map[string]string{"Prefer": "return=representation"}, WantStatus: 200, WantJSON: `[{"id":1,"name":"SF"}]`},
		{Name: "put inserts", Method: "PUT", URL: "/rest/v1/genres?id=eq.70", Body: `{"id":70,"name":"New"}`, WantStatus: 204},
		{Name: "unsupported method", Method: "OPTIONS", URL: "/rest/v1/books", WantStatus: 405, WantContains: []string{`"PGRST117"`}},
		{Name: "percent-encoded table", URL: "/rest/v1/%67enres?id=eq.2", WantStatus: 200, WantJSON: `[{"id":2,"name":"Fable"}]`},
		{Name: "apikey in query is not a filter", URL: "/rest/v1/genres?id=eq.1&apikey=" + e.api.Anon, Headers: map[string]string{"apikey": ""}, WantStatus: 200},
	})
}

// TestRoleSettings: ALTER ROLE … SET values apply to the role's requests.
func TestRoleSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.pool.Exec(testCtx(t), `
		create function slow() returns int language sql stable as $$ select 1 from pg_sleep(1) $$;
		do $$ begin execute format('alter role authenticated in database %I set statement_timeout = %L', current_database(), '50ms'); end $$;`)
	require.NoError(t, err)
	require.NoError(t, e.h.Cache().LoadNow(testCtx(t)))
	assert.Contains(t, e.h.Cache().Get().RoleSettings("authenticated"), [2]string{"statement_timeout", "50ms"})
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "authenticated has the timeout", URL: "/rest/v1/rpc/slow", Headers: map[string]string{"Authorization": apitest.Bearer(e.api.UserToken(t, alice))},
			WantStatus: 500, WantContains: []string{"57014", "statement timeout"}},
		{Name: "anon has no timeout", URL: "/rest/v1/rpc/slow", WantStatus: 200},
	})
}
