package rest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCountsRangesMedia(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.pool.Exec(testCtx(t), "analyze books")
	require.NoError(t, err)
	exact := map[string]string{"Prefer": "count=exact"}
	runScenarios(t, e, []scenario{
		{name: "count exact, whole page", url: "/rest/v1/books?select=id", headers: exact, wantStatus: 200,
			wantHeaders: map[string]string{"Content-Range": "0-3/4", "Preference-Applied": "count=exact"}},
		{name: "count exact, partial page", url: "/rest/v1/books?select=id&limit=2&offset=1", headers: exact, wantStatus: 206,
			wantHeaders: map[string]string{"Content-Range": "1-2/4"}},
		{name: "count with filters", url: "/rest/v1/books?select=id&author_id=eq.1", headers: exact, wantStatus: 200,
			wantHeaders: map[string]string{"Content-Range": "0-1/2"}},
		{name: "count, empty result", url: "/rest/v1/books?id=eq.999", headers: exact, wantStatus: 200, wantJSON: `[]`,
			wantHeaders: map[string]string{"Content-Range": "*/0"}},
		{name: "offset beyond total", url: "/rest/v1/books?offset=10", headers: exact, wantStatus: 416,
			wantContains: []string{`"PGRST103"`, "An offset of 10 was requested, but there are only 4 rows."}},
		{name: "head with count", method: "HEAD", url: "/rest/v1/books", headers: exact, wantStatus: 200,
			wantHeaders: map[string]string{"Content-Range": "0-3/4"}},
		{name: "planned count", url: "/rest/v1/books?select=id&limit=1", headers: map[string]string{"Prefer": "count=planned"}, wantStatus: 206,
			wantHeaders: map[string]string{"Content-Range": "0-0/4", "Preference-Applied": "count=planned"}},
		{name: "estimated count", url: "/rest/v1/books?select=id&limit=1", headers: map[string]string{"Prefer": "count=estimated"}, wantStatus: 206,
			wantHeaders: map[string]string{"Content-Range": "0-0/4"}},
		{name: "range header", url: "/rest/v1/books?select=id&order=id", headers: map[string]string{"Range": "1-2", "Range-Unit": "items"},
			wantStatus: 200, wantJSON: `[{"id":2},{"id":3}]`, wantHeaders: map[string]string{"Content-Range": "1-2/*"}},
		{name: "range header intersected with limit", url: "/rest/v1/books?select=id&order=id&limit=2", headers: map[string]string{"Range": "1-3"},
			wantStatus: 200, wantJSON: `[{"id":2}]`},
		{name: "invalid range", url: "/rest/v1/books", headers: map[string]string{"Range": "3-1"}, wantStatus: 416, wantContains: []string{`"PGRST103"`}},
		{name: "single object", url: "/rest/v1/books?select=id,title&id=eq.1", headers: map[string]string{"Accept": "application/vnd.pgrst.object+json"},
			wantStatus: 200, wantJSON: `{"id":1,"title":"The Dispossessed"}`},
		{name: "single with none", url: "/rest/v1/books?id=eq.999", headers: map[string]string{"Accept": "application/vnd.pgrst.object+json"},
			wantStatus: 406, wantJSON: `{"code":"PGRST116","message":"Cannot coerce the result to a single JSON object","details":"The result contains 0 rows","hint":null}`},
		{name: "single with many", url: "/rest/v1/books", headers: map[string]string{"Accept": "application/vnd.pgrst.object+json"},
			wantStatus: 406, wantContains: []string{"The result contains 4 rows"}},
		{name: "nulls stripped", url: "/rest/v1/books?select=id,price,editor_id&id=eq.4",
			headers: map[string]string{"Accept": "application/vnd.pgrst.array+json;nulls=stripped"}, wantStatus: 200, wantJSON: `[{"id":4}]`},
		{name: "object nulls stripped", url: "/rest/v1/books?select=id,price&id=eq.4",
			headers: map[string]string{"Accept": "application/vnd.pgrst.object+json;nulls=stripped"}, wantStatus: 200, wantJSON: `{"id":4}`},
		{name: "csv", url: "/rest/v1/books?select=id,title,tags&id=in.(1,4)&order=id", headers: map[string]string{"Accept": "text/csv"},
			wantStatus: 200, wantHeaders: map[string]string{"Content-Type": "text/csv; charset=utf-8"}},
		{name: "unsupported media type", url: "/rest/v1/books", headers: map[string]string{"Accept": "application/xml"}, wantStatus: 406,
			wantJSON: `{"code":"PGRST107","message":"None of these media types are available: application/xml","details":null,"hint":null}`},
		{name: "wildcard accept", url: "/rest/v1/genres?id=eq.1", headers: map[string]string{"Accept": "*/*"}, wantStatus: 200},
		{name: "max rows is not exceeded", url: "/rest/v1/books?limit=5000", wantStatus: 200},
	})
	res := e.do("GET", "/rest/v1/books?select=id,title,tags,price&id=in.(1,4)&order=id", map[string]string{"Accept": "text/csv"}, "")
	assert.Equal(t, "id,title,tags,price\n1,The Dispossessed,\"[\"\"sf\"\",\"\"classic\"\"]\",9.99\n4,If on a winter's night a traveler,[],", res.body)
}

func TestMaxRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Rest) { c.DBMaxRows = 2 })
	runScenarios(t, e, []scenario{
		{name: "truncated", url: "/rest/v1/books?select=id&order=id", headers: map[string]string{"Prefer": "count=exact"}, wantStatus: 206,
			wantJSON: `[{"id":1},{"id":2}]`, wantHeaders: map[string]string{"Content-Range": "0-1/4"}},
		{name: "smaller limit kept", url: "/rest/v1/books?select=id&order=id&limit=1", wantStatus: 200, wantJSON: `[{"id":1}]`},
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
	runScenarios(t, e, []scenario{
		{name: "accept-profile", url: "/rest/v1/things", headers: map[string]string{"Accept-Profile": "extra"}, wantStatus: 200,
			wantJSON: `[{"id":1,"label":"in extra"}]`},
		{name: "default profile is the first schema", url: "/rest/v1/things", wantStatus: 404, wantContains: []string{"public.things"}},
		{name: "public explicitly", url: "/rest/v1/genres?id=eq.1", headers: map[string]string{"Accept-Profile": "public"}, wantStatus: 200},
		{name: "content-profile for writes", method: "POST", url: "/rest/v1/things", headers: map[string]string{"Content-Profile": "extra"},
			body: `{"id":2,"label":"two"}`, wantStatus: 201},
		{name: "rpc in another schema", method: "POST", url: "/rest/v1/rpc/label", headers: map[string]string{"Content-Profile": "extra"},
			body: `{"i":2}`, wantStatus: 200, wantJSON: `"two"`},
		{name: "schema not exposed", url: "/rest/v1/users", headers: map[string]string{"Accept-Profile": "auth"}, wantStatus: 406,
			wantJSON: `{"code":"PGRST106","message":"Invalid schema: auth","details":null,"hint":"Only the following schemas are exposed: public, extra"}`},
	})
}

func TestRowLevelSecurity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	asUser := func(sub string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + userToken(t, sub)}
	}
	runScenarios(t, e, []scenario{
		{name: "anon sees public notes only", url: "/rest/v1/notes?select=body", wantStatus: 200, wantJSON: `[{"body":"alice public"}]`},
		{name: "alice sees hers", url: "/rest/v1/notes?select=body&order=id", headers: asUser(alice), wantStatus: 200,
			wantJSON: `[{"body":"alice public"},{"body":"alice secret"}]`},
		{name: "bob sees his", url: "/rest/v1/notes?select=body", headers: asUser(bob), wantStatus: 200, wantJSON: `[{"body":"bob secret"}]`},
		{name: "service role sees all", url: "/rest/v1/notes?select=id", headers: map[string]string{"apikey": e.service}, wantStatus: 200,
			wantJSON: `[{"id":1},{"id":2},{"id":3}]`},
		{name: "service role as bearer", url: "/rest/v1/notes?select=id&id=eq.3", headers: map[string]string{"Authorization": "Bearer " + e.service},
			wantStatus: 200, wantJSON: `[{"id":3}]`},
		{name: "anon cannot insert", method: "POST", url: "/rest/v1/notes", body: `{"body":"x"}`, wantStatus: 401, wantContains: []string{`"42501"`}},
		{name: "user inserts own with default owner", method: "POST", url: "/rest/v1/notes?select=owner,body", body: `{"body":"bob new"}`,
			headers: map[string]string{"Authorization": "Bearer " + userToken(t, bob), "Prefer": "return=representation"}, wantStatus: 201,
			wantJSON: `[{"owner":"` + bob + `","body":"bob new"}]`},
		{name: "user cannot insert for another", method: "POST", url: "/rest/v1/notes", body: `{"body":"forged","owner":"` + alice + `"}`,
			headers: asUser(bob), wantStatus: 403, wantContains: []string{`"42501"`, "row-level security"}},
		{name: "update of invisible rows changes nothing", method: "PATCH", url: "/rest/v1/notes?id=eq.1", body: `{"body":"hacked"}`,
			headers: map[string]string{"Authorization": "Bearer " + userToken(t, bob), "Prefer": "return=representation"}, wantStatus: 200, wantJSON: `[]`},
		{name: "expired token", url: "/rest/v1/notes", headers: map[string]string{"Authorization": "Bearer " + expiredToken(t)}, wantStatus: 401,
			wantContains: []string{`"PGRST303"`, "JWT expired"}},
		{name: "garbage token", url: "/rest/v1/notes", headers: map[string]string{"Authorization": "Bearer abc.def.ghi"}, wantStatus: 401,
			wantContains: []string{`"PGRST301"`}},
		{name: "bad apikey", url: "/rest/v1/notes", headers: map[string]string{"apikey": "nope"}, wantStatus: 401},
		{name: "no apikey", url: "/rest/v1/notes", headers: map[string]string{"apikey": ""}, wantStatus: 401},
		{name: "forbidden role claim", url: "/rest/v1/notes", headers: map[string]string{"Authorization": "Bearer " + roleToken(t, "postgres")},
			wantStatus: 401},
	})
	res := e.do("GET", "/rest/v1/notes?id=eq.1&select=body", map[string]string{"apikey": e.service}, "")
	assert.JSONEq(t, `[{"body":"alice public"}]`, res.body)
}

func expiredToken(t *testing.T) string {
	tok, err := jwtauth.Sign([]byte(testSecret), jwt.MapClaims{"sub": alice, "role": "authenticated", "exp": time.Now().Add(-time.Hour).Unix()})
	require.NoError(t, err)
	return tok
}

func roleToken(t *testing.T, role string) string {
	tok, err := jwtauth.Sign([]byte(testSecret), jwt.MapClaims{"role": role, "exp": time.Now().Add(time.Hour).Unix()})
	require.NoError(t, err)
	return tok
}

func TestOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.pool.Exec(testCtx(t), `create table hidden (id int); revoke all on hidden from anon;`)
	require.NoError(t, err)
	require.NoError(t, e.h.Cache().LoadNow(testCtx(t)))
	res := e.do("GET", "/rest/v1/", map[string]string{"Accept": "application/openapi+json"}, "")
	require.Equal(t, 200, res.status, res.body)
	assert.Equal(t, "application/openapi+json; charset=utf-8", res.headers.Get("Content-Type"))
	var doc struct {
		Swagger     string                    `json:"swagger"`
		Paths       map[string]map[string]any `json:"paths"`
		Definitions map[string]struct {
			Properties map[string]map[string]any `json:"properties"`
			Required   []string                  `json:"required"`
		} `json:"definitions"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.body), &doc))
	assert.Equal(t, "2.0", doc.Swagger)
	assert.Contains(t, doc.Paths, "/books")
	assert.Contains(t, doc.Paths, "/rpc/add")
	assert.Contains(t, doc.Paths["/rpc/add"], "get")
	assert.NotContains(t, doc.Paths["/rpc/insert_item"], "get", "volatile functions are POST only")
	assert.NotContains(t, doc.Paths, "/hidden", "anon may not use it")
	assert.Equal(t, "integer", doc.Definitions["books"].Properties["pages"]["type"])
	assert.Equal(t, []any{"happy", "sad", "neutral"}, doc.Definitions["books"].Properties["mood"]["enum"])
	assert.Contains(t, doc.Definitions["books"].Required, "title")

	res = e.do("GET", "/rest/v1/", map[string]string{"apikey": e.service}, "")
	require.Equal(t, 200, res.status)
	assert.Contains(t, res.body, `"/hidden"`)

	res = e.do("GET", "/rest/v1/", map[string]string{"Accept": "text/csv"}, "")
	assert.Equal(t, 406, res.status)

	off := newEnv(t, func(c *config.Rest) { c.RestOpenAPIMode = "disabled" })
	res = off.do("GET", "/rest/v1/", nil, "")
	assert.Equal(t, 404, res.status)
	assert.Contains(t, res.body, "PGRST126")
}

func TestPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runScenarios(t, e, []scenario{
		{name: "deeper path", url: "/rest/v1/books/1", wantStatus: 404, wantContains: []string{`"PGRST125"`}},
		{name: "put needs the primary key filter", method: "PUT", url: "/rest/v1/genres?name=eq.x", body: `{"id":1,"name":"x"}`, wantStatus: 405,
			wantContains: []string{`"PGRST105"`}},
		{name: "put payload must match", method: "PUT", url: "/rest/v1/genres?id=eq.1", body: `{"id":2,"name":"x"}`, wantStatus: 400,
			wantContains: []string{`"PGRST115"`}},
		{name: "put replaces", method: "PUT", url: "/rest/v1/genres?id=eq.1", body: `{"id":1,"name":"SF"}`,
			headers: map[string]string{"Prefer": "return=representation"}, wantStatus: 200, wantJSON: `[{"id":1,"name":"SF"}]`},
		{name: "put inserts", method: "PUT", url: "/rest/v1/genres?id=eq.70", body: `{"id":70,"name":"New"}`, wantStatus: 204},
		{name: "unsupported method", method: "OPTIONS", url: "/rest/v1/books", wantStatus: 405, wantContains: []string{`"PGRST117"`}},
		{name: "percent-encoded table", url: "/rest/v1/%67enres?id=eq.2", wantStatus: 200, wantJSON: `[{"id":2,"name":"Fable"}]`},
		{name: "apikey in query is not a filter", url: "/rest/v1/genres?id=eq.1&apikey=" + e.anon, headers: map[string]string{"apikey": ""}, wantStatus: 200},
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
	res := e.do("GET", "/rest/v1/rpc/slow", map[string]string{"Authorization": "Bearer " + userToken(t, alice)}, "")
	assert.Equal(t, 500, res.status)
	assert.Contains(t, res.body, "57014")
	assert.Contains(t, res.body, "statement timeout")
	res = e.do("GET", "/rest/v1/rpc/slow", nil, "")
	assert.Equal(t, 200, res.status, "anon has no timeout")
}
