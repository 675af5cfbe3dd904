package bus

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRealtimeSubjects(t *testing.T) {
	assert.Equal(t, "madbase.realtime.default.room_1", Realtime("default", "room.1"))
	assert.Equal(t, "madbase.realtime_presence.default", RealtimePresence("default"))
	assert.Equal(t, "madbase.realtime_changes.t_1", RealtimeChanges("t 1"))
}

// TestRealtimeWire pins the JSON workers exchange for realtime.
func TestRealtimeWire(t *testing.T) {
	b, err := json.Marshal(RealtimeBroadcast{Origin: "w1", Sender: "c1", Topic: "room", Event: "e", Payload: json.RawMessage(`{"a":1}`)})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"origin":"w1","sender":"c1","topic":"room","private":false,"event":"e","payload":{"a":1}}`, string(b))
	b, err = json.Marshal(RealtimeBroadcast{Origin: "w1", Topic: "room", Event: "e", Raw: []byte{1}, IsRaw: true, ID: "i", Delivered: "s1"})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"origin":"w1","topic":"room","private":false,"event":"e","raw":"AQ==","is_raw":true,"id":"i","delivered":"s1"}`, string(b))
	b, err = json.Marshal(RealtimePresenceEvent{Worker: "w1", Kind: "diff", Topic: "room",
		Joins: map[string][]json.RawMessage{"k": {json.RawMessage(`{"phx_ref":"r"}`)}}})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"worker":"w1","kind":"diff","topic":"room","joins":{"k":[{"phx_ref":"r"}]}}`, string(b))
	b, err = json.Marshal(RealtimeChange{Schema: "public", Table: "t", Type: "INSERT", CommitTimestamp: "2026-01-01T00:00:00.000Z",
		Columns: []RealtimeColumn{{Name: "id", Type: "int8"}}, Record: map[string]json.RawMessage{"id": json.RawMessage("1")}, PrimaryKey: []string{"id"}})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"schema":"public","table":"t","type":"INSERT","commit_timestamp":"2026-01-01T00:00:00.000Z",
		"columns":[{"name":"id","type":"int8"}],"record":{"id":1},"primary_key":["id"],"rls":false}`, string(b))
}
