package rest

import (
	"testing"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// preCheckSQL is a DB_PRE_REQUEST function: it refuses a request carrying
// X-Block with a PGRST error naming the role it runs as, and otherwise
// sets a response header.
const preCheckSQL = `
create schema hooks;
grant usage on schema hooks to anon, authenticated, service_role;
create function hooks.pre_check() returns void language plpgsql as $$
begin
  if current_setting('request.headers', true)::json->>'x-block' is not null then
    raise sqlstate 'PGRST' using
      message = json_build_object('code', 'P0042', 'message', 'blocked for ' || current_user)::text,
      detail = json_build_object('status', 402, 'headers', json_build_object('X-Blocked', 'yes'))::text;
  end if;
  perform set_config('response.headers', '[{"X-Pre-Request": "ran"}]', true);
end $$;`

// DB_PRE_REQUEST runs in every request's transaction, after the role and
// claims are set and before the query: its raised error is the answer and
// nothing the request would have done happens; the headers it sets reach
// the response.
func TestPreRequestHook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(r *config.Rest) { r.DBPreRequest = "hooks.pre_check" })
	_, err := e.pool.Exec(testCtx(t), preCheckSQL)
	require.NoError(t, err)
	block := map[string]string{"X-Block": "1"}
	user := apitest.Bearer(e.api.UserToken(t, alice))
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "read passes and sets a header", URL: "/rest/v1/books?select=id&id=eq.1", WantStatus: 200, WantJSON: `[{"id":1}]`,
			WantHeaders: map[string]string{"X-Pre-Request": "ran"}},
		{Name: "read refused as anon", URL: "/rest/v1/books?select=id", Headers: block, WantStatus: 402,
			WantJSON:    `{"code":"P0042","message":"blocked for anon","details":null,"hint":null}`,
			WantHeaders: map[string]string{"X-Blocked": "yes"}},
		{Name: "read refused as the user's role", URL: "/rest/v1/books?select=id", Headers: map[string]string{"X-Block": "1", "Authorization": user},
			WantStatus: 402, WantFields: map[string]any{"message": "blocked for authenticated"}},
		{Name: "insert refused, nothing inserted", Method: "POST", URL: "/rest/v1/items",
			Headers: map[string]string{"X-Block": "1", "apikey": e.api.Service}, Body: map[string]any{"name": "blocked"}, WantStatus: 402,
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) {
				var n int
				require.NoError(t, e.pool.QueryRow(testCtx(t), "select count(*) from items where name = 'blocked'").Scan(&n))
				assert.Equal(t, 0, n)
			}},
		{Name: "insert passes", Method: "POST", URL: "/rest/v1/items", Headers: map[string]string{"apikey": e.api.Service, "Prefer": "return=minimal"},
			Body: map[string]any{"name": "allowed"}, WantStatus: 201, WantHeaders: map[string]string{"X-Pre-Request": "ran"}},
		{Name: "rpc read refused", URL: "/rest/v1/rpc/hello", Headers: block, WantStatus: 402},
		{Name: "rpc call refused", Method: "POST", URL: "/rest/v1/rpc/bump", Headers: map[string]string{"X-Block": "1", "apikey": e.api.Service},
			Body: map[string]any{}, WantStatus: 402},
		{Name: "planned count refused", URL: "/rest/v1/books?select=id", Headers: map[string]string{"X-Block": "1", "Prefer": "count=planned"},
			WantStatus: 402},
	})
}

func TestPreRequestNameIsValidated(t *testing.T) {
	t.Parallel()
	cfg := testConfig(func(r *config.Rest) { r.DBPreRequest = "x; drop table y" })
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DB_PRE_REQUEST")
	cfg = testConfig(func(r *config.Rest) { r.DBPreRequest = "hooks.pre_check" })
	require.NoError(t, cfg.Validate())
}
