package rest

import (
	"testing"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/require"
)

// Without PostGIS, Accept: application/geo+json is a 406 that says why.
func TestGeoJSONWithoutPostGIS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	geo := map[string]string{"Accept": "application/geo+json"}
	want := `{"code":"PGRST107","message":"None of these media types are available: application/geo+json",` +
		`"details":"application/geo+json needs the PostGIS extension, which is not installed in this database",` +
		`"hint":"Create the extension (create extension postgis) to answer with GeoJSON."}`
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "read", URL: "/rest/v1/books?select=id", Headers: geo, WantStatus: 406, WantJSON: want},
		{Name: "call", URL: "/rest/v1/rpc/books_by_author?aid=1", Headers: geo, WantStatus: 406, WantJSON: want},
		{Name: "insert, rolled back", Method: "POST", URL: "/rest/v1/items", Body: map[string]any{"name": "geo"},
			Headers:    map[string]string{"Accept": "application/geo+json", "Prefer": "return=representation", "apikey": e.api.Service},
			WantStatus: 406, WantJSON: want,
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) {
				var n int
				if err := e.pool.QueryRow(testCtx(t), "select count(*) from items where name = 'geo'").Scan(&n); err != nil || n != 0 {
					t.Errorf("the insert was kept (%d rows, %v)", n, err)
				}
			}},
	})
}

// With PostGIS (scripts/ensure-deps.sh installs it; the test needs it),
// Accept: application/geo+json answers a FeatureCollection: each row a
// Feature whose geometry is its geometry column and whose properties are
// the other columns (a null geometry is PostGIS's {"type": null}).
func TestGeoJSONWithPostGIS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	_, err := e.pool.Exec(ctx, `
create extension postgis;
create table places (id int primary key, name text, geom geometry(Point, 4326));
grant select, insert on places to anon;
insert into places values (1, 'Amsterdam', 'SRID=4326;POINT(4.9 52.37)'), (2, 'Nowhere', null);`)
	require.NoError(t, err, "PostGIS must be installed (scripts/ensure-deps.sh)")
	require.NoError(t, e.h.Cache().LoadNow(ctx))
	geo := map[string]string{"Accept": "application/geo+json"}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "read", URL: "/rest/v1/places?select=id,name,geom&order=id", Headers: geo, WantStatus: 200,
			WantHeaders: map[string]string{"Content-Type": "application/geo+json; charset=utf-8"},
			WantJSON: `{"type":"FeatureCollection","features":[
				{"type":"Feature","geometry":{"type":"Point","coordinates":[4.9,52.37]},"properties":{"id":1,"name":"Amsterdam"}},
				{"type":"Feature","geometry":{"type":null},"properties":{"id":2,"name":"Nowhere"}}]}`},
		{Name: "no rows", URL: "/rest/v1/places?id=eq.99", Headers: geo, WantStatus: 200, WantJSON: `{"type":"FeatureCollection","features":[]}`},
		{Name: "insert's representation", Method: "POST", URL: "/rest/v1/places?select=name,geom",
			Headers: map[string]string{"Accept": "application/geo+json", "Prefer": "return=representation"},
			Body:    map[string]any{"id": 3, "name": "Origin", "geom": "SRID=4326;POINT(0 0)"}, WantStatus: 201,
			WantJSON: `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[0,0]},"properties":{"name":"Origin"}}]}`},
		{Name: "json still", URL: "/rest/v1/places?select=id&id=eq.1", WantStatus: 200, WantJSON: `[{"id":1}]`},
	})
}
