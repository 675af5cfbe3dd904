// Package deploy reads the container deployment files (docker-compose*.yml,
// .env.example, config/) so tests and the compose smoke run can check them
// against the code and start the same topology without a Docker engine.
package deploy

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Compose is the part of a compose file the checks read.
type Compose struct {
	Services map[string]Service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

// Service is one compose service.
type Service struct {
	Image         string               `yaml:"image"`
	Build         any                  `yaml:"build"`
	Command       []string             `yaml:"command"`
	Environment   map[string]string    `yaml:"environment"`
	EnvFile       any                  `yaml:"env_file"`
	Ports         []string             `yaml:"ports"`
	Volumes       []string             `yaml:"volumes"`
	Healthcheck   *Healthcheck         `yaml:"healthcheck"`
	DependsOn     map[string]DependsOn `yaml:"depends_on"`
	ContainerName string               `yaml:"container_name"`
	Profiles      []string             `yaml:"profiles"`
	Restart       string               `yaml:"restart"`
}

// Healthcheck is a service's health check.
type Healthcheck struct {
	Test []string `yaml:"test"`
}

// DependsOn is one long-form depends_on entry.
type DependsOn struct {
	Condition string `yaml:"condition"`
}

// EnvFiles lists the service's env_file entries.
func (s Service) EnvFiles() []string {
	switch v := s.EnvFile.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			switch e := e.(type) {
			case string:
				out = append(out, e)
			case map[string]any:
				if p, ok := e["path"].(string); ok {
					out = append(out, p)
				}
			}
		}
		return out
	}
	return nil
}

// LoadCompose parses a compose file and interpolates ${...} in image,
// environment values and ports with vars, as `docker compose` does with the
// shell environment and .env.
func LoadCompose(path string, vars map[string]string) (*Compose, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var errs []string
	interp := func(where, s string) string {
		out, err := Interpolate(s, vars)
		if err != nil {
			errs = append(errs, where+": "+err.Error())
		}
		return out
	}
	for name, s := range c.Services {
		s.Image = interp(name+".image", s.Image)
		for k, v := range s.Environment {
			s.Environment[k] = interp(name+".environment."+k, v)
		}
		for i, p := range s.Ports {
			s.Ports[i] = interp(name+".ports", p)
		}
		c.Services[name] = s
	}
	if len(errs) > 0 {
		return &c, fmt.Errorf("%s: %s", path, strings.Join(errs, "; "))
	}
	return &c, nil
}

var varRef = regexp.MustCompile(`\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))`)

// Interpolate expands compose's $VAR, ${VAR}, ${VAR:-default},
// ${VAR-default}, ${VAR:?message}, ${VAR?message} and $$.
func Interpolate(s string, vars map[string]string) (string, error) {
	var err error
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		g := varRef.FindStringSubmatch(m)
		if g[1] == "$" {
			return "$"
		}
		name := g[2]
		if name == "" {
			name = g[5]
		}
		v, set := vars[name]
		switch g[3] {
		case ":-":
			if v == "" {
				return g[4]
			}
		case "-":
			if !set {
				return g[4]
			}
		case ":?":
			if v == "" && err == nil {
				err = fmt.Errorf("required variable %s is missing a value: %s", name, g[4])
			}
		case "?":
			if !set && err == nil {
				err = fmt.Errorf("required variable %s is missing a value: %s", name, g[4])
			}
		}
		return v
	})
	return out, err
}

// VarRefs lists the variable names a text refers to with ${...} or $NAME.
func VarRefs(s string) []string {
	var out []string
	for _, g := range varRef.FindAllStringSubmatch(s, -1) {
		if g[2] != "" {
			out = append(out, g[2])
		} else if g[5] != "" {
			out = append(out, g[5])
		}
	}
	return out
}

// EnvFile is a parsed .env file.
type EnvFile struct {
	// Values are the active KEY=VALUE lines.
	Values map[string]string
	// Listed are the names of every KEY=VALUE line, active or commented
	// out ("# KEY=VALUE"), in file order.
	Listed []string
}

var envLine = regexp.MustCompile(`^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$`)

// ReadEnvFile reads a .env file as compose does (KEY=VALUE lines, # comments).
func ReadEnvFile(path string) (*EnvFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	e := &EnvFile{Values: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := envLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		e.Listed = append(e.Listed, m[2])
		if m[1] == "" {
			e.Values[m[2]] = m[3]
		}
	}
	return e, sc.Err()
}

// ContainerEnv is the environment a service's container gets: its env_file
// (dotenv stands for .env) overridden by its environment section.
func ContainerEnv(s Service, dotenv map[string]string) map[string]string {
	env := map[string]string{}
	if len(s.EnvFiles()) > 0 {
		for k, v := range dotenv {
			env[k] = v
		}
	}
	for k, v := range s.Environment {
		env[k] = v
	}
	return env
}

// PostgresSettings are the server settings a postgres service's command
// sets, as the server reads them: "-c name=value", "-cname=value" or
// "--name=value" after the program name. The compose tests check them
// against what the workers need, and the smoke run starts its PostgreSQL
// with them.
func PostgresSettings(s Service) (map[string]string, error) {
	out := map[string]string{}
	args := s.Command
	if len(args) > 0 && args[0] == "postgres" {
		args = args[1:]
	}
	for i := 0; i < len(args); i++ {
		var kv string
		switch a := args[i]; {
		case a == "-c" && i+1 < len(args):
			i++
			kv = args[i]
		case strings.HasPrefix(a, "-c") && len(a) > 2:
			kv = a[2:]
		case strings.HasPrefix(a, "--") && len(a) > 2:
			kv = a[2:]
		default:
			return nil, fmt.Errorf("postgres argument %q is not a setting (-c name=value)", a)
		}
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("postgres setting %q is not name=value", kv)
		}
		out[strings.ReplaceAll(name, "-", "_")] = value
	}
	return out, nil
}
