package auth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reflectedUserJSON has userJSON's fields and tags but not its MarshalJSON:
// encoding/json's output for it is what appendJSON must write.
type reflectedUserJSON userJSON

func TestUserJSONMatchesEncodingJSON(t *testing.T) {
	at := func(s string) *time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return &tm
	}
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	created := time.Date(2026, 11, 28, 23, 25, 46, 414254000, time.UTC)
	full := &userJSON{
		ID: uuid.NewString(), Aud: "authenticated", Role: "authenticated",
		Email: "a+<b>&c@example.com", Phone: "15550001111",
		EmailConfirmedAt: at("2026-01-02T03:04:05Z"), PhoneConfirmedAt: at("2026-01-02T03:04:05.1Z"),
		ConfirmationSentAt: at("2026-01-02T03:04:05.120000Z"), ConfirmedAt: at("2026-01-02T03:04:05.123456789Z"),
		InvitedAt: at("1999-12-31T23:59:59.999999Z"), RecoverySentAt: at("2026-06-01T00:00:00+02:00"),
		NewEmail: "new\u2028line@example.com", EmailChangeSentAt: at("2026-01-01T00:00:00Z"),
		NewPhone: "1555\x01", PhoneChangeSentAt: at("2026-01-01T00:00:00Z"),
		ReauthenticationSentAt: at("2026-01-01T00:00:00Z"), LastSignInAt: at("2026-01-01T00:00:00Z"),
		AppMetaData: map[string]any{"provider": "email", "providers": []any{"email"}, "n": json.Number("1.50")},
		UserMetaData: map[string]any{"name": "Zoë \"Z\" <script>", "tab\t": map[string]any{"deep": []any{1.0, true, nil}},
			"bad utf8": "\xff\xfe", "sep": "\u2029"},
		Identities: []identity{{
			IdentityID: uuid.New(), ID: "sub-1", UserID: uuid.New(),
			IdentityData: json.RawMessage(`{"sub": "x", "email": "a@b.co", "html": "<&>", "n": 1.0e2}`),
			Provider:     "email", LastSignInAt: at("2026-01-01T00:00:00Z"),
			CreatedAt: created, UpdatedAt: created.In(paris), Email: "a@b.co",
		}, {
			IdentityID: uuid.New(), ID: "sub-2", UserID: uuid.New(), Provider: "phone",
			CreatedAt: created, UpdatedAt: created,
		}},
		BannedUntil: at("2100-01-01T00:00:00Z"), CreatedAt: created, UpdatedAt: created.In(paris),
		DeletedAt: at("2026-01-01T00:00:00Z"), IsAnonymous: true,
		Factors: []factorJSON{{ID: uuid.New(), FriendlyName: "<app>", FactorType: "totp", Status: "verified",
			CreatedAt: created, UpdatedAt: created, LastChallengedAt: at("2026-01-01T00:00:00Z")},
			{ID: uuid.New(), FactorType: "phone", Status: "unverified", Phone: "15550001111", CreatedAt: created, UpdatedAt: created}},
	}
	cases := map[string]*userJSON{
		"every field set":          full,
		"zero value":               {},
		"empty metadata and lists": {AppMetaData: map[string]any{}, UserMetaData: map[string]any{}, Identities: []identity{}},
		"control characters":       {Email: "\x00\x1f\b\f\n\r\t\\\"/", Phone: "é漢字🙂"},
	}
	for name, j := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal((*reflectedUserJSON)(j))
			require.NoError(t, err)
			got, err := j.appendJSON(nil)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
			viaMarshaler, err := json.Marshal(j)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(viaMarshaler))
		})
	}

	t.Run("metadata as stored", func(t *testing.T) {
		j := *full
		j.AppMetaData, j.UserMetaData = nil, nil
		j.appMetaRaw = []byte(`{"provider": "email", "providers": ["email"], "n": 1.50}`)
		j.userMetaRaw = []byte(`{"name": "Zoë \"Z\" <script>", "list": [1, true, null], "sep": "\u2029"}`)
		got, err := j.appendJSON(nil)
		require.NoError(t, err)
		withMaps := *full
		withMaps.AppMetaData = map[string]any{"provider": "email", "providers": []any{"email"}, "n": json.Number("1.50")}
		withMaps.UserMetaData = map[string]any{"name": "Zoë \"Z\" <script>", "list": []any{json.Number("1"), true, nil}, "sep": "\u2029"}
		want, err := json.Marshal((*reflectedUserJSON)(&withMaps))
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(got))
		assert.NotContains(t, string(got), "<script>", "stored strings are HTML-escaped like the rest")
		assert.NotContains(t, string(got), `": `, "stored JSON is compacted")
	})

	t.Run("stored JSON that is not JSON fails the object", func(t *testing.T) {
		for _, bad := range []string{`{"a":`, `{"a": 1} {"b": 2}`, `not json`, `{"a": "<` + "\x00" + `"}`} {
			j := *full
			j.AppMetaData, j.appMetaRaw = nil, []byte(bad)
			_, err := j.appendJSON(nil)
			assert.Error(t, err, "metadata %q", bad)
			j = *full
			j.Identities = []identity{{IdentityData: json.RawMessage(bad)}}
			_, err = j.appendJSON(nil)
			assert.Error(t, err, "identity data %q", bad)
		}
	})

	t.Run("a time outside RFC 3339 fails like encoding/json", func(t *testing.T) {
		j := &userJSON{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
		_, wantErr := json.Marshal((*reflectedUserJSON)(j))
		require.Error(t, wantErr)
		_, err := j.appendJSON(nil)
		assert.Error(t, err)
	})

}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "<html>&amp;", "\x00\x1f\x7f", "\u2028\u2029",
		"\xff\xfe invalid", "é漢字🙂", "\b\f\n\r\t", "\xed\xa0\x80 surrogate"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	})
}

// FuzzRawJSON holds the writing of stored JSON to encoding/json's for
// every text: the same bytes for valid JSON, an error for the rest.
func FuzzRawJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a": 1, "b": [true, null, "x"]}`, ` [ "<&>" , 1e2 ] `, `"\u2028"`, "\"\u2028\u2029 raw\"",
		`{"k\\\"": "v \\\" <"}`, `{"sub": "x", "email": "a@b.co", "n": 1.50, "deep": {"list": [1, null, "\t"]}}`, `""`, `nul`,
		`-`, `01`, `1.`, `1e`, `-0`, `1E+2`, `-1.5e-3`, `"\u12G4"`, `"\x"`, "\"\x01\"", `[1,]`, `{"a":1,}`, `{,}`, `[ ]`, ` { } `,
		`{"<k>": "&"}`, `[[[]],{}]`, `{"a" 1}`, `{"a":}`, `"abc`, `[1 2]`, `truex`, `true false`, "\"\xff\xe2\x80\"", `"\/\b\f\n\r\t\u00e9"`,
		strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth),
		strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1),
		strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) == 0 {
			return
		}
		w := objectWriter{}
		w.raw("", raw)
		want, err := json.Marshal(json.RawMessage(raw))
		if (err != nil) != (w.err != nil) {
			t.Fatalf("raw(%q): error %v, encoding/json's %v", raw, w.err, err)
		}
		if err != nil {
			return
		}
		if string(w.b) != string(want) {
			t.Fatalf("raw(%q) = %s, encoding/json writes %s", raw, w.b, want)
		}
	})
}
