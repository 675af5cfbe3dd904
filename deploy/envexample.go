package deploy

import (
	"fmt"
	"strings"

	"github.com/madbase/madbase/shared/config"
)

// Placeholder values of .env.example's required secrets: long enough, and
// refused by the binary outside `madbase dev` (they contain "change-me").
const (
	ExampleJWTSecret     = "change-me-to-a-random-secret-of-32-bytes-or-more"
	ExampleAdminPassword = "change-me"
)

// ComposeOnly are the variables docker-compose*.yml reads that no tier does.
var ComposeOnly = []config.Var{
	{Name: "POSTGRES_PASSWORD", Default: "postgres", Desc: "Password of the db service's postgres superuser; also put in every DATABASE_URL. Set before the first start: the database keeps the first one."},
	{Name: "EDGE_HOST_PORT", Default: "8000", Desc: "Host port the edge (the API URL) is published on."},
	{Name: "MADBASE_VERSION", Default: "local", Desc: "Tag of the madbase image built and run (madbase:<tag>), and the version it reports."},
	{Name: "PROMETHEUS_HOST_PORT", Default: "9090", Desc: "Host port of Prometheus (docker-compose.observability.yml), published on 127.0.0.1 only: Prometheus has no authentication."},
	{Name: "GRAFANA_HOST_PORT", Default: "3030", Desc: "Host port of Grafana (docker-compose.observability.yml)."},
	{Name: "GRAFANA_ADMIN_PASSWORD", Default: "admin", Desc: "Password of Grafana's admin user (docker-compose.observability.yml; Grafana keeps the first one)."},
}

// Groups of .env.example, by variable name.
var (
	requiredVars = []string{"JWT_SECRET", "ADMIN_PASSWORD", "POSTGRES_PASSWORD", "S3_SECRET_KEY"}
	// storageActive are set in .env.example: compose hands them to both
	// minio and the workers.
	storageActive = map[string]bool{"S3_ACCESS_KEY": true, "S3_SECRET_KEY": true, "S3_BUCKET": true, "S3_REGION": true}
	// topologyVars are fixed per service by docker-compose.yml.
	topologyVars = map[string]bool{
		"NATS_URL": true, "DATABASE_URL": true, "REDIS_URL": true,
		"EDGE_HOST": true, "EDGE_PORT": true, "CONTROL_HOST": true, "CONTROL_PORT": true,
		"WORKER_HOST": true, "WORKER_PORT": true, "WORKER_ADVERTISE_URL": true, "WORKER_ADVERTISE_HOST": true,
		"CONTROL_UPSTREAM_URL": true, "WORKER_UPSTREAM_URLS": true,
		"STORAGE_BACKEND": true, "S3_ENDPOINT": true, "S3_USE_SSL": true,
	}
	devVars = map[string]bool{"MADBASE_DATA_DIR": true, "MADBASE_WORKERS": true, "POSTGRES_BIN_DIR": true}
)

// composeOnly finds a variable of ComposeOnly by name.
func composeOnly(name string) (config.Var, bool) {
	for _, v := range ComposeOnly {
		if v.Name == name {
			return v, true
		}
	}
	return config.Var{}, false
}

func isStorage(name string) bool {
	return strings.HasPrefix(name, "S3_") || strings.HasPrefix(name, "STORAGE_")
}

// EnvExample renders .env.example for vars (config.Vars()): every variable
// once, grouped, with its description; `go run ./deploy/cmd/envexample`
// writes it and deploy's tests compare the file with it.
func EnvExample(vars []config.Var) string {
	byName := map[string]config.Var{}
	for _, v := range vars {
		byName[v.Name] = v
	}
	var b strings.Builder
	b.WriteString(`# MadBase configuration for docker compose: cp .env.example .env, then set
# the four required values. Every MadBase service reads this file (env_file),
# so any variable below can be set here; a line starting with "# NAME=" shows
# the default and stays unset. Generated from the code's list of variables by
# ` + "`go run ./deploy/cmd/envexample > .env.example`" + `; docs/configuration.md
# describes them too.
`)
	entry := func(v config.Var, value string, active bool) {
		for _, line := range wrap(v.Desc, 96) {
			b.WriteString("# " + line + "\n")
		}
		if active {
			fmt.Fprintf(&b, "%s=%s\n\n", v.Name, value)
		} else {
			fmt.Fprintf(&b, "# %s=%s\n\n", v.Name, value)
		}
	}
	section := func(title string) { fmt.Fprintf(&b, "\n############ %s\n\n", title) }

	section("Required: compose refuses to start without them, and MadBase refuses these example values")
	for _, name := range requiredVars {
		v, ok := byName[name]
		if !ok {
			v, ok = composeOnly(name)
		}
		if !ok {
			continue
		}
		var value string
		switch name {
		case "JWT_SECRET":
			value = ExampleJWTSecret
			v.Desc += " Make one with `openssl rand -hex 32` (or `madbase keys --new-secret`)."
		case "ADMIN_PASSWORD":
			value = ExampleAdminPassword
		case "POSTGRES_PASSWORD":
			value = config.ExamplePostgresPassword
		case "S3_SECRET_KEY":
			value = config.ExampleS3SecretKey
			v.Desc += " It is also minio's root password in docker-compose.yml."
		}
		entry(v, value, true)
	}

	section("Storage (docker-compose.yml uses the s3 backend against its minio service)")
	for _, v := range vars {
		if isStorage(v.Name) && !topologyVars[v.Name] && !slicesContains(requiredVars, v.Name) {
			entry(v, v.Default, storageActive[v.Name])
		}
	}
	// minio's root user is S3_ACCESS_KEY; give it a local value.
	out := strings.Replace(b.String(), "\nS3_ACCESS_KEY=\n", "\nS3_ACCESS_KEY=madbase\n", 1)
	b.Reset()
	b.WriteString(out)

	section("Optional (defaults shown)")
	for _, v := range vars {
		if slicesContains(requiredVars, v.Name) || isStorage(v.Name) || topologyVars[v.Name] || devVars[v.Name] {
			continue
		}
		entry(v, v.Default, false)
	}

	section("Set per service by docker-compose.yml (addresses and ports); here for running `madbase <tier>` yourself")
	for _, v := range vars {
		if topologyVars[v.Name] {
			entry(v, v.Default, false)
		}
	}

	section("madbase dev only")
	for _, v := range vars {
		if devVars[v.Name] {
			entry(v, v.Default, false)
		}
	}

	section("docker compose only (read by docker-compose*.yml, not by MadBase)")
	for _, v := range ComposeOnly {
		if !slicesContains(requiredVars, v.Name) {
			entry(v, v.Default, false)
		}
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func slicesContains(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}

func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
