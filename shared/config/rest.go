package config

// Rest configures the /rest/v1 capability (see worker/internal/rest).
type Rest struct {
}
