package devmode

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/madbase/madbase/shared/secretbox"
)

// Secrets are generated on the first `madbase dev` and kept in the data
// folder, so a second start has the same keys, password and data.
type Secrets struct {
	JWTSecret     string    `json:"jwt_secret"`
	AdminPassword string    `json:"admin_password"`
	PGPassword    string    `json:"postgres_password"`
	KeysIssuedAt  time.Time `json:"keys_issued_at"`
	// EncryptionKey is MADBASE_ENCRYPTION_KEY, which seals the projects'
	// secrets: losing it loses them, so it is kept with the others.
	EncryptionKey string `json:"encryption_key"`
}

// State describes a running `madbase dev`, for `madbase logs` and `keys`.
type State struct {
	APIURL        string `json:"api_url"`
	ControlURL    string `json:"control_url"`
	NATSURL       string `json:"nats_url"`
	DatabaseURL   string `json:"database_url"`
	DatabaseFiles string `json:"database_files,omitempty"`
	AdminPassword string `json:"-"`
	JWTSecret     string `json:"-"`
	PID           int    `json:"pid"`
}

const (
	secretsFile = "secrets.json"
	stateFile   = "dev.json"
)

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// loadSecrets reads the data folder's secrets, making any that are missing.
func loadSecrets(dir string) (Secrets, error) {
	path := filepath.Join(dir, secretsFile)
	var s Secrets
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("%s is damaged (%v); remove it to make new secrets (existing keys stop working)", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return s, err
	}
	changed := false
	if s.JWTSecret == "" {
		s.JWTSecret, changed = randomString(48), true
	}
	if s.AdminPassword == "" {
		s.AdminPassword, changed = randomString(18), true
	}
	if s.PGPassword == "" {
		s.PGPassword, changed = randomString(24), true
	}
	if s.EncryptionKey == "" {
		s.EncryptionKey, changed = secretbox.EncodeKey(secretbox.NewKey()), true
	}
	if s.KeysIssuedAt.IsZero() {
		s.KeysIssuedAt, changed = time.Now().UTC().Truncate(time.Second), true
	}
	if changed {
		b, _ := json.MarshalIndent(s, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return s, err
		}
	}
	return s, nil
}

func writeState(dir string, st State) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	return os.WriteFile(filepath.Join(dir, stateFile), b, 0o600)
}

// ReadState returns what a `madbase dev` on dir wrote; fields are empty
// when none ran there.
func ReadState(dir string) State {
	var st State
	if b, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	if s, err := readSecrets(dir); err == nil {
		st.AdminPassword, st.JWTSecret = s.AdminPassword, s.JWTSecret
	}
	return st
}

func readSecrets(dir string) (Secrets, error) {
	var s Secrets
	b, err := os.ReadFile(filepath.Join(dir, secretsFile))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// KeysIssuedAt returns when dir's API keys were issued, so `madbase keys`
// prints the very keys `madbase dev` printed.
func KeysIssuedAt(dir string) time.Time {
	s, err := readSecrets(dir)
	if err != nil {
		return time.Time{}
	}
	return s.KeysIssuedAt
}
