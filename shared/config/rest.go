package config

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Rest configures the /rest/v1 capability (see worker/internal/rest). The
// DB_* names follow PostgREST's settings of the same meaning.
type Rest struct {
	DBSchemas           []string      `env:"DB_SCHEMAS" default:"public" desc:"Schemas the REST API exposes, comma-separated; the first is the default for requests without Accept-Profile/Content-Profile."`
	DBExtraSearchPath   []string      `env:"DB_EXTRA_SEARCH_PATH" default:"public,extensions" desc:"Schemas added to the search_path of every REST request after the requested one (extensions holds pgcrypto and uuid-ossp)."`
	DBMaxRows           int64         `env:"DB_MAX_ROWS" default:"1000" desc:"Most rows a REST read returns (results are silently truncated, as on Supabase); 0 means no limit."`
	DBAggregatesEnabled bool          `env:"DB_AGGREGATES_ENABLED" default:"false" desc:"Allow aggregate functions (sum, avg, min, max, count) in REST select."`
	DBTxEnd             string        `env:"DB_TX_END" default:"commit" desc:"How REST transactions end: commit, or commit-allow-override to honour Prefer: tx=rollback."`
	RestOpenAPIMode     string        `env:"REST_OPENAPI_MODE" default:"follow-privileges" desc:"OpenAPI document at GET /rest/v1/: follow-privileges (objects the caller's role may use), ignore-privileges, or disabled."`
	RestRequestTimeout  time.Duration `env:"REST_REQUEST_TIMEOUT" default:"30s" desc:"Longest a REST request may run in the database before it is cancelled."`
	RestMaxBodyBytes    int64         `env:"REST_MAX_BODY_BYTES" default:"16777216" desc:"Largest REST request body (JSON for inserts, updates and RPC), in bytes; 413 beyond it."`
	DBPreRequest        string        `env:"DB_PRE_REQUEST" desc:"Function (name or schema.name, no arguments) run in every REST request's transaction after the role and claims are set and before the query; an error it raises becomes the response."`
	DBPlanEnabled       bool          `env:"DB_PLAN_ENABLED" default:"false" desc:"Serve the execution plan of a REST request when it asks with Accept: application/vnd.pgrst.plan (supabase-js explain()); off, such a request gets 406."`
	APIKeyRequired      bool          `env:"API_KEY_REQUIRED" default:"true" desc:"Whether a REST request must carry an apikey or a bearer token (401 PGRST302 without, as on hosted Supabase); false serves key-less requests as anon, as local Supabase stacks do."`
}

var funcNameRE = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$`)

var schemaNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$-]*$`)

// Validate checks the REST settings.
func (r *Rest) Validate() error {
	var errs []error
	if len(r.DBSchemas) == 0 {
		errs = append(errs, errors.New("DB_SCHEMAS: at least one schema is required"))
	}
	for _, s := range append(append([]string(nil), r.DBSchemas...), r.DBExtraSearchPath...) {
		if !schemaNameRE.MatchString(s) {
			errs = append(errs, fmt.Errorf("DB_SCHEMAS/DB_EXTRA_SEARCH_PATH: %q is not a schema name", s))
		}
	}
	if r.DBMaxRows < 0 {
		errs = append(errs, errors.New("DB_MAX_ROWS: must not be negative"))
	}
	switch r.DBTxEnd {
	case "commit", "commit-allow-override", "rollback", "rollback-allow-override":
	default:
		errs = append(errs, fmt.Errorf("DB_TX_END: must be commit, commit-allow-override, rollback or rollback-allow-override, not %q", r.DBTxEnd))
	}
	switch r.RestOpenAPIMode {
	case "follow-privileges", "ignore-privileges", "disabled":
	default:
		errs = append(errs, fmt.Errorf("REST_OPENAPI_MODE: must be follow-privileges, ignore-privileges or disabled, not %q", r.RestOpenAPIMode))
	}
	if r.DBPreRequest != "" && !funcNameRE.MatchString(r.DBPreRequest) {
		errs = append(errs, fmt.Errorf("DB_PRE_REQUEST: %q is not a function name (name or schema.name)", r.DBPreRequest))
	}
	if r.RestRequestTimeout <= 0 {
		errs = append(errs, errors.New("REST_REQUEST_TIMEOUT: must be positive"))
	}
	if r.RestMaxBodyBytes <= 0 {
		errs = append(errs, errors.New("REST_MAX_BODY_BYTES: must be positive"))
	}
	return errors.Join(errs...)
}
