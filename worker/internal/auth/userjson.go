package auth

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// The user object is the body of GET /user, the busiest auth route, and part
// of every session response. It is written by hand: encoding/json's
// reflection cost more CPU than the database round trip. The output is
// byte for byte what encoding/json writes for userJSON's struct tags
// (TestUserJSONMatchesEncodingJSON holds it to that): same field order,
// omitempty rules, RFC 3339 times, and HTML-safe string escaping.

// MarshalJSON writes the wire object (used when a userJSON is embedded in
// another response, such as a session).
func (j *userJSON) MarshalJSON() ([]byte, error) {
	return j.appendJSON(make([]byte, 0, 1024))
}

// appendJSON appends the user object to b, in userJSON's field order.
func (j *userJSON) appendJSON(b []byte) ([]byte, error) {
	w := objectWriter{b: append(b, '{')}
	w.str(`"id":`, j.ID)
	w.str(`,"aud":`, j.Aud)
	w.str(`,"role":`, j.Role)
	w.str(`,"email":`, j.Email)
	w.optTime(`,"email_confirmed_at":`, j.EmailConfirmedAt)
	w.str(`,"phone":`, j.Phone)
	w.optTime(`,"phone_confirmed_at":`, j.PhoneConfirmedAt)
	w.optTime(`,"confirmation_sent_at":`, j.ConfirmationSentAt)
	w.optTime(`,"confirmed_at":`, j.ConfirmedAt)
	w.optTime(`,"invited_at":`, j.InvitedAt)
	w.optTime(`,"recovery_sent_at":`, j.RecoverySentAt)
	w.optStr(`,"new_email":`, j.NewEmail)
	w.optTime(`,"email_change_sent_at":`, j.EmailChangeSentAt)
	w.optStr(`,"new_phone":`, j.NewPhone)
	w.optTime(`,"phone_change_sent_at":`, j.PhoneChangeSentAt)
	w.optTime(`,"reauthentication_sent_at":`, j.ReauthenticationSentAt)
	w.optTime(`,"last_sign_in_at":`, j.LastSignInAt)
	w.metadata(`,"app_metadata":`, j.AppMetaData, j.appMetaRaw)
	w.metadata(`,"user_metadata":`, j.UserMetaData, j.userMetaRaw)
	w.b = append(w.b, `,"identities":`...)
	if j.Identities == nil {
		w.b = append(w.b, "null"...)
	} else {
		w.b = append(w.b, '[')
		for i := range j.Identities {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			j.Identities[i].writeJSON(&w)
		}
		w.b = append(w.b, ']')
	}
	if len(j.Factors) > 0 {
		// Rare and small: encoding/json writes them.
		fs, err := json.Marshal(j.Factors)
		if err != nil {
			w.fail(err)
		}
		w.b = append(append(w.b, `,"factors":`...), fs...)
	}
	w.optTime(`,"banned_until":`, j.BannedUntil)
	w.time(`,"created_at":`, j.CreatedAt)
	w.time(`,"updated_at":`, j.UpdatedAt)
	w.optTime(`,"deleted_at":`, j.DeletedAt)
	w.b = append(w.b, `,"is_anonymous":`...)
	w.b = strconv.AppendBool(w.b, j.IsAnonymous)
	w.b = append(w.b, '}')
	return w.b, w.err
}

// writeJSON writes the identity as encoding/json writes its struct tags.
func (i *identity) writeJSON(w *objectWriter) {
	w.b = append(w.b, '{')
	w.str(`"identity_id":`, i.IdentityID.String())
	w.str(`,"id":`, i.ID)
	w.str(`,"user_id":`, i.UserID.String())
	w.raw(`,"identity_data":`, i.IdentityData)
	w.str(`,"provider":`, i.Provider)
	w.optTime(`,"last_sign_in_at":`, i.LastSignInAt)
	w.time(`,"created_at":`, i.CreatedAt)
	w.time(`,"updated_at":`, i.UpdatedAt)
	w.optStr(`,"email":`, i.Email)
	w.b = append(w.b, '}')
}

// objectWriter appends the members of a JSON object; keys come with their
// leading comma and colon. The first error sticks.
type objectWriter struct {
	b   []byte
	err error
}

func (w *objectWriter) str(key, v string) {
	w.b = appendJSONString(append(w.b, key...), v)
}

// optStr is an omitempty string.
func (w *objectWriter) optStr(key, v string) {
	if v != "" {
		w.str(key, v)
	}
}

// time writes t as time.Time's MarshalJSON does.
func (w *objectWriter) time(key string, t time.Time) {
	if y := t.Year(); y < 0 || y >= 10000 {
		w.fail(&json.UnsupportedValueError{Str: "time outside years 0-9999"})
		return
	}
	w.b = append(w.b, key...)
	w.b = append(w.b, '"')
	w.b = t.AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
}

// optTime is an omitempty time pointer.
func (w *objectWriter) optTime(key string, t *time.Time) {
	if t != nil {
		w.time(key, *t)
	}
}

// metadata writes a metadata object: the decoded map when there is one,
// else the stored JSON as it came from the database.
func (w *objectWriter) metadata(key string, m map[string]any, raw []byte) {
	switch {
	case m == nil && raw != nil:
		w.raw(key, raw)
	case m == nil:
		w.b = append(append(w.b, key...), "null"...)
	case len(m) == 0:
		w.b = append(append(w.b, key...), "{}"...)
	default:
		enc, err := json.Marshal(m)
		w.fail(err)
		w.b = append(append(w.b, key...), enc...)
	}
}

// raw writes stored JSON as encoding/json writes a json.RawMessage:
// checked, compacted and HTML-escaped (null when empty). Invalid JSON fails
// the object rather than reaching a client.
func (w *objectWriter) raw(key string, raw []byte) {
	w.b = append(w.b, key...)
	if len(raw) == 0 {
		w.b = append(w.b, "null"...)
		return
	}
	n := len(w.b)
	b, ok := appendCompactJSON(w.b, raw)
	if !ok {
		w.b = w.b[:n]
		w.fail(errStoredJSON)
		return
	}
	w.b = b
}

// errStoredJSON is raw's error for stored JSON that is not JSON.
var errStoredJSON = errors.New("auth: stored JSON is not valid JSON")

func (w *objectWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s quoted as encoding/json does with HTML escaping
// on: <, > and & as \u003c..., U+2028/U+2029 escaped, invalid UTF-8 as
// U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
