package projects

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/jwtauth"
)

// Project-level settings are the variables of the configuration sections a
// project can set for itself: auth (mail and SMTP included), REST, storage,
// realtime, edge functions, plus the CORS origins and signing keys. They are read from the config structs, so a
// variable added to a section is a project setting at once.
var (
	projectSections = []any{config.Auth{}, config.Rest{}, config.Storage{}, config.Realtime{}, config.Functions{}}
	// extraSettings are project settings outside those sections: the
	// CORS origins, and the asymmetric signing keys (JWT_KEYS), which a
	// project rotates by setting them.
	extraSettings = map[string]settingKind{"ALLOWED_ORIGINS": {}, "JWT_KEYS": {secret: true}}
	// machineSettings are variables of those sections that describe the
	// machine a worker runs on rather than a project.
	machineSettings = map[string]string{
		"STORAGE_DIR":                "a folder of the machines the workers run on; a project's local objects live under it by ref",
		"AUTH_BCRYPT_CONCURRENCY":    "threads of each worker process, shared by every project",
		"FUNCTIONS_MAX_MEMORY_BYTES": "measured on the worker process's heap, shared by every project",
		"FUNCTIONS_POOL_SIZE":        "warm instances of each worker process",
		"FUNCTIONS_API_URL":          "the platform's API URL, the same for every project",
	}
	// ownedElsewhere are project variables with an endpoint of their own.
	ownedElsewhere = map[string]string{
		"JWT_SECRET":   "a project's JWT secret is made at creation and changed with POST /admin/v1/projects/{ref}/keys/rotate",
		"DATABASE_URL": "a project's database is given (database_url) or created when the project is created",
	}
)

// settingKind tells a project setting's variable apart.
type settingKind struct {
	secret bool // sealed at rest and in the published configuration
}

var projectSettings = func() map[string]settingKind {
	out := map[string]settingKind{}
	for _, s := range projectSections {
		t := reflect.TypeOf(s)
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Tag.Get("env")
			if name == "" {
				continue
			}
			if _, machine := machineSettings[name]; machine {
				continue
			}
			out[name] = settingKind{secret: f.Tag.Get("secret") == "true"}
		}
	}
	for name, kind := range extraSettings {
		out[name] = kind
	}
	return out
}()

// SettingNames lists the variables a project may set, sorted.
func SettingNames() []string {
	out := make([]string, 0, len(projectSettings))
	for name := range projectSettings {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// IsSecretSetting reports whether a project setting is sealed at rest and
// never shown.
func IsSecretSetting(name string) bool {
	return projectSettings[name].secret
}

// checkNames reports every name that is not a project setting, saying why.
func checkNames(names []string) []string {
	platform := map[string]bool{}
	for _, v := range config.Vars() {
		platform[v.Name] = true
	}
	var problems []string
	for _, name := range names {
		if _, ok := projectSettings[name]; ok {
			continue
		}
		switch {
		case ownedElsewhere[name] != "":
			problems = append(problems, fmt.Sprintf("%s: not a setting: %s", name, ownedElsewhere[name]))
		case machineSettings[name] != "":
			problems = append(problems, fmt.Sprintf("%s: platform-wide, not per project (%s); set it in the environment", name, machineSettings[name]))
		case platform[name] || strings.HasPrefix(name, "MADBASE_") || strings.HasPrefix(name, "EDGE_"):
			problems = append(problems, fmt.Sprintf("%s: platform-wide, not per project; set it in the environment", name))
		default:
			problems = append(problems, fmt.Sprintf("%.80q: unknown setting (a project takes the README's auth, REST, storage, realtime and CORS variables)", name))
		}
	}
	return problems
}

// validateSettings checks a project's whole settings as a worker would load
// them at start: the platform's environment, overridden by settings. It
// returns every problem; none means a worker can build the project.
func validateSettings(env config.Lookup, settings map[string]string, dev bool) []string {
	if env == nil {
		env = config.Env
	}
	lookup := func(name string) (string, bool) {
		if v, ok := settings[name]; ok {
			return v, true
		}
		return env(name)
	}
	var w config.Worker
	problems := split(config.Load(&w, lookup))
	problems = append(problems, split(w.Auth.Validate(dev))...)
	problems = append(problems, split(w.Rest.Validate())...)
	problems = append(problems, split(w.Storage.Validate())...)
	problems = append(problems, split(w.Realtime.Validate())...)
	problems = append(problems, checkSigningKeys(settings)...)
	switch w.Backend {
	case "local":
	case "s3":
		if w.S3Endpoint == "" || w.S3AccessKey == "" || w.S3SecretKey == "" {
			problems = append(problems, "S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY: required with STORAGE_BACKEND=s3")
		}
	default:
		problems = append(problems, fmt.Sprintf("STORAGE_BACKEND: must be local or s3, not %q", w.Backend))
	}
	return dedupe(problems)
}

// checkSigningKeys checks a project's JWT_KEYS: a JSON JWK set (never a file
// path, which would be read on the machines of control and the workers).
// The platform's JWT_KEYS are the default project's: a project without its
// own signs with its JWT secret.
func checkSigningKeys(settings map[string]string) []string {
	v, ok := settings["JWT_KEYS"]
	if v = strings.TrimSpace(v); !ok || v == "" {
		return nil
	}
	if v[0] != '[' && v[0] != '{' {
		return []string{"JWT_KEYS: a project's signing keys are a JSON array of JWKs, not a file path"}
	}
	if _, err := jwtauth.LoadKeys(v); err != nil {
		return []string{"JWT_KEYS: " + err.Error()}
	}
	return nil
}

// split flattens errors.Join's tree into one message per problem.
func split(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, split(e)...)
		}
		return out
	}
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
