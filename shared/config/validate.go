package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/shared/secretbox"
)

// projectRef is what a project's ref may be: a DNS label of 3 to 40
// characters, since it is also the project's subdomain.
var projectRef = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$`)

// MinJWTSecretBytes is the shortest JWT secret accepted outside dev mode.
const MinJWTSecretBytes = 32

// Validate checks the common settings. requireNATS is false only for the
// one-process mode, which embeds a server.
func (c *Common) Validate(requireNATS bool) error {
	var errs []error
	if requireNATS && c.NATSURL == "" {
		errs = append(errs, errors.New("NATS_URL: required (e.g. nats://127.0.0.1:4222); only `madbase dev` embeds a NATS server"))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL: must be debug, info, warn or error, not %q", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT: must be json or text, not %q", c.LogFormat))
	}
	if c.LogRepeatInterval < 0 {
		errs = append(errs, errors.New("LOG_REPEAT_INTERVAL: must not be negative"))
	}
	if !projectRef.MatchString(c.DefaultProjectRef) {
		errs = append(errs, fmt.Errorf("DEFAULT_PROJECT_REF: 3 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit, not %q", c.DefaultProjectRef))
	}
	if c.EncryptionKey != "" {
		if _, err := secretbox.ParseKey(c.EncryptionKey); err != nil {
			errs = append(errs, fmt.Errorf("MADBASE_ENCRYPTION_KEY: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks the edge settings.
func (c *Edge) Validate(requireNATS bool) error {
	errs := []error{c.Common.Validate(requireNATS), checkPort("EDGE_PORT", c.Port)}
	for _, u := range c.WorkerUpstreamURLs {
		errs = append(errs, checkHTTPURL("WORKER_UPSTREAM_URLS", u))
	}
	if c.ControlUpstreamURL != "" {
		errs = append(errs, checkHTTPURL("CONTROL_UPSTREAM_URL", c.ControlUpstreamURL))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("MAX_BODY_BYTES: must be positive, not %d", c.MaxBodyBytes))
	}
	if c.ConnectTimeout <= 0 {
		errs = append(errs, errors.New("UPSTREAM_CONNECT_TIMEOUT: must be positive"))
	}
	if c.ResponseTimeout <= 0 {
		errs = append(errs, errors.New("UPSTREAM_RESPONSE_TIMEOUT: must be positive"))
	}
	if c.EventLoops < -1 {
		errs = append(errs, fmt.Errorf("EDGE_EVENT_LOOPS: must be -1 (off), 0 (one per CPU, serving as the load needs) or a count, not %d", c.EventLoops))
	}
	if c.HeaderTimeout < 0 {
		errs = append(errs, errors.New("EDGE_HEADER_TIMEOUT: must be 0 (off) or positive"))
	}
	errs = append(errs, checkProjectDomain(c.ProjectDomain))
	if c.MaxConnsPerIP < 0 {
		errs = append(errs, fmt.Errorf("EDGE_MAX_CONNS_PER_IP: must be 0 (off) or a count, not %d", c.MaxConnsPerIP))
	}
	return errors.Join(errs...)
}

// Validate checks the worker settings. dev relaxes what `madbase dev` fills in
// itself (NATS, database, secret).
func (c *Worker) Validate(dev bool) error {
	errs := []error{c.Common.Validate(!dev), checkPort("WORKER_PORT", c.Port)}
	if c.AdvertiseURL != "" {
		errs = append(errs, checkHTTPURL("WORKER_ADVERTISE_URL", c.AdvertiseURL))
	}
	if h := c.AdvertiseHost; h != "" && h != "auto" {
		if u, err := url.Parse("http://" + net.JoinHostPort(h, "1")); err != nil || u.Hostname() != h {
			errs = append(errs, fmt.Errorf("WORKER_ADVERTISE_HOST: not a host name, an IP address or auto: %q", h))
		}
	}
	if !dev && c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL: required (postgres://user:password@host:5432/db)"))
	}
	if !dev {
		errs = append(errs, checkDatabasePassword(c.DatabaseURL))
	}
	errs = append(errs, checkSecret("JWT_SECRET", c.JWTSecret, dev))
	if _, err := jwtauth.LoadKeys(c.JWTKeys); err != nil {
		errs = append(errs, fmt.Errorf("JWT_KEYS: %w", err))
	}
	switch c.Backend {
	case "local":
		if c.Dir == "" {
			errs = append(errs, errors.New("STORAGE_DIR: required with STORAGE_BACKEND=local"))
		}
	case "s3":
		if c.S3Endpoint == "" || c.S3AccessKey == "" || c.S3SecretKey == "" {
			errs = append(errs, errors.New("S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY: required with STORAGE_BACKEND=s3"))
		}
		if !dev && c.S3SecretKey == ExampleS3SecretKey {
			errs = append(errs, errors.New("S3_SECRET_KEY: still holds the example value of .env.example and docker-compose.yml; "+
				"set your own (with docker compose it is also minio's root password)"))
		}
	default:
		errs = append(errs, fmt.Errorf("STORAGE_BACKEND: must be local or s3, not %q", c.Backend))
	}
	if c.ShutdownGrace < 0 {
		errs = append(errs, errors.New("SHUTDOWN_GRACE: must not be negative"))
	}
	if c.ProjectDBMaxConns < 0 {
		errs = append(errs, errors.New("PROJECT_DB_MAX_CONNS: must not be negative"))
	}
	if n, one := c.ProjectDBTotalConns, c.projectConns(); n < 0 || (n > 0 && n < one) {
		errs = append(errs, fmt.Errorf("PROJECT_DB_TOTAL_CONNS: must be 0 (no bound) or hold one project's pool and listener (%d), not %d", one, n))
	}
	if c.ProjectIdleTimeout < 0 {
		errs = append(errs, errors.New("PROJECT_IDLE_TIMEOUT: must not be negative"))
	}
	if d := c.ProjectDomain; d != "" {
		if u, err := url.Parse("http://x." + d); err != nil || u.Hostname() != "x."+d || strings.Contains(d, ":") {
			errs = append(errs, fmt.Errorf("PROJECT_DOMAIN: not a domain name: %q", d))
		}
	}
	errs = append(errs, c.Auth.Validate(dev))
	errs = append(errs, c.Rest.Validate())
	errs = append(errs, c.Storage.Validate())
	errs = append(errs, c.Realtime.Validate())
	errs = append(errs, c.Functions.Validate())
	return errors.Join(errs...)
}

// Validate checks the control settings.
func (c *Control) Validate(dev bool) error {
	errs := []error{c.Common.Validate(!dev), checkPort("CONTROL_PORT", c.Port)}
	if !dev && c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL: required (postgres://user:password@host:5432/db)"))
	}
	if !dev {
		errs = append(errs, checkPassword("ADMIN_PASSWORD", c.AdminPassword), checkDatabasePassword(c.DatabaseURL))
	}
	if c.LogBuffer <= 0 {
		errs = append(errs, errors.New("LOG_BUFFER: must be positive"))
	}
	return errors.Join(errs...)
}

// Example credentials that .env.example and docker-compose.yml's defaults
// give, refused outside dev as the example JWT secret is: anyone who read
// the repository knows them.
const (
	// ExampleS3SecretKey is .env.example's S3_SECRET_KEY (minio's root
	// password in docker-compose.yml).
	ExampleS3SecretKey = "madbase-minio-secret"
	// ExamplePostgresPassword is docker-compose.yml's default
	// POSTGRES_PASSWORD, which its DATABASE_URLs carry.
	ExamplePostgresPassword = "postgres"
)

// checkDatabasePassword refuses a DATABASE_URL (URL or keyword/value form)
// whose password is the example one. The URL is never quoted: it holds the
// password.
func checkDatabasePassword(conn string) error {
	if databasePassword(conn) == ExamplePostgresPassword {
		return errors.New("DATABASE_URL: its password is the example one (docker-compose.yml's default POSTGRES_PASSWORD); " +
			"set POSTGRES_PASSWORD in .env before the database's first start, or use your own password")
	}
	return nil
}

// kvPassword finds the password of a keyword/value connection string.
var kvPassword = regexp.MustCompile(`(?:^|\s)password\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S*))`)

// databasePassword is the password conn gives, "" when none.
func databasePassword(conn string) string {
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
		return u.Query().Get("password")
	}
	m := kvPassword.FindStringSubmatch(conn)
	if m == nil {
		return ""
	}
	if m[2] != "" {
		return m[2]
	}
	return strings.NewReplacer(`\'`, "'", `\\`, `\`).Replace(m[1])
}

// placeholders are values copied from examples that must never run outside dev.
var placeholders = []string{"change-me", "changeme", "example", "your-", "super-secret"}

func isPlaceholder(v string) bool {
	l := strings.ToLower(v)
	for _, p := range placeholders {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

func checkSecret(name, v string, dev bool) error {
	if dev && v == "" {
		return nil
	}
	switch {
	case v == "":
		return fmt.Errorf("%s: required (at least %d bytes; `madbase keys --new-secret` makes one)", name, MinJWTSecretBytes)
	case len(v) < MinJWTSecretBytes:
		return fmt.Errorf("%s: must be at least %d bytes, got %d", name, MinJWTSecretBytes, len(v))
	case !dev && isPlaceholder(v):
		return fmt.Errorf("%s: still holds the example value; set a random secret", name)
	}
	return nil
}

func checkPassword(name, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s: required outside madbase dev", name)
	case isPlaceholder(v):
		return fmt.Errorf("%s: still holds the example value; set your own", name)
	}
	return nil
}

func checkPort(name string, p int) error {
	if p < 0 || p > 65535 {
		return fmt.Errorf("%s: not a port number: %d", name, p)
	}
	return nil
}

func checkHTTPURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: not an http(s) URL: %q", name, raw)
	}
	return nil
}

// checkProjectDomain checks PROJECT_DOMAIN as the edge reads it (a worker
// checks it the same way).
func checkProjectDomain(d string) error {
	if d == "" {
		return nil
	}
	if u, err := url.Parse("http://x." + d); err != nil || u.Hostname() != "x."+d || strings.Contains(d, ":") {
		return fmt.Errorf("PROJECT_DOMAIN: not a domain name: %q", d)
	}
	return nil
}

// projectConns is what one open project holds on a worker: its pool's most
// (PROJECT_DB_MAX_CONNS, 2 when 0) and its schema listener.
func (c *Worker) projectConns() int {
	if c.ProjectDBMaxConns <= 0 {
		return 3
	}
	return c.ProjectDBMaxConns + 1
}
