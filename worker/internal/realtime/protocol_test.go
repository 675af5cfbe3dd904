package realtime

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, vsn, in string
		want          Message
		err           bool
	}{
		{"v2 join", vsn2, `["1","1","realtime:a","phx_join",{"config":{}}]`,
			Message{JoinRef: strp("1"), Ref: strp("1"), Topic: "realtime:a", Event: "phx_join", Payload: json.RawMessage(`{"config":{}}`)}, false},
		{"v2 heartbeat null join ref", vsn2, `[null,"7","phoenix","heartbeat",{}]`,
			Message{Ref: strp("7"), Topic: "phoenix", Event: "heartbeat", Payload: json.RawMessage(`{}`)}, false},
		{"v2 numeric refs", vsn2, `[1,2,"t","e",null]`,
			Message{JoinRef: strp("1"), Ref: strp("2"), Topic: "t", Event: "e", Payload: json.RawMessage(`{}`)}, false},
		{"v1 object", vsn1, `{"join_ref":"3","ref":"4","topic":"realtime:b","event":"phx_leave","payload":{}}`,
			Message{JoinRef: strp("3"), Ref: strp("4"), Topic: "realtime:b", Event: "phx_leave", Payload: json.RawMessage(`{}`)}, false},
		{"v2 too short", vsn2, `["1","1","t","e"]`, Message{}, true},
		{"v2 object", vsn2, `{"topic":"t"}`, Message{}, true},
		{"v1 array", vsn1, `[null,null,"t","e",{}]`, Message{}, true},
		{"empty topic", vsn2, `[null,null,"","e",{}]`, Message{}, true},
		{"bad ref", vsn2, `[{},null,"t","e",{}]`, Message{}, true},
		{"not json", vsn2, `[`, Message{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeText(tc.vsn, []byte(tc.in))
			if tc.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// kind3 builds a client broadcast frame as realtime-js does.
func kind3(joinRef, ref, topic, event, meta string, enc byte, payload []byte) []byte {
	out := []byte{kindUserBroadcastPush, byte(len(joinRef)), byte(len(ref)), byte(len(topic)), byte(len(event)), byte(len(meta)), enc}
	out = append(out, joinRef+ref+topic+event+meta...)
	return append(out, payload...)
}

func TestDecodeBinary(t *testing.T) {
	t.Parallel()
	m, err := decodeBinary(kind3("1", "2", "realtime:r", "ping", "", 1, []byte(`{"n":1}`)))
	require.NoError(t, err)
	assert.Equal(t, Message{JoinRef: strp("1"), Ref: strp("2"), Topic: "realtime:r", Event: "broadcast", BinaryEvent: "ping", Payload: json.RawMessage(`{"n":1}`)}, m)

	m, err = decodeBinary(kind3("1", "", "realtime:r", "bytes", `{"persist":true}`, 0, []byte{0, 1, 2}))
	require.NoError(t, err)
	assert.True(t, m.Raw)
	assert.Nil(t, m.Ref)
	assert.Equal(t, json.RawMessage{0, 1, 2}, m.Payload)

	for name, in := range map[string][]byte{
		"short":        {3, 0, 0},
		"wrong kind":   kind3("1", "1", "t", "e", "", 1, []byte(`{}`))[1:],
		"bad encoding": kind3("1", "1", "t", "e", "", 7, []byte(`{}`)),
		"bad json":     kind3("1", "1", "t", "e", "", 1, []byte(`{`)),
		"truncated":    kind3("1", "1", "topic", "e", "", 1, nil)[:10],
		"no topic":     kind3("1", "1", "", "e", "", 1, []byte(`{}`)),
	} {
		_, err := decodeBinary(in)
		assert.Error(t, err, name)
	}
}

func TestEncode(t *testing.T) {
	t.Parallel()
	b, err := encodeText(vsn2, nil, strp("5"), "realtime:a", "phx_reply", map[string]any{"status": "ok"})
	require.NoError(t, err)
	assert.JSONEq(t, `[null,"5","realtime:a","phx_reply",{"status":"ok"}]`, string(b))
	b, err = encodeText(vsn1, strp("1"), nil, "realtime:a", "broadcast", map[string]any{})
	require.NoError(t, err)
	assert.JSONEq(t, `{"join_ref":"1","ref":null,"topic":"realtime:a","event":"broadcast","payload":{}}`, string(b))

	b, err = encodeUserBroadcast("realtime:a", "ev", []byte{9}, true)
	require.NoError(t, err)
	assert.Equal(t, append([]byte{4, 10, 2, 0, 0}, append([]byte("realtime:aev"), 9)...), b)
	_, err = encodeUserBroadcast(string(make([]byte, 256)), "e", nil, false)
	assert.Error(t, err)
}

// FuzzDecode: no frame makes the decoders panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`["1","1","realtime:a","phx_join",{"config":{}}]`))
	f.Add([]byte(`{"join_ref":"3","ref":"4","topic":"t","event":"e","payload":{}}`))
	f.Add(kind3("1", "2", "realtime:r", "ping", "", 1, []byte(`{"n":1}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeText(vsn2, data)
		_, _ = decodeText(vsn1, data)
		_, _ = decodeBinary(data)
		var p joinPayload
		_ = json.Unmarshal(data, &p)
		_, _, _ = parsePGSubs(p.Config.PostgresChanges)
	})
}

// FuzzFilter: no filter string makes the parser or matcher panic.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"id=eq.1", "a=in.(1,\"2,3\")", "x=not.lt.5", "=", "a=in.(", "b=gte."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := parseFilter(s)
		if err == nil {
			flt.match(map[string]json.RawMessage{"id": json.RawMessage("1"), "a": json.RawMessage(`"2,3"`)})
		}
	})
}
