// Package config reads every tier's configuration from the environment. Each
// field carries its variable name, default and meaning in struct tags, so one
// place defines them; Vars lists them for docs/configuration.md and .env.example, and
// Load fails with every problem at once.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Common is the part of the configuration every tier reads.
type Common struct {
	NATSURL       string        `env:"NATS_URL" desc:"NATS server URL(s), comma-separated. Required outside madbase dev, which embeds a server when unset."`
	LogLevel      string        `env:"LOG_LEVEL" default:"info" desc:"Log level: debug, info, warn or error."`
	LogFormat     string        `env:"LOG_FORMAT" default:"json" desc:"Log format on stderr: json or text (madbase dev: text). Records published on NATS are always JSON."`
	InstanceID    string        `env:"INSTANCE_ID" desc:"Name of this instance in logs, heartbeats and subjects. Default: host name plus a random suffix."`
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE" default:"20s" desc:"How long a stopping tier lets in-flight requests finish before closing them."`
	// LogRepeatInterval is the window of logging.Summarizer.
	LogRepeatInterval time.Duration `env:"LOG_REPEAT_INTERVAL" default:"10s" desc:"Window for summarising repeated log records: of the records with the same level, message and component, the first 5 in each window are written and the rest counted in one '(repeated N times)' record at its end. 0 writes every record."`
	// EncryptionKey seals projects' secrets at rest and in the configuration
	// control publishes; every tier that opens them reads the same key.
	EncryptionKey     string `env:"MADBASE_ENCRYPTION_KEY" secret:"true" desc:"Platform key that seals projects' secrets (JWT secrets, database URLs, SMTP and S3 passwords) at rest and in the configuration control publishes: 32 random bytes as base64 (openssl rand -base64 32) or 64 hex digits. madbase dev generates one and keeps it in its data folder; elsewhere the projects API is off until it is set. Losing it loses the projects' secrets."`
	DefaultProjectRef string `env:"DEFAULT_PROJECT_REF" default:"default" desc:"Ref of the default project, the one the environment configures; no created project may take it."`
}

// Edge configures the edge proxy.
type Edge struct {
	Common
	Host               string        `env:"EDGE_HOST" default:"0.0.0.0" desc:"Address the edge listens on."`
	Port               int           `env:"EDGE_PORT" default:"8000" desc:"Port the edge listens on (the public API URL)."`
	WorkerUpstreamURLs []string      `env:"WORKER_UPSTREAM_URLS" desc:"Static worker URLs, comma-separated, probed on /health; in addition to the workers found over NATS."`
	ControlUpstreamURL string        `env:"CONTROL_UPSTREAM_URL" default:"http://127.0.0.1:8001" desc:"Control plane URL that /admin/* is forwarded to."`
	TrustForwarded     bool          `env:"EDGE_TRUST_FORWARDED" default:"false" desc:"Keep the X-Forwarded-Proto and X-Forwarded-Host a client sends (set it when a TLS proxy or load balancer you run sits in front of the edge); otherwise the edge sets them itself."`
	AllowedOrigins     []string      `env:"ALLOWED_ORIGINS" default:"*" desc:"CORS origins allowed by browsers, comma-separated; * allows any."`
	MaxBodyBytes       int64         `env:"MAX_BODY_BYTES" default:"5368709120" desc:"Largest request body the edge forwards, in bytes (413 beyond it). Default 5 GiB."`
	ConnectTimeout     time.Duration `env:"UPSTREAM_CONNECT_TIMEOUT" default:"2s" desc:"Timeout for the edge to connect to a worker or control."`
	ResponseTimeout    time.Duration `env:"UPSTREAM_RESPONSE_TIMEOUT" default:"60s" desc:"Timeout for a worker to start answering (response headers); bodies and WebSockets have no total limit."`
	EventLoops         int           `env:"EDGE_EVENT_LOOPS" default:"0" desc:"Epoll event loops that serve plain API requests, on Linux (0: one per CPU, one fewer when GOMAXPROCS is set, of which as many serve as the load needs: one while it is light, more while a serving loop is the bottleneck; a count: that many, always serving; -1 turns them off and a goroutine per connection serves everything). WebSockets, /admin, /health and unusual requests are always served by goroutines."`
	HeaderTimeout      time.Duration `env:"EDGE_HEADER_TIMEOUT" default:"10s" desc:"Time a client has to send a request's head (request line and headers), counted from the connection's opening for its first request and from the first byte for the next ones; a slower client's connection is closed (408). 0 turns the limit off."`
	MaxConnsPerIP      int           `env:"EDGE_MAX_CONNS_PER_IP" default:"1000" desc:"Open connections the edge accepts from one client address; more are refused (429) and closed. Behind a balancer that connects from one address, raise it or set 0 (off)."`
	// ProjectDomain is the worker's PROJECT_DOMAIN: the edge reads a
	// request's project from its Host the same way, for the project's CORS
	// origins.
	ProjectDomain string `env:"PROJECT_DOMAIN" desc:"Domain under which projects are reached as <ref>.<PROJECT_DOMAIN> (Host header); unset, a request picks its project by its key alone."`
	RequestLog    bool   `env:"EDGE_REQUEST_LOG" default:"false" desc:"Log one line per request at info level (madbase dev turns it on): method, path without its query string, status, duration, worker and request id (never headers, keys or tokens); /health and /metrics only at debug. Off, every line is written at debug level only."`
}

// Worker configures an API worker.
type Worker struct {
	Common
	Host          string `env:"WORKER_HOST" default:"0.0.0.0" desc:"Address the worker listens on."`
	Port          int    `env:"WORKER_PORT" default:"8002" desc:"Port the worker listens on."`
	AdvertiseURL  string `env:"WORKER_ADVERTISE_URL" desc:"URL the edge uses to reach this worker, announced in heartbeats. Default: http://<WORKER_ADVERTISE_HOST>:<WORKER_PORT>."`
	AdvertiseHost string `env:"WORKER_ADVERTISE_HOST" desc:"Host of the default advertise URL when WORKER_ADVERTISE_URL is unset: a name or IP, or auto for this machine's first non-loopback IPv4 address (a container's own address, so scaled replicas each announce themselves). Default: 127.0.0.1."`
	DatabaseURL   string `env:"DATABASE_URL" desc:"PostgreSQL URL. Required outside madbase dev, which starts its own PostgreSQL when unset. Its pool_max_conns parameter sets the size of each tier's pool (default 2 per CPU, at least 4)."`
	JWTSecret     string `env:"JWT_SECRET" secret:"true" desc:"HS256 secret that signs API keys and access tokens; at least 32 bytes. Required outside madbase dev, which generates one."`
	JWTKeys       string `env:"JWT_KEYS" secret:"true" desc:"Asymmetric signing keys for access tokens: a JSON array of private JWKs (each with kid and alg RS256 or ES256; HS256 oct keys too), or the path of a file holding one; madbase keys --new-signing-key makes one. The key whose key_ops has sign (else the first) signs, its kid in the token header; the others, and JWT_SECRET, still verify. Their public parts are published at /auth/v1/.well-known/jwks.json. Unset: JWT_SECRET signs (HS256)."`
	RedisURL      string `env:"REDIS_URL" secret:"true" desc:"Redis URL for limits shared between workers; in-process fallback when unset."`
	MaxBodyBytes  int64  `env:"MAX_BODY_BYTES" default:"5368709120" desc:"A worker reads it as the largest request body it accepts: the cap on bodies it reads whole and on storage objects (413 beyond it)."`
	ProjectDomain string `env:"PROJECT_DOMAIN" desc:"Domain under which projects are reached as <ref>.<PROJECT_DOMAIN> (Host header); unset, a request picks its project by its key alone."`
	// ProjectDBMaxConns and ProjectIdleTimeout size what a worker holds per
	// created project.
	ProjectDBMaxConns   int           `env:"PROJECT_DB_MAX_CONNS" default:"2" desc:"Connections of each created project's database pool on a worker (its database URL's pool_max_conns wins), so many projects fit PostgreSQL's max_connections."`
	ProjectDBTotalConns int           `env:"PROJECT_DB_TOTAL_CONNS" default:"60" desc:"Most connections a worker holds to created projects' databases in all: each open project takes its pool's most and one for its schema listener. To open another project beyond it, the worker closes the least recently used project without requests in flight, or waits for one (up to 10 s, then 503). 0: no bound."`
	ProjectIdleTimeout  time.Duration `env:"PROJECT_IDLE_TIMEOUT" default:"10m" desc:"How long a worker keeps a created project's pool and state after its last request before closing them; the next request opens them again."`
	Storage
	Auth
	Rest
	Realtime
	Functions
}

// Control configures the control plane.
type Control struct {
	Common
	Host          string `env:"CONTROL_HOST" default:"0.0.0.0" desc:"Address the control plane listens on."`
	Port          int    `env:"CONTROL_PORT" default:"8001" desc:"Port the control plane listens on."`
	DatabaseURL   string `env:"DATABASE_URL" desc:"PostgreSQL URL. Required outside madbase dev, which starts its own PostgreSQL when unset. Its pool_max_conns parameter sets the size of each tier's pool (default 2 per CPU, at least 4)."`
	AdminPassword string `env:"ADMIN_PASSWORD" secret:"true" desc:"Password of the admin API (bearer or basic auth). Required outside madbase dev, which generates one."`
	LogBuffer     int    `env:"LOG_BUFFER" default:"10000" desc:"How many recent log records control keeps for /admin/v1/logs."`
}

// Dev configures the one-process mode on top of the tiers' own settings.
type Dev struct {
	DataDir  string `env:"MADBASE_DATA_DIR" default:"./.madbase" desc:"madbase dev: folder for PostgreSQL data, objects and generated secrets."`
	Workers  int    `env:"MADBASE_WORKERS" default:"2" desc:"madbase dev: how many workers to run (ports follow WORKER_PORT)."`
	PGBinDir string `env:"POSTGRES_BIN_DIR" desc:"madbase dev: folder holding PostgreSQL's initdb and postgres. Default: found through pg_config, PATH or /usr/lib/postgresql/*/bin."`
	DBPort   int    `env:"DEV_DB_PORT" default:"54329" desc:"madbase dev: port of its PostgreSQL on 127.0.0.1 (when it is taken, a free one is used and the banner says so; 0 always picks a free one)."`
	// MigrationsDir is the Supabase CLI's folder: an existing Supabase project's repository
	// works as it is.
	MigrationsDir string `env:"MADBASE_MIGRATIONS_DIR" default:"supabase/migrations" desc:"madbase dev and db reset: folder of the app's <timestamp>_name.sql migrations, applied in order; seed.sql beside it seeds a new database."`
}

// Var documents one environment variable.
type Var struct {
	Name    string
	Default string
	Desc    string
	Secret  bool
}

// Vars lists every environment variable any tier reads, sorted by name. A
// variable two tiers read with different meanings (MAX_BODY_BYTES) has both
// descriptions, edge first.
func Vars() []Var {
	seen := map[string]Var{}
	for _, v := range []any{Edge{}, Worker{}, Control{}, Dev{}} {
		walk(reflect.ValueOf(v), func(f reflect.StructField, _ reflect.Value) {
			v := Var{Name: f.Tag.Get("env"), Default: f.Tag.Get("default"), Desc: f.Tag.Get("desc"), Secret: f.Tag.Get("secret") == "true"}
			if old, ok := seen[v.Name]; ok && !strings.Contains(old.Desc, v.Desc) {
				v.Desc = old.Desc + " " + v.Desc
			}
			seen[v.Name] = v
		})
	}
	out := make([]Var, 0, len(seen))
	for _, v := range seen {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup reads a variable; tests and `madbase dev` pass their own.
type Lookup func(name string) (string, bool)

// Env reads the process environment.
var Env Lookup = os.LookupEnv

// Map reads variables from a map, for tests and for tiers started in-process.
func Map(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Overlay sets the fields of dst (a pointer to one of the config structs)
// that values names, leaving the others as they are: a project's settings
// over the environment's configuration. Errors of every field are joined.
func Overlay(dst any, values map[string]string) error {
	var errs []error
	walk(reflect.ValueOf(dst).Elem(), func(f reflect.StructField, v reflect.Value) {
		name := f.Tag.Get("env")
		raw, ok := values[name]
		if !ok {
			return
		}
		if raw == "" {
			raw = f.Tag.Get("default")
		}
		if err := set(v, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	})
	return errors.Join(errs...)
}

// Load fills dst (a pointer to one of the config structs) from defaults and
// then from the lookup. Errors of every field are joined.
func Load(dst any, env Lookup) error {
	if env == nil {
		env = Env
	}
	var errs []error
	walk(reflect.ValueOf(dst).Elem(), func(f reflect.StructField, v reflect.Value) {
		name := f.Tag.Get("env")
		raw, ok := env(name)
		if !ok || raw == "" {
			raw = f.Tag.Get("default")
		}
		if err := set(v, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	})
	return errors.Join(errs...)
}

func walk(v reflect.Value, fn func(reflect.StructField, reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			walk(v.Field(i), fn)
			continue
		}
		if f.Tag.Get("env") == "" {
			continue
		}
		fn(f, v.Field(i))
	}
}

func set(v reflect.Value, raw string) error {
	switch v.Interface().(type) {
	case time.Duration:
		if raw == "" {
			v.SetInt(0)
			return nil
		}
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("not a duration (like 5s or 1m): %q", raw)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Int, reflect.Int64:
		if raw == "" {
			v.SetInt(0)
			return nil
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", raw)
		}
		v.SetInt(n)
	case reflect.Bool:
		if raw == "" {
			v.SetBool(false)
			return nil
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not a boolean (true or false): %q", raw)
		}
		v.SetBool(b)
	case reflect.Slice:
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported config field kind %s", v.Kind())
	}
	return nil
}
