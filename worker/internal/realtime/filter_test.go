package realtime

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFilters(t *testing.T) {
	t.Parallel()
	row := map[string]json.RawMessage{
		"id": json.RawMessage("7"), "name": json.RawMessage(`"ann"`), "ok": json.RawMessage("true"),
		"gone": json.RawMessage("null"), "price": json.RawMessage("10.5"),
	}
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{"", true},
		{"id=eq.7", true}, {"id=eq.8", false},
		{"id=neq.8", true}, {"id=neq.7", false},
		{"id=lt.10", true}, {"id=lt.7", false}, {"id=lte.7", true},
		{"id=gt.6", true}, {"id=gt.7", false}, {"id=gte.7", true},
		{"price=gt.9", true}, {"price=lt.9", false},
		{"id=in.(1,7,9)", true}, {"id=in.(1,2)", false},
		{"name=eq.ann", true}, {`name=in.("ann","b,c")`, true}, {`name=eq."ann"`, true},
		{"name=lt.bob", true},
		{"ok=eq.true", true},
		{"gone=eq.null", false}, {"gone=neq.1", false},
		{"missing=eq.1", false},
		{"id=not.eq.7", false}, {"id=not.in.(1,2)", true},
	} {
		f, err := parseFilter(tc.filter)
		require.NoError(t, err, tc.filter)
		assert.Equal(t, tc.want, f.match(row), tc.filter)
	}
	for _, bad := range []string{"id", "id=like.a", "id=eq", "=eq.1", "id=in.1,2", `id=in.("a)`} {
		_, err := parseFilter(bad)
		assert.Error(t, err, bad)
	}
}

func TestParsePGSubsEchoesInOrderWithIDs(t *testing.T) {
	t.Parallel()
	in := []json.RawMessage{
		json.RawMessage(`{"event":"*","schema":"public","table":"todos","filter":"id=eq.1"}`),
		json.RawMessage(`null`),
		json.RawMessage(`{"event":"insert","table":"*"}`),
	}
	subs, echo, errText := parsePGSubs(in)
	require.Empty(t, errText)
	require.Len(t, subs, 2)
	require.Len(t, echo, 2)
	e0 := echo[0].(map[string]any)
	assert.Equal(t, "*", e0["event"])
	assert.Equal(t, "id=eq.1", e0["filter"])
	assert.Equal(t, subs[0].id, e0["id"])
	e1 := echo[1].(map[string]any)
	assert.Equal(t, "insert", e1["event"], "echoed as received")
	assert.Equal(t, "INSERT", subs[1].event)
	assert.Equal(t, "public", subs[1].schema)
	assert.Equal(t, "", subs[1].table)
	_, _, errText = parsePGSubs([]json.RawMessage{json.RawMessage(`[1]`)})
	assert.NotEmpty(t, errText)
}

func TestTextToJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ typ, in, want string }{
		{"bool", "t", "true"}, {"bool", "f", "false"},
		{"int8", "42", "42"}, {"numeric", "NaN", `"NaN"`}, {"float8", "Infinity", `"Infinity"`},
		{"jsonb", `{"a":1}`, `{"a":1}`}, {"text", "hi", `"hi"`}, {"_int4", "{1,2}", `"{1,2}"`},
		{"timestamptz", "2026-01-01 10:00:00+00", `"2026-01-01 10:00:00+00"`},
	} {
		assert.JSONEq(t, tc.want, string(textToJSON(tc.typ, tc.in)), tc.typ+" "+tc.in)
	}
}
