package auth

import (
	"bytes"
	"encoding/json"
	"testing"
)

// BenchmarkCompactJSON compares appendCompactJSON, which writes every user
// object's stored metadata, with what it stands in for: encoding/json
// writing the same bytes as a json.RawMessage (into a reused buffer).
func BenchmarkCompactJSON(b *testing.B) {
	meta := []byte(`{"sub": "8d3c0b4e-5d7a-4f54-9a3e-1c2b3a4d5e6f", "email": "someone@example.com",
		"email_verified": true, "phone_verified": false, "full_name": "Some One <admin>",
		"avatar_url": "https://example.com/a.png?size=64&x=1", "provider": "email", "providers": ["email", "github"],
		"custom": {"plan": "pro", "seats": 12, "tags": ["a", "b", "c"], "nested": {"k": null, "n": 1.5e3}}}`)
	b.Run("hand", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.SetBytes(int64(len(meta)))
		for b.Loop() {
			var ok bool
			if buf, ok = appendCompactJSON(buf[:0], meta); !ok {
				b.Fatal("not valid")
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		var buf bytes.Buffer
		b.SetBytes(int64(len(meta)))
		for b.Loop() {
			buf.Reset()
			if err := json.NewEncoder(&buf).Encode(json.RawMessage(meta)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
