package rest

import (
	"encoding/json"
	"testing"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The plan is not offered unless DB_PLAN_ENABLED.
func TestPlanIsOffByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "read", URL: "/rest/v1/books", Headers: map[string]string{"Accept": "application/vnd.pgrst.plan+json"}, WantStatus: 406,
			WantFields: map[string]any{"code": "PGRST107", "message": "None of these media types are available: application/vnd.pgrst.plan+json"}},
		{Name: "call", URL: "/rest/v1/rpc/hello", Headers: map[string]string{"Accept": "application/vnd.pgrst.plan"}, WantStatus: 406},
		{Name: "insert", Method: "POST", URL: "/rest/v1/items", Headers: map[string]string{"Accept": "application/vnd.pgrst.plan+text", "apikey": e.api.Service},
			Body: map[string]any{"name": "x"}, WantStatus: 406},
	})
}

// planJSON decodes a FORMAT JSON plan.
func planJSON(t *testing.T, r *apitest.Response) map[string]any {
	t.Helper()
	var plans []map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &plans), "%s", r.Body)
	require.Len(t, plans, 1)
	return plans[0]
}

// With DB_PLAN_ENABLED, Accept: application/vnd.pgrst.plan answers the
// EXPLAIN of the statement the request would have run, in text or JSON,
// with the options asked for; for= says which body the statement builds.
func TestPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(r *config.Rest) { r.DBPlanEnabled = true })
	itemCount := func(t *testing.T, name string) int {
		var n int
		require.NoError(t, e.pool.QueryRow(testCtx(t), "select count(*) from items where name = $1", name).Scan(&n))
		return n
	}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "json", URL: "/rest/v1/books?select=id&id=eq.1", Headers: map[string]string{"Accept": `application/vnd.pgrst.plan+json; for="application/json"`},
			WantStatus: 200, WantHeaders: map[string]string{"Content-Type": `application/vnd.pgrst.plan+json; for="application/json"; charset=utf-8`},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				plan := planJSON(t, r)
				top := plan["Plan"].(map[string]any)
				assert.Equal(t, "Aggregate", top["Node Type"])
				assert.NotContains(t, top, "Actual Rows")
			}},
		{Name: "text by default", URL: "/rest/v1/books?select=id", Headers: map[string]string{"Accept": "application/vnd.pgrst.plan"},
			WantStatus: 200, WantHeaders: map[string]string{"Content-Type": `application/vnd.pgrst.plan+text; for="application/json"; charset=utf-8`},
			WantContains: []string{"Aggregate  (cost=", "Seq Scan on books"}, WantNotContains: []string{"actual time"}},
		{Name: "every option", URL: "/rest/v1/books?select=id",
			Headers:    map[string]string{"Accept": `application/vnd.pgrst.plan+json; for="application/json"; options=wal|buffers|settings|verbose|analyze`},
			WantStatus: 200, WantHeaders: map[string]string{"Content-Type": `application/vnd.pgrst.plan+json; for="application/json"; options=analyze|verbose|settings|buffers|wal; charset=utf-8`},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				plan := planJSON(t, r)
				top := plan["Plan"].(map[string]any)
				assert.Contains(t, top, "Actual Rows")       // analyze
				assert.Contains(t, top, "Output")            // verbose
				assert.Contains(t, top, "Shared Hit Blocks") // buffers
				assert.Contains(t, top, "WAL Records")       // wal
				assert.Contains(t, plan, "Settings")         // settings
				assert.Contains(t, plan, "Execution Time")
			}},
		{Name: "as supabase-js asks, for a single object", URL: "/rest/v1/books?select=id&id=eq.1",
			Headers:    map[string]string{"Accept": `application/vnd.pgrst.plan+text; for="application/vnd.pgrst.object+json"; options=analyze|verbose;`},
			WantStatus: 200, WantHeaders: map[string]string{"Content-Type": `application/vnd.pgrst.plan+text; for="application/vnd.pgrst.object+json"; options=analyze|verbose; charset=utf-8`},
			WantContains: []string{"actual time=", "(COALESCE((json_agg(_postgrest_t.*) -> 0)"}},
		{Name: "for csv", URL: "/rest/v1/books?select=id", Headers: map[string]string{"Accept": `application/vnd.pgrst.plan+text; for="text/csv"; options=verbose`},
			WantStatus: 200, WantHeaders: map[string]string{"Content-Type": `application/vnd.pgrst.plan+text; for="text/csv"; options=verbose; charset=utf-8`},
			WantContains: []string{"string_agg("}},
		{Name: "for a type with no plan", URL: "/rest/v1/books", Headers: map[string]string{"Accept": `application/vnd.pgrst.plan+json; for="application/xml"`},
			WantStatus: 406, WantFields: map[string]any{"code": "PGRST107"}},
		{Name: "a call", URL: "/rest/v1/rpc/numbers?n=3", Headers: map[string]string{"Accept": "application/vnd.pgrst.plan+text; options=analyze"},
			WantStatus: 200, WantContains: []string{"actual time=", "rows=3 loops=1"}},
		{Name: "an insert, not run", Method: "POST", URL: "/rest/v1/items",
			Headers: map[string]string{"Accept": "application/vnd.pgrst.plan+json", "apikey": e.api.Service}, Body: map[string]any{"name": "planned"},
			WantStatus: 200, WantContains: []string{`"Operation": "Insert"`},
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) { assert.Equal(t, 0, itemCount(t, "planned")) }},
		{Name: "an insert, analyzed, runs as the request would", Method: "POST", URL: "/rest/v1/items",
			Headers: map[string]string{"Accept": "application/vnd.pgrst.plan+json; options=analyze", "apikey": e.api.Service}, Body: map[string]any{"name": "analyzed"},
			WantStatus: 200, WantContains: []string{`"Operation": "Insert"`, `"Actual Rows": 1`},
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) { assert.Equal(t, 1, itemCount(t, "analyzed")) }},
		{Name: "an update", Method: "PATCH", URL: "/rest/v1/items?name=eq.apple",
			Headers: map[string]string{"Accept": "application/vnd.pgrst.plan", "apikey": e.api.Service}, Body: map[string]any{"qty": 9},
			WantStatus: 200, WantContains: []string{"Update on items pgrst_t"}},
		{Name: "a delete", Method: "DELETE", URL: "/rest/v1/items?name=eq.apple",
			Headers: map[string]string{"Accept": "application/vnd.pgrst.plan", "apikey": e.api.Service}, WantStatus: 200,
			WantContains: []string{"Delete on items pgrst_t"},
			After:        func(t *testing.T, _ *apitest.Env, _ *apitest.Response) { assert.Equal(t, 1, itemCount(t, "apple")) }},
		{Name: "a void call", Method: "POST", URL: "/rest/v1/rpc/bump", Headers: map[string]string{"Accept": "application/vnd.pgrst.plan", "apikey": e.api.Service},
			Body: map[string]any{"n": 1}, WantStatus: 200, WantContains: []string{"Function Scan on json_to_record"}},
	})
}
