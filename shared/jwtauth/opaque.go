package jwtauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// Prefixes of Supabase's newer, non-JWT API keys.
const (
	PublishablePrefix = "sb_publishable_"
	SecretPrefix      = "sb_secret_"
)

// OpaqueKeys derives the publishable (anon) and secret (service role) keys
// from the JWT secret, so every worker knows them without more configuration
// and they change when the secret is rotated. They are not JWTs: a worker
// maps them to the anon and service_role roles, as Supabase's gateway does.
func OpaqueKeys(secret []byte) (publishable, secretKey string) {
	return PublishablePrefix + derive(secret, "madbase publishable key"),
		SecretPrefix + derive(secret, "madbase secret key")
}

func derive(secret []byte, label string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:32]
}
