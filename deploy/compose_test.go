package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const root = ".."

func rootPath(p string) string { return filepath.Join(root, p) }

// tiers maps a MadBase subcommand to its config struct and port variable.
var tiers = map[string]struct {
	cfg      func() any
	portVar  string
	validate func(any) error
}{
	"edge":    {func() any { return &config.Edge{} }, "EDGE_PORT", func(c any) error { return c.(*config.Edge).Validate(true) }},
	"worker":  {func() any { return &config.Worker{} }, "WORKER_PORT", func(c any) error { return c.(*config.Worker).Validate(false) }},
	"control": {func() any { return &config.Control{} }, "CONTROL_PORT", func(c any) error { return c.(*config.Control).Validate(false) }},
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 24)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// dotenv is .env.example as a user fills it in: the example with the two
// required secrets set.
func dotenv(t *testing.T) map[string]string {
	t.Helper()
	e, err := ReadEnvFile(rootPath(".env.example"))
	require.NoError(t, err)
	e.Values["JWT_SECRET"] = randomSecret(t)
	e.Values["ADMIN_PASSWORD"] = randomSecret(t)
	// The binary refuses the example PostgreSQL password and S3 key too.
	e.Values["POSTGRES_PASSWORD"] = randomSecret(t)
	e.Values["S3_SECRET_KEY"] = randomSecret(t)
	return e.Values
}

func loadMain(t *testing.T, env map[string]string) *Compose {
	t.Helper()
	c, err := LoadCompose(rootPath("docker-compose.yml"), env)
	require.NoError(t, err)
	return c
}

// madbaseServices are the services that run the madbase image, by tier.
func madbaseServices(c *Compose) map[string]string {
	out := map[string]string{}
	for name, s := range c.Services {
		if len(s.Command) > 0 && strings.HasPrefix(s.Image, "madbase:") {
			out[name] = s.Command[0]
		}
	}
	return out
}

// tierVars are the variables one tier's config struct reads.
func tierVars(cfg any) map[string]bool {
	out := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if n := f.Tag.Get("env"); n != "" {
				out[n] = true
			}
		}
	}
	walk(reflect.TypeOf(cfg).Elem())
	return out
}

func knownVars() map[string]bool {
	out := map[string]bool{}
	for _, v := range config.Vars() {
		out[v.Name] = true
	}
	return out
}

func TestComposeServicesAndHealthChecks(t *testing.T) {
	c := loadMain(t, dotenv(t))
	for _, name := range []string{"db", "redis", "minio", "nats", "control", "worker", "edge"} {
		s, ok := c.Services[name]
		if !assert.True(t, ok, "docker-compose.yml lacks the %s service", name) {
			continue
		}
		if assert.NotNil(t, s.Healthcheck, "%s has no healthcheck", name) {
			assert.NotEmpty(t, s.Healthcheck.Test, "%s: empty healthcheck", name)
		}
		for dep, d := range s.DependsOn {
			assert.Contains(t, c.Services, dep, "%s depends on an unknown service", name)
			assert.Equal(t, "service_healthy", d.Condition, "%s: depends_on %s", name, dep)
			assert.NotNil(t, c.Services[dep].Healthcheck, "%s waits for %s being healthy, which has no healthcheck", name, dep)
		}
	}
	assert.True(t, strings.HasPrefix(c.Services["db"].Image, "postgres:15"), "db image %s", c.Services["db"].Image)
	assert.True(t, strings.HasPrefix(c.Services["redis"].Image, "redis:7"), "redis image %s", c.Services["redis"].Image)
	assert.Contains(t, strings.Join(c.Services["redis"].Command, " "), "--appendonly yes")
	nats := strings.Join(c.Services["nats"].Command, " ")
	assert.Contains(t, nats, "--jetstream")
	assert.Contains(t, nats, "--http_port 8222")
	assert.Contains(t, strings.Join(c.Services["nats"].Healthcheck.Test, " "), ":8222/healthz")
	assert.Contains(t, strings.Join(c.Services["db"].Healthcheck.Test, " "), "pg_isready")

	// Data that must survive `down` and `up` lives in named volumes.
	for name, dir := range map[string]string{"db": "/var/lib/postgresql/data", "redis": "/data", "minio": "/data", "nats": "/data"} {
		found := false
		for _, v := range c.Services[name].Volumes {
			src, dst, _ := strings.Cut(v, ":")
			if strings.HasPrefix(dst, dir) {
				found = true
				assert.Contains(t, c.Volumes, src, "%s: %s is not a named volume", name, src)
			}
		}
		assert.True(t, found, "%s keeps %s in no volume", name, dir)
	}

	// Control runs the migrations: the workers start after it is healthy.
	assert.Contains(t, c.Services["worker"].DependsOn, "control")
	assert.Contains(t, c.Services["control"].DependsOn, "db")
	assert.Contains(t, c.Services["edge"].DependsOn, "control")
}

// TestDatabaseServesTheWorkers: the db service runs PostgreSQL as the
// workers need it. Realtime's postgres_changes reads the WAL through a
// logical replication slot (pgoutput) that outlives the workers; without
// wal_level=logical the workers log that changes are off.
func TestDatabaseServesTheWorkers(t *testing.T) {
	c := loadMain(t, dotenv(t))
	db := c.Services["db"]
	require.NotEmpty(t, db.Command, "the db service sets no server settings")
	assert.Equal(t, "postgres", db.Command[0], "the db command runs the server")
	settings, err := PostgresSettings(db)
	require.NoError(t, err)
	assert.Equal(t, "logical", settings["wal_level"], "wal_level: realtime's postgres_changes needs logical decoding")

	// The slot keeps WAL while no worker reads it; a bound stops a stopped
	// fleet from filling the disk (the slot is invalidated and made again).
	keep, ok := settings["max_slot_wal_keep_size"]
	if assert.True(t, ok, "max_slot_wal_keep_size is not set: the replication slot may hold WAL without bound") {
		assert.Regexp(t, `^[1-9][0-9]*(kB|MB|GB|TB)$`, keep, "max_slot_wal_keep_size must be a positive size")
	}
	// One slot and one WAL sender per database while a worker reads it;
	// PostgreSQL's defaults (10 each) are enough, a lower setting must
	// leave at least one.
	for _, name := range []string{"max_replication_slots", "max_wal_senders"} {
		if v, set := settings[name]; set {
			n, err := strconv.Atoi(v)
			assert.NoError(t, err, name)
			assert.GreaterOrEqual(t, n, 1, name)
		}
	}
	// Making a replication slot takes the REPLICATION attribute: the
	// workers connect as the image's superuser.
	assert.Equal(t, "postgres", db.Environment["POSTGRES_USER"])
}

func TestPostgresSettings(t *testing.T) {
	got, err := PostgresSettings(Service{Command: []string{"postgres", "-c", "wal_level=logical", "-cmax_wal_senders=4",
		"--max-slot-wal-keep-size=1GB"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"wal_level": "logical", "max_wal_senders": "4", "max_slot_wal_keep_size": "1GB"}, got)
	got, err = PostgresSettings(Service{})
	require.NoError(t, err)
	assert.Empty(t, got)
	for _, cmd := range [][]string{{"postgres", "-c"}, {"postgres", "-c", "wal_level"}, {"postgres", "-N", "200"}, {"postgres", "-c", "=x"}} {
		_, err := PostgresSettings(Service{Command: cmd})
		assert.Error(t, err, "%q", cmd)
	}
}

// releaseTag is the form of MinIO's release tags; MinIO publishes no
// moving major tag.
var releaseTag = regexp.MustCompile(`^RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$`)

// TestImagesArePinned: every image but MadBase's own names a release, so
// `docker compose pull` cannot change a deployment under it.
func TestImagesArePinned(t *testing.T) {
	env := dotenv(t)
	obs, err := LoadCompose(rootPath("docker-compose.observability.yml"), env)
	require.NoError(t, err)
	images := map[string]string{}
	for _, c := range []*Compose{loadMain(t, env), obs} {
		for name, s := range c.Services {
			images[name] = s.Image
		}
	}
	require.Contains(t, images, "minio")
	for name, image := range images {
		if strings.HasPrefix(image, "madbase:") {
			continue
		}
		repo, tag, ok := strings.Cut(image, ":")
		if !assert.True(t, ok && tag != "", "%s: image %s names no tag", name, image) {
			continue
		}
		assert.NotEqual(t, "latest", tag, "%s: image %s", name, image)
		assert.NotContains(t, tag, "latest", "%s: image %s", name, image)
		if repo == "minio/minio" {
			assert.Regexp(t, releaseTag, tag, "minio: pin a release (RELEASE.YYYY-MM-DDTHH-MM-SSZ), not %s", tag)
		}
	}
}

func TestWorkerScales(t *testing.T) {
	c := loadMain(t, dotenv(t))
	w := c.Services["worker"]
	assert.Empty(t, w.ContainerName, "a fixed container_name breaks --scale worker=N")
	assert.Empty(t, w.Ports, "a host port breaks --scale worker=N")
	// Each replica must announce its own address, not a shared or loopback one.
	assert.Empty(t, w.Environment["WORKER_ADVERTISE_URL"], "one WORKER_ADVERTISE_URL for every replica")
	assert.Equal(t, "auto", w.Environment["WORKER_ADVERTISE_HOST"])
}

func TestMadBaseServicesEnvironment(t *testing.T) {
	env := dotenv(t)
	c := loadMain(t, env)
	svcs := madbaseServices(c)
	require.ElementsMatch(t, []string{"edge", "worker", "control"}, mapValues(svcs))
	known := knownVars()
	ex, err := ReadEnvFile(rootPath(".env.example"))
	require.NoError(t, err)
	for name, tier := range svcs {
		s := c.Services[name]
		tc, ok := tiers[tier]
		require.True(t, ok, "%s runs unknown subcommand %q", name, tier)
		mine := tierVars(tc.cfg())
		for k := range s.Environment {
			assert.True(t, mine[k], "%s (madbase %s) sets %s, which that tier does not read", name, tier, k)
		}
		assert.Equal(t, []string{".env"}, s.EnvFiles(), "%s must read .env", name)
		for k := range ex.Values {
			_, compose := composeOnly(k)
			assert.True(t, known[k] || compose, ".env.example sets %s, which neither a tier nor compose reads", k)
		}

		// What the container gets passes the tier's own start-up checks.
		cfg := tc.cfg()
		require.NoError(t, config.Load(cfg, config.Map(ContainerEnv(s, env))), name)
		assert.NoError(t, tc.validate(cfg), "%s would refuse to start with docker-compose.yml and .env.example (secrets set)", name)

		// Its health check asks its own /health on its own port.
		port := s.Environment[tc.portVar]
		require.NotEmpty(t, port, "%s: %s is not fixed in docker-compose.yml", name, tc.portVar)
		if assert.NotNil(t, s.Healthcheck, name) {
			assert.Contains(t, strings.Join(s.Healthcheck.Test, " "), "127.0.0.1:"+port+"/health", name)
		}
		assert.Equal(t, "on-failure:3", s.Restart, "%s: a configuration error must not loop forever", name)
	}
	edge := c.Services["edge"]
	require.Len(t, edge.Ports, 1)
	assert.True(t, strings.HasSuffix(edge.Ports[0], ":"+edge.Environment["EDGE_PORT"]), "edge publishes %s, listens on %s", edge.Ports[0], edge.Environment["EDGE_PORT"])
	for name := range c.Services {
		if name != "edge" {
			assert.Empty(t, c.Services[name].Ports, "%s publishes a host port; only the edge is public", name)
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestComposeRefusesExampleSecrets(t *testing.T) {
	// Without the secrets, compose itself stops with a message naming them.
	e, err := ReadEnvFile(rootPath(".env.example"))
	require.NoError(t, err)
	for _, name := range []string{"JWT_SECRET", "ADMIN_PASSWORD"} {
		env := map[string]string{}
		for k, v := range e.Values {
			env[k] = v
		}
		delete(env, name)
		_, err := LoadCompose(rootPath("docker-compose.yml"), env)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), name)
		assert.Contains(t, err.Error(), "set "+name+" in .env")
	}

	// With the example values left in, the binary refuses them by name.
	c := loadMain(t, e.Values)
	for name, tier := range madbaseServices(c) {
		cfg := tiers[tier].cfg()
		require.NoError(t, config.Load(cfg, config.Map(ContainerEnv(c.Services[name], e.Values))))
		err := tiers[tier].validate(cfg)
		switch tier {
		case "worker":
			require.Error(t, err)
			assert.Contains(t, err.Error(), "JWT_SECRET")
			assert.Contains(t, err.Error(), "S3_SECRET_KEY: still holds the example value")
			assert.Contains(t, err.Error(), "DATABASE_URL: its password is the example one")
		case "control":
			require.Error(t, err)
			assert.Contains(t, err.Error(), "ADMIN_PASSWORD")
			assert.Contains(t, err.Error(), "DATABASE_URL: its password is the example one")
		}
	}
}

func hostPort(t *testing.T, raw string) (string, string) {
	t.Helper()
	if !strings.Contains(raw, "://") {
		h, p, err := net.SplitHostPort(raw)
		require.NoError(t, err, raw)
		return h, p
	}
	u, err := url.Parse(raw)
	require.NoError(t, err, raw)
	return u.Hostname(), u.Port()
}

func TestUpstreamsAgree(t *testing.T) {
	env := dotenv(t)
	c := loadMain(t, env)
	control, worker, edge := c.Services["control"], c.Services["worker"], c.Services["edge"]
	envOf := func(s Service) map[string]string { return ContainerEnv(s, env) }

	h, p := hostPort(t, envOf(edge)["CONTROL_UPSTREAM_URL"])
	assert.Equal(t, "control", h, "CONTROL_UPSTREAM_URL host")
	assert.Equal(t, envOf(control)["CONTROL_PORT"], p, "CONTROL_UPSTREAM_URL port")

	for _, s := range []string{"edge", "worker", "control"} {
		for _, u := range strings.Split(envOf(c.Services[s])["NATS_URL"], ",") {
			h, p := hostPort(t, u)
			assert.Equal(t, "nats", h, "%s NATS_URL", s)
			assert.Equal(t, "4222", p, "%s NATS_URL", s)
		}
	}
	assert.NotContains(t, strings.Join(c.Services["nats"].Command, " "), "--port", "nats must listen on 4222")

	db := c.Services["db"].Environment
	for _, s := range []string{"worker", "control"} {
		raw := envOf(c.Services[s])["DATABASE_URL"]
		u, err := url.Parse(raw)
		require.NoError(t, err)
		assert.Equal(t, "db", u.Hostname(), "%s DATABASE_URL", s)
		assert.Equal(t, "5432", u.Port(), "%s DATABASE_URL", s)
		assert.Equal(t, db["POSTGRES_USER"], u.User.Username(), "%s DATABASE_URL user", s)
		pw, _ := u.User.Password()
		assert.Equal(t, db["POSTGRES_PASSWORD"], pw, "%s DATABASE_URL password", s)
		assert.Equal(t, "/"+db["POSTGRES_DB"], u.Path, "%s DATABASE_URL database", s)
	}
	assert.Equal(t, envOf(control)["DATABASE_URL"], envOf(worker)["DATABASE_URL"])

	h, p = hostPort(t, envOf(worker)["REDIS_URL"])
	assert.Equal(t, "redis", h)
	assert.Equal(t, "6379", p)

	we := envOf(worker)
	assert.Equal(t, "s3", we["STORAGE_BACKEND"])
	h, p = hostPort(t, we["S3_ENDPOINT"])
	assert.Equal(t, "minio", h)
	assert.Equal(t, "9000", p)
	minio := c.Services["minio"].Environment
	assert.Equal(t, minio["MINIO_ROOT_USER"], we["S3_ACCESS_KEY"])
	assert.Equal(t, minio["MINIO_ROOT_PASSWORD"], we["S3_SECRET_KEY"])
}

type scrapeConfig struct {
	Scrape []struct {
		Job           string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		DNSSD []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

func TestScrapeTargets(t *testing.T) {
	env := dotenv(t)
	c := loadMain(t, env)
	svcs := madbaseServices(c)
	var jobs [2]any
	for i, file := range []string{"config/prometheus.yml", "config/vmagent.yml"} {
		b, err := os.ReadFile(rootPath(file))
		require.NoError(t, err)
		var sc scrapeConfig
		require.NoError(t, yaml.Unmarshal(b, &sc), file)
		var raw map[string]any
		require.NoError(t, yaml.Unmarshal(b, &raw), file)
		jobs[i] = raw["scrape_configs"]

		scraped := map[string]bool{}
		check := func(job, host string, port string) {
			s, ok := c.Services[host]
			if !assert.True(t, ok, "%s job %s scrapes %s, which is no service", file, job, host) {
				return
			}
			tier, ok := svcs[host]
			if !assert.True(t, ok, "%s job %s scrapes %s, which runs no madbase tier", file, job, host) {
				return
			}
			assert.Equal(t, ContainerEnv(s, env)[tiers[tier].portVar], port, "%s job %s: port of %s", file, job, host)
			scraped[host] = true
		}
		for _, j := range sc.Scrape {
			assert.Contains(t, []string{"", "/metrics"}, j.MetricsPath, "%s job %s", file, j.Job)
			for _, st := range j.StaticConfigs {
				for _, target := range st.Targets {
					h, p, err := net.SplitHostPort(target)
					require.NoError(t, err, target)
					check(j.Job, h, p)
				}
			}
			for _, d := range j.DNSSD {
				assert.Equal(t, "A", d.Type)
				for _, n := range d.Names {
					check(j.Job, n, strconv.Itoa(d.Port))
				}
			}
		}
		for name := range svcs {
			assert.True(t, scraped[name], "%s does not scrape %s", file, name)
		}
		var sd []string
		for _, j := range sc.Scrape {
			for _, d := range j.DNSSD {
				sd = append(sd, d.Names...)
			}
		}
		assert.Contains(t, sd, "worker", "%s: workers must be found by DNS so --scale is followed", file)
	}
	assert.Equal(t, jobs[0], jobs[1], "config/prometheus.yml and config/vmagent.yml must hold the same scrape jobs")
}

func TestObservabilityCompose(t *testing.T) {
	env := dotenv(t)
	main := loadMain(t, env)
	c, err := LoadCompose(rootPath("docker-compose.observability.yml"), env)
	require.NoError(t, err)
	for _, name := range []string{"prometheus", "grafana", "vmagent"} {
		s, ok := c.Services[name]
		require.True(t, ok, name)
		assert.NotNil(t, s.Healthcheck, name)
		assert.NotContains(t, main.Services, name, "%s is defined in both files", name)
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				_, err := os.Stat(rootPath(src))
				assert.NoError(t, err, "%s mounts %s", name, src)
			} else {
				assert.Contains(t, c.Volumes, src, "%s: %s is not a named volume", name, src)
			}
		}
	}
	assert.Equal(t, []string{"3030:3000"}, c.Services["grafana"].Ports, "Grafana's default host port")
	// Prometheus answers anyone who reaches it: loopback only by default.
	assert.Equal(t, []string{"127.0.0.1:9090:9090"}, c.Services["prometheus"].Ports, "Prometheus' default binding")
	env["GRAFANA_HOST_PORT"], env["PROMETHEUS_HOST_PORT"] = "4321", "9876"
	moved, err := LoadCompose(rootPath("docker-compose.observability.yml"), env)
	require.NoError(t, err)
	assert.Equal(t, []string{"4321:3000"}, moved.Services["grafana"].Ports, "GRAFANA_HOST_PORT moves Grafana")
	assert.Equal(t, []string{"127.0.0.1:9876:9090"}, moved.Services["prometheus"].Ports, "PROMETHEUS_HOST_PORT moves Prometheus")
	assert.Equal(t, []string{"vmagent"}, c.Services["vmagent"].Profiles, "vmagent is the alternative scraper, off by default")

	// Provisioning: a Prometheus datasource whose uid the dashboard uses.
	b, err := os.ReadFile(rootPath("config/grafana/provisioning/datasources/prometheus.yml"))
	require.NoError(t, err)
	var ds struct {
		Datasources []struct{ Name, UID, Type, URL string } `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal(b, &ds))
	require.Len(t, ds.Datasources, 1)
	assert.Equal(t, "prometheus", ds.Datasources[0].Type)
	assert.Equal(t, "http://prometheus:9090", ds.Datasources[0].URL)
	b, err = os.ReadFile(rootPath("config/grafana/provisioning/dashboards/madbase.yml"))
	require.NoError(t, err)
	var prov struct {
		Providers []struct {
			Options struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	require.NoError(t, yaml.Unmarshal(b, &prov))
	require.Len(t, prov.Providers, 1)
	assert.Contains(t, c.Services["grafana"].Volumes, "./config/grafana/dashboards:"+prov.Providers[0].Options.Path+":ro")

	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err = os.ReadFile(rootPath("config/grafana/dashboards/madbase.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &dash))
	for _, p := range dash.Panels {
		if p.Type != "row" {
			assert.Equal(t, ds.Datasources[0].UID, p.Datasource.UID, "panel %q", p.Title)
			assert.NotEmpty(t, p.Targets, "panel %q", p.Title)
		}
	}
}

var metricRef = regexp.MustCompile(`\b(?:madbase|go|process)_[a-z0-9_]+\b`)

func TestDashboardQueriesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(rootPath("config/grafana/dashboards/madbase.json"))
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	exported := exportedMetrics(t)
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range metricRef.FindAllString(tg.Expr, -1) {
				used++
				assert.True(t, exported[name], "panel %q queries %s, which no MadBase tier exports", p.Title, name)
			}
		}
	}
	assert.Greater(t, used, 20)
	// The panels are there.
	all := string(b)
	for _, want := range []string{"madbase_edge_http_requests_total", "madbase_worker_http_request_duration_seconds_bucket",
		"madbase_control_http_requests_total", "madbase_edge_workers_healthy", "madbase_edge_upstream_errors_total",
		"madbase_db_pool_acquired_conns", "histogram_quantile(0.99", "histogram_quantile(0.95", "histogram_quantile(0.5"} {
		assert.True(t, strings.Contains(all, want), "the dashboard lacks %s", want)
	}
}

// exportedMetrics are the metric names the code exports: madbase_* string
// literals in the repository's Go sources, the names the shared
// constructors build per tier (HTTP metrics, the database pool), and the Go
// and process collectors; with the _bucket, _sum and _count series of
// histograms and summaries.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	lit := regexp.MustCompile(`"(madbase_[a-z0-9_]+[a-z0-9])"`)
	require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != root) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
		return nil
	}))
	rec := &recorder{names: names}
	for _, tier := range []string{"edge", "worker", "control"} {
		metrics.NewHTTP(rec, tier)
	}
	rec.MustRegister(db.NewPoolCollector(nil, prometheus.Labels{"tier": "worker"}))
	mfs, err := metrics.NewRegistry().Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for n := range names {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			names[n+suffix] = true
		}
	}
	require.True(t, names["madbase_edge_http_requests_total"] && names["madbase_db_pool_idle_conns"] && names["go_goroutines"])
	return names
}

// recorder is a prometheus.Registerer that notes the names of what is
// registered on it.
type recorder struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

func TestEnvExampleListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile(rootPath(".env.example"))
	require.NoError(t, err)
	want := EnvExample(config.Vars())
	if string(b) != want {
		e, _ := ReadEnvFile(rootPath(".env.example"))
		var have []string
		if e != nil {
			have = e.Listed
		}
		var missing, extra []string
		for _, v := range config.Vars() {
			if !slices.Contains(have, v.Name) {
				missing = append(missing, v.Name)
			}
		}
		known := knownVars()
		for _, v := range ComposeOnly {
			known[v.Name] = true
		}
		for _, n := range have {
			if !known[n] {
				extra = append(extra, n)
			}
		}
		t.Fatalf(".env.example is not what the code's variables give (missing %v, unknown %v, or a description or default changed); "+
			"regenerate it: go run ./deploy/cmd/envexample > .env.example", missing, extra)
	}
	e, err := ReadEnvFile(rootPath(".env.example"))
	require.NoError(t, err)
	var listed []string
	for _, n := range e.Listed {
		assert.False(t, slices.Contains(listed, n), "%s listed twice", n)
		listed = append(listed, n)
	}
	var wantNames []string
	for _, v := range config.Vars() {
		wantNames = append(wantNames, v.Name)
	}
	for _, v := range ComposeOnly {
		wantNames = append(wantNames, v.Name)
	}
	assert.ElementsMatch(t, wantNames, listed)
	assert.Equal(t, ExampleJWTSecret, e.Values["JWT_SECRET"])
	assert.GreaterOrEqual(t, len(ExampleJWTSecret), config.MinJWTSecretBytes, "the example is refused for being an example, not for its length")
	assert.Equal(t, ExampleAdminPassword, e.Values["ADMIN_PASSWORD"])
}

// TestComposeOnlyVariables keeps ComposeOnly in step with what the compose
// files interpolate.
func TestComposeOnlyVariables(t *testing.T) {
	known := knownVars()
	refs := map[string]bool{}
	for _, f := range []string{"docker-compose.yml", "docker-compose.observability.yml"} {
		b, err := os.ReadFile(rootPath(f))
		require.NoError(t, err)
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "#") {
				lines = append(lines, l)
			}
		}
		for _, n := range VarRefs(strings.Join(lines, "\n")) {
			if !known[n] {
				refs[n] = true
			}
		}
	}
	var composeOnly []string
	for _, v := range ComposeOnly {
		composeOnly = append(composeOnly, v.Name)
		assert.False(t, known[v.Name], "%s is read by MadBase too", v.Name)
	}
	assert.ElementsMatch(t, composeOnly, mapKeys(refs))
}

func mapKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestInterpolate(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": ""}
	for in, want := range map[string]string{
		"$A ${A}":         "a a",
		"${B:-x}":         "x",
		"${EMPTY:-x}":     "x",
		"${EMPTY-x}":      "",
		"${B-x}":          "x",
		"$$A":             "$A",
		"p=${A:?need A}!": "p=a!",
	} {
		got, err := Interpolate(in, vars)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := Interpolate("${EMPTY:?set EMPTY}", vars)
	assert.ErrorContains(t, err, "set EMPTY")
	_, err = Interpolate("${B?set B}", vars)
	assert.ErrorContains(t, err, "set B")
	_, err = Interpolate("${EMPTY?set}", vars)
	assert.NoError(t, err)
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(rootPath("Dockerfile"))
	require.NoError(t, err)
	df := string(b)
	work, err := os.ReadFile(rootPath("go.work"))
	require.NoError(t, err)
	use := regexp.MustCompile(`(?m)^\s*\./([a-z0-9_/-]+)\s*$`)
	mods := use.FindAllStringSubmatch(string(work), -1)
	require.NotEmpty(t, mods)
	download := strings.Index(df, "go mod download")
	require.Positive(t, download)
	for _, m := range mods {
		line := fmt.Sprintf("COPY %[1]s/go.mod %[1]s/go.sum ./%[1]s/", m[1])
		i := strings.Index(df, line)
		assert.True(t, i >= 0 && i < download, "Dockerfile must %q before go mod download (module cache layer)", line)
	}
	assert.Less(t, download, strings.Index(df, "COPY . ."))
	assert.Contains(t, df, "CGO_ENABLED=0")
	assert.Contains(t, df, "go build")
	assert.Contains(t, df, "./cmd/madbase")
	assert.Regexp(t, `(?m)^USER madbase$`, df)
	assert.Contains(t, df, `ENTRYPOINT ["/usr/local/bin/madbase"]`)

	ign, err := os.ReadFile(rootPath(".dockerignore"))
	require.NoError(t, err)
	for _, p := range []string{".git", ".madbase", "**/node_modules", ".env"} {
		assert.Contains(t, strings.Split(string(ign), "\n"), p)
	}
}
