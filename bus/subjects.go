// Package bus is the vocabulary the tiers speak over NATS: subject names,
// message types and connection helpers. Request and response bodies never
// cross NATS; only the platform's own events do.
package bus

import "strings"

// Prefix starts every MadBase subject.
const Prefix = "madbase"

// Wildcard subjects for subscribers. The variable token of each subject sits in
// a fixed position so one wildcard matches every instance.
const (
	// AllHeartbeats matches every worker's heartbeat (fan-out: every edge and
	// control instance must see every beat, so no queue group).
	AllHeartbeats = Prefix + ".workers.*.heartbeat"
	// AllLeaves matches every worker's leave message (fan-out).
	AllLeaves = Prefix + ".workers.*.leave"
	// AllEdgeHeartbeats matches every edge's heartbeat (fan-out: every
	// control instance must see every beat).
	AllEdgeHeartbeats = Prefix + ".edges.*.heartbeat"
	// AllLogs matches every log record of every tier (fan-out).
	AllLogs = Prefix + ".logs.>"
	// AllConfig matches configuration changes for every tenant (fan-out: every
	// worker applies them).
	AllConfig = Prefix + ".config.*"
	// MailOutbox carries the mails auth sends in `madbase dev` without SMTP
	// (fan-out: every control instance keeps the dev outbox).
	MailOutbox = Prefix + ".mail.outbox"
	// SchemaReload asks every worker to reload its REST schema cache, as
	// `NOTIFY pgrst, 'reload schema'` does (fan-out: plain subscriptions, no
	// queue group, so that every worker reloads). Control publishes it after
	// DDL; the payload is ignored and may be empty.
	SchemaReload = Prefix + ".schema.reload"
)

// WorkerHeartbeat is the subject a worker beats on.
func WorkerHeartbeat(workerID string) string {
	return Prefix + ".workers." + Token(workerID) + ".heartbeat"
}

// WorkerLeave is the subject a worker announces its graceful exit on.
func WorkerLeave(workerID string) string {
	return Prefix + ".workers." + Token(workerID) + ".leave"
}

// EdgeHeartbeatSubject is the subject an edge beats on.
func EdgeHeartbeatSubject(edgeID string) string {
	return Prefix + ".edges." + Token(edgeID) + ".heartbeat"
}

// Logs is the subject one instance of a tier publishes its log records on.
func Logs(tier, instance string) string {
	return Prefix + ".logs." + Token(tier) + "." + Token(instance)
}

// LogsOfTier matches the log records of every instance of one tier.
func LogsOfTier(tier string) string {
	return Prefix + ".logs." + Token(tier) + ".*"
}

// Config is the subject configuration changes for one tenant are published on.
func Config(tenant string) string {
	return Prefix + ".config." + Token(tenant)
}

// Realtime is the subject worker-to-worker realtime events of one topic use.
func Realtime(tenant, topic string) string {
	return Prefix + ".realtime." + Token(tenant) + "." + Token(topic)
}

// Token makes s safe to use as one subject token: NATS separators, wildcards
// and whitespace become '_', and an empty string becomes "_".
func Token(s string) string {
	if s == "" {
		return "_"
	}
	if !strings.ContainsAny(s, ".*> \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}

// RealtimePresence carries the presence diffs and per-worker snapshots of
// every topic of one tenant (fan-out: every worker keeps the whole set).
func RealtimePresence(tenant string) string {
	return Prefix + ".realtime_presence." + Token(tenant)
}

// RealtimeChanges carries the database changes the elected WAL reader
// captured for one tenant (fan-out: every worker filters for its sockets).
func RealtimeChanges(tenant string) string {
	return Prefix + ".realtime_changes." + Token(tenant)
}
