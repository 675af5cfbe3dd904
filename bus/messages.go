package bus

import (
	"encoding/json"
	"time"
)

// Heartbeat is published by every worker once per HeartbeatInterval on
// WorkerHeartbeat(id). It is a wire contract between tiers: change it only in a
// backward-compatible way (messages_test.go pins its JSON).
type Heartbeat struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Version   string    `json:"version"`
	InFlight  int64     `json:"in_flight"`
	Draining  bool      `json:"draining"`
	StartedAt time.Time `json:"started_at"`
	SentAt    time.Time `json:"sent_at"`
}

// Leave is published once by a worker on graceful shutdown, on
// WorkerLeave(id), so that edges stop routing to it at once. Wire contract.
type Leave struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// HeartbeatInterval is how often a worker beats.
const HeartbeatInterval = time.Second

// MissedBeatsLimit is how many intervals may pass without a beat before a
// worker is considered gone.
const MissedBeatsLimit = 3

// LogRecord holds the fields every published log record has. A record on
// Logs(tier, instance) is one JSON object as written by log/slog's JSON handler
// with the attributes "tier" and "instance" added; other attributes vary.
type LogRecord struct {
	Time      time.Time `json:"time"`
	Level     string    `json:"level"`
	Msg       string    `json:"msg"`
	Tier      string    `json:"tier"`
	Instance  string    `json:"instance"`
	RequestID string    `json:"request_id,omitempty"`
}

// ParseLogRecord decodes the common fields of a log record and all its
// attributes.
func ParseLogRecord(data []byte) (LogRecord, map[string]any, error) {
	var rec LogRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, nil, err
	}
	all := map[string]any{}
	if err := json.Unmarshal(data, &all); err != nil {
		return rec, nil, err
	}
	return rec, all, nil
}
