package bus

import "time"

// ProjectsBucket is the JetStream key-value bucket control publishes every
// project's configuration into, one key per project (fan-out: every edge and
// worker watches the whole bucket and applies what changes). Control is the
// only writer.
const ProjectsBucket = "madbase_projects"

// ProjectKey is the key of one project in ProjectsBucket: its ref, which is
// already a valid key (lower-case letters, digits and '-').
func ProjectKey(ref string) string {
	return ref
}

// AllProjectKeys matches every key of ProjectsBucket, for a watcher.
const AllProjectKeys = ">"

// SecretContext is the context a project's sealed value is bound to (see
// shared/secretbox): the project's ref and the field, such as "database_url",
// "jwt_secret" or a setting's variable name like "SMTP_PASS". A value opens
// only with the context it was sealed for.
func SecretContext(ref, field string) string {
	return "madbase/project/" + ref + "/" + field
}

// Fields of SecretContext besides the settings' variable names.
const (
	SecretDatabaseURL = "database_url"
	SecretJWT         = "jwt_secret"
)

// ProjectConfig is the value of a project's key in ProjectsBucket: what an
// edge or a worker needs to serve the project, with every secret sealed with
// MADBASE_ENCRYPTION_KEY. It is a contract between control and the other
// tiers: add fields, never rename or repurpose one (projects_test.go pins it).
//
// A holder keeps the config with the highest Revision for a given ID; a
// config with another ID is a new project under a reused ref (the old one was
// deleted) and replaces it whatever its revision. A deleted key is a deleted
// project.
type ProjectConfig struct {
	// ID names this incarnation of the project; it changes only when the ref
	// is deleted and created again.
	ID string `json:"id"`
	// Ref is the project's ref: its subdomain and its keys' ref claim.
	Ref  string `json:"ref"`
	Name string `json:"name"`
	// Revision grows by one with every change of the project.
	Revision int64 `json:"revision"`
	// Settings are the project's own values of the README's variables
	// (AUTH_DISABLE_SIGNUP, DB_MAX_ROWS, ALLOWED_ORIGINS ...), as text; a
	// variable absent here takes the tier's environment value.
	Settings map[string]string `json:"settings"`
	// Secrets are the settings whose variables are secret (SMTP_PASS,
	// S3_ACCESS_KEY, S3_SECRET_KEY), sealed for SecretContext(Ref, name).
	Secrets map[string]string `json:"secrets"`
	// DatabaseURL is the project's PostgreSQL URL, sealed for
	// SecretContext(Ref, SecretDatabaseURL).
	DatabaseURL string `json:"database_url"`
	// JWTSecrets verify the project's tokens and keys: the current one first
	// (it signs), then at most one being retired. Each is sealed for
	// SecretContext(Ref, SecretJWT).
	JWTSecrets []ProjectJWTSecret `json:"jwt_secrets"`
	UpdatedAt  time.Time          `json:"updated_at"`
}

// ProjectJWTSecret is one of a project's JWT secrets (part of the
// ProjectConfig contract).
type ProjectJWTSecret struct {
	// Secret is sealed for SecretContext(ref, SecretJWT).
	Secret string `json:"secret"`
	// RetiresAt is when a rotated-out secret stops verifying; absent on the
	// current secret.
	RetiresAt *time.Time `json:"retires_at,omitempty"`
}
