package bus

import (
	"regexp"
	"strconv"
	"time"
)

// FunctionsBucket is the JetStream key-value bucket that holds every
// deployed edge function's metadata (one key per function, see FunctionKey)
// and every project's function secrets (one key per project, see
// FunctionSecretsKey). Fan-out: every worker watches the whole bucket and
// applies what changes. Control is the only writer.
const FunctionsBucket = "madbase_functions"

// FunctionsObjectStore is the JetStream object store holding the deployed
// bundles, one object per version (see FunctionObject). Workers fetch a
// version on its first invocation and keep it.
const FunctionsObjectStore = "madbase_function_bundles"

// AllFunctionKeys matches every key of FunctionsBucket, for a watcher.
const AllFunctionKeys = ">"

// functionName is what a function may be called: the folder name under
// supabase/functions/, as Supabase allows (letters, digits, '-' and '_').
var functionName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidFunctionName reports whether name may name a function. Names are
// also key and subject tokens, which this keeps safe.
func ValidFunctionName(name string) bool { return functionName.MatchString(name) }

// FunctionKey is the key of a function's metadata in FunctionsBucket.
func FunctionKey(ref, name string) string { return "fn." + ref + "." + name }

// FunctionSecretsKey is the key of a project's function secrets in
// FunctionsBucket.
func FunctionSecretsKey(ref string) string { return "secrets." + ref }

// FunctionObject names one deployed version's bundle in
// FunctionsObjectStore.
func FunctionObject(ref, name string, version int64) string {
	return ref + "/" + name + "/" + strconv.FormatInt(version, 10)
}

// FunctionSecretContext is the context a function secret's sealed value is
// bound to (see shared/secretbox): the project and the variable name.
func FunctionSecretContext(ref, key string) string {
	return "madbase/functions/" + ref + "/secret/" + key
}

// FunctionConfig is the value of a function's key in FunctionsBucket. It is
// a contract between control and the workers: add fields, never rename or
// repurpose one (functions_test.go pins it). A holder keeps the highest
// Version of a function; a deleted key is a deleted function.
type FunctionConfig struct {
	// Project is the ref of the project the function belongs to (the
	// default project's ref for the environment's project).
	Project string `json:"project"`
	Name    string `json:"name"`
	// Version grows by one with every deploy.
	Version int64 `json:"version"`
	// Object names the bundle in FunctionsObjectStore.
	Object string `json:"object"`
	// SHA256 is the bundle's digest (hex), checked when a worker fetches it.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// VerifyJWT makes the workers refuse invocations without a valid JWT
	// of the project in Authorization (Supabase's verify_jwt).
	VerifyJWT bool `json:"verify_jwt"`
	// WallTimeoutMS and CPUTimeoutMS override the workers' defaults
	// (FUNCTIONS_WALL_TIMEOUT, FUNCTIONS_CPU_TIMEOUT) when positive.
	WallTimeoutMS int64     `json:"wall_timeout_ms,omitempty"`
	CPUTimeoutMS  int64     `json:"cpu_timeout_ms,omitempty"`
	DeployedAt    time.Time `json:"deployed_at"`
}

// FunctionSecrets is the value of a project's FunctionSecretsKey: the
// variables its functions read with Deno.env.get, each value sealed with
// MADBASE_ENCRYPTION_KEY for FunctionSecretContext(Project, name). It is a
// contract between control and the workers.
type FunctionSecrets struct {
	Project  string            `json:"project"`
	Revision int64             `json:"revision"`
	Values   map[string]string `json:"values"`
}
