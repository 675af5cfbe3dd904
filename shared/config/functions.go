package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Functions configures the /functions/v1 capability, the edge functions a
// worker runs (see worker/internal/functions). The limits' defaults are
// Supabase's: 2 s of CPU and 150 s of wall time per request.
type Functions struct {
	FunctionsCPUTimeout       time.Duration `env:"FUNCTIONS_CPU_TIMEOUT" default:"2s" desc:"Functions: CPU time (time spent running JavaScript, waits excluded) one invocation may take before it ends with 546 WORKER_LIMIT; a function's own cpu_timeout_ms wins."`
	FunctionsWallTimeout      time.Duration `env:"FUNCTIONS_WALL_TIMEOUT" default:"150s" desc:"Functions: wall time one invocation may take, response included, before it ends with 504 (a streamed response is cut); a function's own wall_timeout_ms wins."`
	FunctionsMaxMemoryBytes   int64         `env:"FUNCTIONS_MAX_MEMORY_BYTES" default:"268435456" desc:"Functions: how far the worker's heap may grow while an invocation runs JavaScript before it is stopped with 546 WORKER_LIMIT and its instance discarded (approximate: measured on the whole heap)."`
	FunctionsMaxResponseBytes int64         `env:"FUNCTIONS_MAX_RESPONSE_BYTES" default:"10485760" desc:"Functions: largest response body a function may return (546 WORKER_LIMIT beyond it; a streamed response is cut)."`
	FunctionsFetchAllowHosts  []string      `env:"FUNCTIONS_FETCH_ALLOW_HOSTS" desc:"Functions: hosts fetch() may reach, comma-separated (host or host:port; *.example.com for subdomains; * for any). MadBase's own API (FUNCTIONS_API_URL) is always allowed; unset, nothing else is."`
	FunctionsFetchLimit       int           `env:"FUNCTIONS_FETCH_LIMIT" default:"50" desc:"Functions: most fetch() calls one invocation may make; the next one rejects."`
	FunctionsPoolSize         int           `env:"FUNCTIONS_POOL_SIZE" default:"8" desc:"Functions: warm JavaScript instances a worker keeps per function version for reuse (more are made under load and dropped after)."`
	FunctionsAPIURL           string        `env:"FUNCTIONS_API_URL" desc:"Functions: the URL of MadBase's API functions call, given to them as SUPABASE_URL and always allowed to fetch(). Default: API_EXTERNAL_URL, else the worker's own address."`
}

// Validate checks the functions settings.
func (f *Functions) Validate() error {
	var errs []error
	if f.FunctionsCPUTimeout <= 0 {
		errs = append(errs, errors.New("FUNCTIONS_CPU_TIMEOUT: must be positive"))
	}
	if f.FunctionsWallTimeout <= 0 {
		errs = append(errs, errors.New("FUNCTIONS_WALL_TIMEOUT: must be positive"))
	}
	if f.FunctionsMaxMemoryBytes <= 0 {
		errs = append(errs, errors.New("FUNCTIONS_MAX_MEMORY_BYTES: must be positive"))
	}
	if f.FunctionsMaxResponseBytes <= 0 {
		errs = append(errs, errors.New("FUNCTIONS_MAX_RESPONSE_BYTES: must be positive"))
	}
	if f.FunctionsFetchLimit < 0 {
		errs = append(errs, errors.New("FUNCTIONS_FETCH_LIMIT: must not be negative"))
	}
	if f.FunctionsPoolSize < 0 {
		errs = append(errs, errors.New("FUNCTIONS_POOL_SIZE: must not be negative"))
	}
	for _, h := range f.FunctionsFetchAllowHosts {
		if h == "" || strings.ContainsAny(h, "/ @") {
			errs = append(errs, fmt.Errorf("FUNCTIONS_FETCH_ALLOW_HOSTS: %q is not a host", h))
		}
	}
	if f.FunctionsAPIURL != "" {
		errs = append(errs, checkHTTPURL("FUNCTIONS_API_URL", f.FunctionsAPIURL))
	}
	return errors.Join(errs...)
}
