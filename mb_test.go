package mb

import (
	"encoding/json"
	"testing"
)

var anon = map[string]any{"exp": 2111268335.0, "iat": 1795908335.0, "iss": "supabase", "ref": "madbase", "role": "anon"}
var user = map[string]any{"aal": "aal1", "amr": []any{map[string]any{"method": "password", "timestamp": 1795908346.0}}, "app_metadata": map[string]any{"provider": "email", "providers": []any{"email"}}, "aud": "authenticated", "email": "a@b.co", "exp": 1795911946.0, "iat": 1795908346.0, "is_anonymous": false, "iss": "http://127.0.0.1:8000/auth/v1", "phone": "", "role": "authenticated", "session_id": "8b7f1f6b-6bd0-441a-9854-55de62d89cdf", "sub": "b8706f31-45b5-447e-9c6e-02a48b190f19", "user_metadata": map[string]any{"email": "a@b.co", "email_verified": true}}

func BenchmarkMarshalAnon(b *testing.B) { for b.Loop() { json.Marshal(anon) } }
func BenchmarkMarshalUser(b *testing.B) { for b.Loop() { json.Marshal(user) } }
func BenchmarkCloneAnon(b *testing.B) {
	for b.Loop() {
		out := make(map[string]any, len(anon))
		for k, v := range anon { out[k] = v }
	}
}
