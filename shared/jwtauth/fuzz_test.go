package jwtauth_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/madbase/madbase/shared/jwtauth"
)

// fuzzSecret signs the valid tokens in testdata/fuzz/FuzzVerify, so that the fuzzer starts
// from tokens Verify accepts and mutates them.
var fuzzSecret = []byte("fuzz-secret-that-is-at-least-32-bytes-long")

// FuzzVerify checks that Verify never panics and never accepts a token unless it is an
// HS256 token whose signature is the HMAC of its first two parts under the secret, which
// is recomputed here independently of the jwt package.
func FuzzVerify(f *testing.F) {
	f.Add("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.")
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := jwtauth.Verify(fuzzSecret, token)
		if err != nil {
			if claims != nil {
				t.Fatalf("claims returned with an error: %v", err)
			}
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token with %d parts: %q", len(parts), token)
		}
		header, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
		if err != nil {
			t.Fatalf("accepted a token whose header is not base64url: %q", token)
		}
		var h struct {
			Alg string `json:"alg"`
		}
		if err := json.Unmarshal(header, &h); err != nil || h.Alg != "HS256" {
			t.Fatalf("accepted a token with header %s", header)
		}
		sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
		if err != nil {
			t.Fatalf("accepted a token whose signature is not base64url: %q", token)
		}
		m := hmac.New(sha256.New, fuzzSecret)
		m.Write([]byte(parts[0] + "." + parts[1]))
		if !bytes.Equal(sig, m.Sum(nil)) {
			t.Fatalf("accepted a token not signed with the secret: %q", token)
		}
	})
}

// TestFuzzCorpusStartsFromValidTokens keeps the committed seeds useful: the valid_* ones
// must verify, or the fuzzer would never explore the accepting path.
func TestFuzzCorpusStartsFromValidTokens(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/fuzz/FuzzVerify/valid_*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid seeds found: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(string(b), "string(")
		token, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(rest), ")"))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if _, err := jwtauth.Verify(fuzzSecret, token); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}
