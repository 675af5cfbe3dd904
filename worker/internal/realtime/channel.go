package realtime

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/worker/internal/apikey"
)

// channel is one joined topic on a socket.
type channel struct {
	sock    *socket
	id      string
	topic   string // "realtime:<name>"
	name    string
	joinRef string
	private bool
	self    bool
	ack     bool
	// presenceOn: the client listens to presence (state and diffs sent).
	presenceOn  bool
	presenceKey string

	// ready is set once the join reply went out; guarded by svc.mu.
	ready bool

	mu      sync.Mutex
	claims  db.Claims
	exp     time.Time
	perms   perms
	tracked *tracked
	pg      []pgSub
	stopped bool
	checked time.Time // last authorization of a private channel
	// replayed holds the ids of stored messages sent by replay, whose live
	// copies are not sent again.
	replayed map[string]bool
}

// perms are what realtime.messages policies grant on a private channel.
type perms struct {
	readBroadcast, readPresence, writeBroadcast, writePresence bool
}

var allPerms = perms{true, true, true, true}

// flexBool accepts true/false, "true"/"false" and null.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(data)), `"`)
	*b = flexBool(strings.EqualFold(s, "true"))
	return nil
}

type joinPayload struct {
	Config struct {
		Broadcast struct {
			Ack              flexBool      `json:"ack"`
			Self             flexBool      `json:"self"`
			ReplicationReady flexBool      `json:"replication_ready"`
			Replay           *replayConfig `json:"replay"`
		} `json:"broadcast"`
		Presence struct {
			Key     json.RawMessage `json:"key"`
			Enabled flexBool        `json:"enabled"`
		} `json:"presence"`
		PostgresChanges []json.RawMessage `json:"postgres_changes"`
		Private         flexBool          `json:"private"`
	} `json:"config"`
	AccessToken *string `json:"access_token"`
	UserToken   *string `json:"user_token"`
}

// join handles phx_join (docs/api/realtime.md §3).
func (sock *socket) join(m Message) {
	if m.JoinRef == nil {
		m.JoinRef = m.Ref
	}
	if m.Ref == nil {
		m.Ref = m.JoinRef
	}
	if m.JoinRef == nil {
		sock.push(nil, nil, m.Topic, "phx_reply", map[string]any{"status": "error", "response": map[string]any{"reason": "join_ref is required"}})
		return
	}
	name, _ := strings.CutPrefix(m.Topic, "realtime:")
	if name == "" {
		sock.replyError(m, "TopicNameRequired: You must provide a topic name")
		return
	}
	var p joinPayload
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		sock.replyError(m, "MalformedJoinPayload: the join payload must be an object")
		return
	}
	svc := sock.svc

	// Limits, and a duplicate join replacing the open channel.
	sock.mu.Lock()
	old := sock.chans[m.Topic]
	if old == nil && len(sock.chans) >= svc.cfg.RealtimeMaxChannels {
		sock.mu.Unlock()
		sock.replyError(m, "ChannelRateLimitReached: Too many channels")
		return
	}
	if !sock.allowJoin(time.Now()) {
		sock.mu.Unlock()
		sock.replyError(m, "ClientJoinRateLimitReached: Too many joins per second")
		return
	}
	sock.mu.Unlock()
	if old != nil {
		sock.closeChannel(old)
	}

	// Claims: the access token, or the socket's apikey.
	claims, exp := sock.claims, apikey.ExpiresAt(sock.claims)
	tok := p.AccessToken
	if tok == nil {
		tok = p.UserToken
	}
	if tok != nil && *tok != "" && !strings.HasPrefix(*tok, "sb_") {
		res, err := svc.resolveToken(*tok)
		if err != nil {
			sock.replyError(m, "InvalidJWTToken: "+tokenError(err))
			return
		}
		claims, exp = res.Claims, apikey.ExpiresAt(res.Claims)
	}

	ch := &channel{
		sock: sock, id: uuid.NewString(), topic: m.Topic, name: name, joinRef: *m.JoinRef,
		private: bool(p.Config.Private), self: bool(p.Config.Broadcast.Self), ack: bool(p.Config.Broadcast.Ack),
		presenceOn: bool(p.Config.Presence.Enabled), claims: claims, exp: exp, perms: allPerms,
	}
	ch.presenceKey = keyString(p.Config.Presence.Key)
	if ch.presenceKey == "" {
		ch.presenceKey = uuid.NewString()
	}

	if ch.private {
		pr, err := svc.authorize(svc.base, ch.name, claims)
		if err != nil {
			svc.log.Error("realtime: authorizing a private channel", "error", err)
			sock.replyError(m, "UnableToConnectToProject: could not check the channel's policies")
			return
		}
		if !pr.readBroadcast && !pr.readPresence {
			sock.replyError(m, "Unauthorized: You do not have permissions to read from this Channel topic: "+name)
			return
		}
		ch.perms = pr
	}

	if p.Config.Broadcast.Replay != nil && !ch.private {
		sock.replyError(m, "InvalidReplayConfig: replay is only available on private channels")
		return
	}

	// postgres_changes: parse, echo with ids.
	subs, echo, perr := parsePGSubs(p.Config.PostgresChanges)
	if perr != "" {
		sock.replyError(m, perr)
		return
	}
	if svc.nc != nil {
		// The first join starts a created project's changes (its
		// postgres_changes and database broadcasts).
		svc.changesOnce.Do(svc.startChanges)
	}
	if len(subs) > 0 && svc.changes != nil {
		if why := svc.changes.unavailable(); why != "" {
			sock.replyError(m, "UnableToConnectToProject: postgres_changes are unavailable: "+why)
			return
		}
	}

	var pgStatus, pgMessage string
	if len(subs) > 0 {
		pgStatus, pgMessage = ch.checkPG(subs)
	}

	svc.mu.Lock()
	svc.subscribeTopic(ch)
	svc.mu.Unlock()
	// The join is answered once NATS has the subscription, so a broadcast
	// sent by another worker right after it arrives; with NATS away there is
	// nothing to wait for, and a join must not wait on the control plane.
	if svc.nc != nil && svc.nc.IsConnected() {
		_ = svc.nc.FlushTimeout(2 * time.Second)
	}

	sock.mu.Lock()
	sock.chans[m.Topic] = ch
	sock.mu.Unlock()

	svc.mu.Lock()
	sock.reply(m, "ok", map[string]any{"postgres_changes": echo})
	if ch.presenceOn && ch.perms.readPresence {
		sock.push(m.JoinRef, nil, m.Topic, "presence_state", svc.presenceStateLocked(topicKey{name, ch.private}))
	}
	ch.ready = true
	svc.mu.Unlock()

	if rc := p.Config.Broadcast.Replay; rc != nil && ch.perms.readBroadcast {
		ch.replay(*rc)
	}
	if p.Config.Broadcast.ReplicationReady {
		if why := svc.changes.unavailable(); why != "" {
			sock.systemError(ch, "Replication connection is not ready: "+why)
			return
		}
		sock.push(m.JoinRef, nil, m.Topic, "system", map[string]any{
			"extension": "system", "status": "ok", "message": "Replication connection established", "channel": name})
	}
	if pgStatus != "" {
		sock.push(m.JoinRef, nil, m.Topic, "system", map[string]any{
			"extension": "postgres_changes", "status": pgStatus, "message": pgMessage, "channel": name})
	}
}

func keyString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// stop detaches the channel from the worker: no more deliveries, presence
// untracked.
func (ch *channel) stop() {
	ch.mu.Lock()
	if ch.stopped {
		ch.mu.Unlock()
		return
	}
	ch.stopped = true
	ch.mu.Unlock()
	svc := ch.sock.svc
	svc.mu.Lock()
	svc.unsubscribeTopic(ch)
	svc.mu.Unlock()
	ch.untrack()
}

func (ch *channel) expiry() time.Time {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.exp
}

func (ch *channel) currentClaims() db.Claims {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.claims
}

func (ch *channel) currentPerms() perms {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.perms
}

// refreshToken handles access_token (docs/api/realtime.md §4).
func (ch *channel) refreshToken(m Message) {
	var p struct {
		AccessToken *string `json:"access_token"`
	}
	if json.Unmarshal(m.Payload, &p) != nil || p.AccessToken == nil || *p.AccessToken == "" ||
		strings.HasPrefix(*p.AccessToken, "sb_") {
		return
	}
	svc := ch.sock.svc
	res, err := svc.resolveToken(*p.AccessToken)
	if err != nil {
		ch.sock.systemError(ch, tokenError(err))
		return
	}
	if ch.private {
		pr, err := svc.authorize(svc.base, ch.name, res.Claims)
		if err != nil || (!pr.readBroadcast && !pr.readPresence) {
			ch.sock.systemError(ch, "You no longer have permission to read from this Channel topic: "+ch.name)
			return
		}
		ch.mu.Lock()
		ch.perms = pr
		ch.mu.Unlock()
	}
	ch.mu.Lock()
	ch.claims, ch.exp = res.Claims, apikey.ExpiresAt(res.Claims)
	ch.mu.Unlock()
}
