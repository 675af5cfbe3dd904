package apikey

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/jwtauth"
)

// BenchmarkResolveBySigningAlg is what REST, storage and realtime spend per
// request on its apikey and bearer (Resolve) when both are signed HS256,
// RS256 or ES256: after the first request, remembered tokens cost the same.
func BenchmarkResolveBySigningAlg(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256"} {
		secret := "resolve-bench-" + alg + "-secret-0123456789abcdef"
		var keys []*jwtauth.Key
		if alg != "HS256" {
			k, err := jwtauth.NewSigningKey(alg)
			if err != nil {
				b.Fatal(err)
			}
			raw, _ := json.Marshal([]any{k})
			if keys, err = jwtauth.ParseKeys(raw); err != nil {
				b.Fatal(err)
			}
			if err := UseKeys(secret, keys); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = UseKeys(secret, nil) })
		}
		ks, err := jwtauth.NewKeySet([]byte(secret), keys)
		if err != nil {
			b.Fatal(err)
		}
		anon, err := ks.APIKey("anon", time.Now(), time.Now().Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		user, err := ks.Sign(jwt.MapClaims{"sub": "u1", "role": "authenticated", "exp": time.Now().Add(time.Hour).Unix()})
		if err != nil {
			b.Fatal(err)
		}
		k, auth := New(secret), "Bearer "+user
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Resolve(anon, auth); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
