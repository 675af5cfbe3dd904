package rest

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// geoJSONBody aggregates the rows of _postgrest_t into a GeoJSON
// FeatureCollection, as PostgREST does: each row is a Feature whose
// geometry is its first geometry column and whose properties are the
// others (PostGIS's ST_AsGeoJSON of a record).
const geoJSONBody = `json_build_object('type', 'FeatureCollection', 'features', ` +
	`coalesce(json_agg(ST_AsGeoJSON(_postgrest_t)::json), '[]'))::text`

// noPostGIS turns the error of a GeoJSON request in a database without
// PostGIS (its ST_AsGeoJSON is missing) into a clear 406; any other error
// is left as it is.
func noPostGIS(m media, err error) error {
	if m.inner().Kind != mediaGeoJSON || err == nil {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42883" && strings.Contains(strings.ToLower(pe.Message), "st_asgeojson") {
		return newErr(406, codeMediaType, "None of these media types are available: application/geo+json").
			WithDetails("application/geo+json needs the PostGIS extension, which is not installed in this database").
			WithHint("Create the extension (create extension postgis) to answer with GeoJSON.")
	}
	return err
}
