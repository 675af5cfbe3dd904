// Package secretbox seals the secrets MadBase keeps at rest (project JWT
// secrets, database URLs, SMTP and S3 passwords) with the platform key,
// MADBASE_ENCRYPTION_KEY, using AES-256-GCM from the standard library.
//
// A sealed value is text: "v1:" then base64 of a random 12-byte nonce followed
// by the ciphertext and its tag. Each value is sealed for a context (the
// project and the field it belongs to) that is authenticated but not stored:
// a ciphertext copied into another field or another project fails to open
// rather than yield a secret where it does not belong.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of the platform key in bytes (AES-256).
const KeySize = 32

// version prefixes every sealed value, so a later format (a key id for key
// rotation, another cipher) can be told apart.
const version = "v1:"

// ErrOpen is returned for a sealed value that is malformed, was sealed with
// another key or for another context, or was altered.
var ErrOpen = errors.New("secretbox: cannot open the sealed value (wrong key, wrong context or altered)")

// Box seals and opens values with one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: the key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
}

// NewKey returns a new random key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	_, _ = rand.Read(k) // never fails (crypto/rand panics rather than return short)
	return k
}

// EncodeKey writes a key the way MADBASE_ENCRYPTION_KEY holds it: standard
// base64 (44 characters).
func EncodeKey(key []byte) string {
	return base64.StdEncoding.EncodeToString(key)
}

// ParseKey reads MADBASE_ENCRYPTION_KEY: 32 bytes written as base64
// (standard or URL alphabet, padded or not) or as 64 hexadecimal digits.
// The error never repeats the value.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty: set 32 random bytes as base64 (openssl rand -base64 32)")
	}
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("must decode to %d bytes, got %d", KeySize, len(k))
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("not base64 or hexadecimal: set %d random bytes as base64 (openssl rand -base64 32)", KeySize)
}

// Seal encrypts plaintext for context and returns the sealed text.
func (b *Box) Seal(plaintext []byte, context string) string {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	_, _ = rand.Read(nonce)
	out := b.aead.Seal(nonce, nonce, plaintext, []byte(context))
	return version + base64.RawStdEncoding.EncodeToString(out)
}

// SealString is Seal for a string.
func (b *Box) SealString(plaintext, context string) string {
	return b.Seal([]byte(plaintext), context)
}

// Open decrypts a value Seal returned for the same context.
func (b *Box) Open(sealed, context string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, version)
	if !ok {
		return nil, ErrOpen
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aead.NonceSize()+b.aead.Overhead() {
		return nil, ErrOpen
	}
	n := b.aead.NonceSize()
	out, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// OpenString is Open for a string.
func (b *Box) OpenString(sealed, context string) (string, error) {
	out, err := b.Open(sealed, context)
	return string(out), err
}
