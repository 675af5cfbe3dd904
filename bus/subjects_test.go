package bus

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSubjects(t *testing.T) {
	assert.Equal(t, "madbase.workers.w-1.heartbeat", WorkerHeartbeat("w-1"))
	assert.Equal(t, "madbase.workers.w_1_x.leave", WorkerLeave("w.1*x"))
	assert.Equal(t, "madbase.logs.edge.host_a", Logs("edge", "host a"))
	assert.Equal(t, "madbase.logs.worker.*", LogsOfTier("worker"))
	assert.Equal(t, "_", Token(""))
	assert.Equal(t, "madbase.edges.e_1.heartbeat", EdgeHeartbeatSubject("e.1"))
	assert.Equal(t, "madbase.edges.*.heartbeat", AllEdgeHeartbeats)
}

// TestEdgeHeartbeatWire pins the edge heartbeat's JSON (a contract between
// tiers that may run different versions).
func TestEdgeHeartbeatWire(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := json.Marshal(EdgeHeartbeat{ID: "e1", URL: "http://10.0.0.4:8000", Version: "v1", Connections: 7,
		WorkersKnown: 3, WorkersHealthy: 2, Draining: true, StartedAt: at, SentAt: at})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"id":"e1","url":"http://10.0.0.4:8000","version":"v1","connections":7,
		"workers_known":3,"workers_healthy":2,"draining":true,
		"started_at":"2026-01-02T03:04:05Z","sent_at":"2026-01-02T03:04:05Z"}`, string(b))
}

// TestHeartbeatWire pins the heartbeat's JSON: it is a contract between
// tiers that may run different versions during a rolling upgrade.
func TestHeartbeatWire(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := json.Marshal(Heartbeat{ID: "w1", URL: "http://10.0.0.5:8002", Version: "v1", InFlight: 3, Draining: true, StartedAt: at, SentAt: at})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"id":"w1","url":"http://10.0.0.5:8002","version":"v1","in_flight":3,"draining":true,
		"started_at":"2026-01-02T03:04:05Z","sent_at":"2026-01-02T03:04:05Z","projects":null}`, string(b))
	b, err = json.Marshal(Heartbeat{ID: "w1", URL: "http://10.0.0.5:8002", StartedAt: at, SentAt: at,
		Projects:          map[string]ProjectRevision{"shop": {Revision: 3}, "blog": {Revision: 2, Refused: 3, Reason: "DB_MAX_ROWS: not a number"}},
		ProjectsTruncated: true})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"id":"w1","url":"http://10.0.0.5:8002","version":"","in_flight":0,"draining":false,
		"started_at":"2026-01-02T03:04:05Z","sent_at":"2026-01-02T03:04:05Z",
		"projects":{"shop":{"revision":3},"blog":{"revision":2,"refused":3,"reason":"DB_MAX_ROWS: not a number"}},
		"projects_truncated":true}`, string(b))
	b, err = json.Marshal(Heartbeat{ID: "w1", StartedAt: at, SentAt: at, APIs: map[string]APIStats{
		"rest": {Requests: 10, Errors: 1, LatencySum: 0.25, Buckets: []int64{1, 2, 3}}}})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"id":"w1","url":"","version":"","in_flight":0,"draining":false,
		"started_at":"2026-01-02T03:04:05Z","sent_at":"2026-01-02T03:04:05Z","projects":null,
		"apis":{"rest":{"requests":10,"errors":1,"latency_sum":0.25,"buckets":[1,2,3]}}}`, string(b))
	// A beat of a version without projects decodes with none, and one of a
	// worker holding none with an empty map.
	var old, none Heartbeat
	assert.NoError(t, json.Unmarshal([]byte(`{"id":"w1","url":"u"}`), &old))
	assert.Nil(t, old.Projects)
	assert.NoError(t, json.Unmarshal([]byte(`{"id":"w1","url":"u","projects":{}}`), &none))
	assert.NotNil(t, none.Projects)
	b, _ = json.Marshal(Leave{ID: "w1", URL: "http://10.0.0.5:8002"})
	assert.JSONEq(t, `{"id":"w1","url":"http://10.0.0.5:8002"}`, string(b))
}
