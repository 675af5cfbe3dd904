package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// composeProject loads the compose files with compose-go, the loader of
// `docker compose` itself (schema validation, interpolation, env_file,
// merging the observability file on top), from a copy of the repository's
// files with dotenv written as .env.
func composeProject(t *testing.T, dotenv map[string]string) (*types.Project, error) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"docker-compose.yml", "docker-compose.observability.yml"} {
		b, err := os.ReadFile(rootPath(f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	abs, err := filepath.Abs(rootPath("config"))
	require.NoError(t, err)
	require.NoError(t, os.Symlink(abs, filepath.Join(dir, "config")))
	var env strings.Builder
	for k, v := range dotenv {
		env.WriteString(k + "=" + v + "\n")
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte(env.String()), 0o644))

	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(dir, "docker-compose.yml"), filepath.Join(dir, "docker-compose.observability.yml")},
		cli.WithWorkingDirectory(dir), cli.WithEnvFiles(filepath.Join(dir, ".env")), cli.WithDotEnv,
		cli.WithProfiles([]string{"vmagent"}),
	)
	require.NoError(t, err)
	return opts.LoadProject(context.Background())
}

func TestComposeSpecLoads(t *testing.T) {
	env := dotenv(t)
	p, err := composeProject(t, env)
	require.NoError(t, err, "docker compose would reject the files")
	assert.Equal(t, "madbase", p.Name)
	for _, name := range []string{"db", "redis", "minio", "nats", "control", "worker", "edge", "prometheus", "vmagent", "grafana"} {
		_, err := p.GetService(name)
		assert.NoError(t, err, name)
	}

	// Our reading of the files (which the other tests and the smoke run
	// use) gives each MadBase container the environment compose gives it.
	c := loadMain(t, env)
	for name := range madbaseServices(c) {
		s, err := p.GetService(name)
		require.NoError(t, err)
		want := map[string]string{}
		for k, v := range s.Environment {
			if v != nil {
				want[k] = *v
			}
		}
		assert.Equal(t, want, ContainerEnv(c.Services[name], env), "%s: environment", name)
		assert.Equal(t, c.Services[name].Command, []string(s.Command), name)
	}
	w, err := p.GetService("worker")
	require.NoError(t, err)
	require.NotNil(t, w.Deploy)
	require.NotNil(t, w.Deploy.Replicas)
	assert.Equal(t, 2, *w.Deploy.Replicas)
}

func TestComposeSpecRequiresSecrets(t *testing.T) {
	for _, name := range []string{"JWT_SECRET", "ADMIN_PASSWORD"} {
		env := dotenv(t)
		delete(env, name)
		_, err := composeProject(t, env)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "set "+name+" in .env")
	}
}
