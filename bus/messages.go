package bus

import (
	"encoding/json"
	"time"
)

// Heartbeat is published by every worker once per HeartbeatInterval on
// WorkerHeartbeat(id). It is a wire contract between tiers: change it only in a
// backward-compatible way (TestHeartbeatWire in subjects_test.go pins its JSON).
type Heartbeat struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Version   string    `json:"version"`
	InFlight  int64     `json:"in_flight"`
	Draining  bool      `json:"draining"`
	StartedAt time.Time `json:"started_at"`
	SentAt    time.Time `json:"sent_at"`
	// Projects maps the ref of each created project the worker holds to
	// the revision of its configuration the worker runs, so control can
	// tell who is behind. At most MaxHeartbeatProjects entries, the refs
	// first in order (ProjectsTruncated says some were left out). Null for
	// a worker that serves no created projects (no MADBASE_ENCRYPTION_KEY,
	// or a version without them); {} for one that holds none yet.
	Projects          map[string]ProjectRevision `json:"projects"`
	ProjectsTruncated bool                       `json:"projects_truncated,omitempty"`
	// APIs holds the worker's request counters per API (auth, rest,
	// storage, realtime, functions), cumulative since StartedAt, from its
	// own metrics; control turns the differences between beats into rates.
	// Omitted by a version that does not send them.
	APIs map[string]APIStats `json:"apis,omitempty"`
}

// APIStats is what a worker has answered of one API since it started (in a
// Heartbeat). Every figure only grows while the worker runs.
type APIStats struct {
	Requests int64 `json:"requests"`
	// Errors counts the answers with a 5xx status.
	Errors int64 `json:"errors"`
	// LatencySum is the time spent answering them, in seconds.
	LatencySum float64 `json:"latency_sum"`
	// Buckets counts the requests answered within each of
	// APILatencyBounds (cumulative, as Prometheus's histogram buckets).
	Buckets []int64 `json:"buckets"`
}

// APILatencyBounds are the upper bounds, in seconds, of APIStats.Buckets:
// the buckets of the tiers' madbase_<tier>_http_request_duration_seconds.
var APILatencyBounds = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// ProjectRevision is what a worker runs of one project (in a Heartbeat).
type ProjectRevision struct {
	// Revision is the configuration the worker serves the project with; 0
	// when none of its revisions could be applied yet.
	Revision int64 `json:"revision"`
	// Refused is the newest revision the worker could not apply (it did not
	// open, did not validate or did not build), with a short Reason that
	// holds no secret; the worker keeps serving Revision meanwhile. Omitted
	// once a newer revision applies.
	Refused int64  `json:"refused,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// MaxHeartbeatProjects bounds a heartbeat's Projects, so a beat stays a
// few tens of kilobytes (about 25 bytes a project, more with a refusal).
const MaxHeartbeatProjects = 1000

// MaxRefusalReason bounds a ProjectRevision's Reason, in bytes.
const MaxRefusalReason = 200

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

// EdgeHeartbeat is published by every edge once per EdgeHeartbeatInterval
// on EdgeHeartbeatSubject(id), so control can list the edges (no edge or
// worker reads it). It is a wire contract between tiers: change it only in a
// backward-compatible way (TestEdgeHeartbeatWire pins its JSON).
type EdgeHeartbeat struct {
	ID      string `json:"id"`
	URL     string `json:"url"`
	Version string `json:"version"`
	// Connections is how many client connections the edge holds open
	// (WebSockets included).
	Connections int64 `json:"connections"`
	// WorkersKnown and WorkersHealthy count the workers the edge knows of
	// and the ones it routes requests to now.
	WorkersKnown   int       `json:"workers_known"`
	WorkersHealthy int       `json:"workers_healthy"`
	Draining       bool      `json:"draining"`
	StartedAt      time.Time `json:"started_at"`
	SentAt         time.Time `json:"sent_at"`
}

// EdgeHeartbeatInterval is how often an edge beats; control drops an edge
// after MissedBeatsLimit intervals without one.
const EdgeHeartbeatInterval = 2 * time.Second

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

// OutboxMail is one mail the auth capability would have sent, published on
// MailOutbox in `madbase dev` when no SMTP server is configured, so flows
// that need a mail (confirmation, magic link, recovery, invite) can be
// completed locally. Wire contract between worker and control.
type OutboxMail struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	// Type is the mail's kind: signup, invite, magiclink, recovery,
	// email_change_current, email_change_new or reauthentication.
	Type string `json:"type"`
	// Link is the verify URL the mail carries ("" for reauthentication).
	Link string `json:"link,omitempty"`
	// OTP is the one-time code the mail carries.
	OTP string `json:"otp,omitempty"`
	// TokenHash is the token_hash that verifyOtp also accepts.
	TokenHash  string    `json:"token_hash,omitempty"`
	RedirectTo string    `json:"redirect_to,omitempty"`
	HTML       string    `json:"html,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// RealtimeBroadcast is one broadcast on Realtime(tenant, topic): every worker
// delivers it to its sockets joined to Topic with the same privacy. Wire
// contract between workers.
type RealtimeBroadcast struct {
	Origin  string `json:"origin"`           // worker id
	Sender  string `json:"sender,omitempty"` // sending channel, for `self`
	Topic   string `json:"topic"`            // without the "realtime:" prefix
	Private bool   `json:"private"`
	Event   string `json:"event"`
	// Payload is the JSON payload; Raw holds it instead when it is bytes.
	Payload json.RawMessage `json:"payload,omitempty"`
	Raw     []byte          `json:"raw,omitempty"`
	IsRaw   bool            `json:"is_raw,omitempty"`
	// ID is the message id of an HTTP broadcast (delivered as meta.id).
	ID string `json:"id,omitempty"`
	// Delivered names the realtime service (one per project runtime on a
	// worker) that published the broadcast and delivered it to its own
	// sockets: it skips the copy the bus brings back. Empty: every
	// receiver delivers it.
	Delivered string `json:"delivered,omitempty"`
}

// RealtimePresenceEvent is published on RealtimePresence(tenant) by the
// worker owning the presences: a diff of one topic, a snapshot of everything
// the worker tracks (its heartbeat), or a hello asking peers for theirs.
type RealtimePresenceEvent struct {
	Worker string `json:"worker"`
	Kind   string `json:"kind"` // diff, snapshot, hello, leave
	// Topic and Private name the presence set of a diff.
	Topic   string `json:"topic,omitempty"`
	Private bool   `json:"private,omitempty"`
	// Joins and Leaves map presence keys to metas (each with phx_ref).
	Joins  map[string][]json.RawMessage `json:"joins,omitempty"`
	Leaves map[string][]json.RawMessage `json:"leaves,omitempty"`
	// Snapshot lists every presence the worker tracks.
	Snapshot []RealtimePresenceEntry `json:"snapshot,omitempty"`
}

// RealtimePresenceEntry is one tracked presence in a snapshot.
type RealtimePresenceEntry struct {
	Topic   string          `json:"topic"`
	Private bool            `json:"private"`
	Key     string          `json:"key"`
	Meta    json.RawMessage `json:"meta"`
}

// RealtimeChange is one row change read from the WAL by the elected worker,
// published on RealtimeChanges(tenant). Wire contract between workers.
type RealtimeChange struct {
	Schema          string                     `json:"schema"`
	Table           string                     `json:"table"`
	Type            string                     `json:"type"` // INSERT, UPDATE or DELETE
	CommitTimestamp string                     `json:"commit_timestamp"`
	Columns         []RealtimeColumn           `json:"columns"`
	Record          map[string]json.RawMessage `json:"record,omitempty"`
	OldRecord       map[string]json.RawMessage `json:"old_record,omitempty"`
	// PrimaryKey names the identity columns; RLS is true when the table has
	// row-level security enabled.
	PrimaryKey []string `json:"primary_key"`
	RLS        bool     `json:"rls"`
}

// RealtimeColumn is a column's name and pg_type.typname.
type RealtimeColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}
