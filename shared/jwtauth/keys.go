package jwtauth

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Signing algorithms a key of a KeySet may have.
const (
	AlgHS256 = "HS256"
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

// ErrBadKey wraps every reason ParseKeys refuses a JWK.
var ErrBadKey = errors.New("jwtauth: invalid signing key")

// MinRSABits is the smallest RSA modulus a key may have.
const MinRSABits = 2048

// Key is one signing key: an HS256 secret, an RSA key (RS256) or a P-256
// key (ES256). Keys read from JWKs carry their kid; the JWT secret has none.
type Key struct {
	Kid string
	Alg string
	// signs marks the key that signs when a set has several (key_ops
	// with "sign").
	signs bool
	// private is []byte, *rsa.PrivateKey or *ecdsa.PrivateKey; nil for a
	// key published to verify only.
	private any
	// public is []byte, *rsa.PublicKey or *ecdsa.PublicKey.
	public any
}

// KeySet is the keys that verify tokens, one of which signs them: the
// JWT_KEYS JWKs and the JWT secret. It is read-only once made, safe to
// share.
type KeySet struct {
	keys   []*Key
	signer *Key
	byKid  map[string]*Key
	// methods is the allow-list given to the jwt package: the algorithms
	// of the set's keys and no other.
	methods []string
}

// jwk is the JSON Web Key members read (RFC 7517, 7518).
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	// oct
	K string `json:"k"`
	// RSA
	N  string `json:"n"`
	E  string `json:"e"`
	D  string `json:"d"`
	P  string `json:"p"`
	Q  string `json:"q"`
	DP string `json:"dp"`
	DQ string `json:"dq"`
	QI string `json:"qi"`
	// EC
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// LoadKeys reads JWT_KEYS: a JSON array of JWKs (or a {"keys": [...]}
// set) given inline, or the path of a file holding one.
func LoadKeys(value string) ([]*Key, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return nil, nil
	}
	if v[0] != '[' && v[0] != '{' {
		b, err := os.ReadFile(v)
		if err != nil {
			// The path is not repeated: a value that is neither may be a
			// key pasted in the wrong shape.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("%w: neither a JSON array of JWKs nor a readable file: %w", ErrBadKey, err)
		}
		v = string(b)
	}
	return ParseKeys([]byte(v))
}

// ParseKeys reads a JSON array of JWKs, or a JWK set object. Every key must
// have a kid (unique in the set) and an alg of HS256 (kty oct), RS256 (kty
// RSA, at least 2048 bits) or ES256 (kty EC, crv P-256). A key with its
// private part can sign; one without only verifies.
func ParseKeys(data []byte) ([]*Key, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(data, &list); err != nil {
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err2 := json.Unmarshal(data, &set); err2 != nil || set.Keys == nil {
			return nil, fmt.Errorf("%w: expected a JSON array of JWKs: %w", ErrBadKey, err)
		}
		list = set.Keys
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: the key list is empty", ErrBadKey)
	}
	seen := map[string]bool{}
	keys := make([]*Key, 0, len(list))
	for i, raw := range list {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrBadKey, i, err)
		}
		k, err := parseKey(j)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d (kid %q): %w", ErrBadKey, i, j.Kid, err)
		}
		if seen[k.Kid] {
			return nil, fmt.Errorf("%w: key %d: kid %q appears twice", ErrBadKey, i, k.Kid)
		}
		seen[k.Kid] = true
		keys = append(keys, k)
	}
	return keys, nil
}

func parseKey(j jwk) (*Key, error) {
	if j.Kid == "" {
		return nil, errors.New("kid is required")
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", j.Use)
	}
	k := &Key{Kid: j.Kid, Alg: j.Alg, signs: slices.Contains(j.KeyOps, "sign")}
	switch j.Kty {
	case "oct":
		if j.Alg != AlgHS256 {
			return nil, fmt.Errorf("kty oct needs alg HS256, got %q", j.Alg)
		}
		secret, err := b64(j.K, "k")
		if err != nil {
			return nil, err
		}
		if len(secret) < 32 {
			return nil, fmt.Errorf("an HS256 key must be at least 32 bytes, got %d", len(secret))
		}
		k.private, k.public = secret, secret
	case "RSA":
		if j.Alg != AlgRS256 {
			return nil, fmt.Errorf("kty RSA needs alg RS256, got %q", j.Alg)
		}
		pub, priv, err := rsaKey(j)
		if err != nil {
			return nil, err
		}
		k.public = pub
		if priv != nil {
			k.private = priv
		}
	case "EC":
		if j.Alg != AlgES256 {
			return nil, fmt.Errorf("kty EC needs alg ES256, got %q", j.Alg)
		}
		pub, priv, err := ecKey(j)
		if err != nil {
			return nil, err
		}
		k.public = pub
		if priv != nil {
			k.private = priv
		}
	default:
		return nil, fmt.Errorf("kty %q is not oct, RSA or EC", j.Kty)
	}
	if k.signs && k.private == nil {
		return nil, errors.New(`key_ops has "sign" but the private part is missing`)
	}
	return k, nil
}

func b64(s, member string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("member %s is missing", member)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("member %s is not base64url: %w", member, err)
	}
	return b, nil
}

func bigInt(s, member string) (*big.Int, error) {
	b, err := b64(s, member)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(b), nil
}

func rsaKey(j jwk) (*rsa.PublicKey, *rsa.PrivateKey, error) {
	n, err := bigInt(j.N, "n")
	if err != nil {
		return nil, nil, err
	}
	e, err := bigInt(j.E, "e")
	if err != nil {
		return nil, nil, err
	}
	if n.BitLen() < MinRSABits {
		return nil, nil, fmt.Errorf("an RSA key must be at least %d bits, got %d", MinRSABits, n.BitLen())
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, nil, errors.New("member e is not a valid RSA exponent")
	}
	pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
	if j.D == "" {
		return pub, nil, nil
	}
	d, err := bigInt(j.D, "d")
	if err != nil {
		return nil, nil, err
	}
	p, err := bigInt(j.P, "p")
	if err != nil {
		return nil, nil, err
	}
	q, err := bigInt(j.Q, "q")
	if err != nil {
		return nil, nil, err
	}
	priv := &rsa.PrivateKey{PublicKey: *pub, D: d, Primes: []*big.Int{p, q}}
	if err := priv.Validate(); err != nil {
		return nil, nil, fmt.Errorf("the RSA private key is inconsistent: %w", err)
	}
	priv.Precompute()
	return pub, priv, nil
}

func ecKey(j jwk) (*ecdsa.PublicKey, *ecdsa.PrivateKey, error) {
	if j.Crv != "P-256" {
		return nil, nil, fmt.Errorf("crv %q is not P-256", j.Crv)
	}
	x, err := bigInt(j.X, "x")
	if err != nil {
		return nil, nil, err
	}
	y, err := bigInt(j.Y, "y")
	if err != nil {
		return nil, nil, err
	}
	// Checked through the uncompressed point encoding: ecdh refuses points
	// off the curve.
	if x.BitLen() > 256 || y.BitLen() > 256 {
		return nil, nil, errors.New("the EC point is not on P-256")
	}
	point := make([]byte, 65)
	point[0] = 4
	x.FillBytes(point[1:33])
	y.FillBytes(point[33:])
	if _, err := ecdhP256(point); err != nil {
		return nil, nil, errors.New("the EC point is not on P-256")
	}
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
	if j.D == "" {
		return pub, nil, nil
	}
	d, err := b64(j.D, "d")
	if err != nil {
		return nil, nil, err
	}
	if len(d) != 32 {
		return nil, nil, fmt.Errorf("member d must be 32 bytes, got %d", len(d))
	}
	priv, err := ecdsaPrivate(d)
	if err != nil {
		return nil, nil, fmt.Errorf("the EC private key is invalid: %w", err)
	}
	if priv.X.Cmp(x) != 0 || priv.Y.Cmp(y) != 0 {
		return nil, nil, errors.New("the EC private key does not match x and y")
	}
	return pub, priv, nil
}

// NewKeySet makes the set that signs and verifies tokens: keys (from
// LoadKeys) and the JWT secret, which verifies tokens without a kid (the
// legacy API keys) and signs when keys is empty. The signing key is the
// first with key_ops "sign", else the first key with its private part, else
// the secret.
func NewKeySet(secret []byte, keys []*Key) (*KeySet, error) {
	ks := &KeySet{byKid: map[string]*Key{}}
	for _, k := range keys {
		if k.Kid == "" {
			return nil, fmt.Errorf("%w: a key has no kid", ErrBadKey)
		}
		if _, dup := ks.byKid[k.Kid]; dup {
			return nil, fmt.Errorf("%w: kid %q appears twice", ErrBadKey, k.Kid)
		}
		ks.byKid[k.Kid] = k
		ks.keys = append(ks.keys, k)
	}
	if len(secret) > 0 {
		ks.keys = append(ks.keys, &Key{Alg: AlgHS256, private: secret, public: secret})
	}
	if len(ks.keys) == 0 {
		return nil, ErrNoSecret
	}
	for _, k := range ks.keys {
		if k.signs {
			ks.signer = k
			break
		}
	}
	if ks.signer == nil {
		for _, k := range ks.keys {
			if k.private != nil {
				ks.signer = k
				break
			}
		}
	}
	if ks.signer == nil {
		return nil, fmt.Errorf("%w: no key can sign (every JWK lacks its private part and JWT_SECRET is empty)", ErrBadKey)
	}
	for _, k := range ks.keys {
		if !slices.Contains(ks.methods, k.Alg) {
			ks.methods = append(ks.methods, k.Alg)
		}
	}
	return ks, nil
}

// SecretKeySet is the set of the JWT secret alone, as before JWT_KEYS.
func SecretKeySet(secret []byte) (*KeySet, error) { return NewKeySet(secret, nil) }

// Signer returns the kid and alg of the key that signs ("" kid: the secret).
func (ks *KeySet) Signer() (kid, alg string) { return ks.signer.Kid, ks.signer.Alg }

// Sign signs claims with the set's signing key, its kid in the header.
func (ks *KeySet) Sign(claims jwt.MapClaims) (string, error) {
	k := ks.signer
	t := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), claims)
	if k.Kid != "" {
		t.Header["kid"] = k.Kid
	}
	s, err := t.SignedString(k.private)
	if err != nil {
		return "", fmt.Errorf("jwtauth: signing: %w", err)
	}
	return s, nil
}

// Verify returns the claims of token if a key of the set signed it (the
// key named by its kid header; the JWT secret when it has none) with that
// key's algorithm, and its exp, nbf and iat hold as in Verify.
func (ks *KeySet) Verify(token string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, ks.keyFor,
		jwt.WithValidMethods(ks.methods),
		jwt.WithLeeway(Leeway),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return claims, nil
}

var errUnknownKid = errors.New("no key of the set has this kid")

func (ks *KeySet) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	if k, ok := ks.byKid[kid]; ok {
		if k.Alg != alg {
			return nil, fmt.Errorf("the key %q is %s, the token says %s", kid, k.Alg, alg)
		}
		return k.public, nil
	}
	// No known kid: the JWT secret, for HS256 tokens only (the legacy keys
	// carry no kid; a kid unknown here may be the secret's in GoTrue's sets).
	if alg == AlgHS256 {
		for _, k := range ks.keys {
			if k.Kid == "" {
				return k.public, nil
			}
		}
	}
	return nil, errUnknownKid
}

// PublicJWKS returns the public keys of the set as JWKs, for
// /.well-known/jwks.json: the RSA and EC keys' public members only. HMAC
// keys are secrets and never listed.
func (ks *KeySet) PublicJWKS() []map[string]any {
	out := []map[string]any{}
	for _, k := range ks.keys {
		m := map[string]any{"kid": k.Kid, "alg": k.Alg, "use": "sig", "key_ops": []string{"verify"}}
		switch pub := k.public.(type) {
		case *rsa.PublicKey:
			m["kty"] = "RSA"
			m["n"] = base64.RawURLEncoding.EncodeToString(pub.N.Bytes())
			m["e"] = base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
		case *ecdsa.PublicKey:
			m["kty"] = "EC"
			m["crv"] = "P-256"
			m["x"] = base64.RawURLEncoding.EncodeToString(pub.X.FillBytes(make([]byte, 32)))
			m["y"] = base64.RawURLEncoding.EncodeToString(pub.Y.FillBytes(make([]byte, 32)))
		default:
			continue
		}
		out = append(out, m)
	}
	return out
}

// NewSigningKey makes a private JWK for JWT_KEYS: alg RS256 (2048 bits) or
// ES256, a random kid, key_ops sign and verify.
func NewSigningKey(alg string) (map[string]any, error) {
	kidBytes := make([]byte, 12)
	_, _ = rand.Read(kidBytes)
	m := map[string]any{
		"kid": base64.RawURLEncoding.EncodeToString(kidBytes), "alg": alg,
		"key_ops": []string{"sign", "verify"}, "ext": true,
	}
	enc := func(b *big.Int) string { return base64.RawURLEncoding.EncodeToString(b.Bytes()) }
	switch alg {
	case AlgRS256:
		priv, err := rsa.GenerateKey(rand.Reader, MinRSABits)
		if err != nil {
			return nil, err
		}
		priv.Precompute()
		m["kty"] = "RSA"
		m["n"], m["e"], m["d"] = enc(priv.N), enc(big.NewInt(int64(priv.E))), enc(priv.D)
		m["p"], m["q"] = enc(priv.Primes[0]), enc(priv.Primes[1])
		m["dp"], m["dq"], m["qi"] = enc(priv.Precomputed.Dp), enc(priv.Precomputed.Dq), enc(priv.Precomputed.Qinv)
	case AlgES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		fixed := func(b *big.Int) string { return base64.RawURLEncoding.EncodeToString(b.FillBytes(make([]byte, 32))) }
		m["kty"], m["crv"] = "EC", "P-256"
		m["x"], m["y"], m["d"] = fixed(priv.X), fixed(priv.Y), fixed(priv.D)
	default:
		return nil, fmt.Errorf("jwtauth: a new signing key is RS256 or ES256, not %q", alg)
	}
	return m, nil
}

func ecdhP256(point []byte) (*ecdh.PublicKey, error) { return ecdh.P256().NewPublicKey(point) }

// ecdsaPrivate makes the P-256 private key of scalar d, its public point
// derived through crypto/ecdh (which refuses zero and out-of-range scalars).
func ecdsaPrivate(d []byte) (*ecdsa.PrivateKey, error) {
	k, err := ecdh.P256().NewPrivateKey(d)
	if err != nil {
		return nil, err
	}
	point := k.PublicKey().Bytes()
	return &ecdsa.PrivateKey{
		PublicKey: ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(point[1:33]), Y: new(big.Int).SetBytes(point[33:])},
		D:         new(big.Int).SetBytes(d),
	}, nil
}
