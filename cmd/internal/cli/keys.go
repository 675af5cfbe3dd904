package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/madbase/madbase/cmd/internal/devmode"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/shared/secretbox"
)

// runKeys prints the anon and service-role keys signed with JWT_SECRET (or
// with the secret of the madbase dev data folder), or a new random secret.
func runKeys(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	newSecret := fs.Bool("new-secret", false, "print a new random JWT secret (64 characters) and exit")
	newKey := fs.Bool("new-encryption-key", false, "print a new random MADBASE_ENCRYPTION_KEY (32 bytes, base64) and exit")
	newSigning := fs.Bool("new-signing-key", false, "print a new private signing key for JWT_KEYS (a JSON array of one JWK) and exit")
	alg := fs.String("alg", jwtauth.AlgRS256, "algorithm of --new-signing-key: RS256 or ES256")
	signed := fs.Bool("signing-key", false, "sign ANON_KEY and SERVICE_ROLE_KEY with the current key of JWT_KEYS (RS256 or ES256) instead of JWT_SECRET")
	years := fs.Int("years", 10, "how many years the keys stay valid")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *newSigning {
		k, err := jwtauth.NewSigningKey(*alg)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		b, err := json.Marshal([]any{k})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	if *newKey {
		fmt.Fprintln(stdout, secretbox.EncodeKey(secretbox.NewKey()))
		return nil
	}
	if *newSecret {
		b := make([]byte, 48)
		_, _ = rand.Read(b)
		fmt.Fprintln(stdout, base64.RawURLEncoding.EncodeToString(b))
		return nil
	}
	secret := envOr("JWT_SECRET", "")
	issued := time.Now().UTC().Truncate(time.Second)
	exp := issued.AddDate(*years, 0, 0)
	if secret == "" {
		dir := envOr("MADBASE_DATA_DIR", "./.madbase")
		st := devmode.ReadState(dir)
		if st.JWTSecret == "" {
			return fmt.Errorf("%w: set JWT_SECRET (or run madbase dev once, which makes one in %s)", errUsage, dir)
		}
		secret = st.JWTSecret
		issued = devmode.KeysIssuedAt(dir)
		exp = issued.Add(devmode.KeyLifetime)
	} else if len(secret) < config.MinJWTSecretBytes {
		return fmt.Errorf("JWT_SECRET must be at least %d bytes", config.MinJWTSecretBytes)
	}
	anon, service, err := apiKeys(secret, *signed, issued, exp)
	if err != nil {
		return err
	}
	publishable, secretKey := jwtauth.OpaqueKeys([]byte(secret))
	fmt.Fprintf(stdout, "ANON_KEY=%s\nSERVICE_ROLE_KEY=%s\nPUBLISHABLE_KEY=%s\nSECRET_KEY=%s\n", anon, service, publishable, secretKey)
	return nil
}

// apiKeys signs the anon and service-role keys with the JWT secret, or with
// the current key of JWT_KEYS when signed is set.
func apiKeys(secret string, signed bool, issued, exp time.Time) (anon, service string, err error) {
	if !signed {
		if anon, err = jwtauth.AnonKey([]byte(secret), issued, exp); err != nil {
			return "", "", err
		}
		service, err = jwtauth.ServiceRoleKey([]byte(secret), issued, exp)
		return anon, service, err
	}
	v := envOr("JWT_KEYS", "")
	if v == "" {
		return "", "", fmt.Errorf("%w: --signing-key needs JWT_KEYS (madbase keys --new-signing-key makes one)", errUsage)
	}
	keys, err := jwtauth.LoadKeys(v)
	if err != nil {
		return "", "", fmt.Errorf("JWT_KEYS: %w", err)
	}
	ks, err := jwtauth.NewKeySet([]byte(secret), keys)
	if err != nil {
		return "", "", fmt.Errorf("JWT_KEYS: %w", err)
	}
	if anon, err = ks.APIKey("anon", issued, exp); err != nil {
		return "", "", err
	}
	service, err = ks.APIKey("service_role", issued, exp)
	return anon, service, err
}
