package config

// Auth configures the /auth/v1 capability (see worker/internal/auth).
type Auth struct {
}
