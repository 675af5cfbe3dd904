package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// softAuthenticator is a platform authenticator written for the tests: one
// ES256 (P-256) discoverable credential per relying party, attestation
// "none", made and used the way a browser and an authenticator together
// answer navigator.credentials.create() and get(). Fields a test changes
// to play a misbehaving or hostile client: Origin, SignCount, RPID.
type softAuthenticator struct {
	// Origin is the page origin the "browser" puts in clientDataJSON.
	Origin string
	// RPID overrides the relying party id the authenticator hashes ("": the
	// one the options name).
	RPID string
	// SignCount is the counter of the next signature (it counts up by one
	// after each).
	SignCount uint32
	// BackupEligible marks the credential as a synced passkey (BE and BS).
	BackupEligible bool

	key        *ecdsa.PrivateKey
	credID     []byte
	userHandle []byte
	aaguid     [16]byte
}

func newSoftAuthenticator(t *testing.T, origin string) *softAuthenticator {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	a := &softAuthenticator{Origin: origin, key: key, credID: make([]byte, 16)}
	_, err = rand.Read(a.credID)
	require.NoError(t, err)
	copy(a.aaguid[:], "madbase-test-aut") // 16 bytes: a model id of our own
	return a
}

var b64 = base64.RawURLEncoding

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagBE = 0x08 // backup eligible
	flagBS = 0x10 // backed up
	flagAT = 0x40 // attested credential data included
)

// create answers the "options" of POST /passkeys/registration/options as
// navigator.credentials.create() would: the RegistrationResponseJSON
// auth-js sends to /passkeys/registration/verify.
func (a *softAuthenticator) create(t *testing.T, options map[string]any) map[string]any {
	t.Helper()
	rp := options["rp"].(map[string]any)
	user := options["user"].(map[string]any)
	var err error
	a.userHandle, err = b64.DecodeString(user["id"].(string))
	require.NoError(t, err, "user.id is base64url")
	clientData := a.clientData(t, "webauthn.create", options["challenge"].(string))

	x, y := a.key.X.FillBytes(make([]byte, 32)), a.key.Y.FillBytes(make([]byte, 32))
	// COSE_Key of an ES256 key: kty EC2, alg -7, crv P-256, x, y.
	cose := cborMap(
		[2][]byte{cborInt(1), cborInt(2)},
		[2][]byte{cborInt(3), cborInt(-7)},
		[2][]byte{cborInt(-1), cborInt(1)},
		[2][]byte{cborInt(-2), cborBytes(x)},
		[2][]byte{cborInt(-3), cborBytes(y)},
	)
	attested := append(append([]byte{}, a.aaguid[:]...), byte(len(a.credID)>>8), byte(len(a.credID)))
	attested = append(append(attested, a.credID...), cose...)
	authData := append(a.authData(rpID(a, rp["id"]), flagAT), attested...)
	attObj := cborMap(
		[2][]byte{cborText("fmt"), cborText("none")},
		[2][]byte{cborText("attStmt"), cborMap()},
		[2][]byte{cborText("authData"), cborBytes(authData)},
	)
	id := b64.EncodeToString(a.credID)
	return map[string]any{
		"id": id, "rawId": id, "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"attestationObject": b64.EncodeToString(attObj),
			"transports":        []string{"internal", "hybrid"},
		},
		"clientExtensionResults":  map[string]any{},
		"authenticatorAttachment": "platform",
	}
}

// get answers the "options" of POST /passkeys/authentication/options as
// navigator.credentials.get() would with this passkey: the
// AuthenticationResponseJSON auth-js sends to
// /passkeys/authentication/verify.
func (a *softAuthenticator) get(t *testing.T, options map[string]any) map[string]any {
	t.Helper()
	require.NotNil(t, a.userHandle, "get before create")
	clientData := a.clientData(t, "webauthn.get", options["challenge"].(string))
	authData := a.authData(rpID(a, options["rpId"]), 0)
	digest := sha256.Sum256(clientData)
	signed := sha256.Sum256(append(append([]byte{}, authData...), digest[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, signed[:])
	require.NoError(t, err)
	id := b64.EncodeToString(a.credID)
	return map[string]any{
		"id": id, "rawId": id, "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(a.userHandle),
		},
		"clientExtensionResults":  map[string]any{},
		"authenticatorAttachment": "platform",
	}
}

func rpID(a *softAuthenticator, fromOptions any) string {
	if a.RPID != "" {
		return a.RPID
	}
	s, _ := fromOptions.(string)
	return s
}

// clientData is the browser's CollectedClientData: the challenge as the
// options gave it (base64url), the page origin.
func (a *softAuthenticator) clientData(t *testing.T, typ, challenge string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	require.NoError(t, err)
	return b
}

// authData is rpIdHash, flags (UP, UV and extra), the big-endian signature
// counter; the counter then counts up.
func (a *softAuthenticator) authData(rpID string, extra byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	flags := byte(flagUP|flagUV) | extra
	if a.BackupEligible {
		flags |= flagBE | flagBS
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.SignCount)
	a.SignCount++
	return out
}

// A minimal CBOR encoder (RFC 8949): the unsigned and negative integers,
// byte and text strings and maps an attestation object is made of.

func cborHead(major byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 1<<8:
		return []byte{major<<5 | 24, byte(n)}
	case n < 1<<16:
		return binary.BigEndian.AppendUint16([]byte{major<<5 | 25}, uint16(n))
	default:
		return binary.BigEndian.AppendUint32([]byte{major<<5 | 26}, uint32(n))
	}
}

func cborInt(v int) []byte {
	if v >= 0 {
		return cborHead(0, uint64(v))
	}
	return cborHead(1, uint64(-1-v))
}

func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }
func cborText(s string) []byte  { return append(cborHead(3, uint64(len(s))), s...) }

// cborMap encodes key/value pairs in the canonical order (shorter encoded
// keys first, then bytewise), as CTAP2 authenticators do.
func cborMap(pairs ...[2][]byte) []byte {
	sort.Slice(pairs, func(i, j int) bool {
		ki, kj := pairs[i][0], pairs[j][0]
		if len(ki) != len(kj) {
			return len(ki) < len(kj)
		}
		return string(ki) < string(kj)
	})
	out := cborHead(5, uint64(len(pairs)))
	for _, p := range pairs {
		out = append(append(out, p[0]...), p[1]...)
	}
	return out
}
